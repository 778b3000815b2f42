"""The MQTT topic tree of DESIGN §3 as pure values: build a topic, parse one back, and know its delivery rules.

No I/O and no MQTT library: `Topics("quizhub").device_buzz("dev7")` is a string, `parse` turns a string back
into a `ParsedTopic`. One table (`_TABLE`) says for every kind its path, retain flag and QoS, so builders,
parser, subscription filters and the AsyncAPI document cannot drift apart (tests/contract checks the last).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "ID_RE",
    "ParsedTopic",
    "TopicKind",
    "TopicRule",
    "Topics",
    "is_valid_id",
    "validate_id",
]

ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Device, game and client ids: one safe topic level (no `/`, `+`, `#`, `$`), also safe in URLs."""


class TopicKind(StrEnum):
    """Every topic of the tree; the value is the AsyncAPI channel name."""

    DEVICE_STATUS = "deviceStatus"
    DEVICE_BUZZ = "deviceBuzz"
    DEVICE_SYNC = "deviceSync"
    DEVICE_SYNC_REPLY = "deviceSyncReply"
    DEVICE_CMD = "deviceCmd"
    DEVICE_ERROR = "deviceError"
    GAME_BUZZERS = "gameBuzzers"
    GAME_STATE = "gameState"
    GAME_QUESTION = "gameQuestion"
    GAME_SCORES = "gameScores"
    GAME_EVENTS = "gameEvents"
    GAME_COMMANDS = "gameCommands"
    GAME_REPLIES = "gameReplies"
    HUB_STATUS = "hubStatus"

    @property
    def rule(self) -> TopicRule:
        """Path template, retain flag and QoS of this kind."""
        return _TABLE[self]

    @property
    def is_device(self) -> bool:
        """True for topics under `devices/{dev}/` (msgpack accepted, device size limit)."""
        return self.rule.path.startswith("devices/")


@dataclass(frozen=True, slots=True)
class TopicRule:
    """How one kind of topic is shaped and delivered. `path` is relative to the root, with `{dev}`,
    `{game}` and `{client}` placeholders, exactly as in the AsyncAPI channel addresses."""

    path: str
    retained: bool
    qos: int


_TABLE: Final[dict[TopicKind, TopicRule]] = {
    # QoS 1 where losing a message loses a press or a ruling; QoS 0 for clock pings, whose value is in being
    # fresh (a retransmitted ping would only be a bad sample) and for best-effort error notes.
    TopicKind.DEVICE_STATUS: TopicRule("devices/{dev}/status", retained=True, qos=1),
    TopicKind.DEVICE_BUZZ: TopicRule("devices/{dev}/buzz", retained=False, qos=1),
    TopicKind.DEVICE_SYNC: TopicRule("devices/{dev}/sync", retained=False, qos=0),
    TopicKind.DEVICE_SYNC_REPLY: TopicRule("devices/{dev}/sync/reply", retained=False, qos=0),
    TopicKind.DEVICE_CMD: TopicRule("devices/{dev}/cmd", retained=False, qos=1),
    TopicKind.DEVICE_ERROR: TopicRule("devices/{dev}/error", retained=False, qos=0),
    TopicKind.GAME_BUZZERS: TopicRule("games/{game}/buzzers", retained=False, qos=1),
    TopicKind.GAME_STATE: TopicRule("games/{game}/state", retained=True, qos=1),
    TopicKind.GAME_QUESTION: TopicRule("games/{game}/question", retained=True, qos=1),
    TopicKind.GAME_SCORES: TopicRule("games/{game}/scores", retained=True, qos=1),
    TopicKind.GAME_EVENTS: TopicRule("games/{game}/events", retained=False, qos=1),
    TopicKind.GAME_COMMANDS: TopicRule("games/{game}/commands", retained=False, qos=1),
    TopicKind.GAME_REPLIES: TopicRule("games/{game}/replies/{client}", retained=False, qos=1),
    TopicKind.HUB_STATUS: TopicRule("hub/status", retained=True, qos=1),
}

# Parsing table: the levels after the root, placeholders as None, keyed by level count for a quick lookup.
_PATTERNS: Final[dict[int, list[tuple[tuple[str, ...], TopicKind]]]] = {}
for _kind, _rule in _TABLE.items():
    _levels = tuple(_rule.path.split("/"))
    _PATTERNS.setdefault(len(_levels), []).append((_levels, _kind))

_PLACEHOLDERS: Final = {"{dev}": "device", "{game}": "game", "{client}": "client"}


def is_valid_id(value: str) -> bool:
    """Whether `value` may be a device, game or client id."""
    return ID_RE.fullmatch(value) is not None


def validate_id(value: str, what: str = "id") -> str:
    """Return `value` if it is a valid id, else raise `ValueError` naming `what` and the rule."""
    if not is_valid_id(value):
        raise ValueError(f"{what} {value!r} is invalid: use 1 to 64 of the characters A-Z a-z 0-9 _ -")
    return value


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic of the tree taken apart: its kind and the ids in it (the others are None)."""

    kind: TopicKind
    device: str | None = None
    game: str | None = None
    client: str | None = None


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses the topics under one root (default `quizhub`; tests use a unique root each).

    The root may have several levels (`site/quizhub`) but no wildcards, no empty level, and no leading `$`
    (brokers reserve `$…` topics). Builders raise `ValueError` for an invalid id: that is the caller's bug.
    `parse` never raises: a topic outside the tree, or with an invalid id, gives None.
    """

    root: str = "quizhub"

    def __post_init__(self) -> None:
        levels = self.root.split("/")
        if (
            not self.root
            or self.root.startswith("$")
            or any(not level or "+" in level or "#" in level for level in levels)
            or "\x00" in self.root
        ):
            raise ValueError(f"topic root {self.root!r} is invalid: use non-empty levels without + # or a leading $")

    # ---------------------------------------------------------------- builders

    def build(self, kind: TopicKind, *, device: str = "", game: str = "", client: str = "") -> str:
        """The topic of `kind` with its ids filled in; each id the kind needs must be given and valid."""
        values = {"device": device, "game": game, "client": client}
        out = [self.root]
        for level in kind.rule.path.split("/"):
            field = _PLACEHOLDERS.get(level)
            out.append(level if field is None else validate_id(values[field], f"{field} id"))
        return "/".join(out)

    def topic_of(self, parsed: ParsedTopic) -> str:
        """Inverse of `parse`."""
        return self.build(parsed.kind, device=parsed.device or "", game=parsed.game or "", client=parsed.client or "")

    def filter(self, kind: TopicKind) -> str:
        """Subscription filter for every topic of `kind`, e.g. `quizhub/devices/+/buzz`."""
        levels = ("+" if level in _PLACEHOLDERS else level for level in kind.rule.path.split("/"))
        return "/".join((self.root, *levels))

    def device_status(self, dev: str) -> str:
        """`{root}/devices/{dev}/status` — retained presence; the device's Will."""
        return self.build(TopicKind.DEVICE_STATUS, device=dev)

    def device_buzz(self, dev: str) -> str:
        """`{root}/devices/{dev}/buzz` — presses, device → hub."""
        return self.build(TopicKind.DEVICE_BUZZ, device=dev)

    def device_sync(self, dev: str) -> str:
        """`{root}/devices/{dev}/sync` — clock pings, hub → device."""
        return self.build(TopicKind.DEVICE_SYNC, device=dev)

    def device_sync_reply(self, dev: str) -> str:
        """`{root}/devices/{dev}/sync/reply` — clock ping answers, device → hub."""
        return self.build(TopicKind.DEVICE_SYNC_REPLY, device=dev)

    def device_cmd(self, dev: str) -> str:
        """`{root}/devices/{dev}/cmd` — commands to one device."""
        return self.build(TopicKind.DEVICE_CMD, device=dev)

    def device_error(self, dev: str) -> str:
        """`{root}/devices/{dev}/error` — why the hub refused a device's message."""
        return self.build(TopicKind.DEVICE_ERROR, device=dev)

    def game_buzzers(self, game: str) -> str:
        """`{root}/games/{game}/buzzers` — arm/lock/reset every buzzer of a game."""
        return self.build(TopicKind.GAME_BUZZERS, game=game)

    def game_state(self, game: str) -> str:
        """`{root}/games/{game}/state` — retained game state."""
        return self.build(TopicKind.GAME_STATE, game=game)

    def game_question(self, game: str) -> str:
        """`{root}/games/{game}/question` — retained public question."""
        return self.build(TopicKind.GAME_QUESTION, game=game)

    def game_scores(self, game: str) -> str:
        """`{root}/games/{game}/scores` — retained scoreboard."""
        return self.build(TopicKind.GAME_SCORES, game=game)

    def game_events(self, game: str) -> str:
        """`{root}/games/{game}/events` — every domain event, in sequence."""
        return self.build(TopicKind.GAME_EVENTS, game=game)

    def game_commands(self, game: str) -> str:
        """`{root}/games/{game}/commands` — host commands to the hub."""
        return self.build(TopicKind.GAME_COMMANDS, game=game)

    def game_reply(self, game: str, client: str) -> str:
        """`{root}/games/{game}/replies/{client}` — the hub's replies to one client."""
        return self.build(TopicKind.GAME_REPLIES, game=game, client=client)

    def hub_status(self) -> str:
        """`{root}/hub/status` — retained hub presence; the hub's Will."""
        return self.build(TopicKind.HUB_STATUS)

    # ---------------------------------------------------------------- parser

    def parse(self, topic: str) -> ParsedTopic | None:
        """Take a topic of this tree apart; None for anything else (other root, unknown path, bad id)."""
        prefix = self.root + "/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix) :].split("/")
        for pattern, kind in _PATTERNS.get(len(levels), ()):
            ids: dict[str, str] = {}
            for expected, actual in zip(pattern, levels, strict=True):
                field = _PLACEHOLDERS.get(expected)
                if field is None:
                    if expected != actual:
                        break
                elif is_valid_id(actual):
                    ids[field] = actual
                else:
                    break
            else:
                return ParsedTopic(kind, **ids)
        return None
