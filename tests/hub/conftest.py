"""Fixtures for hub tests: a real broker (embedded amqtt or this machine's Mosquitto) and a real database
(SQLite file or PostgreSQL), a running Hub, and helpers to talk to it as a host and as buzzers."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiomqtt
import pytest

from broker.config import BrokerConfig
from broker.credentials import CredentialStore, Role
from broker.server import EmbeddedBroker
from hub.mqttclient import BrokerAddress, make_client
from hub.quizfile import demo_quiz
from hub.quizstore import import_quiz
from hub.runner import Hub
from hub.simulator import DeviceClock, VirtualBuzzer
from tests.services import (
    MOSQUITTO_DOWN,
    MOSQUITTO_HOST,
    MOSQUITTO_PORT,
    create_database,
    drop_database,
    reset_schema,
    tcp_reachable,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path


@dataclass
class MqttEnv:
    """A broker to test against, and how to log in to it as a given principal."""

    kind: str
    host: str
    port: int
    root: str
    store: CredentialStore | None = None
    secrets: dict[str, str] = field(default_factory=dict)

    def address(self, name: str, role: Role) -> BrokerAddress:
        base = BrokerAddress(self.host, self.port)
        if self.store is None:
            return base  # this machine's Mosquitto allows anonymous clients
        if name not in self.secrets:
            self.secrets[name] = self.store.add(name, role)
        return base.with_login(name, self.secrets[name])


@pytest.fixture(params=["embedded", "mosquitto"])
async def mqtt_env(request: pytest.FixtureRequest, data_dir: Path, topic_root: str) -> AsyncIterator[MqttEnv]:
    if request.param == "mosquitto":
        if not tcp_reachable(MOSQUITTO_HOST, MOSQUITTO_PORT):
            pytest.fail(MOSQUITTO_DOWN)
        yield MqttEnv("mosquitto", MOSQUITTO_HOST, MOSQUITTO_PORT, topic_root)
        return
    store = CredentialStore(data_dir / "credentials.json")
    config = BrokerConfig(data_dir=data_dir, host="127.0.0.1", port=0, ws_port=None, topic_root=topic_root)
    async with EmbeddedBroker(config, store) as broker:
        yield MqttEnv("embedded", "127.0.0.1", broker.port, topic_root, store)


@pytest.fixture(scope="session")
def postgres_db_url() -> Iterator[str]:
    """A database of this test session's own on the real PostgreSQL; dropped at the end."""
    url = create_database("quizhub_hubtest")
    yield url
    drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("postgres_db_url")
    reset_schema(url)
    return url


class HostClient:
    """A host console speaking MQTT: publishes commands and awaits the hub's correlated replies."""

    def __init__(self, client: aiomqtt.Client, root: str, game: str, client_id: str) -> None:
        self.client, self.root, self.game, self.client_id = client, root, game, client_id
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._n = 0

    async def pump(self) -> None:
        async for msg in self.client.messages:
            doc = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
            fut = self.replies.get(doc.get("id", ""))
            if fut is not None and not fut.done():
                fut.set_result(doc)

    async def send(self, cmd: str, **fields: Any) -> dict[str, Any]:
        self._n += 1
        cid = f"c{self._n}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[cid] = fut
        body = {"id": cid, "client": self.client_id, "cmd": cmd, **fields}
        await self.client.publish(f"{self.root}/games/{self.game}/commands", json.dumps(body), qos=1)
        async with asyncio.timeout(10):
            return await fut

    async def ok(self, cmd: str, **fields: Any) -> dict[str, Any]:
        reply = await self.send(cmd, **fields)
        assert reply["ok"], reply
        return reply

    async def pair_and_arm(
        self, red: VirtualBuzzer, blue: VirtualBuzzer, *, waiting: tuple[VirtualBuzzer, ...] | None = None
    ) -> dict[str, Any]:
        """Teams red and blue, each paired with its buzzer, then the question shown and armed: the arm's reply.

        Each buzzer of `waiting` (both unless told) has its config before the show and its arm before the return.
        """
        waiting = (red, blue) if waiting is None else waiting
        await self.ok("add_team", team="red", name="Red")
        await self.ok("add_team", team="blue", name="Blue")
        await self.ok("pair", device=red.device_id, team="red")
        await self.ok("pair", device=blue.device_id, team="blue")
        for buzzer in waiting:
            await buzzer.wait_for("config")
        await self.ok("show")
        armed = await self.ok("arm")
        for buzzer in waiting:
            await buzzer.wait_for("armed")
        return armed


@dataclass
class Arena:
    hub: Hub
    env: MqttEnv
    game_id: str
    host: HostClient
    stack: AsyncExitStack

    async def buzzer(self, device: str, *, offset_us: int = 0, drift_ppm: float = 0.0, jitter_ms: float = 0.0,
                     jitter_on_buzz: bool = True, boot: int = 1) -> VirtualBuzzer:
        b = VirtualBuzzer(device, self.env.address(device, Role.DEVICE), root=self.env.root,
                          clock=DeviceClock(offset_us=offset_us, drift_ppm=drift_ppm), jitter_ms=jitter_ms,
                          jitter_on_buzz=jitter_on_buzz, boot=boot)
        task = asyncio.create_task(b.run())
        self.stack.callback(task.cancel)
        async with asyncio.timeout(10):
            await b.connected.wait()
        return b


@pytest.fixture
async def arena(mqtt_env: MqttEnv, db_url: str) -> AsyncIterator[Arena]:
    """A running hub with the demo quiz loaded into a fresh game, and a host client on that game."""
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(
            Hub(db_url=db_url, address=mqtt_env.address(f"hub-{uuid.uuid4().hex[:6]}", Role.SERVICE),
                topic_root=mqtt_env.root, client_id=f"hub-{uuid.uuid4().hex[:8]}")
        )
        _, doc = demo_quiz()
        quiz_id = await import_quiz(hub.repo, doc)
        # A fixed, generous grace window: these tests are about who wins, not about how long the hub waits, and
        # a CI machine under load may take tens of ms to pass the second buzz along. Grace derivation from the
        # clocks is covered by the core tests.
        game = await hub.repo.create_game(quiz_id, settings={"grace_us": 250_000, "grace_from_clocks": False})
        await hub.service.open_game(game.id)
        host_id = f"host{uuid.uuid4().hex[:6]}"
        client = make_client(mqtt_env.address(host_id, Role.HOST), identifier=host_id)
        await stack.enter_async_context(client)
        await client.subscribe(f"{mqtt_env.root}/games/{game.id}/replies/{host_id}", qos=1)
        host = HostClient(client, mqtt_env.root, game.id, host_id)
        pump = asyncio.create_task(host.pump())
        stack.callback(pump.cancel)
        yield Arena(hub, mqtt_env, game.id, host, stack)
