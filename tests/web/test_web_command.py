"""`quizhub web` refuses what it cannot run with in one line and exit status 2, before anything starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

QUIZHUB = [sys.executable, "-c", "from web.cli import main; main()"]


def _web(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUIZHUB_DATA_DIR": str(data_dir)}
    return subprocess.run([*QUIZHUB, "web", *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("quizhub:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_busy_port_is_one_line_naming_the_port_and_flag(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        line = _one_line(_web("--host", "127.0.0.1", "--port", str(port), "--broker-url", "mqtt://w:p@127.0.0.1:1",
                              data_dir=data_dir))
    assert str(port) in line
    assert line.endswith("choose another with --port")  # `quizhub web`'s own flag, not serve's --http-port


def test_no_broker_url_and_an_unknown_fanout_are_sentences(data_dir: Path) -> None:
    assert "--broker-url" in _one_line(_web("--port", "0", data_dir=data_dir))
    line = _one_line(_web("--port", "0", "--broker-url", "mqtt://w:p@127.0.0.1:1", "--fanout-url", "kafka://x",
                          data_dir=data_dir))
    assert "memory://" in line
    assert "redis://" in line
