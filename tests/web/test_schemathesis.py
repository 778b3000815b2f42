"""schemathesis against /api/openapi.json: no request it can make, as an admin, gets a server error.

A real uvicorn runs the real app (its own lifespan, SQLite in a temporary folder) in a thread; the hub client is a
double that accepts every command, so a 5xx can only come from the web itself. Each operation gets a bounded
number of examples, positive and negative, to keep the whole file under about half a minute.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from routes_kit import PASSWORD, FakeHub
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from hub.settings import Settings
from web.app import create_app
from web.auth import add_user

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_EXAMPLES = int(os.environ.get("QUIZHUB_SCHEMATHESIS_EXAMPLES", "12"))
"""Examples per operation; raise it for a deeper hunt (100 found no server error either, in two minutes)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    def __init__(self, data: Path) -> None:
        self.settings = Settings(data_dir=data, db_url=f"sqlite+aiosqlite:///{data / 'quizhub.db'}")
        asyncio.run(add_user(self.settings, "root", "admin", PASSWORD))
        self.app = create_app(self.settings)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="schemathesis-uvicorn", daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                pytest.fail("uvicorn did not start for the schemathesis run")
            time.sleep(0.02)
        self.app.state.hub_client = FakeHub()  # after the lifespan, which sets its own (None without a broker)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    with _Server(tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


@pytest.fixture(scope="module")
def admin_headers(server: _Server) -> dict[str, str]:
    served = httpx.get(f"{server.base_url}/api/openapi.json").json()
    assert served == _openapi(), "the cases below were generated from this very document"
    with httpx.Client(base_url=server.base_url) as client:
        login = client.post("/api/auth/login", json={"name": "root", "password": PASSWORD})
        assert login.status_code == 200, login.text
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        # Something to find: a quiz with a question and a game, so id-taking routes see real rows too.
        headers = {"Cookie": cookie, "X-CSRF-Token": login.json()["csrf_token"]}
        quiz = client.post(
            "/api/quizzes", headers=headers, json={"title": "Q", "questions": [{"type": "buzzer", "text": "Why?"}]}
        )
        assert client.post("/api/games", headers=headers, json={"quiz_id": quiz.json()["id"]}).status_code == 201
    return headers


def _openapi() -> dict[str, object]:
    # The document the server serves at /api/openapi.json; read from an app built here, so the cases can be
    # parametrised at collection time (the served copy is identical: same code, same settings).
    data = Path(tempfile.mkdtemp(prefix="quizhub-openapi-"))
    return create_app(Settings(data_dir=data, secret_key="s" * 32)).openapi()


schema = schemathesis.openapi.from_dict(_openapi())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_no_server_error(case: schemathesis.Case, server: _Server, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(base_url=server.base_url, headers=admin_headers, checks=[not_a_server_error])
