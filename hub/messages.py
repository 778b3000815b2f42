"""Wire messages of the MQTT topic tree (DESIGN §3) as frozen, validated pydantic models.

Each model mirrors one JSON Schema in `schemas/` field for field; `tests/contract` proves with hypothesis that
they accept the same documents. The JSON Schemas are the published contract (AsyncAPI refers to them); these
models are how Python code builds and reads those documents, so an invalid message cannot be constructed.

Conventions the schemas and models share:
- A field that may be missing is optional with default `None`; the codec omits it when encoding, and an
  explicit JSON `null` is refused (the schema says so too).
- Unknown fields are refused everywhere (`extra="forbid"`): that is what keeps an `answer` out of a
  `PublicQuestion` before reveal.
- Scalars are strict (no "17" for 17, no 1.5 or 17.0 for an int, no 1 for true): devices must send proper
  types, as the schema demands. (Strictness is per field, not per model, so that JSON arrays still validate
  as tuples after the wire-null check below has seen the document.)
- Arrays are tuples, so a frozen message is immutable all the way down.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    RootModel,
    StrictBool,
    ValidationError,
    ValidationInfo,
    model_validator,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ID_PATTERN",
    "WIRE_CONTEXT",
    "AddTeamCommand",
    "AdjustCommand",
    "AnswerCommand",
    "AnswerValue",
    "ArmCommand",
    "Buzz",
    "BuzzersArm",
    "BuzzersLock",
    "BuzzersReset",
    "Choice",
    "CommandError",
    "CommandReply",
    "DecideCommand",
    "DeviceArm",
    "DeviceCommand",
    "DeviceConfig",
    "DeviceError",
    "DeviceIdentify",
    "DeviceLock",
    "DeviceReset",
    "DeviceStatus",
    "DeviceUnpair",
    "DeviceWin",
    "EndCommand",
    "GameBuzzers",
    "GameCommand",
    "GameCommandVariant",
    "GameEventEnvelope",
    "GameState",
    "HubStatus",
    "IdentifyCommand",
    "JsonObject",
    "JudgeCommand",
    "Judgement",
    "Mark",
    "Media",
    "NextCommand",
    "PairCommand",
    "PauseCommand",
    "Phase",
    "Placing",
    "Press",
    "PublicQuestion",
    "QuestionReveal",
    "QuestionType",
    "RemoveTeamCommand",
    "ResumeCommand",
    "RevealCommand",
    "Ruling",
    "ScoreEntry",
    "Scoreboard",
    "ShowCommand",
    "SkipCommand",
    "SyncReply",
    "SyncRequest",
    "UndoCommand",
    "UnpairCommand",
    "load_schema",
    "schema_names",
]

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""Device, game, team, client and correlation ids: safe as one MQTT topic level and in URLs."""

_U32_MAX = 2**32 - 1
_I64_MAX = 2**63 - 1
_SCHEMA_PACKAGE_DIR = "_schemas"  # where pyproject's force-include puts schemas/ inside the wheel
_T = TypeVar("_T")

WIRE_CONTEXT: Final[Mapping[str, bool]] = MappingProxyType({"wire": True})
"""Validation context for documents read off the wire (the codec passes it): an explicit `null` is refused
there, as the JSON Schemas refuse it, while Python callers may still pass `None` for an absent field."""


def _unique(items: tuple[_T, ...]) -> tuple[_T, ...]:
    # JSON Schema `uniqueItems`; the core never needs duplicates and a duplicate team would double-count.
    if len(set(items)) != len(items):
        raise ValueError("items must be unique")
    return items


def _finite(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    # Pydantic's JSON parser reads NaN/Infinity (and 1e400 as inf), which JSON has not; it would then write
    # them as null. Refuse them so a free-form object round-trips exactly.
    stack: list[JsonValue] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (JSON has no NaN or Infinity)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_finite)]
"""A free-form JSON object (event data, command result)."""

# Uniqueness is checked by _unique; this marker makes model_json_schema() say so too.
_UNIQUE: Final = Field(json_schema_extra={"uniqueItems": True})
Id = Annotated[str, Field(strict=True, pattern=ID_PATTERN)]
ChoiceId = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_-]{1,16}$")]
Code = Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Version = Annotated[str, Field(strict=True, pattern=r"^[0-9A-Za-z.+_-]{1,32}$")]
U32 = Annotated[int, Field(strict=True, ge=0, le=_U32_MAX)]
Micros = Annotated[int, Field(strict=True, ge=0, le=_I64_MAX)]
"""A monotonic clock reading in microseconds (int64, never negative)."""
Seq = Annotated[int, Field(strict=True, ge=0, le=_I64_MAX)]
Points = Annotated[int, Field(strict=True, ge=-1_000_000, le=1_000_000)]
TeamIds = Annotated[tuple[Id, ...], Field(max_length=256), _UNIQUE, AfterValidator(_unique)]
Phase = Literal["lobby", "question", "armed", "buzzed", "closed", "judged", "revealed", "paused", "finished", "error"]
QuestionType = Literal["buzzer", "multiple_choice", "true_false", "estimate", "open_text"]


def _on_wire(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("wire"))


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_null_on_wire(cls, data: Any, info: ValidationInfo) -> Any:
        # The schemas say "leave it out", not "send null"; one spelling keeps every consumer simple.
        if _on_wire(info) and isinstance(data, dict):
            for key, value in data.items():
                if value is None:
                    raise ValueError(f"field {key!r} is null; leave an absent field out instead")
        return data


# ------------------------------------------------------------------------------------------------ devices


class DeviceStatus(_Message):
    """Presence and health, retained on `devices/{dev}/status`; `{"state":"offline"}` is the device's Will."""

    state: Literal["online", "offline"]
    fw: Version | None = None
    rssi: Annotated[int, Field(strict=True, ge=-127, le=0)] | None = None
    battery_mv: Annotated[int, Field(strict=True, ge=0, le=20_000)] | None = None
    boot: U32 | None = None


class Buzz(_Message):
    """A press, device → hub on `devices/{dev}/buzz`; `(boot, seq)` makes it idempotent under QoS 1."""

    seq: U32
    boot: U32
    t_us: Micros


class SyncRequest(_Message):
    """Clock-sync ping, hub → device on `devices/{dev}/sync`; `t1` is the hub clock at send."""

    n: U32
    t1: Micros


class SyncReply(_Message):
    """Clock-sync answer on `devices/{dev}/sync/reply`: device clock at receipt (`t2`) and at send (`t3`)."""

    n: U32
    t1: Micros
    t2: Micros
    t3: Micros
    boot: U32 | None = None


class DeviceConfig(_Message):
    """Pair the device to a game and team; sent on pairing and whenever the device comes online."""

    cmd: Literal["config"]
    game: Id
    team: Id
    color: Annotated[str, Field(strict=True, pattern=r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")] | None = None


class DeviceIdentify(_Message):
    """Blink so the host can find this buzzer."""

    cmd: Literal["identify"]
    duration_ms: Annotated[int, Field(strict=True, ge=1, le=60_000)] | None = None


class DeviceWin(_Message):
    """This device won the buzz on question `q`."""

    cmd: Literal["win"]
    q: U32 | None = None


class DeviceLock(_Message):
    """Lock this one device."""

    cmd: Literal["lock"]
    q: U32 | None = None


class DeviceArm(_Message):
    """Arm this one device."""

    cmd: Literal["arm"]
    q: U32 | None = None


class DeviceReset(_Message):
    """Back to idle: LEDs off, not armed."""

    cmd: Literal["reset"]


class DeviceUnpair(_Message):
    """Forget game and team."""

    cmd: Literal["unpair"]


class DeviceCommand(
    RootModel[
        Annotated[
            DeviceConfig | DeviceIdentify | DeviceWin | DeviceLock | DeviceArm | DeviceReset | DeviceUnpair,
            Field(discriminator="cmd"),
        ]
    ]
):
    """A command to one device on `devices/{dev}/cmd`; `.root` is the variant selected by `cmd`."""

    model_config = ConfigDict(frozen=True)


class DeviceError(_Message):
    """Why the hub refused a device's message, on `devices/{dev}/error`."""

    code: Code
    message: Annotated[str, Field(strict=True, min_length=1, max_length=512)]
    topic: Annotated[str, Field(strict=True, min_length=1, max_length=256)] | None = None
    seq: U32 | None = None


# ------------------------------------------------------------------------------------------------ games


class BuzzersArm(_Message):
    """Arm every buzzer of the game except those of the locked-out teams."""

    cmd: Literal["arm"]
    q: U32
    locked_out: TeamIds | None = None


class BuzzersLock(_Message):
    """Lock every buzzer; the winning device (and team) light up."""

    cmd: Literal["lock"]
    q: U32
    winner: Id | None = None
    team: Id | None = None


class BuzzersReset(_Message):
    """Every buzzer back to idle."""

    cmd: Literal["reset"]
    q: U32 | None = None


class GameBuzzers(RootModel[Annotated[BuzzersArm | BuzzersLock | BuzzersReset, Field(discriminator="cmd")]]):
    """One publish on `games/{game}/buzzers` that reaches every buzzer of the game."""

    model_config = ConfigDict(frozen=True)


class Press(_Message):
    """A team and, for hardware, the device it pressed on."""

    team: Id
    device: Id | None = None


class Placing(_Message):
    """One press in a ruling: its gap to the first press and its own uncertainty, in µs."""

    team: Id
    device: Id | None = None
    gap_us: Annotated[int, Field(strict=True, ge=-_I64_MAX, le=_I64_MAX)]
    uncertainty_us: Micros
    late: StrictBool | None = None
    false_start: StrictBool | None = None


class Ruling(_Message):
    """The arbiter's ruling on who buzzed first; `winner` is absent when too close and the host decides."""

    q: U32
    winner: Press | None = None
    too_close: StrictBool
    order: Annotated[tuple[Placing, ...], Field(max_length=256)]


class Judgement(_Message):
    """The host's ruling on an answer and the points it gave (negative: penalty)."""

    q: U32
    team: Id
    verdict: Literal["right", "wrong"]
    points: Points


class Mark(_Message):
    """A team's answer to the current question as the host marked it: right or wrong, never the answer itself."""

    team: Id
    verdict: Literal["right", "wrong"]


class QuestionReveal(_Message):
    """The answer, published only once the host reveals it."""

    index: U32
    answer: Annotated[str, Field(strict=True, min_length=1, max_length=2000)]
    correct: Annotated[tuple[ChoiceId, ...], Field(max_length=16), _UNIQUE, AfterValidator(_unique)] | None = None
    value: Annotated[float, Field(strict=True, ge=-1e15, le=1e15)] | None = None
    explanation: Annotated[str, Field(strict=True, min_length=1, max_length=2000)] | None = None


class GameState(_Message):
    """The game's current state, retained on `games/{game}/state`. Times are hub-clock µs."""

    game: Id
    seq: Seq
    ts_us: Micros
    phase: Phase
    resume_phase: Phase | None = None
    question: U32 | None = None
    question_count: U32 | None = None
    armed: StrictBool
    buzz_deadline_us: Micros | None = None
    answer_deadline_us: Micros | None = None
    locked_out: TeamIds | None = None
    answering: Press | None = None
    last_ruling: Ruling | None = None
    last_judgement: Judgement | None = None
    reveal: QuestionReveal | None = None
    answered: TeamIds | None = None
    judged: Annotated[tuple[Mark, ...], Field(max_length=256)] | None = None
    can_undo: StrictBool | None = None


class Choice(_Message):
    """One option of a question, deliberately without any correctness flag."""

    id: ChoiceId
    text: Annotated[str, Field(strict=True, min_length=1, max_length=500)]


class Media(_Message):
    """An image, sound or video shown with a question."""

    kind: Literal["image", "audio", "video"]
    url: Annotated[str, Field(strict=True, min_length=1, max_length=2048)]
    alt: Annotated[str, Field(strict=True, min_length=1, max_length=500)] | None = None


class PublicQuestion(_Message):
    """The public part of the current question, retained on `games/{game}/question`; never the answer."""

    index: U32
    round: U32 | None = None
    round_title: Annotated[str, Field(strict=True, min_length=1, max_length=200)] | None = None
    type: QuestionType
    text: Annotated[str, Field(strict=True, min_length=1, max_length=2000)]
    choices: Annotated[tuple[Choice, ...], Field(max_length=16)] | None = None
    media: Annotated[tuple[Media, ...], Field(max_length=8)] | None = None
    unit: Annotated[str, Field(strict=True, min_length=1, max_length=32)] | None = None
    points: Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
    penalty: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] | None = None
    buzz_window_ms: U32 | None = None
    answer_time_ms: U32 | None = None


class ScoreEntry(_Message):
    """One team's line on the scoreboard; equal scores share a rank."""

    team: Id
    name: Annotated[str, Field(strict=True, min_length=1, max_length=64)]
    score: Annotated[int, Field(strict=True, ge=-1_000_000_000, le=1_000_000_000)]
    rank: Annotated[int, Field(strict=True, ge=1, le=1000)]


class Scoreboard(_Message):
    """The scoreboard, retained on `games/{game}/scores`, best first."""

    seq: Seq | None = None
    teams: Annotated[tuple[ScoreEntry, ...], Field(max_length=256)]


_TYPED_EVENTS: dict[str, type[_Message]] = {
    # Typed because they matter for fairness: what is shown must be public, what is revealed is the answer.
    "question_shown": PublicQuestion,
    "question_revealed": QuestionReveal,
}


class GameEventEnvelope(_Message):
    """A domain event on `games/{game}/events`; `seq` is continuous per game, `data` depends on `type`."""

    seq: Annotated[int, Field(strict=True, ge=1, le=_I64_MAX)]
    ts_us: Micros
    type: Code
    data: JsonObject

    @model_validator(mode="after")
    def _typed_data(self, info: ValidationInfo) -> Self:
        model = _TYPED_EVENTS.get(self.type)
        if model is not None:
            # Through JSON so the data validates exactly as a document of its own would on the wire.
            try:
                model.model_validate_json(json.dumps(self.data), context=info.context)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(part) for part in ("data", *first["loc"]))
                kind = f"a {self.type} event carries a {model.__name__}"
                raise ValueError(f"{where}: {first['msg']} ({kind})") from None
        return self

    def typed_data(self) -> PublicQuestion | QuestionReveal | dict[str, JsonValue]:
        """`data` as its model for the typed event types, else the plain dict."""
        model = _TYPED_EVENTS.get(self.type)
        if model is None:
            return self.data
        typed = model.model_validate_json(json.dumps(self.data))
        assert isinstance(typed, PublicQuestion | QuestionReveal)
        return typed


class _CommandBase(_Message):
    id: Id
    client: Id | None = None
    actor: Annotated[str, Field(strict=True, min_length=1, max_length=128)] | None = None


class ShowCommand(_CommandBase):
    """Show a question (default: the next one)."""

    cmd: Literal["show"]
    q: U32 | None = None


class ArmCommand(_CommandBase):
    """Arm the buzzers for the shown question."""

    cmd: Literal["arm"]


class JudgeCommand(_CommandBase):
    """Rule on an answer; `team` defaults to the team answering now, `points` overrides the question's."""

    cmd: Literal["judge"]
    verdict: Literal["right", "wrong"]
    team: Id | None = None
    points: Points | None = None


class DecideCommand(_CommandBase):
    """Pick the answering team when a buzz was too close to call."""

    cmd: Literal["decide"]
    team: Id


class RevealCommand(_CommandBase):
    """Reveal the answer."""

    cmd: Literal["reveal"]


class NextCommand(_CommandBase):
    """Go on to the next question."""

    cmd: Literal["next"]


class SkipCommand(_CommandBase):
    """Skip the current question without scoring."""

    cmd: Literal["skip"]


class UndoCommand(_CommandBase):
    """Undo the last ruling or judgement."""

    cmd: Literal["undo"]


class AdjustCommand(_CommandBase):
    """Change a team's score by hand, with a reason for the audit log."""

    cmd: Literal["adjust"]
    team: Id
    delta: Points
    reason: Annotated[str, Field(strict=True, min_length=1, max_length=500)]


class PauseCommand(_CommandBase):
    """Pause: timers stop, buzzers lock."""

    cmd: Literal["pause"]


class ResumeCommand(_CommandBase):
    """Resume where the game was paused."""

    cmd: Literal["resume"]


class EndCommand(_CommandBase):
    """Finish the game."""

    cmd: Literal["end"]


class PairCommand(_CommandBase):
    """Pair a device to a team."""

    cmd: Literal["pair"]
    device: Id
    team: Id


class UnpairCommand(_CommandBase):
    """Unpair a device."""

    cmd: Literal["unpair"]
    device: Id


class IdentifyCommand(_CommandBase):
    """Make a device blink."""

    cmd: Literal["identify"]
    device: Id


class AddTeamCommand(_CommandBase):
    """Register a team."""

    cmd: Literal["add_team"]
    team: Id
    name: Annotated[str, Field(strict=True, min_length=1, max_length=64)]


class RemoveTeamCommand(_CommandBase):
    """Remove a team."""

    cmd: Literal["remove_team"]
    team: Id


AnswerValue = (
    Annotated[str, Field(strict=True, min_length=1, max_length=500)]
    | Annotated[float, Field(strict=True, ge=-1e15, le=1e15)]
    | Annotated[
        tuple[ChoiceId, ...],
        Field(min_length=1, max_length=16),
        _UNIQUE,
        AfterValidator(_unique),
    ]
)


class AnswerCommand(_CommandBase):
    """A team's answer to a phone-answered question, forwarded by the web bridge."""

    cmd: Literal["answer"]
    team: Id
    value: AnswerValue


GameCommandVariant = Annotated[
    ShowCommand
    | ArmCommand
    | JudgeCommand
    | DecideCommand
    | RevealCommand
    | NextCommand
    | SkipCommand
    | UndoCommand
    | AdjustCommand
    | PauseCommand
    | ResumeCommand
    | EndCommand
    | PairCommand
    | UnpairCommand
    | IdentifyCommand
    | AddTeamCommand
    | RemoveTeamCommand
    | AnswerCommand,
    Field(discriminator="cmd"),
]


class GameCommand(RootModel[GameCommandVariant]):
    """A host command on `games/{game}/commands`; `.root` is the variant selected by `cmd`."""

    model_config = ConfigDict(frozen=True)


class CommandError(_Message):
    """What went wrong with a command: `code` for programs, `message` for people."""

    code: Code
    message: Annotated[str, Field(strict=True, min_length=1, max_length=1000)]


class CommandReply(_Message):
    """The hub's answer on `games/{game}/replies/{client}`; `error` is present exactly when `ok` is false."""

    id: Id
    ok: StrictBool
    error: CommandError | None = None
    result: JsonObject | None = None

    @model_validator(mode="after")
    def _error_iff_not_ok(self) -> Self:
        if self.ok and self.error is not None:
            raise ValueError("a reply with ok=true must not carry an error")
        if not self.ok and self.error is None:
            raise ValueError("a reply with ok=false must carry an error")
        return self


class HubStatus(_Message):
    """Whether the hub runs, retained on `hub/status`; `{"state":"offline"}` is the hub's Will."""

    state: Literal["online", "offline"]
    version: Version | None = None
    games: Annotated[tuple[Id, ...], Field(max_length=256), _UNIQUE, AfterValidator(_unique)] | None = None


# ------------------------------------------------------------------------------------------------ schemas


def _schema_dir() -> Path:
    # Installed wheel: pyproject force-includes schemas/ as hub/_schemas. Source tree: the repo's schemas/.
    packaged = resources.files("hub") / _SCHEMA_PACKAGE_DIR
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parent.parent / "schemas"
    if source.is_dir():
        return source
    raise FileNotFoundError(
        f"wire schemas not found in {packaged} nor {source}: the quizhub install is incomplete (our bug)"
    )


def schema_names() -> tuple[str, ...]:
    """Names of the published JSON Schemas, e.g. `device-buzz` for `schemas/device-buzz.schema.json`."""
    return tuple(sorted(p.name.removesuffix(".schema.json") for p in _schema_dir().glob("*.schema.json")))


@cache
def _load_schema_text(name: str) -> str:
    return (_schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema `name` (see `schema_names`) as a fresh dict, from the source tree or the wheel."""
    if name not in schema_names():
        raise KeyError(f"no wire schema named {name!r}; known: {', '.join(schema_names())}")
    loaded: dict[str, Any] = json.loads(_load_schema_text(name))
    return loaded
