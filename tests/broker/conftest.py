"""Brokers under test: the embedded one, and a private Mosquitto with the same logins and ACL for parity tests.

`target` is parametrised over both. Each has the same five logins: svc (service), dev1 and dev2 (devices),
integ (integrator), host1 (host), and the same topic root, unique per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from brokertest_raw import CAP, RawClient, free_port, tcp_reachable

from broker.config import BrokerConfig
from broker.credentials import CredentialStore, Role
from broker.server import EmbeddedBroker

USERS = {"svc": Role.SERVICE, "dev1": Role.DEVICE, "dev2": Role.DEVICE, "integ": Role.INTEGRATOR,
         "host1": Role.HOST}
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@dataclass
class Target:
    kind: str
    port: int
    root: str
    passwords: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    async def raw(self) -> RawClient:
        return await RawClient.open(self.port)

    async def client(self, user: str | None, client_id: str | None = None, **kw: Any) -> RawClient:
        """A connected raw client logged in as `user` (client id defaults to the user name)."""
        c = await RawClient.open(self.port)
        password = self.passwords.get(user) if user else None
        _, code = await c.connect(client_id or user or "anon", user, password, **kw)
        assert code == 0, f"{self.kind}: CONNACK {code} for {user}"
        return c


@contextlib.asynccontextmanager
async def embedded(data_dir: Path, root: str, **overrides: Any) -> AsyncIterator[tuple[EmbeddedBroker, dict[str, str]]]:
    """The embedded broker on a free port with the five test logins."""
    creds = CredentialStore(data_dir / "credentials.json")
    passwords = {}
    for name, role in USERS.items():
        try:
            passwords[name] = creds.add(name, role)
        except ValueError:
            passwords[name] = creds.ephemeral(name, role)
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "ws_port": None, "topic_root": root,
                                "max_payload": CAP}
    settings.update(overrides)
    async with EmbeddedBroker(BrokerConfig(data_dir=data_dir, **settings), creds) as b:
        yield b, passwords


def _mosquitto_acl(root: str) -> str:
    reads = [f"{root}/games/+/{leaf}" for leaf in ("state", "question", "scores", "events", "buzzers")]
    reads += [f"{root}/devices/+/status", f"{root}/hub/status"]
    lines = ["user svc", f"topic readwrite {root}/#", "topic read #", "topic read $SYS/#", ""]
    for dev in ("dev1", "dev2"):
        lines += [f"user {dev}", f"topic write {root}/devices/{dev}/#"]
        lines += [f"topic read {root}/devices/{dev}/{leaf}" for leaf in ("cmd", "sync", "error")]
        lines += [f"topic read {root}/games/+/buzzers", f"topic read {root}/hub/status", ""]
    lines += ["user integ"] + [f"topic read {t}" for t in reads] + [""]
    lines += ["user host1", f"topic write {root}/games/+/commands"] + [f"topic read {t}" for t in reads]
    lines += [f"topic read {root}/games/+/replies/host1", ""]
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def private_mosquitto(tmp: Path, root: str, *, allow_anonymous: bool = False) -> AsyncIterator[Target]:
    """A private Mosquitto on a free port with password file, ACL and max_packet_size; killed afterwards."""
    tmp.mkdir(parents=True, exist_ok=True)
    passwords = {name: f"pw-{name}-secret" for name in USERS}
    pwfile = tmp / "passwd"
    pwfile.write_text("".join(f"{n}:{p}\n" for n, p in passwords.items()))
    subprocess.run(["mosquitto_passwd", "-U", str(pwfile)], check=True, capture_output=True)
    (tmp / "acl").write_text(_mosquitto_acl(root))
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous {'true' if allow_anonymous else 'false'}\n"
        f"password_file {pwfile}\nacl_file {tmp / 'acl'}\nmax_packet_size {CAP + 256}\n"
        # Stay the user who runs the tests (as root Mosquitto would drop to `mosquitto`, who cannot read tmp_path).
        f"user {getpass.getuser()}\n"
        "persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nsys_interval 1\n"
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        async with asyncio.timeout(10):
            while not tcp_reachable("127.0.0.1", port):
                if proc.poll() is not None:
                    pytest.fail(f"private mosquitto exited: {proc.stderr.read().decode() if proc.stderr else ''}")
                await asyncio.sleep(0.02)  # polling a condition (listening), not synchronising on time
        yield Target("mosquitto", port, root, passwords)
    finally:
        proc.terminate()
        proc.wait(5)


@contextlib.asynccontextmanager
async def stock_amqtt(root: str) -> AsyncIterator[Target]:
    """Plain amqtt 0.12.1 as its docs configure it (auth plugin with allow_anonymous false, $SYS every second).

    Opt-in (QUIZHUB_TEST_STOCK_AMQTT=1): the parity tests run against it to show that they fail without our fixes.
    """
    from amqtt.broker import Broker  # noqa: PLC0415

    port = free_port()
    stock = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
                    "amqtt.plugins.sys.broker.BrokerSysPlugin": {"sys_interval": 1}},
    })
    await stock.start()
    try:
        yield Target("amqtt-stock", port, root, {name: f"pw-{name}" for name in USERS})
    finally:
        await stock.shutdown()


TARGETS = ["quizhub", pytest.param("mosquitto", marks=pytest.mark.mosquitto)]
if os.environ.get("QUIZHUB_TEST_STOCK_AMQTT") == "1":
    TARGETS.append("amqtt-stock")


@pytest.fixture(params=TARGETS)
async def target(request: pytest.FixtureRequest, data_dir: Path, topic_root: str,
                 tmp_path: Path) -> AsyncIterator[Target]:
    """The same logins and ACL on the embedded broker and on a private Mosquitto."""
    if request.param == "quizhub":
        async with embedded(data_dir, topic_root) as (b, passwords):
            yield Target("quizhub", b.port, topic_root, passwords, {"broker": b})
    elif request.param == "amqtt-stock":
        async with stock_amqtt(topic_root) as t:
            yield t
    else:
        async with private_mosquitto(tmp_path / "mosquitto", topic_root) as t:
            yield t


@pytest.fixture
def start_embedded(data_dir: Path, topic_root: str) -> Callable[..., Any]:
    """`async with start_embedded(**config_overrides) as (broker, passwords)`."""
    return lambda **kw: embedded(data_dir, topic_root, **kw)
