"""The hub's Prometheus metrics: every definition here, one-line hooks in :mod:`hub.service`.

The hooks sit on the receive loop, so each is a dict lookup and a counter increment: no await, no I/O. Gauges that
describe state (devices online, games held) are not kept up to date on the hot path at all; a collector reads them
off the live services when Prometheus scrapes. Names and meanings are listed in docs/operations.md.

``quizhub serve`` exposes these on the web app's ``/metrics`` (same process, same default registry); ``quizhub hub``
alone serves them with :func:`serve_metrics` (``--metrics-port``).
"""

from __future__ import annotations

import errno
import weakref
from collections import Counter as _Counter
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from hub.core.events import BuzzRuled

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hub.topics import ParsedTopic, TopicKind, Topics
    from hub.transport import Publisher

__all__ = [
    "BUZZ_TO_RULING",
    "HUB_EVENTS",
    "MQTT_IN",
    "MQTT_OUT",
    "REJECTED",
    "CountingPublisher",
    "HubCounters",
    "MetricsPortInUseError",
    "message_in",
    "observe_ruling",
    "serve_metrics",
    "track",
]

MQTT_IN = Counter("quizhub_hub_mqtt_messages_in", "MQTT messages the hub received, by topic kind.", ["kind"])
MQTT_OUT = Counter("quizhub_hub_mqtt_messages_out", "MQTT messages the hub published, by topic kind.", ["kind"])
REJECTED = Counter(
    "quizhub_hub_rejected_inputs", "Inputs the hub refused (bad payload, unknown topic, a refused command...).",
    ["reason"],
)
HUB_EVENTS = Counter(
    "quizhub_hub_events", "Notable things the hub did or dropped (duplicate presses, fenced out, lease lost...).",
    ["event"],
)
# Seconds from the first press's arrival at the hub to the ruling's publish; the grace window (waiting for a
# possibly earlier press still in flight) is part of it, so the buckets reach well past the default window.
BUZZ_TO_RULING = Histogram(
    "quizhub_hub_buzz_to_ruling_seconds", "Time from a press's arrival at the hub to its ruling's publish.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
)

# Counter keys of HubService.counters that are a refused input; every `rejected_<code>` key is one too.
_REJECTION_KEYS = frozenset({"unknown_topic", "sync_unexpected", "sync_invalid"})
_UNKNOWN = "unknown"
_KIND_CACHE_MAX = 4096


class HubCounters(_Counter[str]):
    """``HubService.counters`` that also counts into Prometheus: every ``counters[key] += n`` the service already
    does becomes a ``quizhub_hub_rejected_inputs`` or ``quizhub_hub_events`` increment, with no hook per site."""

    def __setitem__(self, key: str, value: int) -> None:
        delta = value - self.get(key, 0)
        super().__setitem__(key, value)
        if delta <= 0:
            return
        if key.startswith("rejected_"):
            REJECTED.labels(key.removeprefix("rejected_")).inc(delta)
        elif key in _REJECTION_KEYS:
            REJECTED.labels(key).inc(delta)
        else:
            HUB_EVENTS.labels(key).inc(delta)


# `labels()` costs ~6 µs (a lock and a tuple key); a bound child's inc() ~0.6 µs. The hot path keeps the children.
_in_by_kind: dict[TopicKind | None, Any] = {}
_out_by_kind: dict[str, Any] = {}


def _child(cache: dict[Any, Any], metric: Counter, key: object, kind: str) -> Any:
    child = cache.get(key)
    if child is None:
        child = cache[key] = metric.labels(kind)
    return child


def message_in(parsed: ParsedTopic | None) -> None:
    """Count one received message by its topic kind (``unknown`` for a topic outside the tree)."""
    kind = parsed.kind if parsed is not None else None
    child = _in_by_kind.get(kind)
    if child is None:
        child = _child(_in_by_kind, MQTT_IN, kind, kind.value if kind is not None else _UNKNOWN)
    child.inc()


class CountingPublisher:
    """The service's publisher, counting each message by topic kind before handing it on unchanged."""

    def __init__(self, inner: Publisher, topics: Topics) -> None:
        self.inner = inner
        self._topics = topics
        self._kinds: dict[str, str] = {}  # topic -> kind label; topics repeat, parsing them each time would not

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        kind = self._kind(topic)
        _child(_out_by_kind, MQTT_OUT, kind, kind).inc()
        await self.inner.publish(topic, payload, qos=qos, retain=retain)

    def _kind(self, topic: str) -> str:
        kind = self._kinds.get(topic)
        if kind is None:
            parsed = self._topics.parse(topic)
            kind = parsed.kind.value if parsed is not None else _UNKNOWN
            if len(self._kinds) >= _KIND_CACHE_MAX:
                self._kinds.clear()
            self._kinds[topic] = kind
        return kind


def observe_ruling(event: object, now_us: int) -> None:
    """After an event's publish: if it is a ruling, observe the time since its first press arrived."""
    if isinstance(event, BuzzRuled) and event.order:
        elapsed_us = now_us - min(r.arrival_us for r in event.order)
        if elapsed_us >= 0:  # a press logged under another hub's clock (a takeover) has no meaningful latency
            BUZZ_TO_RULING.observe(elapsed_us / 1e6)


# ---------------------------------------------------------------------------------------------- state gauges

_services: weakref.WeakSet[Any] = weakref.WeakSet()


def track(service: Any) -> None:
    """Report this service's online devices and held games at each scrape (until it is garbage collected)."""
    _services.add(service)


class _StateCollector:
    """Gauges read off the live services at scrape time, so the receive loop never updates them."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        services = list(_services)
        if not services:  # a lone `quizhub web` imports this module but runs no hub: no gauges to mislead a sum
            return
        devices = GaugeMetricFamily("quizhub_hub_devices_connected", "Buzzers online (their last status said so).")
        devices.add_metric([], sum(len(s.planner.devices) for s in services))
        games = GaugeMetricFamily("quizhub_hub_games", "Running games this hub holds (with leases: owns).")
        games.add_metric([], sum(len(s.games) for s in services))
        yield devices
        yield games

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()


REGISTRY.register(_StateCollector())


# ---------------------------------------------------------------------------------------------- `quizhub hub`


class MetricsPortInUseError(Exception):
    """The metrics port is taken; the sentence names the flag to change it."""


def serve_metrics(host: str, port: int) -> tuple[str, int]:
    """Serve ``/metrics`` on ``host:port`` from a background thread (``quizhub hub --metrics-port``).

    Returns the address it listens on (port 0 picks a free one).
    """
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise MetricsPortInUseError(
                f"metrics port {port} on {host} is already in use; choose another with --metrics-port"
            ) from None
        raise
    bound = server.server_address
    return str(bound[0]), int(bound[1])
