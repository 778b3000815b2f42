"""hub/core is sans-IO: no module there imports anything that does I/O, time or randomness (STYLE practice 1)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "hub" / "core"

FORBIDDEN_TOP = {
    "asyncio", "socket", "ssl", "selectors", "time", "random", "secrets", "threading", "multiprocessing",
    "subprocess", "os", "io", "pathlib", "shutil", "signal", "urllib", "http", "logging", "datetime",
    "aiomqtt", "paho", "amqtt", "fastapi", "starlette", "sqlalchemy", "sqlmodel", "redis", "httpx", "msgpack",
}
# Project packages the core must not reach into either: it depends on nothing but itself.
FORBIDDEN_PROJECT = ("web", "broker", "hub.db", "hub.mqtt", "hub.codec", "hub.service")


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            out.add("__import__")
    return out


def test_core_has_modules() -> None:
    assert list(CORE.glob("*.py")), "hub/core is empty"


def test_core_imports_no_io() -> None:
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for name in _imported(path):
            top = name.split(".")[0]
            if top in FORBIDDEN_TOP or name == "__import__" or name.startswith(FORBIDDEN_PROJECT):
                offenders.append(f"{path.name}: {name}")
    assert not offenders, "hub/core must stay sans-IO:\n" + "\n".join(offenders)


def test_checker_catches_time(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text("import time\nfrom asyncio import sleep\n", encoding="utf-8")
    assert {"time", "asyncio"} <= _imported(p)
