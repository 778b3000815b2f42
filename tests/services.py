"""Where the real services of this machine are, and small helpers to reach them (importable as tests.services)."""

from __future__ import annotations

import os
import socket

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
