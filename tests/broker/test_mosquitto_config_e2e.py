"""A private Mosquitto started from `quizhub mosquitto-config`'s files: a game played through it, and its denials.

Never this machine's Mosquitto on 1883: each test starts its own on a free port, with only the generated config
(plus a `user` line so it stays the test's user instead of switching to `mosquitto`, who cannot read tmp_path).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
import pytest
from test_mosquitto_config import CASES, LOGINS, ROOT

from broker.acl import Acl, Principal
from broker.credentials import CredentialStore, Role
from broker.mosquitto_config import CONF_FILE, MosquittoOptions, export
from hub.core.transitions import Phase
from hub.mqttclient import BrokerAddress, make_client
from hub.quizfile import demo_quiz
from hub.quizstore import import_quiz
from hub.runner import Hub
from hub.simulator import DeviceClock, VirtualBuzzer
from tests.services import free_port, tcp_reachable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.mosquitto

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TIMEOUT = 10.0
NOT_AUTHORISED = {5, 135}  # MQTT 3.1.1 CONNACK 5, as paho v2 reports it (135)


@dataclass
class PrivateMosquitto:
    port: int
    passwords: dict[str, str]
    store: CredentialStore
    out: Path
    proc: subprocess.Popen[bytes]

    def address(self, login: str) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port).with_login(login, self.passwords[login])

    def export(self) -> None:
        files = export(self.store.hashed_logins(), self.out,
                       MosquittoOptions(port=self.port, bind="127.0.0.1", topic_root=ROOT))
        assert not files.skipped


@contextlib.asynccontextmanager
async def private_mosquitto(tmp: Path, logins: dict[str, Role]) -> AsyncIterator[PrivateMosquitto]:
    """Logins made by the credential store, files by `export`, and Mosquitto run on them; killed afterwards."""
    store = CredentialStore(tmp / "data" / "credentials.json")
    passwords = {name: store.add(name, role) for name, role in logins.items()}
    port = free_port()
    out = tmp / "mosquitto"
    files = export(store.hashed_logins(), out, MosquittoOptions(port=port, bind="127.0.0.1", topic_root=ROOT))
    assert not files.skipped
    conf = out / "test.conf"
    conf.write_text((out / CONF_FILE).read_text() + f"user {getpass.getuser()}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        async with asyncio.timeout(TIMEOUT):
            while not tcp_reachable("127.0.0.1", port):
                if proc.poll() is not None:
                    pytest.fail(f"private mosquitto exited: {proc.stderr.read().decode() if proc.stderr else ''}")
                await asyncio.sleep(0.02)  # polling a condition (listening), not synchronising on time
        yield PrivateMosquitto(port, passwords, store, out, proc)
    finally:
        proc.terminate()
        proc.wait(5)


def _client(broker: PrivateMosquitto, login: str, client_id: str | None = None) -> aiomqtt.Client:
    return make_client(broker.address(login), identifier=client_id or login)


async def _until(client: aiomqtt.Client, marker: bytes) -> list[tuple[str, bytes]]:
    """Every message `client` gets up to and including `marker` (a unique payload sent last)."""
    seen: list[tuple[str, bytes]] = []
    async with asyncio.timeout(TIMEOUT):
        async for msg in client.messages:
            seen.append((str(msg.topic), bytes(msg.payload)))
            if seen[-1][1] == marker:
                return seen
    return seen


async def _read_until_closed(client: aiomqtt.Client) -> None:
    async with asyncio.timeout(TIMEOUT):
        async for _ in client.messages:
            pass


def _nonce() -> bytes:
    return uuid.uuid4().hex.encode()


# -- a game through Mosquitto ---------------------------------------------------------------------------------------

class Host:
    """A host console on MQTT: a command out, its correlated reply back on the host's own replies topic."""

    def __init__(self, client: aiomqtt.Client, game: str, client_id: str) -> None:
        self.client, self.game, self.client_id, self._n = client, game, client_id, 0

    async def ok(self, cmd: str, **fields: Any) -> dict[str, Any]:
        self._n += 1
        cid = f"c{self._n}"
        body = {"id": cid, "client": self.client_id, "cmd": cmd, **fields}
        await self.client.publish(f"{ROOT}/games/{self.game}/commands", json.dumps(body), qos=1)
        async with asyncio.timeout(TIMEOUT):
            async for msg in self.client.messages:
                reply = json.loads(bytes(msg.payload))
                if reply.get("id") == cid:
                    assert reply["ok"], reply
                    return dict(reply)
        raise AssertionError(f"no reply to {cmd}")


GAME_LOGINS = {"hub": Role.SERVICE, "bz-a": Role.DEVICE, "bz-b": Role.DEVICE, "host1": Role.HOST,
               "obs": Role.INTEGRATOR}


async def test_a_game_is_played_through_mosquitto_with_the_generated_config(tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        broker = await stack.enter_async_context(private_mosquitto(tmp_path, GAME_LOGINS))
        hub = await stack.enter_async_context(
            Hub(db_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", address=broker.address("hub"),
                topic_root=ROOT, client_id="hub-1")
        )
        _, doc = demo_quiz()
        game = await hub.repo.create_game(await import_quiz(hub.repo, doc),
                                          settings={"grace_us": 250_000, "grace_from_clocks": False})
        await hub.service.open_game(game.id)

        host_client = await stack.enter_async_context(_client(broker, "host1"))
        await host_client.subscribe(f"{ROOT}/games/{game.id}/replies/host1", qos=1)
        host = Host(host_client, game.id, "host1")
        observer = await stack.enter_async_context(_client(broker, "obs"))
        await observer.subscribe(f"{ROOT}/games/{game.id}/events", qos=1)

        buzzers = {}
        for dev in ("bz-a", "bz-b"):
            buzzers[dev] = VirtualBuzzer(dev, broker.address(dev), root=ROOT, clock=DeviceClock(offset_us=5_000_000))
            task = asyncio.create_task(buzzers[dev].run())
            stack.callback(task.cancel)
        a, b = buzzers["bz-a"], buzzers["bz-b"]
        async with asyncio.timeout(TIMEOUT):
            await a.connected.wait()
            await b.connected.wait()
        await host.ok("add_team", team="red", name="Red")
        await host.ok("add_team", team="blue", name="Blue")
        await host.ok("pair", device="bz-a", team="red")
        await host.ok("pair", device="bz-b", team="blue")
        await a.wait_for("config", TIMEOUT)
        await b.wait_for("config", TIMEOUT)
        rt = hub.service.games[game.id]

        def synced() -> bool:
            rows = {r["device"]: r for r in rt.game.devices_snapshot()}
            return all(rows.get(d, {}).get("synced") for d in buzzers)

        await hub.service.wait_for(synced, timeout=15)  # sync pings and replies crossed Mosquitto both ways

        await host.ok("show")
        await host.ok("arm")
        await a.wait_for("armed", TIMEOUT)  # games/{id}/buzzers reached the devices
        await b.wait_for("armed", TIMEOUT)
        await a.press()
        await hub.service.wait_for(lambda: rt.game.phase is Phase.BUZZED, timeout=TIMEOUT)
        assert rt.game.state_snapshot()["last_ruling"]["winner_team"] == "red"
        await a.wait_for("won", TIMEOUT)
        await b.wait_for("locked", TIMEOUT)
        # The integrator, read-only, sees the ruling on the events topic.
        async with asyncio.timeout(TIMEOUT):
            async for msg in observer.messages:
                event = json.loads(bytes(msg.payload))
                if event.get("type") == "buzz_ruled":
                    assert event["data"]["winner_device"] == "bz-a"
                    break


# -- denials --------------------------------------------------------------------------------------------------------

async def test_a_device_cannot_publish_as_another_nor_read_its_topics(tmp_path: Path) -> None:
    logins = {"svc": Role.SERVICE, "dev1": Role.DEVICE, "dev2": Role.DEVICE}
    async with private_mosquitto(tmp_path, logins) as broker, contextlib.AsyncExitStack() as stack:
        hub = await stack.enter_async_context(_client(broker, "svc"))
        dev1 = await stack.enter_async_context(_client(broker, "dev1"))
        await hub.subscribe(f"{ROOT}/devices/+/buzz", qos=1)
        forged, own = _nonce(), _nonce()
        # MQTT 3.1.1: Mosquitto drops a denied PUBLISH silently (and still PUBACKs it); the connection stays, so
        # dev1's own buzz right after it is the positive control: it reaches the hub, the forged one never does.
        await dev1.publish(f"{ROOT}/devices/dev2/buzz", forged, qos=1)
        await dev1.publish(f"{ROOT}/devices/dev1/buzz", own, qos=1)
        assert await _until(hub, own) == [(f"{ROOT}/devices/dev1/buzz", own)]

        # Reading: dev1 asks for dev2's commands and every game's state; only its own commands reach it.
        await dev1.subscribe(f"{ROOT}/devices/dev2/cmd", qos=1)
        await dev1.subscribe(f"{ROOT}/games/+/state", qos=1)
        await dev1.subscribe(f"{ROOT}/devices/dev1/cmd", qos=1)
        mine = _nonce()
        await hub.publish(f"{ROOT}/devices/dev2/cmd", _nonce(), qos=1)
        await hub.publish(f"{ROOT}/games/g1/state", _nonce(), qos=1)
        await hub.publish(f"{ROOT}/devices/dev1/cmd", mine, qos=1)
        assert await _until(dev1, mine) == [(f"{ROOT}/devices/dev1/cmd", mine)]


async def test_an_integrator_cannot_publish(tmp_path: Path) -> None:
    logins = {"svc": Role.SERVICE, "obs": Role.INTEGRATOR}
    async with private_mosquitto(tmp_path, logins) as broker, contextlib.AsyncExitStack() as stack:
        hub = await stack.enter_async_context(_client(broker, "svc"))
        obs = await stack.enter_async_context(_client(broker, "obs"))
        await hub.subscribe(f"{ROOT}/#", qos=1)
        await obs.subscribe(f"{ROOT}/games/+/state", qos=1)
        for topic in (f"{ROOT}/games/g1/commands", f"{ROOT}/devices/obs/buzz", f"{ROOT}/games/g1/state"):
            await obs.publish(topic, _nonce(), qos=1)
        marker = _nonce()
        await hub.publish(f"{ROOT}/games/g1/state", marker, qos=1)  # control: the hub's own write arrives
        assert await _until(hub, marker) == [(f"{ROOT}/games/g1/state", marker)]
        assert await _until(obs, marker) == [(f"{ROOT}/games/g1/state", marker)]  # and the integrator reads it


async def test_a_wrong_password_and_an_unknown_login_are_refused(tmp_path: Path) -> None:
    async with private_mosquitto(tmp_path, {"dev1": Role.DEVICE}) as broker:
        async with _client(broker, "dev1"):
            pass  # control: the generated password file accepts the real secret
        for user, password in (("dev1", broker.passwords["dev1"] + "x"), ("nobody", broker.passwords["dev1"])):
            bad = make_client(BrokerAddress("127.0.0.1", broker.port).with_login(user, password), identifier=user)
            with pytest.raises(aiomqtt.MqttCodeError) as refused:
                async with bad:
                    pass
            assert getattr(refused.value.rc, "value", refused.value.rc) in NOT_AUTHORISED
        with pytest.raises(aiomqtt.MqttCodeError) as refused:
            async with make_client(BrokerAddress("127.0.0.1", broker.port), identifier="anon"):
                pass  # no login at all: allow_anonymous false
        assert getattr(refused.value.rc, "value", refused.value.rc) in NOT_AUTHORISED


async def test_after_a_new_export_and_sighup_new_logins_work_and_removed_ones_are_dropped(tmp_path: Path) -> None:
    async with private_mosquitto(tmp_path, {"svc": Role.SERVICE, "dev1": Role.DEVICE}) as broker, \
            contextlib.AsyncExitStack() as stack:
        hub = await stack.enter_async_context(_client(broker, "svc"))
        dev1 = await stack.enter_async_context(_client(broker, "dev1"))
        await dev1.subscribe(f"{ROOT}/devices/dev1/cmd", qos=1)
        broker.store.remove("dev1")
        broker.passwords["dev2"] = broker.store.add("dev2", Role.DEVICE)
        broker.export()
        broker.proc.send_signal(signal.SIGHUP)
        # Mosquitto 2.0.11 checks open connections again on reload: the removed login's one is closed. That also
        # says the reload is done, so the new login must work now.
        with pytest.raises(aiomqtt.MqttError):
            await _read_until_closed(dev1)
        async with _client(broker, "dev2"):
            pass
        marker = _nonce()
        await hub.subscribe(f"{ROOT}/hub/status", qos=1)
        await hub.publish(f"{ROOT}/hub/status", marker, qos=1)  # control: a kept login's connection stays
        assert await _until(hub, marker) == [(f"{ROOT}/hub/status", marker)]


# -- the whole table on the real broker ----------------------------------------------------------------------------

def _observable(user: str | None, access: str, topic: str) -> bool:
    """Cases a client can stage on a live broker: a logged-in reader of something the service may publish."""
    if user is None or topic.startswith("$"):
        return False
    return access == "write" or Acl(ROOT).may_publish(Principal("svc", Role.SERVICE, "svc"), topic)


async def test_the_acl_table_holds_on_a_real_mosquitto(tmp_path: Path) -> None:
    cases = [c for c in CASES if _observable(c[0], c[1], c[2])]
    async with private_mosquitto(tmp_path, LOGINS) as broker, contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(_client(broker, name)) for name in LOGINS}
        observer = await stack.enter_async_context(_client(broker, "svc", "svc-observer"))
        await observer.subscribe("#", qos=1)
        for client in clients.values():
            # A wide filter: Mosquitto grants it and checks every delivery against the ACL.
            await client.subscribe("#", qos=1)
        wrong = []
        for user, access, topic, allowed in cases:
            assert user is not None
            payload, marker = _nonce(), _nonce()
            if access == "write":
                # Mosquitto routes a QoS 1 PUBLISH before it acks it, so the marker sent after the ack comes later.
                await clients[user].publish(topic, payload, qos=1)
                await clients["svc"].publish(f"{ROOT}/games/zz/events", marker, qos=1)
                seen = await _until(observer, marker)
            else:
                await clients["svc"].publish(topic, payload, qos=1)
                await clients["svc"].publish(f"{ROOT}/hub/status", marker, qos=1)  # readable by every role
                seen = await _until(clients[user], marker)
            if ((topic, payload) in seen) is not allowed:
                wrong.append((user, access, topic, allowed))
        assert wrong == []
        assert len(cases) > 40
