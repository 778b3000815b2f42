"""The hub's fixtures for tests outside tests/hub: a pytest plugin, registered once in tests/conftest.py.

`arena` (a running Hub with the demo game and a host client on it), `mqtt_env` (embedded amqtt or this machine's
Mosquitto), `db_url` (SQLite file or PostgreSQL) and `postgres_db_url` are tests/hub/conftest.py's own, unchanged.
A module that uses them picks its broker, database and timeout with `hub_marks`:

    pytestmark = hub_marks(timeout=60)                    # embedded broker, SQLite
    pytestmark = [pytest.mark.postgres, *hub_marks(db="postgres", timeout=120)]
"""

from __future__ import annotations

import pytest

from tests.hub.conftest import arena, db_url, mqtt_env, postgres_db_url

__all__ = ["arena", "db_url", "hub_marks", "mqtt_env", "postgres_db_url"]


def hub_marks(*, mqtt: str = "embedded", db: str = "sqlite", timeout: float) -> list[pytest.MarkDecorator]:
    """The marks of a module whose tests run against one broker kind and one database backend."""
    return [
        pytest.mark.timeout(timeout),
        pytest.mark.parametrize("mqtt_env", [mqtt], indirect=True),
        pytest.mark.parametrize("db_url", [db], indirect=True),
    ]
