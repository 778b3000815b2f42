"""Fixtures for the web tests: fan-out backends, a migrated database, the app, and a real OpenID Provider.

Every service is real: Redis on 127.0.0.1:6379 (unique channel names per test, never flushed), SQLite files in
the test's temporary folder, and the `oidc-provider` npm package run by node on a free port.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from routes_kit import FakeHub
from web_testkit import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI, OIDC_USERS, build_app, client_for

from hub.db.engine import create_engine, session_factory
from hub.db.migrate import migrate
from hub.db.repository import Repository
from hub.settings import Settings
from web.auth import passwords

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

REDIS_URL = os.environ.get("QUIZHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "tools" / "node"
OIDC_SCRIPT = NODE_DIR / "oidc-provider.mjs"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with tiny parameters: the production cost (about half a second here) would make this area slow."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("no such user"))


@pytest.fixture
def channel() -> str:
    """A channel name no other test uses, so tests sharing one Redis never see each other."""
    return f"qhtest:{uuid.uuid4().hex}"


@pytest.fixture
def redis_url() -> str:
    """The real Redis the tests share (db 0); tests keep apart by unique channel and key names."""
    if not _redis_reachable():
        pytest.fail("Redis is not listening on 127.0.0.1:6379; start it: redis-server --daemonize yes")
    return REDIS_URL


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def fanout_url(request: pytest.FixtureRequest) -> str:
    """Each backend-parametrised test runs once per backend: memory:// and the real redis://."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return "memory://"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test copies it (migrating afresh costs ~0.4 s of fsyncs per test)."""
    path = tmp_path_factory.mktemp("template") / "quizhub.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()  # the last connection closing checkpoints the WAL into the file

    asyncio.run(build())
    return path


@pytest.fixture
async def db(tmp_path: Path, migrated_template: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a freshly migrated SQLite database in this test's folder (the file ``settings.db_url`` names)."""
    path = tmp_path / "quizhub.db"
    shutil.copyfile(migrated_template, path)
    engine: AsyncEngine = create_engine(f"sqlite+aiosqlite:///{path}")
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own data dir and SQLite file; tests override fields with model_copy."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return Settings(data_dir=data, db_url=f"sqlite+aiosqlite:///{tmp_path / 'quizhub.db'}")


@pytest.fixture
def repo(db: async_sessionmaker[AsyncSession]) -> Repository:
    return Repository(db)


@pytest.fixture
def app(settings: Settings, db: async_sessionmaker[AsyncSession]) -> FastAPI:
    return build_app(settings, db)


@pytest.fixture
def hub(app: FastAPI) -> FakeHub:
    """The app's hub client, replaced by the double that records each command and answers as scripted."""
    app.state.hub_client = FakeHub()
    return app.state.hub_client  # type: ignore[no-any-return]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenID Provider (npm `oidc-provider`) on a free 127.0.0.1 port; yields its issuer URL."""
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("tools/node/node_modules/oidc-provider is missing; run npm ci --prefix tools/node")
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": OIDC_CLIENT_ID,
        "OIDC_CLIENT_SECRET": OIDC_CLIENT_SECRET,
        "OIDC_REDIRECT_URIS": OIDC_REDIRECT_URI,
        "OIDC_USERS": json.dumps(OIDC_USERS),
    }
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(["node", str(OIDC_SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        # The script prints one "listening <issuer>" line once it accepts connections: no polling, no sleep.
        line = proc.stdout.readline()
        if line.strip() != f"listening {issuer}":
            pytest.fail(f"the test OpenID Provider did not start (exit code {proc.poll()}): {log_path.read_text()}")
        yield issuer
    finally:
        proc.terminate()
        proc.wait(timeout=10)

