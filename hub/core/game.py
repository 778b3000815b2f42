"""The game engine: one quiz played as a sans-IO state machine.

Theory of operation
-------------------
Inputs go in (host commands, device messages, answers, `Tick(now_us)`); `Game.handle(input)` returns either a
`Step(events, effects)` or a `Rejected(reason, code, fault)`. Handling has two halves, kept strictly apart:

1. **Decide** (`_decide_*`, chosen by `hub.core.transitions.TRANSITIONS` from the phase and the input kind) reads
   the state and produces the events — the facts — or refuses. It changes nothing, with one exception kept for
   speed: once a press or a due ruling can no longer be refused, decide feeds the real arbiter and apply skips
   that feed. So a refused input leaves the game exactly as it was.
2. **Apply** (`_apply_*`, one per event type) is the only code that changes state, and it reads nothing but the
   event. `Game.replay(quiz, settings, events)` runs only this half, so a game rebuilt from its log is the game
   that wrote it — including the arbiter of an armed question, which replay feeds the same presses.

Time is an input: `Tick(now_us)`, a buzz's or answer's `arrival_us`, a sync reply's `t4`, and an optional
`now_us` on host commands (default: the latest time seen). Timers are absolute deadlines; after every step the
adapter must call `handle(Tick(now))` once `now >= next_deadline_us()`.

Mapping device time to hub time happens here: each device has a `ClockModel` (reset when its `boot` changes),
fed by `SyncIn`. A press from a device without a clock model yet is placed in the middle of
`[arrival - unsynced_bound_us, arrival]` with half that as its uncertainty, and flagged `synced=False`.

Undo keeps checkpoints taken when a question is armed, when an answer is judged and when a score is adjusted; it
restores the newest. Checkpoints of the current question die when it is revealed or left; adjustments stay
undoable until the next question. Every undo is an `Undone` event carrying the exact score changes it reverses,
so scores remain the fold of the log.

If applying events ever fails (our bug), the game enters `Phase.ERROR`, raises `GameBugError` and refuses every
later input; rebuilding it from the log is the recovery.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hub.core.arbitration import (
    Arbiter,
    ArbiterEvent,
    ArbitrationSettings,
    DuplicatePress,
    ExcludedPress,
    FalseStart,
    FalseStartRule,
    LatePress,
    Press,
    PressAccepted,
    Ruling,
    SecondPressIgnored,
    grace_for,
)
from hub.core.clock import ClockModel, NotSyncedError, SyncSample
from hub.core.events import (
    AnswerPassed,
    AnswerReceived,
    AnswersClosed,
    AnswersOpened,
    AnswerTimerExpired,
    ArmBuzzers,
    BuzzersArmed,
    BuzzReceived,
    BuzzRuled,
    BuzzWindowClosed,
    ClockRebased,
    ClockSampled,
    DeviceCommand,
    DevicePaired,
    DeviceSeen,
    DeviceUnpaired,
    Effect,
    EventDecodeError,
    GameEnded,
    GameEvent,
    GamePaused,
    GameResumed,
    Judged,
    LockBuzzers,
    PressRecord,
    PublishQuestion,
    PublishScores,
    PublishState,
    QuestionRevealed,
    QuestionShown,
    QuestionSkipped,
    RankedRecord,
    ResetBuzzers,
    ScoreAdjusted,
    TeamAdded,
    TeamRemoved,
    TeamRenamed,
    Undone,
    UnpairedPress,
    Validated,
    decode_record,
)
from hub.core.model import ANSWER_KINDS, CHOICE_KINDS, Question, QuestionKind, Quiz, check_id
from hub.core.scoring import ScoringFormula, award_answers, rank
from hub.core.transitions import TRANSITIONS, Phase

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "HOST_COMMANDS",
    "AddTeam",
    "AdjustScore",
    "Answer",
    "Arm",
    "BuzzIn",
    "CommandError",
    "DeviceHello",
    "End",
    "Game",
    "GameBugError",
    "GameSettings",
    "IdentifyDevice",
    "Input",
    "Judge",
    "Next",
    "PairDevice",
    "Pause",
    "RebaseClock",
    "Rejected",
    "RemoveTeam",
    "RenameTeam",
    "ReplayError",
    "Resume",
    "Reveal",
    "ShowQuestion",
    "Skip",
    "Step",
    "SyncIn",
    "Tick",
    "Undo",
    "UnpairDevice",
    "command_from_dict",
]

MAX_TEXT = 500  # longest open-text answer or team name we keep; longer is a player's mistake or abuse
# Device and sync times beyond 2^53 µs (285 years) lose integer precision as floats; only a broken or hostile
# device sends them, and the clock model's geometry must never see them.
_MAX_DEVICE_TIME = float(2**53)


# --- settings ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GameSettings:
    """How a game plays. Times are µs; None means "no timer".

    After a wrong buzzer answer, `pass_on_wrong` gives the question to the next team in the ruling's order ("who's
    next"); when nobody is left there (or it is off) `rearm_on_wrong` re-arms the buzzers for the teams not yet
    locked out, else the game returns to `question` for the host.

    `answer_time_us` is the buzz winner's answer timer; `choice_time_us` how long phone questions stay open (a
    question's own limits override both). `grace_from_clocks` derives each arm's grace window from the measured
    one-way bounds of the devices that may buzz (`arbitration.grace_for`) instead of `arbitration.grace_us`.
    `unsynced_bound_us` is the one-way delay assumed for a device with no clock model.
    """

    arbitration: ArbitrationSettings = field(default_factory=ArbitrationSettings)
    rearm_on_wrong: bool = True
    pass_on_wrong: bool = False
    buzz_window_us: int | None = None
    answer_time_us: int | None = 10_000_000
    choice_time_us: int = 20_000_000
    scoring: ScoringFormula = ScoringFormula.KAHOOT
    false_start_penalty: int = 0
    unsynced_bound_us: int = 50_000
    grace_from_clocks: bool = False
    clock_window: int = 32

    def __post_init__(self) -> None:
        if not isinstance(self.arbitration, ArbitrationSettings):
            raise TypeError("arbitration must be ArbitrationSettings")
        object.__setattr__(self, "scoring", ScoringFormula(self.scoring))
        for name in ("buzz_window_us", "answer_time_us"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None")
        if self.choice_time_us <= 0:
            raise ValueError("choice_time_us must be positive")
        if self.false_start_penalty < 0:
            raise ValueError("false_start_penalty is a non-negative number of points (it is subtracted)")
        if self.unsynced_bound_us <= 0:
            raise ValueError("unsynced_bound_us must be positive")
        if self.clock_window < 2:
            raise ValueError("clock_window keeps at least 2 samples")


# --- inputs ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Input(Validated):
    """Base of every input. `fault` names who is to blame when the input is refused."""

    fault: ClassVar[str] = "host"

    def _validate(self) -> None:
        # Ids travel in topics and JSON; an input naming an impossible id cannot be built.
        for name in ("team", "device"):
            value = getattr(self, name, None)
            if value is not None:
                check_id(value, name)


@dataclass(frozen=True, slots=True, kw_only=True)
class _HostCommand(Input):
    now_us: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowQuestion(_HostCommand):
    """Show question `index` (default: the first from the lobby, else the next)."""

    index: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Arm(_HostCommand):
    """Arm the buzzers (buzzer question) or open answers (phone question). `grace_us` overrides the grace window."""

    grace_us: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Judge(_HostCommand):
    """Judge the buzz winner's answer (or `team`'s: too-close rulings and host overrides), or mark open text."""

    correct: bool
    team: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reveal(_HostCommand):
    """Make the answer public; phone questions score now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Next(_HostCommand):
    """Show the next question (or finish after the last)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip(_HostCommand):
    """Leave the current question unrevealed and show the next (or finish)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Undo(_HostCommand):
    """Undo the newest arm/ruling, judgement or score adjustment."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdjustScore(_HostCommand):
    """Change a team's score by hand; the reason goes into the log."""

    team: str
    delta: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause(_HostCommand):
    """Stop the timers (refused while a ruling is pending: it takes only the grace window)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume(_HostCommand):
    """Continue where the game paused; timers get back the time they had left."""


@dataclass(frozen=True, slots=True, kw_only=True)
class End(_HostCommand):
    """Finish the game."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AddTeam(_HostCommand):
    """Register a team (id for topics, name for screens)."""

    team: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveTeam(_HostCommand):
    """Remove a team, unpairing its devices."""

    team: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RenameTeam(_HostCommand):
    """Change a team's display name."""

    team: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PairDevice(_HostCommand):
    """Make `device` buzz for `team` (moving it from another team if needed)."""

    device: str
    team: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpairDevice(_HostCommand):
    """Detach `device` from its team."""

    device: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifyDevice(_HostCommand):
    """Make a device blink so the host can find it (no event: nothing about the game changes)."""

    device: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceHello(Input):
    """A device came online (`boot` counts its restarts). `resolution_us`: timestamp coarseness (browsers ~100+)."""

    fault: ClassVar[str] = "device"
    device: str
    boot: int
    fw: str = ""
    resolution_us: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BuzzIn(Input):
    """A press: device time `t_dev` (µs on the device's clock), hub time `arrival_us` when it arrived."""

    fault: ClassVar[str] = "device"
    device: str
    boot: int
    seq: int
    t_dev: float
    arrival_us: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncIn(Input):
    """One clock-sync reply of a device."""

    fault: ClassVar[str] = "device"
    device: str
    boot: int
    sample: SyncSample


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer(Input):
    """A team's phone answer: `choice` (multiple choice, true/false), `value` (numeric) or `text` (open)."""

    fault: ClassVar[str] = "player"
    team: str
    arrival_us: int
    choice: int | None = None
    value: float | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Input):
    """Time passes: the adapter's monotonic clock in µs."""

    fault: ClassVar[str] = "adapter"
    now_us: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RebaseClock(Input):
    """The hub clock is a new one (the machine rebooted, or another hub took the game over) and reads `now_us`.

    The adapter sends it after replaying a log written under another monotonic clock: stored deadlines keep the
    time they had left as of the log's last event (time that passed between it and the crash is given back),
    device clock models restart (devices re-sync), and presses of an unruled question that were pending in the
    grace window are dropped (their hub times belong to the old clock).
    """

    fault: ClassVar[str] = "adapter"
    now_us: int


# --- results -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Step:
    """An accepted input: `events` to append to the log (in order), `effects` to publish."""

    events: tuple[GameEvent, ...] = ()
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused input; the game did not change. `fault`: host, device, player, adapter (or hub: ERROR state)."""

    reason: str
    code: str
    fault: str = "host"


class CommandError(ValueError):
    """A host command message that is not a valid command (the sender's fault: answer it with a 4xx-like reply)."""


class ReplayError(ValueError):
    """A stored log that cannot be replayed onto this quiz and settings (the log's fault, or the wrong quiz)."""


class GameBugError(RuntimeError):
    """Applying an event failed or left the game in a phase the table forbids: our bug. The game is in ERROR."""


class _RejectError(Exception):
    def __init__(self, reason: str, code: str, fault: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.code, self.fault = reason, code, fault


# Host commands by the `cmd` name the commands topic uses ("open" is DESIGN §3's word for arming).
HOST_COMMANDS: dict[str, type[Input]] = {
    "show_question": ShowQuestion, "arm": Arm, "open": Arm, "judge": Judge, "reveal": Reveal, "next": Next,
    "skip": Skip, "undo": Undo, "adjust_score": AdjustScore, "pause": Pause, "resume": Resume, "end": End,
    "add_team": AddTeam, "remove_team": RemoveTeam, "rename_team": RenameTeam, "pair_device": PairDevice,
    "unpair_device": UnpairDevice, "identify_device": IdentifyDevice,
}


def command_from_dict(data: dict[str, Any]) -> Input:
    """A host command from its JSON message `{"cmd": name, **fields}` (an `id` correlation field is ignored)."""
    if not isinstance(data, dict):
        raise CommandError(f"a command is a JSON object, got {type(data).__name__}")
    name = data.get("cmd")
    cls = HOST_COMMANDS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CommandError(f"unknown command {name!r}; known: {', '.join(sorted(HOST_COMMANDS))}")
    fields = {k: v for k, v in data.items() if k not in {"cmd", "id"}}
    try:
        command: Input = decode_record(cls, fields)
    except EventDecodeError as exc:
        raise CommandError(f"{name}: {exc}") from exc
    return command


# --- mutable state -------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Play:
    """Everything about the question on screen; deep-copied into undo checkpoints."""

    index: int
    kind: QuestionKind
    attempt: int = 0
    arbiter: Arbiter | None = None
    armed_at_us: int | None = None
    grace_us: int = 0
    seed: int = 0
    window_deadline_us: int | None = None
    locked_out: set[str] = field(default_factory=set)
    seen: set[tuple[str, int, int]] = field(default_factory=set)
    ruling: BuzzRuled | None = None
    ruling_json: dict[str, Any] | None = None  # the snapshot's last_ruling, built once
    answering: str | None = None
    answer_deadline_us: int | None = None
    timer_expired: bool = False
    judged: dict[str, bool] = field(default_factory=dict)
    answers: dict[str, AnswerReceived] = field(default_factory=dict)
    opened_at_us: int | None = None
    answers_deadline_us: int | None = None


@dataclass(slots=True)
class _Checkpoint:
    label: str  # "arm", "judgement" or "adjustment"
    scores: dict[str, int]
    phase: Phase | None = None  # None: an adjustment, which restores no phase
    play: _Play | None = None
    adjustment: tuple[str, int] | None = None  # (team, delta) of an adjustment checkpoint


_OUTCOME_OF: dict[type, str] = {
    PressAccepted: "accepted",
    FalseStart: "false_start",
    DuplicatePress: "duplicate",
    ExcludedPress: "excluded",
    SecondPressIgnored: "second_press",
    LatePress: "late",
}


# Events that change the teams rows of the snapshot.
_REGISTRY_EVENTS = (TeamAdded, TeamRemoved, TeamRenamed, DevicePaired, DeviceUnpaired)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _press_of(record: PressRecord) -> Press:
    return Press(
        device=record.device, team=record.team, boot=record.boot, seq=record.seq, t_hub_us=record.t_hub_us,
        uncertainty_us=record.uncertainty_us, arrival_us=record.arrival_us,
        one_way_bound_us=record.one_way_bound_us, raw_t=record.raw_t,
    )


def _outcome(events: list[ArbiterEvent], press: Press) -> str:
    for event in events:
        if not isinstance(event, Ruling) and event.press is press:
            return _OUTCOME_OF[type(event)]
    raise AssertionError("the arbiter said nothing about a press")  # an arbiter contract breach


class Game:
    """One quiz being played. See the module docstring for how inputs, events and effects relate."""

    def __init__(self, quiz: Quiz, settings: GameSettings | None = None) -> None:
        self.quiz = quiz
        self.settings = settings or GameSettings()
        self._phase = Phase.LOBBY
        self._paused_from: Phase | None = None
        self._paused_at_us: int | None = None
        self._index: int | None = None
        self._revealed = False
        self._play: _Play | None = None
        self._teams: dict[str, str] = {}
        self._scores: dict[str, int] = {}
        self._devices: dict[str, str] = {}  # device -> team
        self._device_info: dict[str, tuple[int, str, float]] = {}  # device -> (boot, fw, resolution_us)
        self._clocks: dict[str, tuple[int, ClockModel]] = {}  # device -> (boot, model)
        self._unpaired_presses: dict[str, int] = {}  # device -> last press arrival
        self._undo: list[_Checkpoint] = []
        # ids of this step's events whose press the live decide already fed to the arbiter (apply must not again)
        self._fed: set[int] = set()
        self._team_rows_cache: list[dict[str, Any]] | None = None
        self._device_row_cache: dict[str, dict[str, Any]] = {}
        self._board_cache: list[dict[str, Any]] | None = None
        self._now_us = 0

    # ------------------------------------------------------------------ public API

    @classmethod
    def replay(cls, quiz: Quiz, settings: GameSettings | None, events: Iterable[GameEvent]) -> Game:
        """Rebuild a game from its log: the result is in the same state as the game that produced `events`."""
        game = cls(quiz, settings)
        for number, event in enumerate(events):
            try:
                game.apply(event)
            except Exception as exc:
                game._phase = Phase.ERROR
                raise ReplayError(
                    f"event #{number} ({event.type}) cannot be applied: {exc!r}; is this the game's quiz and settings?"
                ) from exc
        return game

    @property
    def phase(self) -> Phase:
        """The current phase."""
        return self._phase

    @property
    def scores(self) -> dict[str, int]:
        """Team id -> score (a copy)."""
        return dict(self._scores)

    @property
    def teams(self) -> dict[str, str]:
        """Team id -> display name (a copy)."""
        return dict(self._teams)

    @property
    def devices(self) -> dict[str, str]:
        """Paired device id -> team id (a copy)."""
        return dict(self._devices)

    def handle(self, inp: Input) -> Step | Rejected:
        """Decide `inp`: the events to log and effects to publish, or a rejection that changed nothing."""
        if self._phase is Phase.ERROR:
            return Rejected("the game hit an internal error; rebuild it from its event log", "game_error", "hub")
        kind = type(inp).__name__
        row = TRANSITIONS.get((self._phase, kind))
        if row is None:
            return Rejected(self._wrong_phase(kind), "wrong_phase", inp.fault)
        decide: Callable[[Any, int], tuple[list[GameEvent], list[Effect]]] = getattr(self, f"_decide_{row.handler}")
        try:
            now = self._time_of(inp)
        except _RejectError as rej:
            return Rejected(rej.reason, rej.code, rej.fault or inp.fault)
        if isinstance(inp, Tick) and ((due := self.next_deadline_us()) is None or now < due):
            # The adapter's most frequent call: nothing is due, so nothing can change.
            self._now_us = now
            return Step()
        before = (self._state_core(), self.scoreboard(), self.question_public())
        try:
            events, effects = decide(inp, now)
        except _RejectError as rej:
            return Rejected(rej.reason, rej.code, rej.fault or inp.fault)
        except Exception as exc:
            # A decide may already have fed the arbiter (see _decide_buzz); the state is no longer trustworthy.
            self._phase = Phase.ERROR
            raise GameBugError(f"deciding {kind} failed: {exc!r}") from exc
        try:
            self._apply_step(events, row.targets, kind)
        finally:
            self._fed.clear()
        self._now_us = max(self._now_us, now)
        return Step(tuple(events), tuple(effects + self._publish_diffs(*before)))

    def _apply_step(self, events: list[GameEvent], targets: frozenset[Phase], kind: str) -> None:
        start = self._phase
        try:
            for event in events:
                self.apply(event)
        except Exception as exc:
            self._phase = Phase.ERROR
            raise GameBugError(f"applying the events of {kind} failed: {exc!r}") from exc
        if self._phase not in targets:
            landed, self._phase = self._phase, Phase.ERROR
            raise GameBugError(f"{kind} in {start} led to {landed}, which the transition table forbids")

    def _publish_diffs(
        self, state: dict[str, Any], scores: list[dict[str, Any]], question: dict[str, Any] | None
    ) -> list[Effect]:
        """Retained topics to re-publish because this step changed them (question first: state refers to it)."""
        effects: list[Effect] = []
        if (now_question := self.question_public()) != question:
            effects.append(PublishQuestion(now_question))
        if (now_scores := self.scoreboard()) != scores:
            effects.append(PublishScores(now_scores))
        if self._state_core() != state:
            effects.append(PublishState(self.state_snapshot()))
        return effects

    def apply(self, event: GameEvent) -> None:
        """Apply one logged event to the state (replay uses only this)."""
        if isinstance(event, _REGISTRY_EVENTS):
            self._team_rows_cache = None
            self._board_cache = None
        elif event.score_deltas():
            self._board_cache = None
        device = getattr(event, "device", None)
        if isinstance(device, str):
            self._device_row_cache.pop(device, None)
        elif isinstance(event, TeamRemoved | ClockRebased):
            self._device_row_cache.clear()
        getattr(self, f"_apply_{_snake(type(event).__name__)}")(event)
        self._now_us = max(self._now_us, event.at_us)

    def next_deadline_us(self) -> int | None:
        """When the adapter must next call `handle(Tick(now))` (None: no timer runs)."""
        play = self._play
        if play is None:
            return None
        if self._phase is Phase.ARMED:
            if play.arbiter is not None:
                pending = play.arbiter.deadline_us()
                return pending if pending is not None else play.window_deadline_us
            return play.answers_deadline_us
        if self._phase is Phase.BUZZED and not play.timer_expired:
            return play.answer_deadline_us
        return None

    def question(self) -> Question | None:
        """The current question (host view, with the answer), or None."""
        return None if self._index is None else self.quiz.questions[self._index]

    def question_public(self) -> dict[str, Any] | None:
        """What players may see of the current question: the answer only once revealed."""
        q = self.question()
        if q is None or self._index is None:
            return None
        return q.public(self._index, revealed=self._revealed, time_limit_us=self._time_limit(q))

    def scoreboard(self) -> list[dict[str, Any]]:
        """Ordered rows {rank, team, name, score}; equal scores share a rank (treat the list as read-only)."""
        if self._board_cache is None:
            # Cached: built twice per step for the publish diff; only score changes and renames alter it.
            self._board_cache = rank(self._scores, self._teams)
        return self._board_cache

    def state_snapshot(self) -> dict[str, Any]:
        """The public game state, JSON-able (the retained `games/{game}/state` payload).

        Its `devices` rows (as `devices_snapshot()`) are informational: a change there alone (a clock-sync reply, a
        hello) does not make a step re-publish the state, so they are as fresh as the last publish.
        """
        snap = self._state_core()
        snap["devices"] = self._device_rows()
        return snap

    def _state_core(self) -> dict[str, Any]:
        play = self._play
        q = self.question()
        snap: dict[str, Any] = {
            "phase": self._phase.value,
            "paused_from": None if self._paused_from is None else self._paused_from.value,
            "question": self._index,
            "question_count": len(self.quiz),
            "kind": None if q is None else q.kind.value,
            "revealed": self._revealed,
            "armed": self._phase is Phase.ARMED,
            "attempt": 0 if play is None else play.attempt,
            "armed_at_us": None if play is None else play.armed_at_us,
            "deadlines": self._deadlines(),
            "next_deadline_us": self.next_deadline_us(),
            "locked_out": [] if play is None else sorted(play.locked_out),
            "answering_team": None if play is None else play.answering,
            "answered": [] if play is None else sorted(play.answers),
            "judged": {} if play is None else dict(sorted(play.judged.items())),
            "last_ruling": None if play is None else play.ruling_json,
            "teams": self._team_rows(),
            "unpaired_presses": sorted(self._unpaired_presses),
            "can_undo": bool(self._undo),
        }
        return snap

    # ------------------------------------------------------------------ helpers

    def _wrong_phase(self, kind: str) -> str:
        where = sorted({row.phase.value for row in TRANSITIONS.values() if row.kind == kind})
        if not where:
            return f"{kind} is not an input this game knows"
        return f"{kind} is not possible while the game is {self._phase.value}; it is accepted in: {', '.join(where)}"

    def _time_of(self, inp: Input) -> int:
        if isinstance(inp, Tick):
            if inp.now_us < self._now_us:
                raise _RejectError(
                    f"Tick({inp.now_us}) is earlier than the latest time seen ({self._now_us}): the adapter must pass "
                    "a monotonic clock (after a reboot or a hub takeover, send RebaseClock first)",
                    "time_backwards", "adapter",
                )
            return inp.now_us
        if isinstance(inp, RebaseClock):
            return inp.now_us  # the one input allowed to move time backwards: it starts a new clock
        if isinstance(inp, BuzzIn | Answer):
            return max(self._now_us, inp.arrival_us)
        if isinstance(inp, SyncIn):
            return max(self._now_us, math.ceil(inp.sample.t4))
        if isinstance(inp, _HostCommand) and inp.now_us is not None:
            return max(self._now_us, inp.now_us)
        return self._now_us

    def _time_limit(self, q: Question) -> int | None:
        if q.kind in ANSWER_KINDS:
            return q.answer_time_us or self.settings.choice_time_us
        return q.answer_time_us or self.settings.answer_time_us

    def _deadlines(self) -> dict[str, int | None]:
        play = self._play
        if play is None:
            return {"ruling_us": None, "buzz_window_us": None, "answer_us": None, "answers_close_us": None}
        return {
            "ruling_us": None if play.arbiter is None else play.arbiter.deadline_us(),
            "buzz_window_us": play.window_deadline_us,
            "answer_us": None if play.timer_expired else play.answer_deadline_us,
            "answers_close_us": play.answers_deadline_us,
        }

    def _team_rows(self) -> list[dict[str, Any]]:
        # Cached: the snapshot is built twice per step, and the rows only change with registry events.
        if self._team_rows_cache is None:
            by_team: dict[str, list[str]] = {t: [] for t in self._teams}
            for device, team in sorted(self._devices.items()):
                by_team[team].append(device)
            self._team_rows_cache = [{"team": t, "name": n, "devices": by_team[t]} for t, n in self._teams.items()]
        return self._team_rows_cache

    def devices_snapshot(self) -> list[dict[str, Any]]:
        """Every device seen or paired: team, boot, firmware, and its clock model's quality (for the console and the
        devices table); always current, unlike the copy inside a published state."""
        return self._device_rows()

    def _device_rows(self) -> list[dict[str, Any]]:
        # Rows are cached per device (a clock model's uncertainty takes µs to compute, and hundreds of devices sync
        # every few seconds); apply() drops the row of a device whose events change it.
        rows = []
        for device in sorted(set(self._devices) | set(self._device_info)):
            row = self._device_row_cache.get(device)
            if row is None:
                boot, fw, _ = self._device_info.get(device, (None, None, None))
                clock = self._clocks.get(device)
                synced = clock is not None and clock[1].synced
                row = {
                    "device": device,
                    "team": self._devices.get(device),
                    "boot": boot,
                    "fw": fw,
                    "synced": synced,
                    "uncertainty_us": clock[1].uncertainty_us if clock is not None and synced else None,
                    "one_way_bound_us": clock[1].one_way_bound_us if clock is not None and synced else None,
                }
                self._device_row_cache[device] = row
            rows.append(row)
        return rows

    def _require_team(self, team: str) -> None:
        if team not in self._teams:
            raise _RejectError(f"there is no team {team!r}", "unknown_team")

    def _current(self) -> tuple[_Play, Question]:
        if self._play is None or self._index is None:
            raise AssertionError("a question phase without a question")  # table/apply bug
        return self._play, self.quiz.questions[self._index]

    def _devices_of(self, teams: Iterable[str]) -> tuple[str, ...]:
        wanted = set(teams)
        return tuple(sorted(d for d, t in self._devices.items() if t in wanted))

    def _eligible(self, play: _Play) -> set[str]:
        return set(self._teams) - play.locked_out

    def _leave_question(self, now: int) -> tuple[list[GameEvent], list[Effect]]:
        """Events to move past the current question: the next one, or the end."""
        nxt = 0 if self._index is None else self._index + 1
        if nxt >= len(self.quiz):
            return [GameEnded(at_us=now)], [ResetBuzzers()]
        return [QuestionShown(at_us=now, index=nxt)], [ResetBuzzers()]

    def _map_press(self, inp: BuzzIn, team: str) -> PressRecord:
        clock = self._clocks.get(inp.device)
        if clock is not None and clock[0] == inp.boot and clock[1].synced:
            try:
                mapped = clock[1].to_hub(inp.t_dev)
            except NotSyncedError:  # pragma: no cover - synced was just checked
                pass
            else:
                return PressRecord(
                    device=inp.device, team=team, boot=inp.boot, seq=inp.seq, raw_t=inp.t_dev,
                    t_hub_us=mapped.t_hub_us, uncertainty_us=mapped.uncertainty_us, arrival_us=inp.arrival_us,
                    one_way_bound_us=clock[1].one_way_bound_us, synced=True,
                )
        # No clock model for this boot: all we know is the press happened within the assumed bound before arrival.
        bound = self.settings.unsynced_bound_us
        return PressRecord(
            device=inp.device, team=team, boot=inp.boot, seq=inp.seq, raw_t=inp.t_dev,
            t_hub_us=inp.arrival_us - bound / 2, uncertainty_us=bound / 2, arrival_us=inp.arrival_us,
            one_way_bound_us=float(bound), synced=False,
        )

    def _grace(self, play: _Play, override: int | None) -> int:
        if override is not None:
            return override
        if self.settings.grace_from_clocks:
            eligible = self._eligible(play)
            bounds = [
                clock.one_way_bound_us if clock.synced else float(self.settings.unsynced_bound_us)
                for device, (_, clock) in self._clocks.items()
                if self._devices.get(device) in eligible
            ]
            return grace_for(bounds)
        return self.settings.arbitration.grace_us

    def _checkpoint(self, label: str, *, adjustment: tuple[str, int] | None = None) -> None:
        self._undo.append(_Checkpoint(
            label=label,
            scores=dict(self._scores),
            phase=self._phase if adjustment is None else None,
            play=copy.deepcopy(self._play) if adjustment is None else None,
            adjustment=adjustment,
        ))

    def _drop_play_checkpoints(self) -> None:
        self._undo = [cp for cp in self._undo if cp.phase is None]

    # ------------------------------------------------------------------ decide: host commands

    def _decide_show_question(self, inp: ShowQuestion, now: int) -> tuple[list[GameEvent], list[Effect]]:
        if inp.index is not None:
            index = inp.index
        elif self._index is None:
            index = 0
        else:
            index = self._index + 1
        if not 0 <= index < len(self.quiz):
            raise _RejectError(f"there is no question {index}: the quiz has {len(self.quiz)} (0-based)", "bad_index")
        return [QuestionShown(at_us=now, index=index)], [ResetBuzzers()]

    def _decide_next(self, inp: Next, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        return self._leave_question(now)

    def _decide_skip(self, inp: Skip, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        play, _ = self._current()
        events, effects = self._leave_question(now)
        return [QuestionSkipped(at_us=now, index=play.index), *events], effects

    def _decide_arm(self, inp: Arm, now: int) -> tuple[list[GameEvent], list[Effect]]:
        play, q = self._current()
        if q.kind in ANSWER_KINDS:
            if self._phase is not Phase.QUESTION:
                raise _RejectError("answers to this question are closed; reveal it or move on", "answers_closed")
            limit = self._time_limit(q)
            assert limit is not None  # phone questions always have a limit
            return [AnswersOpened(at_us=now, index=play.index, deadline_us=now + limit)], []
        eligible = self._eligible(play)
        if not eligible:
            raise _RejectError("no team may buzz for this question any more; reveal it or move on", "no_team")
        attempt = play.attempt + 1
        grace = self._grace(play, inp.grace_us)
        # A seed per (question, attempt) so two random tie draws in one game are independent, yet replayable.
        seed = (self.settings.arbitration.seed * 1_000_003 + play.index * 1_009 + attempt) % (1 << 62)
        window = q.buzz_window_us or self.settings.buzz_window_us
        try:
            ArbitrationSettings(grace_us=grace, tie_rule=self.settings.arbitration.tie_rule,
                                false_start=self.settings.arbitration.false_start, seed=seed)
        except ValueError as exc:
            raise _RejectError(f"cannot arm: {exc}", "bad_grace") from exc
        event = BuzzersArmed(
            at_us=now, index=play.index, attempt=attempt, excluded=tuple(sorted(play.locked_out)),
            grace_us=grace, seed=seed, window_deadline_us=None if window is None else now + window,
        )
        return [event], [ArmBuzzers(play.index, attempt, self._devices_of(play.locked_out))]

    def _decide_judge(self, inp: Judge, now: int) -> tuple[list[GameEvent], list[Effect]]:
        play, q = self._current()
        if q.kind is QuestionKind.OPEN_TEXT:
            return self._judge_open_text(inp, now, play, q)
        if q.kind in ANSWER_KINDS:
            raise _RejectError(f"{q.kind.value} answers score themselves at reveal; nothing to judge", "self_scoring")
        if self._phase is not Phase.BUZZED or play.ruling is None:
            raise _RejectError("nobody buzzed, so there is no answer to judge", "nothing_to_judge")
        ranked = {r.team for r in play.ruling.order}
        team = inp.team or play.answering
        if team is None:
            raise _RejectError(
                "the buzz was too close to call: name the team whose answer you judge", "needs_team"
            )
        if team not in ranked or team in play.locked_out:
            raise _RejectError(f"team {team!r} did not buzz in this ruling (or is locked out)", "not_in_ruling")
        self._require_team(team)
        delta = q.points if inp.correct else -q.penalty
        events: list[GameEvent] = [Judged(at_us=now, index=play.index, team=team, correct=inp.correct, delta=delta)]
        effects: list[Effect] = []
        remaining = self._eligible(play) - {team}
        following = next(
            (r for r in play.ruling.order if r.team in remaining and r.team not in play.judged),
            None,
        ) if not inp.correct and self.settings.pass_on_wrong else None
        if following is not None:
            limit = self._time_limit(q)
            events.append(AnswerPassed(
                at_us=now, index=play.index, team=following.team, device=following.device,
                answer_deadline_us=None if limit is None else now + limit,
            ))
            effects.extend([
                LockBuzzers(play.index, following.device),
                DeviceCommand(following.device, "win", (("q", play.index),)),
            ])
        elif not inp.correct and remaining and self.settings.rearm_on_wrong:
            attempt = play.attempt + 1
            seed = (self.settings.arbitration.seed * 1_000_003 + play.index * 1_009 + attempt) % (1 << 62)
            window = q.buzz_window_us or self.settings.buzz_window_us
            excluded = tuple(sorted(play.locked_out | {team}))
            events.append(BuzzersArmed(
                at_us=now, index=play.index, attempt=attempt, excluded=excluded, grace_us=play.grace_us,
                seed=seed, window_deadline_us=None if window is None else now + window,
            ))
            effects.append(ArmBuzzers(play.index, attempt, self._devices_of(excluded)))
        elif not inp.correct:
            effects.append(LockBuzzers(play.index, None))
        return events, effects

    def _judge_open_text(
        self, inp: Judge, now: int, play: _Play, q: Question
    ) -> tuple[list[GameEvent], list[Effect]]:
        if inp.team is None:
            raise _RejectError("name the team whose open-text answer you mark", "needs_team")
        self._require_team(inp.team)
        if inp.team not in play.answers:
            raise _RejectError(f"team {inp.team!r} sent no answer to mark", "no_answer")
        if inp.team in play.judged:
            raise _RejectError(f"team {inp.team!r} is already marked; undo first to change it", "already_judged")
        delta = q.points if inp.correct else -q.penalty
        return [Judged(at_us=now, index=play.index, team=inp.team, correct=inp.correct, delta=delta)], []

    def _decide_reveal(self, inp: Reveal, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        play, q = self._current()
        events: list[GameEvent] = []
        effects: list[Effect] = []
        if self._phase is Phase.ARMED and q.kind in ANSWER_KINDS:
            events.append(AnswersClosed(at_us=now, index=play.index, reason="host"))
        if self._phase is Phase.ARMED and q.kind is QuestionKind.BUZZER:
            effects.append(LockBuzzers(play.index, None))
        limit = self._time_limit(q) or 1
        awards = award_answers(q, play.answers, self.settings.scoring, limit) if q.kind in ANSWER_KINDS else ()
        events.append(QuestionRevealed(at_us=now, index=play.index, awards=awards))
        return events, effects

    def _decide_undo(self, inp: Undo, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        if not self._undo:
            raise _RejectError("there is nothing to undo", "nothing_to_undo")
        cp = self._undo[-1]
        if cp.adjustment is not None:
            # Only the adjustment itself: judgements after it may have been made final by a reveal since.
            deltas: tuple[tuple[str, int], ...] = ((cp.adjustment[0], -cp.adjustment[1]),)
        else:
            deltas = tuple(
                (team, cp.scores.get(team, 0) - score)
                for team, score in sorted(self._scores.items())
                if cp.scores.get(team, 0) != score
            )
        effects: list[Effect] = []
        if cp.phase is not None and cp.play is not None:
            if cp.phase is Phase.BUZZED and cp.play.ruling is not None:
                effects.append(LockBuzzers(cp.play.index, cp.play.ruling.winner_device))
            else:
                effects.append(LockBuzzers(cp.play.index, None))
        return [Undone(at_us=now, undid=cp.label, deltas=deltas)], effects

    def _decide_adjust_score(self, inp: AdjustScore, now: int) -> tuple[list[GameEvent], list[Effect]]:
        self._require_team(inp.team)
        if inp.delta == 0:
            raise _RejectError("an adjustment of 0 points changes nothing", "zero_adjustment")
        if not inp.reason.strip() or len(inp.reason) > MAX_TEXT:
            raise _RejectError(f"a manual adjustment needs a reason of 1-{MAX_TEXT} characters", "needs_reason")
        return [ScoreAdjusted(at_us=now, team=inp.team, delta=inp.delta, reason=inp.reason)], []

    def _decide_pause(self, inp: Pause, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        play = self._play
        effects: list[Effect] = []
        if self._phase is Phase.ARMED and play is not None and play.arbiter is not None:
            if play.arbiter.deadline_us() is not None:
                raise _RejectError(
                    "a ruling is pending (it takes only the grace window); pause again in a moment", "ruling_pending"
                )
            effects.append(LockBuzzers(play.index, None))
        return [GamePaused(at_us=now, phase=self._phase.value)], effects

    def _decide_resume(self, inp: Resume, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        assert self._paused_from is not None
        effects: list[Effect] = []
        play = self._play
        if self._paused_from is Phase.ARMED and play is not None and play.arbiter is not None:
            effects.append(ArmBuzzers(play.index, play.attempt, self._devices_of(play.locked_out)))
        return [GameResumed(at_us=now, phase=self._paused_from.value)], effects

    def _decide_end(self, inp: End, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        return [GameEnded(at_us=now)], [ResetBuzzers()]

    # ------------------------------------------------------------------ decide: registry

    def _decide_add_team(self, inp: AddTeam, now: int) -> tuple[list[GameEvent], list[Effect]]:
        if inp.team in self._teams:
            raise _RejectError(f"team {inp.team!r} already exists", "team_exists")
        if not inp.name.strip() or len(inp.name) > MAX_TEXT:
            raise _RejectError(f"a team name has 1-{MAX_TEXT} characters", "bad_name")
        return [TeamAdded(at_us=now, team=inp.team, name=inp.name)], []

    def _decide_remove_team(self, inp: RemoveTeam, now: int) -> tuple[list[GameEvent], list[Effect]]:
        self._require_team(inp.team)
        play = self._play
        if play is not None and play.answering == inp.team and self._phase is Phase.BUZZED:
            raise _RejectError(f"team {inp.team!r} is answering; judge it first", "team_answering")
        if play is not None and play.arbiter is not None and play.arbiter.deadline_us() is not None:
            raise _RejectError("a ruling is pending; remove the team once it is made", "ruling_pending")
        events: list[GameEvent] = [
            DeviceUnpaired(at_us=now, device=d, team=inp.team) for d in self._devices_of({inp.team})
        ]
        events.append(TeamRemoved(at_us=now, team=inp.team))
        effects: list[Effect] = [DeviceCommand(d, "config", (("team", None),)) for d in self._devices_of({inp.team})]
        return events, effects

    def _decide_rename_team(self, inp: RenameTeam, now: int) -> tuple[list[GameEvent], list[Effect]]:
        self._require_team(inp.team)
        if not inp.name.strip() or len(inp.name) > MAX_TEXT:
            raise _RejectError(f"a team name has 1-{MAX_TEXT} characters", "bad_name")
        if self._teams[inp.team] == inp.name:
            raise _RejectError(f"team {inp.team!r} already has that name", "same_name")
        effects: list[Effect] = [
            DeviceCommand(d, "config", (("team", inp.team), ("name", inp.name))) for d in self._devices_of({inp.team})
        ]
        return [TeamRenamed(at_us=now, team=inp.team, name=inp.name)], effects

    def _decide_pair_device(self, inp: PairDevice, now: int) -> tuple[list[GameEvent], list[Effect]]:
        self._require_team(inp.team)
        old = self._devices.get(inp.device)
        if old == inp.team:
            raise _RejectError(f"device {inp.device!r} already buzzes for {inp.team!r}", "already_paired")
        events: list[GameEvent] = []
        if old is not None:
            events.append(DeviceUnpaired(at_us=now, device=inp.device, team=old))
        events.append(DevicePaired(at_us=now, device=inp.device, team=inp.team))
        effects: list[Effect] = [
            DeviceCommand(inp.device, "config", (("team", inp.team), ("name", self._teams[inp.team])))
        ]
        return events, effects

    def _decide_unpair_device(self, inp: UnpairDevice, now: int) -> tuple[list[GameEvent], list[Effect]]:
        team = self._devices.get(inp.device)
        if team is None:
            raise _RejectError(f"device {inp.device!r} is not paired", "not_paired")
        return [DeviceUnpaired(at_us=now, device=inp.device, team=team)], [
            DeviceCommand(inp.device, "config", (("team", None),))
        ]

    def _decide_identify_device(self, inp: IdentifyDevice, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del now
        if inp.device not in self._devices and inp.device not in self._device_info:
            raise _RejectError(f"no device {inp.device!r} has said hello or been paired", "unknown_device")
        return [], [DeviceCommand(inp.device, "identify")]

    # ------------------------------------------------------------------ decide: devices, players, time

    def _decide_device_hello(self, inp: DeviceHello, now: int) -> tuple[list[GameEvent], list[Effect]]:
        if inp.boot < 0 or not (math.isfinite(inp.resolution_us) and inp.resolution_us >= 0):
            raise _RejectError("boot counts from 0 and resolution_us is a finite number >= 0", "bad_hello")
        known = self._device_info.get(inp.device)
        event = DeviceSeen(
            at_us=now, device=inp.device, boot=inp.boot, fw=inp.fw[:64],
            rebooted=known is not None and known[0] != inp.boot, resolution_us=float(inp.resolution_us),
        )
        effects: list[Effect] = []
        team = self._devices.get(inp.device)
        if team is not None:
            # A device that restarted has forgotten its team and, if the question is live, that it is armed.
            effects.append(DeviceCommand(inp.device, "config", (("team", team), ("name", self._teams[team]))))
            play = self._play
            arbiter = play.arbiter if self._phase is Phase.ARMED and play is not None else None
            if arbiter is not None and play is not None and team not in arbiter.excluded_teams and not arbiter.ruled:
                effects.append(DeviceCommand(inp.device, "arm", (("q", play.index),)))
        return [event], effects

    def _decide_rebase_clock(self, inp: RebaseClock, now: int) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        return [ClockRebased(at_us=now, shift_us=now - self._now_us)], []

    def _decide_sync_in(self, inp: SyncIn, now: int) -> tuple[list[GameEvent], list[Effect]]:
        s = inp.sample
        if inp.boot < 0 or not all(abs(t) <= _MAX_DEVICE_TIME for t in (s.t1, s.t2, s.t3, s.t4)):
            raise _RejectError("a sync reply has boot >= 0 and times within ±2^53 µs", "bad_sync")
        return [ClockSampled(at_us=now, device=inp.device, boot=inp.boot, t1=s.t1, t2=s.t2, t3=s.t3, t4=s.t4)], []

    def _decide_buzz(  # noqa: C901, PLR0911, PLR0912 - one early return per press outcome reads as the rule list
        self, inp: BuzzIn, now: int
    ) -> tuple[list[GameEvent], list[Effect]]:
        if inp.boot < 0 or inp.seq < 0 or not abs(inp.t_dev) <= _MAX_DEVICE_TIME:
            raise _RejectError("a buzz has boot >= 0, seq >= 0 and a device time within ±2^53 µs", "bad_buzz")
        team = self._devices.get(inp.device)
        if team is None:
            return [UnpairedPress(at_us=now, device=inp.device, boot=inp.boot, seq=inp.seq, raw_t=inp.t_dev)], []
        try:
            record = self._map_press(inp, team)
        except (ValueError, ArithmeticError) as exc:
            # A device time its clock model cannot place (absurdly far from the samples): the device's problem.
            reason = f"device time {inp.t_dev!r} cannot be mapped onto the hub clock: {exc}"
            raise _RejectError(reason, "bad_buzz") from exc
        play = self._play
        index = None if play is None else play.index
        attempt = 0 if play is None else play.attempt

        def event(outcome: str, *, via: bool = False, delta: int = 0, at: int = now) -> BuzzReceived:
            return BuzzReceived(
                at_us=at, index=index, attempt=attempt, press=record, outcome=outcome, via_arbiter=via, delta=delta
            )

        if play is None or play.kind is not QuestionKind.BUZZER:
            return [event("not_armed")], []
        if (inp.device, inp.boot, inp.seq) in play.seen:
            return [event("repeat")], []
        if self._phase is Phase.PAUSED:
            return [event("paused")], []
        rule = self.settings.arbitration.false_start
        penalty = -self.settings.false_start_penalty if rule is FalseStartRule.PENALTY else 0
        if self._phase is Phase.QUESTION:
            # Shown but not armed: pressing now is the classic false start.
            if rule is FalseStartRule.IGNORE or team in play.locked_out:
                return [event("not_armed")], []
            effects: list[Effect] = []
            if rule is FalseStartRule.LOCKOUT:
                effects = [DeviceCommand(d, "lock", (("q", play.index),)) for d in self._devices_of({team})]
            return [event("false_start", delta=penalty)], effects
        if play.arbiter is None or self._phase not in {Phase.ARMED, Phase.BUZZED, Phase.JUDGED}:
            return [event("not_armed")], []
        # The one place decide changes state: feeding the real arbiter (copying it per press cost milliseconds).
        # Nothing below can refuse the input, so "refused changes nothing" holds; apply skips the event's feed.
        press = _press_of(record)
        results = play.arbiter.press(press)
        events: list[GameEvent] = []
        effects = []
        ruling = next((r for r in results if isinstance(r, Ruling)), None)
        if ruling is not None:
            # This arrival is past the grace window: the arbiter rules on what it had before taking the press.
            ruled_event, ruled_effects = self._ruled(play, ruling, inp.arrival_us)
            events.append(ruled_event)
            effects.extend(ruled_effects)
        outcome = _outcome(results, press)
        delta = 0
        if outcome == "false_start":
            delta = penalty
            if rule is FalseStartRule.LOCKOUT:
                effects.extend(DeviceCommand(d, "lock", (("q", play.index),)) for d in self._devices_of({team}))
        received = event(outcome, via=True, delta=delta, at=max(now, inp.arrival_us))
        self._fed.add(id(received))
        events.append(received)
        return events, effects

    def _ruled(self, play: _Play, ruling: Ruling, at: int) -> tuple[BuzzRuled, list[Effect]]:
        q = self.quiz.questions[play.index]
        limit = self._time_limit(q)
        order = tuple(
            RankedRecord(
                device=r.press.device, team=r.press.team, t_hub_us=r.press.t_hub_us, credited_us=r.credited_us,
                gap_us=r.gap_us, uncertainty_us=r.press.uncertainty_us, arrival_us=r.press.arrival_us,
            )
            for r in ruling.order
        )
        event = BuzzRuled(
            at_us=at, index=play.index, attempt=play.attempt, winner_team=ruling.winner_team,
            winner_device=ruling.winner_device, order=order, too_close=ruling.too_close,
            needs_host=ruling.needs_host, decided_by=str(ruling.decided_by),
            answer_deadline_us=None if ruling.winner_team is None or limit is None else at + limit,
        )
        effects: list[Effect] = [LockBuzzers(play.index, ruling.winner_device)]
        if ruling.winner_device is not None:
            effects.append(DeviceCommand(ruling.winner_device, "win", (("q", play.index),)))
        return event, effects

    def _decide_answer(self, inp: Answer, now: int) -> tuple[list[GameEvent], list[Effect]]:
        play, q = self._current()
        if q.kind not in ANSWER_KINDS:
            raise _RejectError("this is a buzzer question: buzz, don't answer", "not_answerable")
        self._require_team(inp.team)
        if inp.team in play.answers:
            raise _RejectError(f"team {inp.team!r} has already answered; the first answer counts", "already_answered")
        assert play.opened_at_us is not None
        assert play.answers_deadline_us is not None
        if inp.arrival_us > play.answers_deadline_us:
            raise _RejectError("the answer came after time ran out", "too_late")
        given = [name for name in ("choice", "value", "text") if getattr(inp, name) is not None]
        expected = "choice" if q.kind in CHOICE_KINDS else "value" if q.kind is QuestionKind.NUMERIC else "text"
        if given != [expected]:
            raise _RejectError(f"a {q.kind.value} question takes exactly one {expected}", "bad_answer")
        if inp.choice is not None and not 0 <= inp.choice < len(q.choices):
            raise _RejectError(f"choice {inp.choice} is not one of the {len(q.choices)} choices", "bad_answer")
        if inp.value is not None and not math.isfinite(inp.value):
            raise _RejectError("a numeric answer must be a finite number", "bad_answer")
        if inp.text is not None and not (inp.text.strip() and len(inp.text) <= MAX_TEXT):
            raise _RejectError(f"an open answer has 1-{MAX_TEXT} characters", "bad_answer")
        elapsed = max(0, inp.arrival_us - play.opened_at_us)
        events: list[GameEvent] = [AnswerReceived(
            at_us=now, index=play.index, team=inp.team, choice=inp.choice,
            value=None if inp.value is None else float(inp.value), text=inp.text, elapsed_us=elapsed,
        )]
        if set(self._teams) <= set(play.answers) | {inp.team}:
            events.append(AnswersClosed(at_us=now, index=play.index, reason="all_answered"))
        return events, []

    def _decide_tick(  # noqa: PLR0911 - one return per timer that can fire
        self, inp: Tick, now: int
    ) -> tuple[list[GameEvent], list[Effect]]:
        del inp
        play = self._play
        if play is None:
            return [], []
        if self._phase is Phase.ARMED and play.arbiter is not None:
            pending = play.arbiter.deadline_us()
            if pending is not None:
                if now < pending:
                    return [], []
                # Ticking the real arbiter: a due ruling is never refused, and apply sees it ruled already.
                ruling = next(r for r in play.arbiter.tick(now) if isinstance(r, Ruling))
                event, effects = self._ruled(play, ruling, now)
                return [event], effects
            if play.window_deadline_us is not None and now >= play.window_deadline_us:
                return [BuzzWindowClosed(at_us=now, index=play.index, attempt=play.attempt)], [
                    LockBuzzers(play.index, None)
                ]
        elif self._phase is Phase.ARMED:
            if play.answers_deadline_us is not None and now >= play.answers_deadline_us:
                return [AnswersClosed(at_us=now, index=play.index, reason="timer")], []
        elif (
            self._phase is Phase.BUZZED and play.answering is not None and not play.timer_expired
            and play.answer_deadline_us is not None and now >= play.answer_deadline_us
        ):
            return [AnswerTimerExpired(at_us=now, index=play.index, team=play.answering)], []
        return [], []

    # ------------------------------------------------------------------ apply: the only state changes

    def _apply_team_added(self, e: TeamAdded) -> None:
        self._teams[e.team] = e.name
        self._scores[e.team] = 0

    def _apply_team_removed(self, e: TeamRemoved) -> None:
        del self._teams[e.team]
        del self._scores[e.team]
        if self._play is not None:
            self._play.locked_out.discard(e.team)
            self._play.answers.pop(e.team, None)
            self._play.judged.pop(e.team, None)
        # A checkpoint holding the team's score would bring it back on undo.
        self._undo.clear()

    def _apply_team_renamed(self, e: TeamRenamed) -> None:
        self._teams[e.team] = e.name

    def _apply_device_paired(self, e: DevicePaired) -> None:
        self._devices[e.device] = e.team
        self._unpaired_presses.pop(e.device, None)

    def _apply_device_unpaired(self, e: DeviceUnpaired) -> None:
        del self._devices[e.device]

    def _apply_device_seen(self, e: DeviceSeen) -> None:
        known = self._device_info.get(e.device)
        self._device_info[e.device] = (e.boot, e.fw, e.resolution_us)
        clock = self._clocks.get(e.device)
        # A new boot restarts the device clock; a new resolution changes what the model may assume.
        if clock is None or clock[0] != e.boot or known is None or known[2] != e.resolution_us:
            self._clocks[e.device] = (e.boot, self._new_clock(e.device))

    def _new_clock(self, device: str) -> ClockModel:
        resolution = self._device_info.get(device, (0, "", 1.0))[2]
        return ClockModel(window=self.settings.clock_window, resolution_us=resolution)

    def _apply_clock_sampled(self, e: ClockSampled) -> None:
        clock = self._clocks.get(e.device)
        if clock is None or clock[0] != e.boot:
            clock = (e.boot, self._new_clock(e.device))
            self._clocks[e.device] = clock
        clock[1].add_sample(SyncSample(e.t1, e.t2, e.t3, e.t4))

    def _apply_question_shown(self, e: QuestionShown) -> None:
        self._index = e.index
        self._play = _Play(index=e.index, kind=self.quiz.questions[e.index].kind)
        self._phase = Phase.QUESTION
        self._revealed = False
        self._undo.clear()

    def _apply_buzzers_armed(self, e: BuzzersArmed) -> None:
        play, _ = self._current()
        self._checkpoint("arm")
        settings = dataclasses.replace(self.settings.arbitration, grace_us=e.grace_us, seed=e.seed)
        play.attempt = e.attempt
        play.arbiter = Arbiter(e.at_us, settings, frozenset(e.excluded))
        play.armed_at_us = e.at_us
        play.grace_us = e.grace_us
        play.seed = e.seed
        play.window_deadline_us = e.window_deadline_us
        play.locked_out = set(e.excluded)
        play.ruling = None
        play.ruling_json = None
        play.answering = None
        play.answer_deadline_us = None
        play.timer_expired = False
        self._phase = Phase.ARMED

    def _apply_answers_opened(self, e: AnswersOpened) -> None:
        play, _ = self._current()
        play.attempt += 1
        play.armed_at_us = e.at_us
        play.opened_at_us = e.at_us
        play.answers_deadline_us = e.deadline_us
        self._phase = Phase.ARMED

    def _apply_buzz_received(self, e: BuzzReceived) -> None:
        play = self._play
        if play is not None and e.index == play.index:
            play.seen.add((e.press.device, e.press.boot, e.press.seq))
            if e.via_arbiter and id(e) not in self._fed:  # replay, or a press fed in another step
                if play.arbiter is None:
                    raise AssertionError("a press fed to an arbiter that does not exist")
                press = _press_of(e.press)
                outcome = _outcome(play.arbiter.press(press), press)
                if outcome != e.outcome:
                    raise AssertionError(f"the arbiter now says {outcome!r} where the log says {e.outcome!r}")
            if e.outcome == "false_start" and self.settings.arbitration.false_start is FalseStartRule.LOCKOUT:
                play.locked_out.add(e.press.team)
        if e.delta:
            self._scores[e.press.team] += e.delta

    def _apply_unpaired_press(self, e: UnpairedPress) -> None:
        self._unpaired_presses[e.device] = e.at_us

    def _apply_buzz_ruled(self, e: BuzzRuled) -> None:
        play, _ = self._current()
        if play.arbiter is None:
            raise AssertionError("a ruling without an arbiter")
        if not play.arbiter.ruled:
            results = play.arbiter.tick(e.at_us)
            ruling = next((r for r in results if isinstance(r, Ruling)), None)
            if ruling is None or ruling.winner_device != e.winner_device:
                raise AssertionError("the arbiter's ruling differs from the logged one")
        play.ruling = e
        play.ruling_json = _ruling_dict(e)
        play.answering = e.winner_team
        play.answer_deadline_us = e.answer_deadline_us
        play.timer_expired = False
        play.window_deadline_us = None
        self._phase = Phase.BUZZED

    def _apply_answer_passed(self, e: AnswerPassed) -> None:
        play, _ = self._current()
        play.answering = e.team
        play.answer_deadline_us = e.answer_deadline_us
        play.timer_expired = False
        self._phase = Phase.BUZZED

    def _apply_buzz_window_closed(self, e: BuzzWindowClosed) -> None:
        del e
        play, _ = self._current()
        play.window_deadline_us = None
        self._phase = Phase.CLOSED

    def _apply_answer_timer_expired(self, e: AnswerTimerExpired) -> None:
        del e
        play, _ = self._current()
        play.timer_expired = True

    def _apply_answer_received(self, e: AnswerReceived) -> None:
        play, _ = self._current()
        play.answers[e.team] = e

    def _apply_answers_closed(self, e: AnswersClosed) -> None:
        del e
        play, _ = self._current()
        play.answers_deadline_us = None
        self._phase = Phase.CLOSED

    def _apply_judged(self, e: Judged) -> None:
        play, q = self._current()
        self._checkpoint("judgement")
        self._scores[e.team] += e.delta
        play.judged[e.team] = e.correct
        if q.kind is QuestionKind.OPEN_TEXT:
            return
        play.answering = None
        play.answer_deadline_us = None
        if e.correct:
            self._phase = Phase.JUDGED
            return
        play.locked_out.add(e.team)
        self._phase = Phase.QUESTION if self._eligible(play) else Phase.JUDGED

    def _apply_question_revealed(self, e: QuestionRevealed) -> None:
        play, _ = self._current()
        for team, points in e.awards:
            self._scores[team] += points
        play.window_deadline_us = None
        play.answers_deadline_us = None
        play.answer_deadline_us = None
        self._revealed = True
        self._phase = Phase.REVEALED
        self._drop_play_checkpoints()

    def _apply_question_skipped(self, e: QuestionSkipped) -> None:
        del e
        self._drop_play_checkpoints()

    def _apply_score_adjusted(self, e: ScoreAdjusted) -> None:
        self._checkpoint("adjustment", adjustment=(e.team, e.delta))
        self._scores[e.team] += e.delta

    def _apply_undone(self, e: Undone) -> None:
        cp = self._undo.pop()
        for team, delta in e.deltas:
            self._scores[team] += delta
        if cp.phase is not None:
            if cp.play is not None and self._play is not None:
                # Deliveries already seen stay seen: a QoS redelivery after the undo must not count as a new press.
                cp.play.seen |= self._play.seen
            self._phase = cp.phase
            self._play = cp.play

    def _apply_game_paused(self, e: GamePaused) -> None:
        self._paused_from = Phase(e.phase)
        self._paused_at_us = e.at_us
        self._phase = Phase.PAUSED

    def _apply_game_resumed(self, e: GameResumed) -> None:
        assert self._paused_from is not None
        assert self._paused_at_us is not None
        shift = e.at_us - self._paused_at_us
        play = self._play
        if play is not None:
            # Timers get back exactly the time they had left when the game paused.
            for name in ("window_deadline_us", "answer_deadline_us", "answers_deadline_us", "opened_at_us"):
                value = getattr(play, name)
                if value is not None:
                    setattr(play, name, value + shift)
            if self._paused_from is Phase.ARMED and play.arbiter is not None:
                # Presses during the pause were refused, so a fresh arbiter armed now loses nothing and cannot
                # count a press made while the buzzers were locked.
                settings = dataclasses.replace(self.settings.arbitration, grace_us=play.grace_us, seed=play.seed)
                play.arbiter = Arbiter(e.at_us, settings, frozenset(play.locked_out))
                play.armed_at_us = e.at_us
        self._phase = self._paused_from
        self._paused_from = None
        self._paused_at_us = None

    def _apply_clock_rebased(self, e: ClockRebased) -> None:
        shift = e.shift_us
        for play in [self._play, *(cp.play for cp in self._undo)]:
            if play is not None:
                self._shift_play(play, shift)
        if self._paused_at_us is not None:
            self._paused_at_us += shift
        self._unpaired_presses = {d: t + shift for d, t in self._unpaired_presses.items()}
        # Every sample's t1/t4 was on the old clock; the devices re-sync against the new one.
        self._clocks = {d: (boot, self._new_clock(d)) for d, (boot, _) in self._clocks.items()}
        self._now_us = e.at_us

    def _shift_play(self, play: _Play, shift: int) -> None:
        for name in ("armed_at_us", "window_deadline_us", "answer_deadline_us", "opened_at_us", "answers_deadline_us"):
            value = getattr(play, name)
            if value is not None:
                setattr(play, name, value + shift)
        if play.arbiter is None:
            return
        if play.arbiter.ruled:
            # Its only remaining job was timing late presses against the old clock; later presses are not_armed.
            play.arbiter = None
        else:
            # Pending presses carry old-clock times and cannot be compared with new ones: start the window afresh.
            settings = dataclasses.replace(self.settings.arbitration, grace_us=play.grace_us, seed=play.seed)
            assert play.armed_at_us is not None
            play.arbiter = Arbiter(play.armed_at_us, settings, frozenset(play.locked_out))

    def _apply_game_ended(self, e: GameEnded) -> None:
        del e
        self._phase = Phase.FINISHED
        self._play = None
        self._paused_from = None
        self._paused_at_us = None
        self._drop_play_checkpoints()


def _ruling_dict(ruling: BuzzRuled) -> dict[str, Any]:
    out = ruling.to_dict()
    del out["type"]
    return out
