"""Translation between the core's shapes and the published wire contract (``schemas/``, ``hub.messages``).

The core speaks in its own terms (µs, choice indices, ``question.shown``); the contract speaks the integrators'
(ms limits, choice ids ``a``-``p``, ``question_shown``). Every payload the hub publishes is built through a
``hub.messages`` model here, so a message that breaks the contract fails at construction, in tests, not at a
subscriber.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.codec import encode
from hub.core.arbitration import ArbitrationSettings, FalseStartRule, TieRule
from hub.core.events import (
    ArmBuzzers,
    DeviceCommand,
    LockBuzzers,
    PublishQuestion,
    PublishScores,
    PublishState,
    QuestionRevealed,
    QuestionShown,
    ResetBuzzers,
)
from hub.core.game import (
    AddTeam,
    AdjustScore,
    Answer,
    Arm,
    End,
    Game,
    GameSettings,
    Input,
    Judge,
    Next,
    PairDevice,
    Pause,
    RemoveTeam,
    Resume,
    Reveal,
    ShowQuestion,
    Skip,
    Undo,
    UnpairDevice,
)
from hub.core.model import CHOICE_KINDS, QuestionKind
from hub.core.scoring import ScoringFormula
from hub.db.repository import NewResult
from hub.messages import (
    AddTeamCommand,
    AdjustCommand,
    AnswerCommand,
    ArmCommand,
    BuzzersArm,
    BuzzersLock,
    BuzzersReset,
    Choice,
    CommandError,
    CommandReply,
    DecideCommand,
    DeviceArm,
    DeviceConfig,
    DeviceIdentify,
    DeviceLock,
    DeviceReset,
    DeviceUnpair,
    DeviceWin,
    EndCommand,
    GameEventEnvelope,
    GameState,
    JudgeCommand,
    Mark,
    Media,
    NextCommand,
    PairCommand,
    PauseCommand,
    Placing,
    Press,
    PublicQuestion,
    QuestionReveal,
    RemoveTeamCommand,
    ResumeCommand,
    RevealCommand,
    Ruling,
    Scoreboard,
    ScoreEntry,
    ShowCommand,
    SkipCommand,
    SyncRequest,
    UndoCommand,
    UnpairCommand,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from hub.core.events import Effect, GameEvent
    from hub.core.model import Question
    from hub.messages import GameCommandVariant
    from hub.topics import Topics

__all__ = [
    "UnsupportedCommandError",
    "command_input",
    "effect_messages",
    "event",
    "game_settings",
    "question",
    "reply_error",
    "reply_ok",
    "results",
    "retained_key",
    "scores",
    "state",
    "sync",
    "utc_now",
]

CHOICE_IDS = "abcdefghijklmnop"
_MS = 1000
_MAX_MICROS = 2**63 - 1


class UnsupportedCommandError(ValueError):
    """A well-formed command the hub cannot carry out as given; ``code`` goes into the reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def utc_now() -> datetime:
    return datetime.now(UTC)


def _json(model: BaseModel) -> bytes:
    return encode(model)


# ------------------------------------------------------------------ settings

def game_settings(stored: dict[str, Any] | None, default: GameSettings) -> GameSettings:
    """A game's settings: the hub default overlaid with what the game row stores (unknown keys ignored)."""
    if not stored:
        return default
    arb = default.arbitration
    arbitration = ArbitrationSettings(
        grace_us=int(stored.get("grace_us", arb.grace_us)),
        tie_rule=TieRule(stored.get("tie_rule", arb.tie_rule)),
        false_start=FalseStartRule(stored.get("false_start", arb.false_start)),
        seed=int(stored.get("seed", arb.seed)),
    )
    return GameSettings(
        arbitration=arbitration,
        rearm_on_wrong=bool(stored.get("rearm_on_wrong", default.rearm_on_wrong)),
        buzz_window_us=stored.get("buzz_window_us", default.buzz_window_us),
        answer_time_us=stored.get("answer_time_us", default.answer_time_us),
        choice_time_us=int(stored.get("choice_time_us", default.choice_time_us)),
        scoring=ScoringFormula(stored.get("scoring", default.scoring)),
        false_start_penalty=int(stored.get("false_start_penalty", default.false_start_penalty)),
        unsynced_bound_us=int(stored.get("unsynced_bound_us", default.unsynced_bound_us)),
        grace_from_clocks=bool(stored.get("grace_from_clocks", default.grace_from_clocks)),
    )


# ------------------------------------------------------------------ retained topics

_PUBLIC_TYPE = {QuestionKind.NUMERIC: "estimate"}
"""Where the wire contract names a question type differently from the core (schemas/game-question)."""


def public_question(q: Question, index: int) -> PublicQuestion:
    """The player-safe view of a question: no answer, no correctness flag anywhere."""
    choices = None
    if q.kind in CHOICE_KINDS:
        choices = tuple(Choice(id=CHOICE_IDS[i], text=text[:500]) for i, text in enumerate(q.choices[:16]))
    media = (Media(kind="image", url=q.media[:2048]),) if q.media else None
    return PublicQuestion(
        index=index,
        round_title=q.round_name[:200] if q.round_name else None,
        type=_PUBLIC_TYPE.get(q.kind, q.kind.value),
        text=q.prompt[:2000],
        choices=choices,
        media=media,
        points=q.points,
        penalty=q.penalty or None,
        buzz_window_ms=q.buzz_window_us // _MS if q.buzz_window_us else None,
        answer_time_ms=q.answer_time_us // _MS if q.answer_time_us else None,
    )


def reveal_of(q: Question, index: int) -> QuestionReveal:
    """The answer, as published once the host reveals it."""
    if q.kind in CHOICE_KINDS and isinstance(q.answer, int):
        return QuestionReveal(index=index, answer=q.choices[q.answer][:2000], correct=(CHOICE_IDS[q.answer],))
    if q.kind is QuestionKind.NUMERIC and isinstance(q.answer, int | float):
        return QuestionReveal(index=index, answer=f"{q.answer:g}", value=float(q.answer))
    return QuestionReveal(index=index, answer=str(q.answer or "(the host's call)")[:2000])


def question(public: dict[str, Any] | None, game: Game | None = None) -> bytes:
    """Retained question payload; an empty payload clears the topic (no question on screen)."""
    if public is None:
        return b""
    index = int(public["index"])
    q = game.quiz.questions[index] if game is not None else None
    if q is None:
        raise ValueError("question() needs the game to build the public question")
    return _json(public_question(q, index))


def scores(seq: int, board: list[dict[str, Any]]) -> bytes:
    teams = tuple(
        ScoreEntry(team=str(r["team"]), name=str(r["name"])[:64] or str(r["team"]), score=int(r["score"]),
                   rank=min(int(r["rank"]), 1000))
        for r in board[:256]
    )
    return _json(Scoreboard(seq=seq, teams=teams))


def _micros(value: Any) -> int | None:
    if value is None:
        return None
    return max(0, min(int(value), _MAX_MICROS))


def _ruling(data: dict[str, Any] | None) -> Ruling | None:
    if not data:
        return None
    order = tuple(
        Placing(
            team=r["team"],
            device=r.get("device"),
            gap_us=round(r["gap_us"]),
            uncertainty_us=_micros(r["uncertainty_us"]) or 0,
        )
        for r in data.get("order", ())[:256]
    )
    winner = None
    if data.get("winner_team"):
        winner = Press(team=data["winner_team"], device=data.get("winner_device"))
    return Ruling(q=int(data["index"]), winner=winner, too_close=bool(data["too_close"]), order=order)


def state_model(game_id: str, seq: int, now_us: int, snap: dict[str, Any], game: Game | None = None) -> GameState:
    deadlines = snap.get("deadlines") or {}
    answering = snap.get("answering_team")
    reveal = None
    if game is not None and snap.get("revealed") and snap.get("question") is not None:
        index = int(snap["question"])
        reveal = reveal_of(game.quiz.questions[index], index)
    phase = snap["phase"]
    return GameState(
        game=game_id,
        seq=seq,
        ts_us=_micros(now_us) or 0,
        phase=phase,
        resume_phase=snap.get("paused_from"),
        question=snap.get("question"),
        question_count=snap.get("question_count"),
        armed=bool(snap.get("armed")),
        buzz_deadline_us=_micros(deadlines.get("buzz_window_us") or deadlines.get("answers_close_us")),
        answer_deadline_us=_micros(deadlines.get("answer_us")),
        locked_out=tuple(snap.get("locked_out") or ()) or None,
        answering=Press(team=answering) if answering else None,
        last_ruling=_ruling(snap.get("last_ruling")),
        reveal=reveal,
        # Who has answered and who is marked, by team id only: what they answered stays off the state (docs/wire.md).
        answered=tuple(snap.get("answered") or ()) or None,
        judged=tuple(
            Mark(team=team, verdict="right" if correct else "wrong")
            for team, correct in (snap.get("judged") or {}).items()
        ) or None,
        can_undo=bool(snap.get("can_undo")),
    )


def state(game_id: str, seq: int, now_us: int, snap: dict[str, Any], game: Game | None = None) -> bytes:
    return _json(state_model(game_id, seq, now_us, snap, game))


def retained_key(payload: bytes) -> bytes:
    """A retained payload minus its volatile fields (``seq``, ``ts_us``), to tell a real change from a re-send."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(doc, dict):
        doc.pop("seq", None)
        doc.pop("ts_us", None)
    return json.dumps(doc, sort_keys=True).encode()


# ------------------------------------------------------------------ events

def _wire_type(core_type: str) -> str:
    return core_type.replace(".", "_")


def event(seq: int, ev: GameEvent, game: Game | None = None) -> bytes:
    """The ``events`` topic envelope of one logged event (the topic names the game)."""
    data: dict[str, Any] = ev.to_dict()
    data.pop("type", None)
    if isinstance(ev, QuestionShown) and game is not None:
        data = public_question(game.quiz.questions[ev.index], ev.index).model_dump(mode="json", exclude_none=True)
    elif isinstance(ev, QuestionRevealed) and game is not None:
        data = reveal_of(game.quiz.questions[ev.index], ev.index).model_dump(mode="json", exclude_none=True)
    data = json.loads(json.dumps(data))  # tuples to lists, and a guarantee the data is plain JSON
    envelope = GameEventEnvelope(seq=seq, ts_us=_micros(ev.at_us) or 0, type=_wire_type(ev.type), data=data)
    return _json(envelope)


# ------------------------------------------------------------------ effects

Message = tuple[str, bytes, int, bool]


def _device_cmd(topics: Topics, game_id: str, eff: DeviceCommand) -> Message | None:
    fields = dict(eff.fields)
    q = fields.get("q")
    q_value = int(q) if isinstance(q, int) else None
    model: BaseModel
    if eff.cmd == "config":
        team = fields.get("team")
        model = DeviceConfig(cmd="config", game=game_id, team=str(team)) if team else DeviceUnpair(cmd="unpair")
    elif eff.cmd == "arm":
        model = DeviceArm(cmd="arm", q=q_value)
    elif eff.cmd == "lock":
        model = DeviceLock(cmd="lock", q=q_value)
    elif eff.cmd == "win":
        model = DeviceWin(cmd="win", q=q_value)
    elif eff.cmd == "reset":
        model = DeviceReset(cmd="reset")
    elif eff.cmd == "identify":
        model = DeviceIdentify(cmd="identify")
    else:
        return None
    return topics.device_cmd(eff.device), _json(model), 1, False


def effect_messages(  # noqa: PLR0911 - one return per effect kind
    topics: Topics, game_id: str, *, seq: int, now_us: int, game: Game, eff: Effect
) -> list[Message]:
    """The MQTT messages one effect becomes."""
    buzzers = topics.game_buzzers(game_id)
    if isinstance(eff, ArmBuzzers):
        teams = sorted({game.devices[d] for d in eff.except_devices if d in game.devices})
        return [(buzzers, _json(BuzzersArm(cmd="arm", q=eff.index, locked_out=tuple(teams) or None)), 1, False)]
    if isinstance(eff, LockBuzzers):
        team = game.devices.get(eff.winner_device) if eff.winner_device else None
        q = eff.index if eff.index is not None else int(game.state_snapshot().get("question") or 0)
        lock = BuzzersLock(cmd="lock", q=q, winner=eff.winner_device, team=team)
        return [(buzzers, _json(lock), 1, False)]
    if isinstance(eff, ResetBuzzers):
        return [(buzzers, _json(BuzzersReset(cmd="reset")), 1, False)]
    if isinstance(eff, DeviceCommand):
        msg = _device_cmd(topics, game_id, eff)
        return [msg] if msg else []
    if isinstance(eff, PublishState):
        return [(topics.game_state(game_id), state(game_id, seq, now_us, eff.state, game), 1, True)]
    if isinstance(eff, PublishQuestion):
        return [(topics.game_question(game_id), question(eff.question, game), 1, True)]
    if isinstance(eff, PublishScores):
        return [(topics.game_scores(game_id), scores(seq, eff.scores), 1, True)]
    return []


# ------------------------------------------------------------------ devices

def sync(n: int, t1: int) -> bytes:
    return _json(SyncRequest(n=n, t1=t1))


def identify() -> bytes:
    return _json(DeviceIdentify(cmd="identify"))


# ------------------------------------------------------------------ commands

def reply_ok(cid: str, result: dict[str, Any]) -> bytes:
    return _json(CommandReply(id=cid, ok=True, result=result))


def reply_error(cid: str, code: str, message: str) -> bytes:
    return _json(CommandReply(id=cid, ok=False, error=CommandError(code=code, message=message[:1000])))


def salvage_command_ids(payload: bytes) -> tuple[str | None, str | None]:
    """Best effort: the correlation id and client of a command that failed validation, to answer it."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    cid, client = doc.get("id"), doc.get("client")
    ok = all(isinstance(v, str) and 0 < len(v) <= 64 and v.replace("-", "").replace("_", "").isalnum()
             for v in (cid, client))
    return (cid, client) if ok else (None, None)


def _answer_input(cmd: AnswerCommand, game: Game, now_us: int) -> Answer:
    q = game.question()
    value = cmd.value
    if q is None:
        raise UnsupportedCommandError("no_question", "there is no question to answer")
    if q.kind in CHOICE_KINDS:
        if not isinstance(value, tuple) or len(value) != 1 or value[0] not in CHOICE_IDS[: len(q.choices)]:
            raise UnsupportedCommandError("bad_answer", f"answer with one choice id of {CHOICE_IDS[:len(q.choices)]}")
        return Answer(team=cmd.team, arrival_us=now_us, choice=CHOICE_IDS.index(value[0]))
    if q.kind is QuestionKind.NUMERIC:
        if not isinstance(value, float | int):
            raise UnsupportedCommandError("bad_answer", "this question takes a number")
        return Answer(team=cmd.team, arrival_us=now_us, value=float(value))
    if not isinstance(value, str):
        raise UnsupportedCommandError("bad_answer", "this question takes a text answer")
    return Answer(team=cmd.team, arrival_us=now_us, text=value)


def command_input(cmd: GameCommandVariant, game: Game, now_us: int) -> Input:  # noqa: C901, PLR0911 - one case per command
    """The core input a host command stands for."""
    simple: dict[type[Any], type[Input]] = {
        RevealCommand: Reveal, NextCommand: Next, SkipCommand: Skip, UndoCommand: Undo, PauseCommand: Pause,
        ResumeCommand: Resume, EndCommand: End, ArmCommand: Arm,
    }
    if type(cmd) in simple:
        return simple[type(cmd)](now_us=now_us)  # type: ignore[call-arg]
    if isinstance(cmd, ShowCommand):
        return ShowQuestion(index=cmd.q, now_us=now_us)
    if isinstance(cmd, JudgeCommand):
        if cmd.points is not None:
            raise UnsupportedCommandError("unsupported", "a points override is not supported; judge, then adjust")
        return Judge(correct=cmd.verdict == "right", team=cmd.team, now_us=now_us)
    if isinstance(cmd, DecideCommand):
        return Judge(correct=True, team=cmd.team, now_us=now_us)
    if isinstance(cmd, AdjustCommand):
        return AdjustScore(team=cmd.team, delta=cmd.delta, reason=cmd.reason, now_us=now_us)
    if isinstance(cmd, PairCommand):
        return PairDevice(device=cmd.device, team=cmd.team, now_us=now_us)
    if isinstance(cmd, UnpairCommand):
        return UnpairDevice(device=cmd.device, now_us=now_us)
    if isinstance(cmd, AddTeamCommand):
        return AddTeam(team=cmd.team, name=cmd.name, now_us=now_us)
    if isinstance(cmd, RemoveTeamCommand):
        return RemoveTeam(team=cmd.team, now_us=now_us)
    if isinstance(cmd, AnswerCommand):
        return _answer_input(cmd, game, now_us)
    raise UnsupportedCommandError("unsupported", f"command {cmd.cmd!r} is not supported by this hub")


def results(board: list[dict[str, Any]]) -> list[NewResult]:
    return [NewResult(team_name=str(r["name"]), score=int(r["score"]), rank=int(r["rank"])) for r in board]
