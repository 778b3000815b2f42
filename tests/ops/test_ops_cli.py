"""Operations flags as a user runs them: `quizhub serve --log-format json` exposes the hub's and the web's metrics on
one `/metrics` and logs JSON lines; `quizhub hub --metrics-port` refuses a busy port with a sentence; credential
commands keep the secret out of their logs. Real processes, real ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from typing import TYPE_CHECKING

import pytest

from tests.services import free_port

if TYPE_CHECKING:
    from pathlib import Path

QUIZHUB = [sys.executable, "-c", "from web.cli import main; main()"]


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "QUIZHUB_DATA_DIR": str(data_dir)}


def test_serve_exposes_hub_and_web_metrics_on_one_endpoint_and_logs_json(data_dir: Path) -> None:
    http_port = free_port()
    args = ["--host", "127.0.0.1", "--http-port", str(http_port), "--mqtt-port", str(free_port()),
            "--mqtt-ws-port", str(free_port()), "--log-format", "json"]
    proc = subprocess.Popen([*QUIZHUB, "serve", "--demo", *args], env=_env(data_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Demo game" in line:
                break
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/health", timeout=10) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    for name in ("quizhub_hub_mqtt_messages_in_total", "quizhub_hub_mqtt_messages_out_total",
                 "quizhub_hub_devices_connected", "quizhub_hub_games", "quizhub_hub_buzz_to_ruling_seconds_count",
                 'quizhub_http_requests_total{method="GET",route="/api/health",status="200"}', "quizhub_web_sockets"):
        assert name in text, name
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "serve logged nothing"
    docs = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"ts", "level", "logger", "msg"} <= docs[0].keys()
    assert any(doc.get("game") for doc in docs), "no log line named its game"


def test_hub_metrics_port_in_use_is_one_sentence_naming_the_flag(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*QUIZHUB, "hub", "--broker-url", "mqtt://hub:pw@127.0.0.1:1", "--metrics-port", str(port)],
            env=_env(data_dir), capture_output=True, text=True, timeout=60, check=False,
        )
    assert result.returncode == 2, result.stderr
    assert f"metrics port {port}" in result.stderr
    assert "--metrics-port" in result.stderr


def test_credential_commands_print_the_secret_once_and_never_log_it(data_dir: Path) -> None:
    added = subprocess.run([*QUIZHUB, "credentials", "add", "bz-07", "--role", "device", "--log-format", "json",
                            "--log-level", "DEBUG"], env=_env(data_dir), capture_output=True, text=True, timeout=60,
                           check=False)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split()[-1]
    assert len(secret) >= 16
    logged = [json.loads(line) for line in added.stderr.splitlines() if line.strip()]
    assert any(doc.get("credential") == "bz-07" for doc in logged), added.stderr  # the name is logged...
    assert secret not in added.stderr  # ...the password never
    password = "a long local password 42"
    user = subprocess.run([*QUIZHUB, "user", "add", "ada", "--role", "admin", "--log-format", "json",
                           "--log-level", "DEBUG"], input=password + "\n", env=_env(data_dir), capture_output=True,
                          text=True, timeout=60, check=False)
    assert user.returncode == 0, user.stderr
    assert password not in user.stderr
    assert password not in user.stdout


@pytest.mark.parametrize("command", ["hub", "web"])
def test_the_broker_url_comes_from_the_environment_so_no_password_is_on_the_command_line(
    command: str, data_dir: Path
) -> None:
    """QUIZHUB_BROKER_URL is what the docs recommend (an argv is visible in `ps`): both parts must read it. A URL
    they cannot use, given only through the variable, must be the one they complain about; none at all must make
    them say to set the variable."""
    base = {k: v for k, v in _env(data_dir).items() if k != "QUIZHUB_BROKER_URL"}
    args = [*QUIZHUB, command, "--port", "0"] if command == "web" else [*QUIZHUB, command]
    from_env = subprocess.run(args, env={**base, "QUIZHUB_BROKER_URL": "kafka://svc:pw-in-env@broker:1883"},
                              capture_output=True, text=True, timeout=60, check=False)
    assert from_env.returncode == 2, from_env.stderr
    assert "broker URL must start with mqtt:// (got kafka scheme)" in from_env.stderr
    assert "pw-in-env" not in from_env.stderr
    missing = subprocess.run(args, env=base, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2, missing.stderr
    assert f"`quizhub {command}` needs QUIZHUB_BROKER_URL=mqtt://" in missing.stderr
    assert "--broker-url" in missing.stderr
