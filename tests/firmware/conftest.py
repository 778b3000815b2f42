"""Fixtures for the firmware tests: the host build (once per session), a private Mosquitto, host_buzzer processes.

QUIZHUB_FIRMWARE_BUILD_DIR reuses an existing build directory (CI builds once in .ci/run); by default the
session builds into a fresh temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.firmware.buzzer_harness import HostBuzzer, LinkCutter, Mosquitto, build_host
from tests.services import free_port


@pytest.fixture(scope="session")
def firmware_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("QUIZHUB_FIRMWARE_BUILD_DIR")
    return Path(env) if env else tmp_path_factory.mktemp("firmware-host-build")


@pytest.fixture(scope="session")
def host_buzzer_exe(firmware_build_dir: Path) -> Path:
    try:
        return build_host(firmware_build_dir)
    except RuntimeError as exc:
        pytest.fail(f"firmware host build failed (needs: cmake g++ doctest-dev libmosquitto-dev pkg-config):\n{exc}")


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    try:
        broker = Mosquitto(tmp_path, free_port())
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield broker
    broker.close()


@pytest.fixture
def link_cutter(private_mosquitto: Mosquitto) -> Iterator[LinkCutter]:
    proxy = LinkCutter(private_mosquitto.port)
    yield proxy
    proxy.close()


@pytest.fixture
def spawn_buzzer(host_buzzer_exe: Path, topic_root: str) -> Iterator[Callable[..., HostBuzzer]]:
    """Start host_buzzer processes (stopped at teardown): spawn_buzzer(device_id=..., port=..., **opts)."""
    started: list[HostBuzzer] = []

    def spawn(**kwargs: Any) -> HostBuzzer:
        kwargs.setdefault("root", topic_root)
        b = HostBuzzer.start(host_buzzer_exe, **kwargs)
        started.append(b)
        return b

    yield spawn
    for b in started:
        b.stop()
