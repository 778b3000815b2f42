"""Virtual ESP32 buzzers that speak exactly the device protocol of DESIGN §3.

Each ``VirtualBuzzer`` is its own MQTT client (its own login, client id and Will), keeps its own drifting
microsecond clock that starts near zero as a real device's does at boot, answers clock-sync pings, obeys
``config``/``arm``/``lock``/``reset``, and publishes buzzes with ``seq``/``boot``. Quiz masters without hardware use it
through ``quizhub simulate``; tests and benchmarks use it to play against the real hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import aiomqtt

from hub.mqttclient import make_client

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.mqttclient import BrokerAddress

__all__ = ["BuzzerState", "DeviceClock", "Observation", "VirtualBuzzer", "run_fleet"]

log = logging.getLogger("quizhub.simulator")

FIRMWARE = "sim-1.0.0"


@dataclass
class DeviceClock:
    """A device's monotonic µs clock: starts at ``offset_us`` and runs ``drift_ppm`` fast or slow."""

    offset_us: int = 0
    drift_ppm: float = 0.0
    _start_ns: int = field(default_factory=time.monotonic_ns)

    def at(self, host_monotonic_ns: int) -> int:
        """The device clock reading at a given host monotonic instant (lets tests press at known true times)."""
        elapsed_us = (host_monotonic_ns - self._start_ns) / 1000
        return int(self.offset_us + elapsed_us * (1 + self.drift_ppm * 1e-6))

    def now_us(self) -> int:
        return self.at(time.monotonic_ns())


class BuzzerState(StrEnum):
    IDLE = "idle"
    ARMED = "armed"
    LOCKED = "locked"
    WON = "won"


@dataclass(frozen=True)
class Observation:
    """Something the buzzer did or was told, for tests and the terminal UI."""

    kind: str
    data: dict[str, Any]


class VirtualBuzzer:
    """One simulated buzzer. ``await run()`` until cancelled; ``press()`` at any time."""

    def __init__(
        self,
        device_id: str,
        address: BrokerAddress,
        *,
        root: str = "quizhub",
        clock: DeviceClock | None = None,
        boot: int = 1,
        jitter_ms: float = 0.0,
        jitter_on_buzz: bool = True,
        loss: float = 0.0,
        rng: random.Random | None = None,
        on_observe: Callable[[Observation], None] | None = None,
    ) -> None:
        self.device_id = device_id
        self.address = address
        self.root = root
        self.clock = clock or DeviceClock()
        self.boot = boot
        self.jitter_ms = jitter_ms
        self.jitter_on_buzz = jitter_on_buzz
        self.loss = loss
        self._rng = rng or random.Random()  # noqa: S311 - simulation noise, not security
        self._on_observe = on_observe
        self.seq = 0
        self.state = BuzzerState.IDLE
        self.game: str | None = None
        self.team: str | None = None
        self.connected = asyncio.Event()
        self.observations: asyncio.Queue[Observation] = asyncio.Queue()
        self._client: aiomqtt.Client | None = None
        self._pending: list[dict[str, int]] = []

    def _topic(self, leaf: str) -> str:
        return f"{self.root}/devices/{self.device_id}/{leaf}"

    def _observe(self, kind: str, **data: Any) -> None:
        obs = Observation(kind, data)
        self.observations.put_nowait(obs)
        if self._on_observe is not None:
            self._on_observe(obs)

    async def _delay(self) -> None:
        """Simulated uplink delay: exponential with mean ``jitter_ms`` (capped at 5x), like Wi-Fi — most packets
        fast, a tail of slow ones — so sync sees asymmetric, variable paths."""
        if self.jitter_ms > 0:
            delay_ms = min(self._rng.expovariate(1 / self.jitter_ms), 5 * self.jitter_ms)
            await asyncio.sleep(delay_ms / 1000)

    def _lost(self) -> bool:
        return self.loss > 0 and self._rng.random() < self.loss

    async def run(self) -> None:
        """Connect, keep connected (with backoff), and serve the device protocol until cancelled."""
        backoff = 0.2
        will = aiomqtt.Will(self._topic("status"), json.dumps({"state": "offline"}), qos=1, retain=True)
        while True:
            try:
                client = make_client(self.address, identifier=self.device_id, will=will, clean_session=True)
                async with client:
                    self._client = client
                    try:
                        # Stopped while still subscribing counts too: its online status is out already.
                        await self._on_connect(client)
                        backoff = 0.2
                        async for message in client.messages:
                            await self._handle(client, str(message.topic), bytes(message.payload))
                    except asyncio.CancelledError:
                        await self._say_offline(client)
                        raise
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self._client = None
                self._observe("disconnected", reason=str(exc))
                await asyncio.sleep(backoff * self._rng.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 5.0)

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        # A clean disconnect suppresses the Will, so a stopped buzzer would stay "online" on the devices page: say it.
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(1.0):
                await client.publish(self._topic("status"), json.dumps({"state": "offline"}), qos=1, retain=True)

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        status = {"state": "online", "fw": FIRMWARE, "rssi": -50 - self._rng.randint(0, 30), "battery_mv": 3900,
                  "boot": self.boot}
        await client.publish(self._topic("status"), json.dumps(status), qos=1, retain=True)
        for leaf in ("cmd", "sync", "error"):
            await client.subscribe(self._topic(leaf), qos=1)
        if self.game:
            await client.subscribe(f"{self.root}/games/{self.game}/buzzers", qos=1)
        self.connected.set()
        self._observe("connected")
        pending, self._pending = self._pending, []
        for buzz in pending:  # presses made while offline keep their original press time
            await client.publish(self._topic("buzz"), json.dumps(buzz), qos=1)

    async def _handle(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        try:
            msg = json.loads(payload)
        except ValueError:
            self._observe("bad-payload", topic=topic)
            return
        if not isinstance(msg, dict):
            return
        if topic == self._topic("sync"):
            await self._answer_sync(client, msg)
        elif topic == self._topic("cmd"):
            await self._command(client, msg)
        elif topic == self._topic("error"):
            self._observe("error", **msg)
        elif topic.endswith("/buzzers"):
            self._buzzers(msg)

    async def _answer_sync(self, client: aiomqtt.Client, msg: dict[str, Any]) -> None:
        t2 = self.clock.now_us()
        if self._lost():
            return
        reply = {"n": msg.get("n"), "t1": msg.get("t1"), "t2": t2, "t3": self.clock.now_us(), "boot": self.boot}
        # The jitter comes after t3: it is network delay on the way up, which the hub must measure. (Delay between
        # t2 and t3 would be device processing time, which the round-trip arithmetic removes exactly.)
        await self._delay()
        await client.publish(self._topic("sync/reply"), json.dumps(reply))

    async def _command(self, client: aiomqtt.Client, msg: dict[str, Any]) -> None:
        cmd = msg.get("cmd")
        if cmd == "config":
            game = msg.get("game")
            if self.game and self.game != game:
                await client.unsubscribe(f"{self.root}/games/{self.game}/buzzers")
            self.game, self.team = (str(game) if game else None), msg.get("team")
            if self.game:
                await client.subscribe(f"{self.root}/games/{self.game}/buzzers", qos=1)
            self._observe("config", game=self.game, team=self.team)
        elif cmd in {"arm", "lock", "reset", "win"}:
            self._buzzers({"cmd": cmd, "winner": self.device_id if cmd == "win" else msg.get("winner")})
        elif cmd == "identify":
            self._observe("identify")

    def _buzzers(self, msg: dict[str, Any]) -> None:
        cmd = msg.get("cmd")
        if cmd == "arm":
            self.state = BuzzerState.ARMED
        elif cmd == "lock":
            self.state = BuzzerState.WON if msg.get("winner") == self.device_id else BuzzerState.LOCKED
        elif cmd == "win":
            self.state = BuzzerState.WON
        elif cmd == "reset":
            self.state = BuzzerState.IDLE
        else:
            return
        self._observe(self.state.value, q=msg.get("q"), winner=msg.get("winner"))

    async def press(self, t_us: int | None = None) -> dict[str, int]:
        """Press the button now (or with a given device-clock time). Queued if offline, sent on reconnect."""
        self.seq += 1
        buzz = {"seq": self.seq, "boot": self.boot, "t_us": self.clock.now_us() if t_us is None else t_us}
        self._observe("press", **buzz)
        client = self._client
        if client is None or not self.connected.is_set():
            self._pending.append(buzz)
            return buzz
        if self.jitter_on_buzz:
            await self._delay()
        try:
            await client.publish(self._topic("buzz"), json.dumps(buzz), qos=1)
        except aiomqtt.MqttError:
            self._pending.append(buzz)
        return buzz

    async def wait_for(self, kind: str, timeout: float = 5.0) -> Observation:  # noqa: ASYNC109 - test helper API
        """Wait until this buzzer observes ``kind`` (e.g. "armed", "won"); earlier other observations are dropped."""
        async with asyncio.timeout(timeout):
            while True:
                obs = await self.observations.get()
                if obs.kind == kind:
                    return obs


async def run_fleet(buzzers: list[VirtualBuzzer]) -> None:
    """Run many buzzers until cancelled; one crashing buzzer is logged, not fatal to the others."""

    async def guarded(b: VirtualBuzzer) -> None:
        try:
            await b.run()
        except Exception:
            log.exception("simulated buzzer crashed", extra={"device": b.device_id})

    async with asyncio.TaskGroup() as tg:
        for b in buzzers:
            tg.create_task(guarded(b))

