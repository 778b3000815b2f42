"""Where the real services of this machine are, and small helpers to reach them (importable as tests.services)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("QUIZHUB_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("QUIZHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
MOSQUITTO_HOST = "127.0.0.1"
MOSQUITTO_PORT = int(os.environ.get("QUIZHUB_TEST_MOSQUITTO_PORT", "1883"))
MOSQUITTO_DOWN = "Mosquitto is not listening on 127.0.0.1:1883; start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tcp_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


async def _admin_sql(sql: str, database_url: str = POSTGRES_URL) -> None:
    url = make_url(database_url)
    try:
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
        )
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {url.render_as_string(hide_password=True)} is not reachable ({exc}); "
            "start it (`bash scripts/test` does) or set QUIZHUB_TEST_POSTGRES"
        )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run_aside(sql: str, database_url: str = POSTGRES_URL) -> None:
    # Fixtures may be set up inside a running event loop: run the admin SQL on a loop of its own, in a thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin_sql(sql, database_url)).result()


def create_database(prefix: str) -> str:
    """Create a uniquely named database on the test PostgreSQL; returns its URL (drop it with drop_database)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _run_aside(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    _run_aside(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_schema(url: str) -> None:
    """Empty a database of ours in milliseconds: drop and recreate its public schema."""
    _run_aside("DROP SCHEMA public CASCADE; CREATE SCHEMA public;", url)
