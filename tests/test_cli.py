"""The `quizhub` command as a user runs it: real processes, real ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import paho.mqtt.client as paho
import pytest

from tests.services import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

QUIZHUB = [sys.executable, "-c", "from web.cli import main; main()"]
NOT_AUTHORISED = {5, 135}  # MQTT 3.1.1 return code 5, as paho v2 reports it (135)


def run_cli(*args: str, data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUIZHUB_DATA_DIR": str(data_dir)}
    return subprocess.run([*QUIZHUB, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _ports() -> list[str]:
    return ["--host", "127.0.0.1", "--http-port", str(free_port()), "--mqtt-port", str(free_port()),
            "--mqtt-ws-port", str(free_port())]


@pytest.mark.parametrize("flag", ["--http-port", "--mqtt-port", "--mqtt-ws-port"])
def test_a_busy_port_is_one_line_naming_the_port_and_flag(flag: str, busy_port: int, data_dir: Path) -> None:
    args = _ports()
    args[args.index(flag) + 1] = str(busy_port)
    result = run_cli("serve", *args, data_dir=data_dir)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("quizhub:")]
    assert len(lines) == 1, result.stderr
    assert str(busy_port) in lines[0]
    assert flag in lines[0]


def _connect(port: int, user: str, password: str) -> int:
    """The CONNACK return code the broker gives this login (paho, a real client)."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=user)
    client.username_pw_set(user, password)
    codes: list[int] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: codes.append(rc.value if hasattr(rc, "value") else int(rc))
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not codes and time.monotonic() < deadline:
        client.loop(timeout=0.2)
    client.disconnect()
    assert codes, "no CONNACK"
    return codes[0]


def _retained(port: int, user: str, password: str, filters: list[str], expect: int) -> dict[str, str]:
    """Subscribe and collect retained messages until ``expect`` distinct topics arrived (or 20 s passed)."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=user)
    client.username_pw_set(user, password)
    seen: dict[str, str] = {}
    client.on_message = lambda _c, _u, msg: seen.__setitem__(msg.topic, msg.payload.decode())
    client.on_connect = lambda c, _u, _f, _rc, _p: [c.subscribe(f, qos=1) for f in filters]
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 20
    while len(seen) < expect and time.monotonic() < deadline:
        client.loop(timeout=0.2)
    client.disconnect()
    return seen


def test_credentials_add_list_remove_and_the_password_logs_in(data_dir: Path) -> None:
    added = run_cli("credentials", "add", "buzzer-01", "--role", "device", data_dir=data_dir)
    assert added.returncode == 0, added.stderr
    password = added.stdout.strip().splitlines()[-1]
    assert len(password) >= 32
    stored = (data_dir / "credentials.json").read_text()
    assert password not in stored  # only a hash is kept
    assert oct((data_dir / "credentials.json").stat().st_mode & 0o777) == "0o600"

    again = run_cli("credentials", "add", "buzzer-01", "--role", "device", data_dir=data_dir)
    assert again.returncode == 2
    assert "exists" in again.stderr

    listed = run_cli("credentials", "list", data_dir=data_dir)
    assert "buzzer-01\tdevice" in listed.stdout
    assert password not in listed.stdout

    port = free_port()
    args = ["broker", "--host", "127.0.0.1", "--mqtt-port", str(port), "--mqtt-ws-port", str(free_port())]
    broker = subprocess.Popen([*QUIZHUB, *args], env={**os.environ, "QUIZHUB_DATA_DIR": str(data_dir)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert broker.stdout is not None
        assert "listening" in broker.stdout.readline()
        assert _connect(port, "buzzer-01", password) == 0
        assert _connect(port, "buzzer-01", "wrong") in NOT_AUTHORISED
        removed = run_cli("credentials", "remove", "buzzer-01", data_dir=data_dir)
        assert removed.returncode == 0
        assert _connect(port, "buzzer-01", password) in NOT_AUTHORISED  # removal works without a restart
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def test_invalid_setting_is_a_sentence(data_dir: Path) -> None:
    result = run_cli("credentials", "add", "bad/name", "--role", "device", data_dir=data_dir)
    assert result.returncode == 2
    assert "not allowed" in result.stderr


@pytest.mark.slow
def test_serve_demo_starts_everything_and_the_demo_buzzers_come_online(data_dir: Path) -> None:
    args = _ports()
    http_port = int(args[args.index("--http-port") + 1])
    mqtt_port = int(args[args.index("--mqtt-port") + 1])
    proc = subprocess.Popen([*QUIZHUB, "serve", "--demo", *args], env={**os.environ, "QUIZHUB_DATA_DIR": str(data_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        banner = []
        for line in proc.stdout:
            banner.append(line)
            if "Demo game" in line:
                break
        text = "".join(banner)
        assert "Quizhub is running." in text
        assert f":{http_port}/" in text
        assert f":{mqtt_port}" in text
        assert "join code" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/health", timeout=10) as resp:
            assert json.loads(resp.read())["status"] == "ok"
        assert _connect(mqtt_port, "nobody", "nothing") in NOT_AUTHORISED
        # An integrator (an OBS overlay, say) sees the hub online and all eight demo buzzers online, retained.
        secret = run_cli("credentials", "add", "overlay", "--role", "integrator", data_dir=data_dir).stdout.split()[-1]
        seen = _retained(mqtt_port, "overlay", secret, ["quizhub/hub/status", "quizhub/devices/+/status"], expect=9)
        assert json.loads(seen["quizhub/hub/status"])["state"] == "online"
        online = {t.split("/")[2] for t, p in seen.items() if "/devices/" in t and json.loads(p)["state"] == "online"}
        assert online == {f"demo-{i:02d}" for i in range(1, 9)}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode in (0, -15)


@pytest.mark.slow
def test_simulate_brings_virtual_buzzers_online_with_their_own_logins(data_dir: Path) -> None:
    port = free_port()
    env = {**os.environ, "QUIZHUB_DATA_DIR": str(data_dir)}
    broker = subprocess.Popen([*QUIZHUB, "broker", "--host", "127.0.0.1", "--mqtt-port", str(port),
                               "--mqtt-ws-port", str(free_port())], env=env, stdout=subprocess.PIPE, text=True)
    sim = None
    try:
        assert broker.stdout is not None
        assert "listening" in broker.stdout.readline()
        sim = subprocess.Popen([*QUIZHUB, "simulate", "--devices", "3", "--mode", "none", "--mqtt-port", str(port),
                                "--prefix", "box"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
        secret = run_cli("credentials", "add", "watcher", "--role", "integrator", data_dir=data_dir).stdout.split()[-1]
        seen = _retained(port, "watcher", secret, ["quizhub/devices/+/status"], expect=3)
        assert {t.split("/")[2] for t, p in seen.items() if json.loads(p)["state"] == "online"} == {
            "box-01", "box-02", "box-03"
        }
        listed = run_cli("credentials", "list", data_dir=data_dir).stdout
        assert all(f"box-0{i}\tdevice" in listed for i in (1, 2, 3))  # each buzzer has its own device login
    finally:
        for proc in (sim, broker):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=15)


def test_user_add_reads_the_password_from_stdin_and_refuses_duplicates_and_short_ones(data_dir: Path) -> None:
    env = {**os.environ, "QUIZHUB_DATA_DIR": str(data_dir)}

    def add(name: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*QUIZHUB, "user", "add", name, "--role", "quizmaster"], input=password + "\n",
                              capture_output=True, text=True, timeout=60, env=env, check=False)

    ok = add("ann", "a long enough secret")
    assert ok.returncode == 0, ok.stderr
    assert "ann" in ok.stdout
    assert "a long enough secret" not in ok.stdout + ok.stderr
    dup = add("ann", "another long secret")
    assert dup.returncode == 2
    assert "exists" in dup.stderr
    short = add("bob", "x")
    assert short.returncode == 2
    assert "password" in short.stderr.lower()
