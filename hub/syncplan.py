"""When to ping each device for clock sync: a burst when it comes online, then a steady interval.

A burst gives the clock model enough low-round-trip samples to fit offset and drift within a second of a buzzer
powering up; the steady pings keep drift (up to ±200 ppm, i.e. 0.4 ms per 2 s) from eating into the error bound.
Pure scheduling, no I/O: the hub's sync loop asks ``due(now)`` and sleeps until ``next_due_us()``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

__all__ = ["Ping", "SyncPlanner"]


@dataclass(frozen=True)
class Ping:
    device: str
    n: int


@dataclass
class _DeviceSync:
    next_n: int = 0
    burst_left: int = 0
    epoch: int = 0
    active: bool = True


@dataclass
class SyncPlanner:
    """Per-device ping schedule.

    Ping numbers ``n`` only ever increase per device, across offline/online too, so a stale reply is recognisable.
    """

    burst: int = 12
    burst_spacing_us: int = 40_000
    interval_us: int = 2_000_000
    _devices: dict[str, _DeviceSync] = field(default_factory=dict)
    _heap: list[tuple[int, str, int]] = field(default_factory=list)

    def online(self, device: str, now_us: int) -> None:
        """A device appeared (or rebooted): start a fresh burst now."""
        state = self._devices.setdefault(device, _DeviceSync())
        state.burst_left = self.burst
        state.active = True
        state.epoch += 1
        heapq.heappush(self._heap, (now_us, device, state.epoch))

    def offline(self, device: str) -> None:
        """Stop pinging; stale heap entries are skipped by their epoch."""
        state = self._devices.get(device)
        if state is not None:
            state.epoch += 1
            state.burst_left = 0
            state.active = False

    @property
    def devices(self) -> frozenset[str]:
        return frozenset(d for d, s in self._devices.items() if s.active)

    def next_due_us(self) -> int | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def due(self, now_us: int) -> list[Ping]:
        """Pings to send now; each device is rescheduled for its next ping."""
        pings: list[Ping] = []
        while self._heap and self._heap[0][0] <= now_us:
            _, device, epoch = heapq.heappop(self._heap)
            state = self._devices.get(device)
            if state is None or not state.active or state.epoch != epoch:
                continue
            state.next_n += 1
            pings.append(Ping(device, state.next_n))
            if state.burst_left > 0:
                state.burst_left -= 1
                delay = self.burst_spacing_us if state.burst_left > 0 else self.interval_us
            else:
                delay = self.interval_us
            heapq.heappush(self._heap, (now_us + delay, device, epoch))
        return pings

    def _drop_stale(self) -> None:
        while self._heap:
            _, device, epoch = self._heap[0]
            state = self._devices.get(device)
            if state is not None and state.active and state.epoch == epoch:
                return
            heapq.heappop(self._heap)
