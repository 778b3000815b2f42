"""Fixtures shared by every test package: free ports, unique topic roots, real service URLs.

Services are real (PostgreSQL, Redis, Mosquitto on this machine); `.ci/run` starts any that is down.
A test that needs one and cannot reach it fails with a sentence saying how to start it, never skips silently.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.logs import NOISY_LOGGERS, remove_process_handler
from tests.services import (  # noqa: F401 - re-exported for older imports
    MOSQUITTO_DOWN,
    MOSQUITTO_HOST,
    MOSQUITTO_PORT,
    POSTGRES_URL,
    REDIS_URL,
    free_port,
    tcp_reachable,
)

# The hub's fixtures (arena, mqtt_env, db_url, postgres_db_url) for every package; tests/hub/conftest.py defines them.
pytest_plugins = ["tests.hub_arena"]


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Undo what a command run in-process (`web.cli.main`) does to logging: its `configure_logging` handler writes to
    this test's captured stderr, which pytest closes after the test ("--- Logging error --- ... I/O operation on
    closed file" in later tests), and it sets the root and the noisy loggers' levels."""
    loggers = [logging.getLogger(), *map(logging.getLogger, NOISY_LOGGERS)]
    levels = [logger.level for logger in loggers]
    yield
    remove_process_handler()
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


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
        pytest.fail(MOSQUITTO_DOWN)
    return MOSQUITTO_HOST, MOSQUITTO_PORT
