"""Fixtures shared by every test package: free ports, unique topic roots, real service URLs.

Services are real (PostgreSQL, Redis, Mosquitto on this machine); `.ci/run` starts any that is down.
A test that needs one and cannot reach it fails with a sentence saying how to start it, never skips silently.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("QUIZHUB_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("QUIZHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
MOSQUITTO_HOST = "127.0.0.1"
MOSQUITTO_PORT = int(os.environ.get("QUIZHUB_TEST_MOSQUITTO_PORT", "1883"))


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


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def topic_root() -> str:
    """A topic root unique to this test, so tests sharing one broker never see each other."""
    return f"qhtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    path.mkdir()
    yield path


@pytest.fixture
def mosquitto_addr() -> tuple[str, int]:
    if not tcp_reachable(MOSQUITTO_HOST, MOSQUITTO_PORT):
        pytest.fail("Mosquitto is not listening on 127.0.0.1:1883; start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf")
    return MOSQUITTO_HOST, MOSQUITTO_PORT
