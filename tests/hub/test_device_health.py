"""Device presence and health in the devices table (issue 4 item 5), against the embedded broker, which enforces
keepalive, and a real database (SQLite and PostgreSQL).

What is checked is what an admin's devices page reads: online/offline from the device's status and its Will, firmware,
RSSI, battery and boot from the status, last-seen, and the hub's clock figures for it (uncertainty, one-way delay).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from broker.config import BrokerConfig
from broker.credentials import CredentialStore, Role
from broker.server import EmbeddedBroker
from hub.core.game import AddTeam, Arm, Rejected, ShowQuestion
from hub.core.transitions import Phase
from hub.mqttclient import BrokerAddress
from hub.quizfile import demo_quiz
from hub.quizstore import import_quiz
from hub.runner import Hub
from hub.service import HEALTH_MAX_DEFERRALS
from hub.simulator import FIRMWARE, VirtualBuzzer
from tests.broker.brokertest_raw import RawClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from hub.db.models import Device

# Short, so the test sees several health writes in a second or two; production writes every 5 s.
HEALTH_INTERVAL_S = 0.2


@dataclass
class Rig:
    hub: Hub
    root: str
    port: int
    store: CredentialStore
    stack: AsyncExitStack

    def login(self, name: str, role: Role) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port).with_login(name, self.store.add(name, role))

    async def device(self, device_id: str) -> Device:
        row = await self.hub.repo.get_device(device_id)
        assert row is not None, f"{device_id} is not in the devices table"
        return row

    async def statuses_recorded(self, count: int) -> None:
        service = self.hub.service
        await service.wait_for(lambda: service.counters["status_recorded"] >= count, timeout=10)


@pytest.fixture
async def rig(data_dir: Path, db_url: str) -> AsyncIterator[Rig]:
    root = f"qhhealth-{uuid.uuid4().hex[:8]}"
    store = CredentialStore(data_dir / "credentials.json")
    config = BrokerConfig(data_dir=data_dir, host="127.0.0.1", port=0, ws_port=None, topic_root=root)
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(EmbeddedBroker(config, store))
        hub_login = BrokerAddress("127.0.0.1", broker.port).with_login("svc", store.add("svc", Role.SERVICE))
        hub = await stack.enter_async_context(
            Hub(db_url=db_url, address=hub_login, topic_root=root, client_id=f"hub-{uuid.uuid4().hex[:6]}",
                health_interval_s=HEALTH_INTERVAL_S)
        )
        yield Rig(hub, root, broker.port, store, stack)


async def test_buzzer_presence_firmware_and_clock_health_are_kept(rig: Rig) -> None:
    service = rig.hub.service
    connected_at = datetime.now(UTC)
    buzzer = VirtualBuzzer("bz-h", rig.login("bz-h", Role.DEVICE), root=rig.root, boot=3)
    task = asyncio.create_task(buzzer.run())
    rig.stack.callback(task.cancel)
    await rig.statuses_recorded(1)

    row = await rig.device("bz-h")
    assert row.online is True
    assert row.fw == FIRMWARE
    assert row.rssi is not None
    assert -80 <= row.rssi <= -50
    assert row.battery_mv == 3900
    assert row.boot == 3
    assert row.last_seen_at is not None
    assert row.last_seen_at >= connected_at - timedelta(seconds=1)
    assert row.team_id is None  # heard from but not paired: the host console lists it as unpaired

    # The hub syncs the buzzer's clock on its own; the next health write after that carries the figures.
    await service.wait_for(lambda: service.health("bz-h")["synced"], timeout=10)
    written = service.counters["health_written"]
    await service.wait_for(lambda: service.counters["health_written"] > written, timeout=10)
    health = service.health("bz-h")
    row = await rig.device("bz-h")
    assert row.clock_uncertainty_us is not None
    assert row.one_way_us is not None
    # Loopback: well under a millisecond each way, never zero (a round trip takes time).
    assert 0 < row.one_way_us < 100_000
    assert 0 < row.clock_uncertainty_us < 100_000
    # Written from the same model the hub rules with (it may have taken a sample or two since).
    assert row.one_way_us == pytest.approx(health["one_way_us"], rel=1.0)
    assert row.last_seen_at is not None
    assert row.last_seen_at > connected_at - timedelta(seconds=1)
    assert row.online is True


@pytest.mark.parametrize("death", ["silent", "reset"])
async def test_a_device_that_dies_without_disconnect_goes_offline_through_its_will(rig: Rig, death: str) -> None:
    """"silent": power lost, the TCP connection stays half-open and only keepalive (1 s x 1.5) notices.
    "reset": the socket is torn down without an MQTT DISCONNECT (a crashed firmware, a pulled cable on a switch)."""
    dev = f"bz-raw-{death}"
    status_topic = f"{rig.root}/devices/{dev}/status"
    address = rig.login(dev, Role.DEVICE)
    assert address.password is not None
    raw = await RawClient.open(rig.port)
    rig.stack.push_async_callback(raw.close)
    _, code = await raw.connect(dev, dev, address.password.get_secret_value(), keepalive=1,
                                will=(status_topic, json.dumps({"state": "offline"}).encode(), 1, True))
    assert code == 0
    online = {"state": "online", "fw": "2.1.0", "rssi": -67, "battery_mv": 3650, "boot": 9}
    await raw.publish(status_topic, json.dumps(online).encode(), qos=1, retain=True)
    last_packet = time.monotonic()
    await rig.statuses_recorded(1)
    row = await rig.device(dev)
    assert (row.online, row.fw, row.rssi, row.battery_mv, row.boot) == (True, "2.1.0", -67, 3650, 9)
    seen = row.last_seen_at
    assert seen is not None

    if death == "reset":
        raw.writer.transport.abort()  # no DISCONNECT, no FIN handshake to wait for
    await rig.statuses_recorded(2)  # the Will, published by the broker for the dead device
    gone_after = time.monotonic() - last_packet

    row = await rig.device(dev)
    assert row.online is False
    # What the status said stays: the devices page shows the battery it had when it vanished.
    assert (row.fw, row.rssi, row.battery_mv, row.boot) == ("2.1.0", -67, 3650, 9)
    # The Will is the broker speaking for a device it lost: last-seen stays at the device's own last message
    # (in the silent case a second and more before the Will).
    assert row.last_seen_at is not None
    assert abs(row.last_seen_at - seen) < timedelta(milliseconds=50)
    if death == "silent":
        assert gone_after >= 1.0, "the broker dropped a client before its keepalive ran out"


async def test_health_writes_wait_while_a_game_is_armed_but_not_for_long(rig: Rig) -> None:
    """An armed question is when a buzz's log append must not queue behind the health batch (SQLite has one
    writer); a question left armed still gets the devices table refreshed after a bounded number of rounds."""
    service = rig.hub.service
    buzzer = VirtualBuzzer("bz-arm", rig.login("bz-arm", Role.DEVICE), root=rig.root)
    task = asyncio.create_task(buzzer.run())
    rig.stack.callback(task.cancel)
    await service.wait_for(lambda: service.counters["health_written"] >= 1, timeout=10)  # writes flow when idle
    _, doc = demo_quiz()
    game = await rig.hub.repo.create_game(await import_quiz(rig.hub.repo, doc))
    await service.open_game(game.id)
    now = service.now_us
    for inp in (AddTeam(team="red", name="Red", now_us=now()), ShowQuestion(now_us=now()), Arm(now_us=now())):
        assert not isinstance(await service.command(game.id, inp), Rejected)
    assert service.games[game.id].game.phase is Phase.ARMED

    deferred_at_arm = service.counters["health_deferred"]
    await service.wait_for(lambda: service.counters["health_deferred"] > deferred_at_arm, timeout=10)
    written = service.counters["health_written"]
    await service.wait_for(lambda: service.counters["health_written"] > written, timeout=15)
    assert service.counters["health_deferred"] - deferred_at_arm >= HEALTH_MAX_DEFERRALS


async def test_a_stopped_simulated_buzzer_says_it_is_offline(rig: Rig) -> None:
    # A clean disconnect suppresses the Will; without its own "offline" a stopped buzzer stayed online on the page.
    buzzer = VirtualBuzzer("bz-stop", rig.login("bz-stop", Role.DEVICE), root=rig.root, boot=1)
    task = asyncio.create_task(buzzer.run())
    await rig.statuses_recorded(1)
    assert (await rig.device("bz-stop")).online is True
    recorded = rig.hub.service.counters["status_recorded"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await rig.statuses_recorded(recorded + 1)
    assert (await rig.device("bz-stop")).online is False
