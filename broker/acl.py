"""Who may publish and subscribe where: the topic ACL by role (DESIGN section 3), as pure functions.

Subscriptions are checked strictly: a filter is granted only if *every* topic it could match is readable, so a
granted subscription never needs a per-message check and retained messages can never leak through it. An integrator
therefore subscribes to `quizhub/games/+/state` (and the other readable leaves), not `quizhub/games/#`.

| role       | publish                          | subscribe |
|------------|----------------------------------|-----------|
| device     | `{root}/devices/{id}/...`        | own `cmd`, `sync`, `error`; `games/+/buzzers`; `hub/status` |
| integrator | nothing                          | `games/+/` state, question, scores, events, buzzers; |
|            |                                  | `devices/+/status`; `hub/status` |
| host       | `games/+/commands`               | integrator's reads + `games/+/replies/{own client id}` |
| service    | `{root}/...`                     | `#` and `$SYS/#` |

A device's id is its credential name, and its client id must equal it (checked at CONNECT by the server).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.credentials import Role
from broker.topics import filter_within, matches

__all__ = ["Acl", "Principal"]

_INTEGRATOR_READS = (
    "games/+/state",
    "games/+/question",
    "games/+/scores",
    "games/+/events",
    "games/+/buzzers",
    "devices/+/status",
    "hub/status",
)


def _plain_level(value: str) -> bool:
    return bool(value) and not any(c in value for c in "/+#\0")


@dataclass(frozen=True)
class Principal:
    """An authenticated connection: credential name (None when anonymous), role and MQTT client id."""

    name: str | None
    role: Role
    client_id: str


@dataclass(frozen=True)
class _Rules:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


@dataclass(frozen=True)
class Acl:
    """The ACL for one topic root. Pure: the same principal and topic always give the same answer."""

    root: str
    _cache: dict[Principal, _Rules] = field(default_factory=dict, compare=False, repr=False)

    def rules(self, who: Principal) -> _Rules:
        """The publish and subscribe patterns (topic filters) granted to `who`."""
        cached = self._cache.get(who)
        if cached is not None:
            return cached
        root = self.root
        reads = tuple(f"{root}/{leaf}" for leaf in _INTEGRATOR_READS)
        rules: _Rules
        if who.role is Role.SERVICE:
            # Reading `#` is safe: nobody can publish outside the root, and `#` never matches `$SYS` (own pattern).
            rules = _Rules((f"{root}/#",), ("#", "$SYS/#"))
        elif who.role is Role.DEVICE:
            dev = who.client_id
            if who.name is None or dev != who.name or not _plain_level(dev):
                rules = _Rules((), ())
            else:
                mine = f"{root}/devices/{dev}"
                rules = _Rules(
                    (f"{mine}/#",),
                    (f"{mine}/cmd", f"{mine}/sync", f"{mine}/error", f"{root}/games/+/buzzers", f"{root}/hub/status"),
                )
        elif who.role is Role.HOST:
            replies = (f"{root}/games/+/replies/{who.client_id}",) if _plain_level(who.client_id) else ()
            rules = _Rules((f"{root}/games/+/commands",), reads + replies)
        else:
            rules = _Rules((), reads)
        if len(self._cache) > 10_000:
            self._cache.clear()  # bounded: principals come and go with connections
        self._cache[who] = rules
        return rules

    def may_publish(self, who: Principal, topic: str) -> bool:
        """Whether `who` may publish to the topic name `topic` (also used for its Will topic)."""
        if who.role is Role.DEVICE:
            # "under its own prefix": the prefix itself is not a topic a device publishes to.
            prefix = f"{self.root}/devices/{who.client_id}/"
            return bool(self.rules(who).publish) and topic.startswith(prefix) and len(topic) > len(prefix)
        return any(matches(pattern, topic) for pattern in self.rules(who).publish)

    def may_subscribe(self, who: Principal, topic_filter: str) -> bool:
        """Whether every topic `topic_filter` could match is readable by `who` (the filter must be valid)."""
        return any(filter_within(topic_filter, pattern) for pattern in self.rules(who).subscribe)

    def may_receive(self, who: Principal, topic: str) -> bool:
        """Whether `who` may read the topic name `topic`."""
        return any(matches(pattern, topic) for pattern in self.rules(who).subscribe)
