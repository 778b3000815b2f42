"""Domain events (facts the game log keeps) and effects (what the adapter publishes).

Events are the game's memory: the hub appends each to the game's log before publishing it, and
`Game.replay(quiz, settings, events)` rebuilds the identical game from them. Each event class has a stable
`type` string (the log and MQTT `events` topic use it), a `to_dict()` that is plain JSON, and
`event_from_dict()` turns that JSON back into the same event. Every event is a frozen dataclass whose field types
are checked when it is built, so an invalid event cannot exist — not even one read back from a corrupted log.

Effects are instructions to the adapter for this one step (arm every buzzer, tell one device it won, publish the
retained state...). They are never logged: replaying the events re-creates the state, and the adapter re-publishes
retained state from `Game.state_snapshot()` after a restart.

Scores are a fold of events: an event that changes a score says so in `score_deltas()`, and
`hub.core.scoring.scores_from_events` adds them up.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from hub.core.model import check_id

__all__ = [
    "OUTCOMES",
    "AnswerPassed",
    "AnswerReceived",
    "AnswerTimerExpired",
    "AnswersClosed",
    "AnswersOpened",
    "ArmBuzzers",
    "BuzzReceived",
    "BuzzRuled",
    "BuzzWindowClosed",
    "BuzzersArmed",
    "ClockRebased",
    "ClockSampled",
    "DeviceCommand",
    "DevicePaired",
    "DeviceSeen",
    "DeviceUnpaired",
    "Effect",
    "EventDecodeError",
    "GameEnded",
    "GameEvent",
    "GamePaused",
    "GameResumed",
    "Judged",
    "LockBuzzers",
    "PressRecord",
    "PublishQuestion",
    "PublishScores",
    "PublishState",
    "QuestionRevealed",
    "QuestionShown",
    "QuestionSkipped",
    "RankedRecord",
    "ResetBuzzers",
    "ScoreAdjusted",
    "TeamAdded",
    "TeamRemoved",
    "TeamRenamed",
    "Undone",
    "UnpairedPress",
    "Validated",
    "decode_record",
    "event_from_dict",
]


class EventDecodeError(ValueError):
    """A stored or received event dict is not a valid event (the log's fault, not the game's)."""


# --- generic field checking and JSON conversion, driven by each dataclass's type hints -------------------------

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}
        _HINTS[cls] = found
    return found


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


_Pred = typing.Callable[[Any], bool]
_PREDICATES: dict[Any, _Pred] = {}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _predicate(hint: Any) -> _Pred:  # noqa: C901 - one branch per JSON-shaped type
    """A fast membership test for a simple, JSON-shaped type hint, built once per hint (events are hot)."""
    found = _PREDICATES.get(hint)
    if found is not None:
        return found
    pred: _Pred
    if _is_union(hint):
        alts = [_predicate(a) for a in typing.get_args(hint)]
        pred = lambda v: any(p(v) for p in alts)  # noqa: E731
    elif hint is type(None):
        pred = lambda v: v is None  # noqa: E731
    elif hint is bool:
        pred = lambda v: isinstance(v, bool)  # noqa: E731
    elif hint is int:
        pred = _is_int
    elif hint is float:
        pred = _is_number
    elif hint is str:
        pred = lambda v: isinstance(v, str)  # noqa: E731
    elif typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _predicate(args[0])
            pred = lambda v: isinstance(v, tuple) and all(item(x) for x in v)  # noqa: E731
        else:
            items = [_predicate(a) for a in args]
            pred = lambda v: (  # noqa: E731
                isinstance(v, tuple) and len(v) == len(items) and all(p(x) for p, x in zip(items, v, strict=True))
            )
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls = hint
        pred = lambda v: isinstance(v, cls)  # noqa: E731 - nested records validated themselves when built
    else:
        raise TypeError(f"unsupported field type {hint!r}")  # our bug: a field type the codec cannot handle
    _PREDICATES[hint] = pred
    return pred


def _check(hint: Any, value: Any, where: str) -> None:
    """Raise ValueError unless `value` is an instance of the (simple, JSON-shaped) type `hint`."""
    if not _predicate(hint)(value):
        name = getattr(hint, "__name__", None) or str(hint)
        expected = {"int": "an int", "float": "a finite number", "str": "a string", "bool": "a bool"}.get(name, name)
        raise ValueError(f"{where}: expected {expected}, got {value!r}")


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _from_json(hint: Any, value: Any) -> Any:
    """Undo `_to_json` for one field: lists back to tuples, dicts back to nested records. Type checks come later."""
    if _is_union(hint):
        for alt in typing.get_args(hint):
            if alt is type(None) and value is None:
                return None
        non_none = [a for a in typing.get_args(hint) if a is not type(None)]
        return _from_json(non_none[0], value) if len(non_none) == 1 else value
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in value)
        return tuple(_from_json(a, v) for a, v in zip(args, value, strict=False)) + tuple(value[len(args):])
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return _build(hint, value)  # type: ignore[arg-type]
    return value


def decode_record(cls: type[Any], data: dict[str, Any]) -> Any:
    """Build the Validated dataclass `cls` from JSON `data` (lists become tuples); raise EventDecodeError."""
    return _build(cls, data)


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise EventDecodeError(f"{cls.__name__} is read from a JSON object, got {type(data).__name__}")
    hints = _hints(cls)
    unknown = set(data) - set(hints) - {"type"}
    if unknown:
        raise EventDecodeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    try:
        return cls(**{name: _from_json(hint, data[name]) for name, hint in hints.items() if name in data})
    except (TypeError, ValueError) as exc:
        raise EventDecodeError(f"invalid {cls.__name__}: {exc}") from exc


class Validated:
    """Mixin for frozen dataclasses: check every field against its type hint on construction, then run `_validate`."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for name, hint in _hints(type(self)).items():
            _check(hint, getattr(self, name), f"{type(self).__name__}.{name}")
        self._validate()

    def _validate(self) -> None:
        """Cross-field rules of one event type; raise ValueError."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: tuples become lists, nested records become dicts."""
        out: dict[str, Any] = _to_json(self)
        return out


# --- records nested inside events ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class PressRecord(Validated):
    """A press as the arbiter saw it: raw device time, its mapping onto the hub clock, and how sure we are.

    `synced` is False when the device had no clock model yet; then `t_hub_us` is the arrival minus the configured
    default one-way bound and `uncertainty_us` is that bound (DESIGN §4: never credited earlier than that).
    """

    device: str
    team: str
    boot: int
    seq: int
    raw_t: float
    t_hub_us: float
    uncertainty_us: float
    arrival_us: int
    one_way_bound_us: float
    synced: bool

    def _validate(self) -> None:
        check_id(self.device, "device")
        check_id(self.team, "team")
        if self.boot < 0 or self.seq < 0:
            raise ValueError("boot and seq are non-negative counters")
        if self.uncertainty_us < 0 or self.one_way_bound_us < 0:
            raise ValueError("uncertainty and one-way bound are non-negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedRecord(Validated):
    """One place in a ruling's order: when the press is credited, and its gap behind the winner."""

    device: str
    team: str
    t_hub_us: float
    credited_us: float
    gap_us: float
    uncertainty_us: float
    arrival_us: int


# --- events ----------------------------------------------------------------------------------------------------

_REGISTRY: dict[str, type[GameEvent]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class GameEvent(Validated):
    """Base of every logged fact. `at_us` is the hub time (µs) of the input that caused it."""

    type: ClassVar[str] = ""
    at_us: int

    def __init_subclass__(cls) -> None:
        # No super() call: dataclass(slots=True) rebuilds the class, which breaks zero-argument super(), and
        # object.__init_subclass__ does nothing anyway.
        if cls.type:
            # dataclass(slots=True) re-creates the class, so the same class registers twice; compare names.
            known = _REGISTRY.get(cls.type)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise TypeError(f"two event classes claim type {cls.type!r}")
            _REGISTRY[cls.type] = cls

    def score_deltas(self) -> tuple[tuple[str, int], ...]:
        """(team, points) changes this event makes to the scoreboard; most events make none."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON with the event's `type` string first."""
        return {"type": self.type, **_to_json(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> GameEvent:
        """The event `to_dict()` produced, of whichever type `data["type"]` names (see `event_from_dict`)."""
        return event_from_dict(data)


def event_from_dict(data: dict[str, Any]) -> GameEvent:
    """Rebuild an event from `GameEvent.to_dict()` output; raise EventDecodeError for anything else."""
    if not isinstance(data, dict):
        raise EventDecodeError(f"an event is a JSON object, got {type(data).__name__}")
    cls = _REGISTRY.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise EventDecodeError(f"unknown event type {data.get('type')!r}")
    event: GameEvent = _build(cls, data)
    return event


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamAdded(GameEvent):
    """A team joined; it starts at 0 points."""

    type: ClassVar[str] = "team.added"
    team: str
    name: str

    def _validate(self) -> None:
        check_id(self.team, "team")
        if not self.name.strip():
            raise ValueError("a team name is not empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamRemoved(GameEvent):
    """A team left; its devices are unpaired and its score leaves the board."""

    type: ClassVar[str] = "team.removed"
    team: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamRenamed(GameEvent):
    """A team's display name changed (its id and score stay)."""

    type: ClassVar[str] = "team.renamed"
    team: str
    name: str

    def _validate(self) -> None:
        if not self.name.strip():
            raise ValueError("a team name is not empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicePaired(GameEvent):
    """A device now buzzes for `team` (a team may have several devices)."""

    type: ClassVar[str] = "device.paired"
    device: str
    team: str

    def _validate(self) -> None:
        check_id(self.device, "device")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUnpaired(GameEvent):
    """A device no longer belongs to `team`; its presses become unpaired presses."""

    type: ClassVar[str] = "device.unpaired"
    device: str
    team: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSeen(GameEvent):
    """A device said hello. `rebooted`: its boot counter changed, so its clock model was reset (as it is when
    its timestamp `resolution_us` changes)."""

    type: ClassVar[str] = "device.seen"
    device: str
    boot: int
    fw: str
    rebooted: bool
    resolution_us: float = 1.0

    def _validate(self) -> None:
        check_id(self.device, "device")
        if self.boot < 0 or self.resolution_us < 0:
            raise ValueError("boot and resolution_us are non-negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockSampled(GameEvent):
    """One clock-sync round trip of a device (t1/t4 hub µs, t2/t3 device µs), fed to its clock model."""

    type: ClassVar[str] = "clock.sampled"
    device: str
    boot: int
    t1: float
    t2: float
    t3: float
    t4: float

    def _validate(self) -> None:
        check_id(self.device, "device")
        if self.t4 < self.t1 or self.t3 < self.t2:
            raise ValueError("a sync sample needs t4 >= t1 and t3 >= t2")


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionShown(GameEvent):
    """Question `index` is on screen; nothing is armed yet."""

    type: ClassVar[str] = "question.shown"
    index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BuzzersArmed(GameEvent):
    """Buzzers are live for question `index`; `attempt` counts re-arms after wrong answers (1 first).

    `excluded` teams cannot win this attempt (wrong answer or false-start lockout). The arbiter is built from
    `at_us`, `grace_us` and `seed`, so replay recreates the same arbiter.
    """

    type: ClassVar[str] = "buzzers.armed"
    index: int
    attempt: int
    excluded: tuple[str, ...]
    grace_us: int
    seed: int
    window_deadline_us: int | None

    def _validate(self) -> None:
        if self.attempt < 1 or self.grace_us < 0:
            raise ValueError("attempt starts at 1 and grace is non-negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswersOpened(GameEvent):
    """Answers are open for a phone question until `deadline_us`."""

    type: ClassVar[str] = "answers.opened"
    index: int
    deadline_us: int


# What can become of a press; the first six come from the arbiter, the rest from the game.
OUTCOMES = frozenset({
    "accepted", "false_start", "duplicate", "excluded", "second_press", "late",  # arbiter
    "not_armed", "paused", "repeat",  # game: nothing armed, game paused, (device, boot, seq) already seen
})


@dataclass(frozen=True, slots=True, kw_only=True)
class BuzzReceived(GameEvent):
    """A paired device's press and what became of it (`outcome`, see OUTCOMES).

    `via_arbiter` says the press was fed to the question's arbiter (replay feeds it again). `delta` is a false-start
    penalty (negative) or 0.
    """

    type: ClassVar[str] = "buzz.received"
    index: int | None
    attempt: int
    press: PressRecord
    outcome: str
    via_arbiter: bool
    delta: int = 0

    def _validate(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown press outcome {self.outcome!r}")
        if self.delta > 0:
            raise ValueError("a press can only cost points")

    def score_deltas(self) -> tuple[tuple[str, int], ...]:
        return ((self.press.team, self.delta),) if self.delta else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpairedPress(GameEvent):
    """A device that belongs to no team pressed; the console shows it (press-to-pair), nothing else happens."""

    type: ClassVar[str] = "buzz.unpaired"
    device: str
    boot: int
    seq: int
    raw_t: float

    def _validate(self) -> None:
        check_id(self.device, "device")


@dataclass(frozen=True, slots=True, kw_only=True)
class BuzzRuled(GameEvent):
    """The arbiter's ruling for one attempt: the winner (None when the host must pick), the order with gaps."""

    type: ClassVar[str] = "buzz.ruled"
    index: int
    attempt: int
    winner_team: str | None
    winner_device: str | None
    order: tuple[RankedRecord, ...]
    too_close: bool
    needs_host: bool
    decided_by: str
    answer_deadline_us: int | None

    def _validate(self) -> None:
        if (self.winner_team is None) != (self.winner_device is None):
            raise ValueError("a ruling names both the winning team and device, or neither")
        if self.winner_team is None and not self.needs_host:
            raise ValueError("a ruling without a winner must ask the host")
        if not self.order:
            raise ValueError("a ruling has at least one press")


@dataclass(frozen=True, slots=True, kw_only=True)
class BuzzWindowClosed(GameEvent):
    """Nobody buzzed before the buzz window ended."""

    type: ClassVar[str] = "buzz.window_closed"
    index: int
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerTimerExpired(GameEvent):
    """The buzz winner's answer time ran out; the host still judges."""

    type: ClassVar[str] = "answer.timer_expired"
    index: int
    team: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerReceived(GameEvent):
    """A team's answer to a phone question: exactly one of choice/value/text; `elapsed_us` since answers opened."""

    type: ClassVar[str] = "answer.received"
    index: int
    team: str
    choice: int | None = None
    value: float | None = None
    text: str | None = None
    elapsed_us: int

    def _validate(self) -> None:
        if sum(x is not None for x in (self.choice, self.value, self.text)) != 1:
            raise ValueError("an answer has exactly one of choice, value, text")
        if self.elapsed_us < 0:
            raise ValueError("an answer cannot come before the question opened")


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswersClosed(GameEvent):
    """No more answers for a phone question (`reason`: timer, all_answered, host)."""

    type: ClassVar[str] = "answers.closed"
    index: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Judged(GameEvent):
    """The host judged `team`'s answer (buzzer) or marked it (open text); `delta` is what it scored."""

    type: ClassVar[str] = "judgement.made"
    index: int
    team: str
    correct: bool
    delta: int

    def score_deltas(self) -> tuple[tuple[str, int], ...]:
        return ((self.team, self.delta),) if self.delta else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerPassed(GameEvent):
    """After a wrong answer the next team in the ruling's order answers, without re-arming ("who's next")."""

    type: ClassVar[str] = "answer.passed"
    index: int
    team: str
    device: str
    answer_deadline_us: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionRevealed(GameEvent):
    """The answer is public; `awards` are the points phone questions score at reveal (empty for buzzer/open)."""

    type: ClassVar[str] = "question.revealed"
    index: int
    awards: tuple[tuple[str, int], ...] = ()

    def score_deltas(self) -> tuple[tuple[str, int], ...]:
        return tuple(a for a in self.awards if a[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionSkipped(GameEvent):
    """The host left question `index` without revealing it."""

    type: ClassVar[str] = "question.skipped"
    index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreAdjusted(GameEvent):
    """A manual score change by the host, with the reason the log keeps."""

    type: ClassVar[str] = "score.adjusted"
    team: str
    delta: int
    reason: str

    def _validate(self) -> None:
        if self.delta == 0:
            raise ValueError("an adjustment changes the score")
        if not self.reason.strip():
            raise ValueError("a manual adjustment needs a reason")

    def score_deltas(self) -> tuple[tuple[str, int], ...]:
        return ((self.team, self.delta),)


@dataclass(frozen=True, slots=True, kw_only=True)
class Undone(GameEvent):
    """The host undid the last ruling, judgement or adjustment (`undid`); `deltas` reverse its score changes."""

    type: ClassVar[str] = "undo.done"
    undid: str
    deltas: tuple[tuple[str, int], ...] = ()

    def score_deltas(self) -> tuple[tuple[str, int], ...]:
        return tuple(d for d in self.deltas if d[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class GamePaused(GameEvent):
    """The game paused in phase `phase`; its timers stopped."""

    type: ClassVar[str] = "game.paused"
    phase: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GameResumed(GameEvent):
    """The game resumed into `phase`; its timers run again from where they stopped."""

    type: ClassVar[str] = "game.resumed"
    phase: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockRebased(GameEvent):
    """The hub's clock restarted (a reboot, or another hub took the game over): every stored hub time moved by
    `shift_us` into the new clock's domain, and every device clock model was reset (its samples were in the old one).
    """

    type: ClassVar[str] = "clock.rebased"
    shift_us: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GameEnded(GameEvent):
    """The game is finished; scores are final (adjustments still allowed)."""

    type: ClassVar[str] = "game.ended"


# --- effects: what the adapter publishes for one step -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ArmBuzzers:
    """Publish `{"cmd":"arm","q":index,"except":[...]}` once on the game's buzzers topic."""

    index: int
    attempt: int
    except_devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LockBuzzers:
    """Publish `{"cmd":"lock","q":index,"winner":device}` on the buzzers topic (winner None: nobody won)."""

    index: int | None
    winner_device: str | None


@dataclass(frozen=True, slots=True)
class ResetBuzzers:
    """Publish `{"cmd":"reset"}` on the buzzers topic: lights off, ready for the next question."""


@dataclass(frozen=True, slots=True)
class DeviceCommand:
    """Publish `{"cmd": cmd, **fields}` on one device's `cmd` topic (win, config, identify, arm, lock)."""

    device: str
    cmd: str
    fields: tuple[tuple[str, str | int | None], ...] = ()

    def payload(self) -> dict[str, Any]:
        """The JSON body for the device's cmd topic (the adapter adds the game id)."""
        return {"cmd": self.cmd, **dict(self.fields)}


@dataclass(frozen=True, slots=True)
class PublishState:
    """Publish `state` retained on `games/{game}/state` (the same dict as `Game.state_snapshot()`)."""

    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PublishQuestion:
    """Publish `question` retained on `games/{game}/question`: public part only, the answer only once revealed."""

    question: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PublishScores:
    """Publish `scores` retained on `games/{game}/scores` (the same list as `Game.scoreboard()`)."""

    scores: list[dict[str, Any]]


Effect = ArmBuzzers | LockBuzzers | ResetBuzzers | DeviceCommand | PublishState | PublishQuestion | PublishScores
