"""Every input kind in every phase: accepted into a phase the table allows, or refused with nothing changed."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from test_game_support import Driver, buzzer, fingerprint

from hub.core.arbitration import ArbitrationSettings
from hub.core.clock import SyncSample
from hub.core.game import (
    AddTeam,
    AdjustScore,
    Answer,
    Arm,
    BuzzIn,
    DeviceHello,
    End,
    GameSettings,
    IdentifyDevice,
    Input,
    Judge,
    Next,
    PairDevice,
    Pause,
    RebaseClock,
    Rejected,
    RemoveTeam,
    RenameTeam,
    Resume,
    Reveal,
    ShowQuestion,
    Skip,
    SyncIn,
    Tick,
    Undo,
    UnpairDevice,
)
from hub.core.model import Question, QuestionKind, Quiz
from hub.core.transitions import TRANSITIONS, Phase

QUIZ = Quiz((
    buzzer("b0", points=10, penalty=2),
    Question("open", kind=QuestionKind.OPEN_TEXT, points=5),
    Question("mc", kind=QuestionKind.MULTIPLE_CHOICE, choices=("x", "y"), answer=0),
))


def base() -> Driver:
    drv = Driver(QUIZ, GameSettings(buzz_window_us=5_000_000, arbitration=ArbitrationSettings(grace_us=10_000)))
    for team in ("a", "b"):
        drv.ok(AddTeam(team=team, name=team.upper()))
        drv.ok(PairDevice(device=f"d{team}", team=team))
        drv.ok(DeviceHello(device=f"d{team}", boot=1))
        for at in (0, 100_000):
            drv.ok(SyncIn(device=f"d{team}", boot=1, sample=SyncSample(at, at + 400, at + 410, at + 810)))
    return drv


def press(drv: Driver, team: str, at: int, seq: int = 1) -> None:
    drv.ok(BuzzIn(device=f"d{team}", boot=1, seq=seq, t_dev=float(at), arrival_us=at + 400))


def _lobby(drv: Driver) -> None:
    del drv


def _question(drv: Driver) -> None:
    drv.ok(ShowQuestion(now_us=1_000_000))


def _armed(drv: Driver) -> None:
    _question(drv)
    drv.ok(Arm(now_us=1_000_000))


def _armed_pending(drv: Driver) -> None:
    _armed(drv)
    press(drv, "a", 1_100_000)


def _buzzed(drv: Driver) -> None:
    _armed_pending(drv)
    drv.ok(Tick(now_us=1_200_000))


def _buzzed_too_close(drv: Driver) -> None:
    _armed(drv)
    press(drv, "a", 1_100_000)
    press(drv, "b", 1_100_020)
    drv.ok(Tick(now_us=1_200_000))


def _closed(drv: Driver) -> None:
    _armed(drv)
    drv.ok(Tick(now_us=6_000_000))


def _marking(drv: Driver) -> None:
    drv.ok(ShowQuestion(index=1, now_us=1_000_000))
    drv.ok(Arm(now_us=1_000_000))
    drv.ok(Answer(team="a", text="7", arrival_us=1_100_000))
    drv.ok(Answer(team="b", text="8", arrival_us=1_100_000))


def _phone_open(drv: Driver) -> None:
    drv.ok(ShowQuestion(index=2, now_us=1_000_000))
    drv.ok(Arm(now_us=1_000_000))


def _judged(drv: Driver) -> None:
    _buzzed(drv)
    drv.ok(Judge(correct=True))


def _revealed(drv: Driver) -> None:
    _judged(drv)
    drv.ok(Reveal())


def _paused(drv: Driver) -> None:
    _buzzed(drv)
    drv.ok(Pause())


def _finished(drv: Driver) -> None:
    drv.ok(End())


SETUPS: dict[str, tuple[Callable[[Driver], None], Phase]] = {
    "lobby": (_lobby, Phase.LOBBY),
    "question": (_question, Phase.QUESTION),
    "armed": (_armed, Phase.ARMED),
    "armed_pending": (_armed_pending, Phase.ARMED),
    "buzzed": (_buzzed, Phase.BUZZED),
    "buzzed_too_close": (_buzzed_too_close, Phase.BUZZED),
    "closed": (_closed, Phase.CLOSED),
    "marking": (_marking, Phase.CLOSED),
    "phone_open": (_phone_open, Phase.ARMED),
    "judged": (_judged, Phase.JUDGED),
    "revealed": (_revealed, Phase.REVEALED),
    "paused": (_paused, Phase.PAUSED),
    "finished": (_finished, Phase.FINISHED),
}

INPUTS: list[Input] = [
    ShowQuestion(), ShowQuestion(index=0), ShowQuestion(index=9), Arm(), Arm(grace_us=3_000_000),
    Judge(correct=True), Judge(correct=False), Judge(correct=True, team="a"), Judge(correct=False, team="b"),
    Judge(correct=True, team="zz"), Reveal(), Next(), Skip(), Undo(), Pause(), Resume(), End(),
    AdjustScore(team="a", delta=3, reason="r"), AdjustScore(team="zz", delta=3, reason="r"),
    AdjustScore(team="a", delta=0, reason="r"), AddTeam(team="c", name="C"), AddTeam(team="a", name="A"),
    RemoveTeam(team="a"), RemoveTeam(team="b"), RemoveTeam(team="zz"), RenameTeam(team="a", name="Q"),
    PairDevice(device="dx", team="a"), PairDevice(device="da", team="b"), PairDevice(device="dx", team="zz"),
    UnpairDevice(device="da"), UnpairDevice(device="dx"), IdentifyDevice(device="da"),
    IdentifyDevice(device="nobody"), DeviceHello(device="da", boot=2), DeviceHello(device="dn", boot=0),
    SyncIn(device="db", boot=1, sample=SyncSample(8_000_000, 8_000_300, 8_000_310, 8_000_700)),
    BuzzIn(device="db", boot=1, seq=9, t_dev=7_000_000.0, arrival_us=7_000_400),
    BuzzIn(device="da", boot=1, seq=1, t_dev=1_100_000.0, arrival_us=1_100_400),
    BuzzIn(device="stray", boot=0, seq=1, t_dev=5.0, arrival_us=7_000_000),
    Answer(team="a", choice=0, arrival_us=1_500_000), Answer(team="b", text="x", arrival_us=1_500_000),
    Answer(team="a", value=3.0, arrival_us=1_500_000), Answer(team="zz", choice=0, arrival_us=1_500_000),
    Tick(now_us=0), Tick(now_us=1_250_000), Tick(now_us=60_000_000), RebaseClock(now_us=3),
]


@pytest.mark.parametrize("setup", list(SETUPS))
def test_every_input_in_every_phase(setup: str) -> None:
    build, phase = SETUPS[setup]
    drv = base()
    build(drv)
    assert drv.game.phase is phase
    accepted = 0
    for inp in INPUTS:
        trial = copy.deepcopy(drv)
        before = fingerprint(trial.game)
        result = trial(inp)  # the Driver checks refusals change nothing and the fold still holds
        if isinstance(result, Rejected):
            assert fingerprint(trial.game) == before
            assert (phase, type(inp).__name__) not in TRANSITIONS or result.code != "wrong_phase"
        else:
            accepted += 1
            row = TRANSITIONS[phase, type(inp).__name__]
            assert trial.game.phase in row.targets
            assert fingerprint(trial.replayed()) == fingerprint(trial.game)
    assert accepted > 0
