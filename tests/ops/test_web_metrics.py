"""The web app's `/metrics`: who may scrape it, requests counted by route template, refusals by reason, and no
password or token in the JSON logs of a login and token flow. The real app on a migrated SQLite file, in-process."""

from __future__ import annotations

import io
import json
import logging
import shutil
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from hub.db.engine import create_engine, session_factory
from hub.db.migrate import migrate
from hub.db.models import UserRole
from hub.db.repository import Repository
from hub.logs import REDACTED, JsonFormatter
from hub.settings import Settings
from web import metrics as metrics_module
from web.app import create_app
from web.auth import create_user, issue_integrator_token, passwords

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from fastapi import FastAPI

LOOPBACK = ("127.0.0.1", 40000)
REMOTE = ("203.0.113.7", 40000)  # TEST-NET-3: a client on another machine
PASSWORD = "correct horse battery staple"
METRICS_TOKEN = "scrape-" + uuid.uuid4().hex


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with tiny parameters (the production cost is about half a second per hash here)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("no such user"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import asyncio  # noqa: PLC0415

    path = tmp_path_factory.mktemp("ops-template") / "quizhub.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
def metrics_token() -> str | None:
    """The app's QUIZHUB_METRICS_TOKEN; a test overrides this fixture for an app without one."""
    return METRICS_TOKEN


@pytest.fixture
async def app(tmp_path: Path, template: Path, metrics_token: str | None) -> AsyncIterator[FastAPI]:
    db = tmp_path / "quizhub.db"
    shutil.copyfile(template, db)
    data = tmp_path / "data"
    data.mkdir()
    settings = Settings(data_dir=data, db_url=f"sqlite+aiosqlite:///{db}", login_rate_per_minute=2,
                        metrics_token=SecretStr(metrics_token) if metrics_token is not None else None)
    engine = create_engine(settings.db_url)
    app = create_app(settings)
    app.state.db_sessions = session_factory(engine)  # what the lifespan does; no broker is needed here
    yield app
    await engine.dispose()


def client(app: FastAPI, peer: tuple[str, int] = LOOPBACK, **kwargs: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=peer)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10.0, **kwargs)  # type: ignore[arg-type]


def samples(text: str) -> dict[str, float]:
    """Every sample of a Prometheus exposition text, keyed by its name and labels as printed."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


PROXY_HEADERS = {
    "X-Forwarded-For": "198.51.100.1",
    "Forwarded": "for=198.51.100.1;proto=https",
    "X-Real-IP": "198.51.100.1",
}


@pytest.mark.parametrize("metrics_token", [None])
async def test_without_a_metrics_token_loopback_may_scrape_unless_a_proxy_forwarded_it(app: FastAPI) -> None:
    async with client(app) as local:
        ok = await local.get("/metrics")
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain")
        assert "quizhub_http_requests_total" in ok.text
        # A local reverse proxy makes every visitor look local; what it forwarded is treated as remote.
        for name, value in PROXY_HEADERS.items():
            proxied = await local.get("/metrics", headers={name: value})
            assert proxied.status_code == 401, name
    async with client(app, REMOTE) as remote:
        assert (await remote.get("/metrics")).status_code == 401
    async with client(app, ("::1", 40000)) as local6:
        assert (await local6.get("/metrics")).status_code == 200


async def test_with_a_metrics_token_even_loopback_must_send_it(app: FastAPI) -> None:
    """A reverse proxy on the same box that adds no forwarding header looks exactly like a local client; the docs
    tell an operator behind a proxy to set the token, and once it is set nobody is exempt from it."""
    async with client(app) as local:
        anonymous = await local.get("/metrics")
        assert anonymous.status_code == 401
        assert "QUIZHUB_METRICS_TOKEN" in anonymous.json()["detail"]
        assert (await local.get("/metrics", headers={"Authorization": "Bearer not-the-token"})).status_code == 401
        allowed = await local.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert allowed.status_code == 200
        assert "quizhub_http_requests_total" in allowed.text


async def test_metrics_need_the_token_or_an_admin_or_integrator_credential(app: FastAPI) -> None:
    repo = Repository(app.state.db_sessions)
    _, integrator = await issue_integrator_token(repo, name="prometheus")
    await create_user(repo, "quinn", UserRole.QUIZMASTER, PASSWORD)

    async with client(app, REMOTE) as remote:
        anonymous = await remote.get("/metrics")
        assert anonymous.status_code == 401
        assert "QUIZHUB_METRICS_TOKEN" in anonymous.json()["detail"]
        wrong = await remote.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        for token in (METRICS_TOKEN, integrator):
            allowed = await remote.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert allowed.status_code == 200, allowed.text
        login = await remote.post("/api/auth/login", json={"name": "quinn", "password": PASSWORD})
        assert login.status_code == 200
        quizmaster = await remote.get("/metrics")
        assert quizmaster.status_code == 403
        assert "quizmaster" in quizmaster.json()["detail"]


async def test_requests_are_counted_by_route_template_and_refusals_by_reason(app: FastAPI) -> None:
    game_id = "g" + uuid.uuid4().hex[:10]
    async with client(app, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as local:
        before = samples((await local.get("/metrics")).text)
        assert (await local.get(f"/api/games/{game_id}")).status_code == 401
        bad = await local.post("/api/auth/login", json={"name": "someone"})  # no password: a validation error
        assert bad.status_code == 422
        for _ in range(3):  # two attempts a minute are allowed here; the third is refused
            last = await local.post("/api/auth/login", json={"name": "nobody", "password": "x" * 12})
        assert last.status_code == 429
        text = (await local.get("/metrics")).text
    after = samples(text)

    def moved(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert game_id not in text  # the raw path never becomes a label
    assert moved('quizhub_http_requests_total{method="GET",route="/api/games/{game_id}",status="401"}') == 1
    assert moved('quizhub_http_request_duration_seconds_count{method="GET",route="/api/games/{game_id}"}') == 1
    assert moved('quizhub_http_requests_total{method="POST",route="/api/auth/login",status="429"}') == 1
    assert moved('quizhub_web_rejected_inputs_total{reason="validation"}') == 1
    assert moved('quizhub_web_rejected_inputs_total{reason="rate_limited"}') == 1
    assert moved('quizhub_web_rejected_inputs_total{reason="unauthenticated"}') >= 1
    assert "quizhub_web_sockets" in after


async def test_a_made_up_http_method_is_counted_as_other_never_as_itself(app: FastAPI) -> None:
    """Any token is a method to the server: were it a label value, each one a client sends would be a new series."""
    made_up = "X" + uuid.uuid4().hex[:12].upper()
    async with client(app, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as local:
        before = samples((await local.get("/metrics")).text)
        answered = await local.request(made_up, "/api/auth/login")
        assert answered.status_code == 405
        unmatched = await local.request(made_up, f"/no-such-page-{made_up}")
        assert unmatched.status_code == 404
        text = (await local.get("/metrics")).text
    after = samples(text)

    assert made_up not in text
    key = 'quizhub_http_requests_total{method="OTHER",route="%s",status="%d"}'
    assert after.get(key % ("/api/auth/login", 405), 0.0) - before.get(key % ("/api/auth/login", 405), 0.0) == 1
    assert after.get(key % ("<unmatched>", 404), 0.0) - before.get(key % ("<unmatched>", 404), 0.0) == 1
    methods = {k.split('method="')[1].split('"')[0] for k in after if k.startswith("quizhub_http_requests_total{")}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    # Methods are case-sensitive: a server hands "get" on as it came (httpx would upper-case it, so no request here).
    assert metrics_module._method_of({"type": "http", "method": "get"}) == "OTHER"
    assert metrics_module._method_of({"type": "http", "method": "PATCH"}) == "PATCH"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log record of the process at DEBUG, rendered as `--log-format json` renders it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_no_password_or_token_reaches_the_logs_of_a_login_and_token_flow(
    app: FastAPI, json_logs: io.StringIO
) -> None:
    repo = Repository(app.state.db_sessions)
    await create_user(repo, "ada", UserRole.ADMIN, PASSWORD)
    async with client(app, REMOTE) as browser:
        assert (await browser.post("/api/auth/login", json={"name": "ada", "password": "wrong " + PASSWORD})
                ).status_code == 401
        login = await browser.post("/api/auth/login", json={"name": "ada", "password": PASSWORD})
        assert login.status_code == 200
        browser.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        issued = await browser.post("/api/tokens", json={"name": "overlay"})
        assert issued.status_code == 201, issued.text
        body = issued.json()
        secrets = [PASSWORD, body["secret"], body["mqtt"]["password"]]
        used = await browser.get("/metrics", headers={"Authorization": f"Bearer {body['secret']}"})
        assert used.status_code == 200
    # A careless call site: the formatter still prints the secret-named field as [redacted].
    logging.getLogger("quizhub.test").warning("login", extra={"game": "g1", "password": PASSWORD, "api_token": "t"})

    text = json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    careless = next(doc for doc in lines if doc["logger"] == "quizhub.test")
    assert careless["password"] == REDACTED
    assert careless["api_token"] == REDACTED
    assert careless["game"] == "g1"
    for secret in secrets:
        assert secret not in text
