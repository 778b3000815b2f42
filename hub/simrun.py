"""`quizhub simulate`: a box of virtual buzzers for a quiz master without hardware, and for tests and benchmarks.

Each virtual buzzer logs in as its own device (``sim-01`` …). Their passwords are created through the broker's
credential store on first use and kept, like a real buzzer's flash, in ``simulator-credentials.json`` (mode 0600)
in the data dir.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from broker.credentials import CredentialStore, Role
from hub.simulator import DeviceClock, Observation, VirtualBuzzer, run_fleet

if TYPE_CHECKING:
    from pathlib import Path

    from hub.mqttclient import BrokerAddress

__all__ = [
    "PressMode",
    "SimulationConfig",
    "build_fleet",
    "device_ids",
    "device_passwords",
    "human_presser",
    "parse_script",
    "run_simulation",
]

log = logging.getLogger("quizhub.simulate")


class PressMode(StrEnum):
    KEYS = "keys"  # type a buzzer number and Enter
    RANDOM = "random"  # every armed buzzer presses after a human-like reaction time
    SCRIPT = "script"  # lines "<ms after arm> <buzzer number>"
    NONE = "none"  # never press by itself (tests drive press())


@dataclass(frozen=True)
class SimulationConfig:
    devices: int = 16
    prefix: str = "sim"
    root: str = "quizhub"
    jitter_ms: float = 0.0
    drift_ppm: float = 100.0
    max_offset_s: float = 10.0
    loss: float = 0.0
    mode: PressMode = PressMode.RANDOM
    press_probability: float = 0.7
    script: Path | None = None
    seed: int | None = None


def device_ids(config: SimulationConfig) -> list[str]:
    width = max(2, len(str(config.devices)))
    return [f"{config.prefix}-{i:0{width}d}" for i in range(1, config.devices + 1)]


def device_passwords(data_dir: Path, ids: list[str], store: CredentialStore | None = None) -> dict[str, str]:
    """Passwords for the simulated devices, creating logins for any that lack one."""
    store = store or CredentialStore(data_dir / "credentials.json")
    path = data_dir / "simulator-credentials.json"
    known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    existing = {c.name for c in store.list()}
    changed = False
    for dev in ids:
        if dev in known and dev in existing:
            continue
        if dev in existing:  # the login exists but we lost its password: issue a new one
            store.remove(dev)
        known[dev] = store.add(dev, Role.DEVICE)
        changed = True
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(known, fh, indent=2)
    return {dev: known[dev] for dev in ids}


def build_fleet(
    config: SimulationConfig, address: BrokerAddress, passwords: dict[str, str] | None
) -> list[VirtualBuzzer]:
    """Buzzers with random clock offsets (0 … max_offset_s since 'boot') and drifts (± drift_ppm)."""
    rng = random.Random(config.seed)  # noqa: S311 - simulation
    fleet = []
    for dev in device_ids(config):
        login = address.with_login(dev, passwords[dev]) if passwords else address
        clock = DeviceClock(
            offset_us=int(rng.uniform(0, config.max_offset_s) * 1e6),
            drift_ppm=rng.uniform(-config.drift_ppm, config.drift_ppm),
        )
        fleet.append(
            VirtualBuzzer(
                dev,
                login,
                root=config.root,
                clock=clock,
                boot=1,
                jitter_ms=config.jitter_ms,
                loss=config.loss,
                rng=random.Random(rng.random()),  # noqa: S311
            )
        )
    return fleet


async def human_presser(
    buzzer: VirtualBuzzer,
    rng: random.Random,
    *,
    probability: float = 0.7,
    reaction_s: tuple[float, float] = (0.45, 0.15),
    fastest_s: float = 0.12,
) -> None:
    """Each time the buzzer is armed, press with ``probability`` after a human reaction time (gauss mean, sd)."""
    while True:
        await buzzer.wait_for("armed", timeout=24 * 3600)
        if rng.random() > probability:
            continue
        await asyncio.sleep(max(fastest_s, rng.gauss(*reaction_s)))  # a person's reaction, not synchronisation
        if buzzer.state.value == "armed":
            await buzzer.press()


async def _key_presser(fleet: list[VirtualBuzzer]) -> None:
    loop = asyncio.get_running_loop()
    print("Type a buzzer number (1-%d) and Enter to press it; 'q' quits." % len(fleet), flush=True)  # noqa: T201, UP031
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "q":
            return
        for token in line.split():
            if token.isdigit() and 1 <= int(token) <= len(fleet):
                buzz = await fleet[int(token) - 1].press()
                print(f"pressed {fleet[int(token) - 1].device_id} t_us={buzz['t_us']}", flush=True)  # noqa: T201
            else:
                print(f"not a buzzer number: {token!r}", flush=True)  # noqa: T201


def parse_script(script: Path) -> list[tuple[float, int]]:
    """Read a press script: lines ``<ms after arm> <buzzer number>``; ``#`` starts a comment."""
    steps: list[tuple[float, int]] = []
    for lineno, raw in enumerate(script.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            ms_text, number_text = line.split()
            steps.append((float(ms_text) / 1000, int(number_text) - 1))
        except ValueError:
            raise SystemExit(f"{script}:{lineno}: expected '<ms after arm> <buzzer number>', got {raw!r}") from None
    return sorted(steps)


async def _script_presser(fleet: list[VirtualBuzzer], steps: list[tuple[float, int]]) -> None:
    while True:
        await fleet[0].wait_for("armed", timeout=3600)
        armed_at = time.monotonic()
        for delay, index in steps:
            await asyncio.sleep(max(0.0, armed_at + delay - time.monotonic()))  # scheduled press time, by design
            if 0 <= index < len(fleet):
                await fleet[index].press()


def _printer(obs: Observation, device: str) -> None:
    if obs.kind in {"connected", "disconnected", "config", "won", "error"}:
        print(f"{device}: {obs.kind} {json.dumps(obs.data) if obs.data else ''}", flush=True)  # noqa: T201


async def run_simulation(config: SimulationConfig, address: BrokerAddress, passwords: dict[str, str] | None) -> None:
    """Run the fleet and its press mode until cancelled (or 'q' in keys mode)."""
    fleet = build_fleet(config, address, passwords)
    for buzzer in fleet:
        buzzer._on_observe = lambda obs, d=buzzer.device_id: _printer(obs, d)  # noqa: SLF001
    rng = random.Random(config.seed)  # noqa: S311
    async with asyncio.TaskGroup() as tg:
        fleet_task = tg.create_task(run_fleet(fleet))
        if config.mode is PressMode.RANDOM:
            for buzzer in fleet:
                presser = human_presser(buzzer, random.Random(rng.random()), probability=config.press_probability)  # noqa: S311
                tg.create_task(presser)
        elif config.mode is PressMode.SCRIPT and config.script is not None:
            tg.create_task(_script_presser(fleet, parse_script(config.script)))
        elif config.mode is PressMode.KEYS:
            await _key_presser(fleet)
            fleet_task.cancel()
            raise asyncio.CancelledError
