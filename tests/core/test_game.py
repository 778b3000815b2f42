"""Scripted scenarios for every rule of the game engine (DESIGN §4-5, issue 3 items 3-4)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_game_support import Driver, buzzer, fingerprint, mixed_quiz

from hub.core.arbitration import ArbitrationSettings, FalseStartRule, TieRule
from hub.core.clock import SyncSample
from hub.core.events import (
    ArmBuzzers,
    BuzzReceived,
    BuzzRuled,
    DeviceCommand,
    EventDecodeError,
    LockBuzzers,
    PublishQuestion,
    PublishScores,
    PublishState,
    ResetBuzzers,
    TeamAdded,
    event_from_dict,
)
from hub.core.game import (
    HOST_COMMANDS,
    AddTeam,
    AdjustScore,
    Answer,
    Arm,
    BuzzIn,
    CommandError,
    DeviceHello,
    End,
    Game,
    GameBugError,
    GameSettings,
    IdentifyDevice,
    Judge,
    Next,
    PairDevice,
    Pause,
    RebaseClock,
    Rejected,
    RemoveTeam,
    RenameTeam,
    ReplayError,
    Resume,
    Reveal,
    ShowQuestion,
    Skip,
    Step,
    SyncIn,
    Tick,
    Undo,
    UnpairDevice,
    command_from_dict,
)
from hub.core.model import Question, QuestionKind, Quiz
from hub.core.scoring import ScoringFormula
from hub.core.transitions import Phase

OFFSET = 5_000_000  # hub clock minus device clock, µs
GRACE = 30_000


def setup(
    settings: GameSettings | None = None, quiz: Quiz | None = None, teams: tuple[str, ...] = ("a", "b", "c")
) -> Driver:
    """Teams a, b, c with devices da, db, dc; every device synced with a 500 µs one-way delay."""
    drv = Driver(quiz or Quiz((buzzer("Q1", points=10, penalty=3), buzzer("Q2"), buzzer("Q3"))), settings)
    for team in teams:
        drv.ok(AddTeam(team=team, name=team.upper()))
        drv.ok(PairDevice(device=f"d{team}", team=team))
        drv.ok(DeviceHello(device=f"d{team}", boot=1, fw="1.0"))
        for at in (0, 200_000):
            drv.ok(SyncIn(device=f"d{team}", boot=1,
                          sample=SyncSample(at, at - OFFSET + 500, at - OFFSET + 510, at + 1_010)))
    return drv


def press(drv: Driver, team: str, at: int, arrival: int | None = None, seq: int = 1, boot: int = 1):
    """Team's device pressed at hub time `at`, the buzz arrives at `arrival` (default at + 500 µs)."""
    return drv(BuzzIn(device=f"d{team}", boot=boot, seq=seq, t_dev=float(at - OFFSET),
                      arrival_us=at + 500 if arrival is None else arrival))


def armed(drv: Driver, at: int = 1_000_000) -> None:
    drv.ok(ShowQuestion(now_us=at - 100_000))
    drv.ok(Arm(now_us=at))


def outcome(step: Step | Rejected) -> str:
    assert isinstance(step, Step), step
    events = [e for e in step.events if isinstance(e, BuzzReceived)]
    assert len(events) == 1
    return events[0].outcome


# --- the basic buzzer flow --------------------------------------------------------------------------------------

def test_a_full_buzzer_question() -> None:
    drv = setup()
    step = drv.ok(ShowQuestion(now_us=900_000))
    assert drv.game.phase is Phase.QUESTION
    assert ResetBuzzers() in step.effects
    assert any(isinstance(e, PublishQuestion) and "answer" not in e.question for e in step.effects)  # type: ignore[operator]
    step = drv.ok(Arm(now_us=1_000_000))
    assert drv.types(step) == ["buzzers.armed"]
    assert ArmBuzzers(0, 1, ()) in step.effects
    assert outcome(press(drv, "b", 1_100_000)) == "accepted"
    assert drv.game.next_deadline_us() == 1_100_500 + GRACE
    assert drv.ok(Tick(now_us=1_100_500 + GRACE - 1)).events == ()
    step = drv.ok(Tick(now_us=1_100_500 + GRACE))
    ruled = step.events[0]
    assert isinstance(ruled, BuzzRuled)
    assert (ruled.winner_team, ruled.winner_device, ruled.too_close) == ("b", "db", False)
    assert LockBuzzers(0, "db") in step.effects
    assert DeviceCommand("db", "win", (("q", 0),)) in step.effects
    assert drv.game.phase is Phase.BUZZED
    snap = drv.game.state_snapshot()
    assert snap["answering_team"] == "b"
    assert snap["last_ruling"]["order"][0]["team"] == "b"
    assert snap["deadlines"]["answer_us"] == 1_100_500 + GRACE + 10_000_000
    step = drv.ok(Judge(correct=True))
    assert drv.game.scores == {"a": 0, "b": 10, "c": 0}
    assert any(isinstance(e, PublishScores) for e in step.effects)
    assert drv.game.phase is Phase.JUDGED
    step = drv.ok(Reveal())
    revealed = [e for e in step.effects if isinstance(e, PublishQuestion)]
    assert revealed[0].question is not None
    assert revealed[0].question["answer"] == "A"
    drv.ok(Next())
    assert drv.game.state_snapshot()["question"] == 1


def test_the_earliest_mapped_press_wins_not_the_first_arrival() -> None:
    drv = setup()
    # c sits on a slow link (30 ms each way, measured), so its buzz may arrive well after it was pressed.
    for at in (300_000, 500_000):
        drv.ok(SyncIn(device="dc", boot=1, sample=SyncSample(at, at - OFFSET + 30_000, at - OFFSET + 30_010,
                                                             at + 60_010)))
    armed(drv)
    # c pressed 40 ms before b, but b's buzz arrived first.
    assert outcome(press(drv, "b", 1_140_000, arrival=1_140_500)) == "accepted"
    assert outcome(press(drv, "c", 1_100_000, arrival=1_150_000)) == "accepted"
    step = drv.ok(Tick(now_us=1_140_500 + GRACE))
    ruled = step.events[0]
    assert isinstance(ruled, BuzzRuled)
    assert (ruled.winner_team, ruled.too_close) == ("c", False)
    assert [r.team for r in ruled.order] == ["c", "b"]
    assert ruled.order[1].gap_us == pytest.approx(40_000, abs=1_000)


def test_a_forged_early_timestamp_gains_no_more_than_the_measured_latency() -> None:
    drv = setup()
    armed(drv)
    press(drv, "b", 1_100_000)
    # c claims it pressed 50 ms earlier than it could have, given its 1 ms measured link.
    step = press(drv, "c", 1_051_000, arrival=1_101_000)
    credited = drv.ok(Tick(now_us=1_200_000)).events[0]
    assert isinstance(credited, BuzzRuled)
    rank_c = next(r for r in credited.order if r.team == "c")
    assert rank_c.credited_us >= 1_101_000 - 1_001
    assert outcome(step) == "accepted"


def test_a_press_after_the_window_rules_first_and_is_late() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    step = press(drv, "b", 1_050_000, arrival=1_100_500 + GRACE + 1)
    assert drv.types(step) == ["buzz.ruled", "buzz.received"]
    assert step.events[0].winner_team == "a"  # type: ignore[attr-defined]
    assert outcome(step) == "late"
    assert drv.game.phase is Phase.BUZZED


def test_presses_after_the_ruling_are_logged_for_the_timeline() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    assert outcome(press(drv, "c", 1_210_000)) == "late"
    assert outcome(press(drv, "a", 1_220_000, seq=2)) == "second_press"
    assert drv.game.phase is Phase.BUZZED


# --- wrong answers, lockouts, re-arming -------------------------------------------------------------------------

def test_wrong_answer_costs_the_penalty_and_rearms_without_that_team() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    step = drv.ok(Judge(correct=False, now_us=1_300_000))
    assert drv.types(step) == ["judgement.made", "buzzers.armed"]
    assert ArmBuzzers(0, 2, ("da",)) in step.effects
    assert drv.game.scores["a"] == -3
    assert drv.game.phase is Phase.ARMED
    assert drv.game.state_snapshot()["locked_out"] == ["a"]
    assert outcome(press(drv, "a", 1_400_000, seq=2)) == "excluded"
    assert outcome(press(drv, "c", 1_410_000)) == "accepted"
    step = drv.ok(Tick(now_us=1_500_000))
    assert step.events[0].winner_team == "c"  # type: ignore[attr-defined]


def test_without_rearm_a_wrong_answer_returns_to_the_question_and_the_host_arms_again() -> None:
    drv = setup(GameSettings(rearm_on_wrong=False))
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    step = drv.ok(Judge(correct=False))
    assert drv.types(step) == ["judgement.made"]
    assert drv.game.phase is Phase.QUESTION
    step = drv.ok(Arm(now_us=2_000_000))
    assert step.events[0].excluded == ("a",)  # type: ignore[attr-defined]


def test_pass_on_wrong_gives_the_question_to_the_next_in_the_ruling_order() -> None:
    drv = setup(GameSettings(pass_on_wrong=True, answer_time_us=5_000_000))
    armed(drv)
    press(drv, "c", 1_100_000)
    press(drv, "a", 1_110_000)
    drv.ok(Tick(now_us=1_200_000))
    step = drv.ok(Judge(correct=False, now_us=2_000_000))
    assert drv.types(step) == ["judgement.made", "answer.passed"]
    assert LockBuzzers(0, "da") in step.effects
    assert DeviceCommand("da", "win", (("q", 0),)) in step.effects
    assert drv.game.phase is Phase.BUZZED
    snap = drv.game.state_snapshot()
    assert (snap["answering_team"], snap["locked_out"]) == ("a", ["c"])
    assert snap["deadlines"]["answer_us"] == 7_000_000
    step = drv.ok(Judge(correct=False))  # nobody left in the order: re-arm for b
    assert drv.types(step) == ["judgement.made", "buzzers.armed"]
    assert step.events[1].excluded == ("a", "c")  # type: ignore[attr-defined]
    drv.ok(Undo())
    drv.ok(Undo())
    assert drv.game.state_snapshot()["answering_team"] == "a"
    assert drv.game.scores == {"a": 0, "b": 0, "c": -3}


def test_when_every_team_answered_wrong_the_question_is_judged() -> None:
    drv = setup(teams=("a", "b"))
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    drv.ok(Judge(correct=False, now_us=1_200_001))
    press(drv, "b", 1_300_000)
    drv.ok(Tick(now_us=1_400_000))
    step = drv.ok(Judge(correct=False))
    assert drv.types(step) == ["judgement.made"]
    assert drv.game.phase is Phase.JUDGED
    drv.no(Arm(), "wrong_phase")


@pytest.mark.parametrize("rule", list(FalseStartRule))
def test_a_press_before_arming_is_a_false_start_per_rule(rule: FalseStartRule) -> None:
    drv = setup(GameSettings(arbitration=ArbitrationSettings(false_start=rule), false_start_penalty=7))
    drv.ok(ShowQuestion(now_us=900_000))
    step = press(drv, "a", 950_000)
    expected = {"ignore": "not_armed", "lockout": "false_start", "penalty": "false_start"}[rule.value]
    assert outcome(step) == expected
    assert drv.game.scores["a"] == (-7 if rule is FalseStartRule.PENALTY else 0)
    if rule is FalseStartRule.LOCKOUT:
        assert DeviceCommand("da", "lock", (("q", 0),)) in step.effects
    drv.ok(Arm(now_us=1_000_000))
    after = outcome(press(drv, "a", 1_100_000, seq=2))
    assert after == ("excluded" if rule is FalseStartRule.LOCKOUT else "accepted")


def test_a_press_timed_before_the_arm_but_arriving_after_it_is_a_false_start() -> None:
    rule = ArbitrationSettings(false_start=FalseStartRule.PENALTY)
    drv = setup(GameSettings(false_start_penalty=4, arbitration=rule))
    armed(drv)
    step = press(drv, "b", 990_000, arrival=1_000_400)
    assert outcome(step) == "false_start"
    assert drv.game.scores["b"] == -4
    assert outcome(press(drv, "b", 1_100_000, seq=2)) == "accepted"  # penalty, not lockout: b may buzz


def test_false_start_lockout_via_the_arbiter_carries_into_the_rearm() -> None:
    drv = setup()
    armed(drv)
    assert outcome(press(drv, "b", 990_000, arrival=1_000_400)) == "false_start"
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    step = drv.ok(Judge(correct=False))
    assert step.events[-1].excluded == ("a", "b")  # type: ignore[attr-defined]
    assert outcome(press(drv, "b", 1_300_000, seq=2)) == "excluded"


def test_a_duplicate_delivery_counts_once() -> None:
    drv = setup()
    drv.ok(ShowQuestion(now_us=900_000))
    assert outcome(press(drv, "a", 950_000)) == "false_start"
    assert outcome(press(drv, "a", 950_000)) == "repeat"
    drv.ok(Arm(now_us=1_000_000))
    assert outcome(press(drv, "b", 1_100_000)) == "accepted"
    assert outcome(press(drv, "b", 1_100_000)) == "repeat"


# --- devices and clocks -----------------------------------------------------------------------------------------

def test_an_unpaired_press_is_an_event_not_a_crash_and_pairing_clears_it() -> None:
    drv = setup()
    armed(drv)
    step = drv.ok(BuzzIn(device="stray", boot=0, seq=1, t_dev=1.0, arrival_us=1_100_000))
    assert drv.types(step) == ["buzz.unpaired"]
    assert drv.game.state_snapshot()["unpaired_presses"] == ["stray"]
    assert drv.game.next_deadline_us() is None  # it did not open a grace window
    step = drv.ok(PairDevice(device="stray", team="c"))
    assert DeviceCommand("stray", "config", (("team", "c"), ("name", "C"))) in step.effects
    assert drv.game.state_snapshot()["unpaired_presses"] == []


def test_an_unsynced_press_is_placed_inside_its_bound_and_flagged() -> None:
    drv = setup(GameSettings(unsynced_bound_us=40_000))
    drv.ok(PairDevice(device="new", team="a"))
    armed(drv)
    step = drv.ok(BuzzIn(device="new", boot=0, seq=1, t_dev=123.0, arrival_us=1_100_000))
    ev = step.events[0]
    assert isinstance(ev, BuzzReceived)
    assert ev.press.synced is False
    assert ev.press.t_hub_us == 1_080_000
    assert ev.press.uncertainty_us == 20_000
    assert ev.press.one_way_bound_us == 40_000
    synced = press(drv, "b", 1_100_000).events[0]
    assert isinstance(synced, BuzzReceived)
    assert synced.press.synced is True
    assert synced.press.t_hub_us == pytest.approx(1_100_000, abs=synced.press.uncertainty_us)


def test_a_reboot_resets_the_clock_model() -> None:
    drv = setup()
    assert drv.game.devices_snapshot()[0]["synced"] is True
    step = drv.ok(DeviceHello(device="da", boot=2, fw="1.1"))
    assert step.events[0].rebooted is True  # type: ignore[attr-defined]
    row = next(r for r in drv.game.devices_snapshot() if r["device"] == "da")
    assert (row["synced"], row["boot"], row["fw"]) == (False, 2, "1.1")
    armed(drv)
    ev = press(drv, "a", 1_100_000, boot=2).events[0]
    assert isinstance(ev, BuzzReceived)
    assert ev.press.synced is False


def test_identify_blinks_a_known_device_and_logs_nothing() -> None:
    drv = setup()
    step = drv.ok(IdentifyDevice(device="db"))
    assert step.events == ()
    assert step.effects == (DeviceCommand("db", "identify"),)
    drv.no(IdentifyDevice(device="ghost"), "unknown_device")


def test_hostile_device_times_are_refused_as_the_devices_fault_and_never_break_the_game() -> None:
    drv = setup()
    armed(drv)
    for t in (1.7e308, -1e300, 2.0**60):
        rej = drv.no(BuzzIn(device="da", boot=1, seq=50, t_dev=t, arrival_us=1_100_000), "bad_buzz")
        assert rej.fault == "device"
        rej = drv.no(SyncIn(device="db", boot=1, sample=SyncSample(1_100_000, t, t, 1_100_900)), "bad_sync")
        assert rej.fault == "device"
    assert outcome(press(drv, "a", 1_100_000)) == "accepted"
    assert drv.game.phase is Phase.ARMED


def test_a_device_saying_hello_while_armed_is_told_its_team_and_armed() -> None:
    drv = setup()
    armed(drv)
    step = drv.ok(DeviceHello(device="db", boot=1))
    assert DeviceCommand("db", "config", (("team", "b"), ("name", "B"))) in step.effects
    assert DeviceCommand("db", "arm", (("q", 0),)) in step.effects


def test_grace_from_clocks_uses_the_slowest_eligible_device() -> None:
    drv = setup(GameSettings(grace_from_clocks=True))
    drv.ok(ShowQuestion(now_us=900_000))
    step = drv.ok(Arm(now_us=1_000_000))
    assert step.events[0].grace_us == 20_000  # type: ignore[attr-defined]  # 1 ms bounds, floored at 20 ms
    drv2 = setup()
    drv2.ok(ShowQuestion(now_us=900_000))
    assert drv2.ok(Arm(grace_us=5_000)).events[0].grace_us == 5_000  # type: ignore[attr-defined]


# --- ties --------------------------------------------------------------------------------------------------------

def test_too_close_to_call_asks_the_host_who_then_names_the_team() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    press(drv, "b", 1_100_050)
    step = drv.ok(Tick(now_us=1_200_000))
    ruled = step.events[0]
    assert isinstance(ruled, BuzzRuled)
    assert (ruled.too_close, ruled.needs_host, ruled.winner_team) == (True, True, None)
    assert LockBuzzers(0, None) in step.effects
    assert drv.game.state_snapshot()["last_ruling"]["too_close"] is True
    drv.no(Judge(correct=True), "needs_team")
    drv.no(Judge(correct=True, team="c"), "not_in_ruling")
    drv.ok(Judge(correct=True, team="b"))
    assert drv.game.scores["b"] == 10


def test_earliest_tie_rule_takes_the_earliest_anyway() -> None:
    drv = setup(GameSettings(arbitration=ArbitrationSettings(tie_rule=TieRule.EARLIEST)))
    armed(drv)
    press(drv, "b", 1_100_050)
    press(drv, "a", 1_100_000)
    ruled = drv.ok(Tick(now_us=1_200_000)).events[0]
    assert isinstance(ruled, BuzzRuled)
    assert (ruled.too_close, ruled.winner_team, ruled.decided_by) == (True, "a", "earliest")


def test_random_tie_rule_is_replayable() -> None:
    drv = setup(GameSettings(arbitration=ArbitrationSettings(tie_rule=TieRule.RANDOM, seed=99)))
    armed(drv)
    press(drv, "b", 1_100_050)
    press(drv, "a", 1_100_000)
    ruled = drv.ok(Tick(now_us=1_200_000)).events[0]
    assert isinstance(ruled, BuzzRuled)
    assert ruled.decided_by == "random"
    assert fingerprint(drv.replayed()) == fingerprint(drv.game)


# --- timers -------------------------------------------------------------------------------------------------------

def test_an_empty_buzz_window_closes_the_question_and_the_host_can_rearm() -> None:
    drv = setup(GameSettings(buzz_window_us=5_000_000))
    armed(drv)
    assert drv.game.next_deadline_us() == 6_000_000
    step = drv.ok(Tick(now_us=6_000_000))
    assert drv.types(step) == ["buzz.window_closed"]
    assert LockBuzzers(0, None) in step.effects
    assert drv.game.phase is Phase.CLOSED
    drv.no(Judge(correct=True), "nothing_to_judge")
    step = drv.ok(Arm(now_us=7_000_000))
    assert step.events[0].attempt == 2  # type: ignore[attr-defined]


def test_the_first_press_suspends_the_buzz_window() -> None:
    drv = setup(GameSettings(buzz_window_us=200_000))
    armed(drv)
    press(drv, "a", 1_190_000)
    assert drv.game.next_deadline_us() == 1_190_500 + GRACE
    step = drv.ok(Tick(now_us=1_250_000))
    assert drv.types(step) == ["buzz.ruled"]


def test_the_answer_timer_expires_once_and_the_host_still_judges() -> None:
    drv = setup(GameSettings(answer_time_us=3_000_000))
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    assert drv.game.next_deadline_us() == 4_200_000
    step = drv.ok(Tick(now_us=4_200_000))
    assert drv.types(step) == ["answer.timer_expired"]
    assert drv.game.next_deadline_us() is None
    assert drv.ok(Tick(now_us=5_000_000)).events == ()
    drv.ok(Judge(correct=False))


def test_time_cannot_go_backwards() -> None:
    drv = setup()
    drv.ok(Tick(now_us=2_000_000))
    rej = drv.no(Tick(now_us=1_999_999), "time_backwards")
    assert rej.fault == "adapter"
    assert "RebaseClock" in rej.reason


def test_after_a_hub_reboot_the_clock_rebases_deadlines_keep_their_remaining_time_and_devices_resync() -> None:
    drv = setup(GameSettings(buzz_window_us=5_000_000))
    armed(drv)  # armed at 1_000_000, window ends at 6_000_000
    press(drv, "a", 990_000, arrival=1_000_300)  # a false start: a stays locked out across the reboot
    drv.ok(Tick(now_us=2_000_000))
    twin = Driver(drv.quiz, drv.settings)
    for event in drv.log:  # the restarted hub replays the log ...
        twin.game.apply(event)
    twin.log = list(drv.log)
    step = twin.ok(RebaseClock(now_us=500))  # ... and finds its monotonic clock back near zero
    assert twin.types(step) == ["clock.rebased"]
    # The log's last event (the press arriving at 1_000_300) is the last time the new hub can know of: the 1 s
    # between it and the crash is given back to the buzz window.
    shift = 500 - 1_000_300
    assert step.events[0].shift_us == shift  # type: ignore[attr-defined]
    assert twin.game.next_deadline_us() == 6_000_000 + shift
    assert not any(row["synced"] for row in twin.game.devices_snapshot())
    assert twin.game.state_snapshot()["locked_out"] == ["a"]
    ev = twin.ok(BuzzIn(device="db", boot=1, seq=7, t_dev=123.0, arrival_us=100_000)).events[0]
    assert isinstance(ev, BuzzReceived)
    assert (ev.outcome, ev.press.synced) == ("accepted", False)
    assert outcome(twin(BuzzIn(device="da", boot=1, seq=8, t_dev=1.0, arrival_us=110_000))) == "excluded"
    ruled = twin.ok(Tick(now_us=200_000)).events[0]
    assert isinstance(ruled, BuzzRuled)
    assert ruled.winner_team == "b"
    assert fingerprint(twin.replayed()) == fingerprint(twin.game)


# --- pause ---------------------------------------------------------------------------------------------------------

def test_pause_keeps_the_remaining_time_and_refuses_presses() -> None:
    drv = setup(GameSettings(buzz_window_us=1_000_000))
    armed(drv)  # window ends at 2_000_000
    step = drv.ok(Pause(now_us=1_400_000))
    assert LockBuzzers(0, None) in step.effects
    assert drv.game.phase is Phase.PAUSED
    assert drv.game.next_deadline_us() is None
    assert outcome(press(drv, "a", 1_500_000)) == "paused"
    drv.no(Pause(), "wrong_phase")
    drv.no(Arm(), "wrong_phase")
    step = drv.ok(Resume(now_us=5_000_000))
    assert ArmBuzzers(0, 1, ()) in step.effects
    assert drv.game.phase is Phase.ARMED
    assert drv.game.next_deadline_us() == 5_600_000
    # a's press during the pause was refused; a's next press counts.
    assert outcome(press(drv, "a", 5_100_000, seq=2)) == "accepted"


def test_a_locked_out_team_stays_locked_out_across_pause_and_resume() -> None:
    drv = setup()
    armed(drv)
    assert outcome(press(drv, "b", 990_000, arrival=1_000_400)) == "false_start"  # lockout (default rule)
    drv.ok(Pause(now_us=1_100_000))
    drv.ok(Resume(now_us=1_200_000))
    assert outcome(press(drv, "b", 1_300_000, seq=2)) == "excluded"
    assert outcome(press(drv, "a", 1_310_000)) == "accepted"
    ruled = drv.ok(Tick(now_us=1_400_000)).events[0]
    assert isinstance(ruled, BuzzRuled)
    assert ruled.winner_team == "a"


def test_pause_is_refused_while_a_ruling_is_pending() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.no(Pause(), "ruling_pending")


def test_pause_resumes_into_the_phase_it_left() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    deadline = drv.game.next_deadline_us()
    assert deadline is not None
    drv.ok(Pause(now_us=2_000_000))
    assert drv.game.state_snapshot()["paused_from"] == "buzzed"
    drv.ok(Resume(now_us=3_000_000))
    assert drv.game.phase is Phase.BUZZED
    assert drv.game.next_deadline_us() == deadline + 1_000_000


# --- undo and adjustments ------------------------------------------------------------------------------------------

def test_undo_a_judgement_restores_scores_and_the_buzzed_phase() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    drv.ok(Judge(correct=False))
    assert drv.game.scores["a"] == -3
    assert drv.game.phase is Phase.ARMED
    step = drv.ok(Undo())  # undoes the re-arm: back to the question with a locked out
    assert drv.types(step) == ["undo.done"]
    assert drv.game.phase is Phase.QUESTION
    assert drv.game.scores["a"] == -3
    step = drv.ok(Undo())  # undoes the judgement
    assert step.events[0].deltas == (("a", 3),)  # type: ignore[attr-defined]
    assert drv.game.scores["a"] == 0
    assert drv.game.phase is Phase.BUZZED
    assert drv.game.state_snapshot()["answering_team"] == "a"
    assert LockBuzzers(0, "da") in step.effects
    drv.ok(Judge(correct=True))
    assert drv.game.scores["a"] == 10


def test_undo_the_ruling_disarms_and_voids_the_presses() -> None:
    drv = setup(GameSettings(arbitration=ArbitrationSettings(false_start=FalseStartRule.PENALTY),
                             false_start_penalty=2))
    armed(drv)
    press(drv, "c", 990_000, arrival=1_000_400)  # false start costs c 2 points during this arm
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    step = drv.ok(Undo())
    assert step.events[0].undid == "arm"  # type: ignore[attr-defined]
    assert drv.game.phase is Phase.QUESTION
    assert drv.game.scores == {"a": 0, "b": 0, "c": 0}
    assert drv.game.state_snapshot()["last_ruling"] is None
    drv.ok(Arm(now_us=2_000_000))
    assert outcome(press(drv, "b", 2_100_000, seq=5)) == "accepted"


def test_a_redelivered_press_after_an_undone_arm_is_still_a_repeat() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    drv.ok(Undo())
    assert drv.game.phase is Phase.QUESTION
    assert outcome(press(drv, "a", 1_100_000)) == "repeat"  # not a false start that would lock a out
    assert drv.game.state_snapshot()["locked_out"] == []


def test_adjustments_need_a_reason_and_undo_reverses_them() -> None:
    drv = setup()
    drv.no(AdjustScore(team="a", delta=5, reason=" "), "needs_reason")
    drv.no(AdjustScore(team="a", delta=0, reason="x"), "zero_adjustment")
    drv.no(AdjustScore(team="zz", delta=5, reason="x"), "unknown_team")
    drv.ok(AdjustScore(team="a", delta=5, reason="bonus"))
    drv.ok(AdjustScore(team="b", delta=-2, reason="rude"))
    assert drv.game.scores == {"a": 5, "b": -2, "c": 0}
    drv.ok(Undo())
    assert drv.game.scores == {"a": 5, "b": 0, "c": 0}
    drv.ok(Undo())
    assert drv.game.scores == {"a": 0, "b": 0, "c": 0}
    drv.no(Undo(), "nothing_to_undo")


def test_reveal_ends_undo_for_the_question_but_not_for_adjustments() -> None:
    drv = setup()
    armed(drv)
    drv.ok(AdjustScore(team="c", delta=1, reason="x"))
    press(drv, "a", 1_100_000)
    drv.ok(Tick(now_us=1_200_000))
    drv.ok(Judge(correct=True))
    drv.ok(Reveal())
    drv.ok(Undo())
    assert drv.game.scores == {"a": 10, "b": 0, "c": 0}
    assert drv.game.phase is Phase.REVEALED
    drv.no(Undo(), "nothing_to_undo")


# --- phone questions -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("formula", "expected_a"),
    [(ScoringFormula.KAHOOT, 750), (ScoringFormula.CLASSQUIZ, 500), (ScoringFormula.ACCURACY, 1000)],
)
def test_multiple_choice_scores_right_answers_by_speed_at_reveal(formula: ScoringFormula, expected_a: int) -> None:
    q = Question("2+2?", kind=QuestionKind.MULTIPLE_CHOICE, choices=("3", "4"), answer=1, points=1000,
                 answer_time_us=10_000_000)
    drv = setup(GameSettings(scoring=formula), Quiz((q,)))
    drv.ok(ShowQuestion(now_us=0))
    drv.ok(Arm(now_us=1_000_000))
    assert drv.game.next_deadline_us() == 11_000_000
    drv.ok(Answer(team="a", choice=1, arrival_us=6_000_000))
    drv.ok(Answer(team="b", choice=0, arrival_us=2_000_000))
    assert drv.game.scores == {"a": 0, "b": 0, "c": 0}  # nothing before reveal: scores would leak the answer
    assert drv.game.state_snapshot()["answered"] == ["a", "b"]
    step = drv.ok(Answer(team="c", choice=1, arrival_us=1_000_000))
    assert drv.types(step) == ["answer.received", "answers.closed"]
    assert drv.game.phase is Phase.CLOSED
    step = drv.ok(Reveal())
    assert step.events[0].awards == tuple(sorted([("a", expected_a), ("c", 1000)]))  # type: ignore[attr-defined]
    assert drv.game.scores == {"a": expected_a, "b": 0, "c": 1000}


def test_answers_are_validated_and_only_the_first_counts() -> None:
    drv = setup(quiz=mixed_quiz())
    t0 = 1_000_000
    drv.ok(ShowQuestion(index=1, now_us=t0))
    drv.no(Answer(team="a", choice=1, arrival_us=t0 + 10), "wrong_phase")
    drv.ok(Arm(now_us=t0))
    drv.no(Answer(team="a", choice=7, arrival_us=t0 + 10), "bad_answer")
    drv.no(Answer(team="a", value=1.0, arrival_us=t0 + 10), "bad_answer")
    drv.no(Answer(team="zz", choice=1, arrival_us=t0 + 10), "unknown_team")
    drv.ok(Answer(team="a", choice=1, arrival_us=t0 + 10))
    drv.no(Answer(team="a", choice=2, arrival_us=t0 + 20), "already_answered")
    drv.no(Answer(team="b", choice=1, arrival_us=t0 + 20_000_001), "too_late")
    drv.no(Judge(correct=True, team="a"), "wrong_phase")
    step = drv.ok(Tick(now_us=t0 + 20_000_000))
    assert drv.types(step) == ["answers.closed"]
    drv.no(Arm(), "answers_closed")


def test_a_pause_does_not_count_against_answer_time() -> None:
    q = Question("2+2?", kind=QuestionKind.MULTIPLE_CHOICE, choices=("3", "4"), answer=1, points=1000,
                 answer_time_us=10_000_000)
    drv = setup(GameSettings(scoring=ScoringFormula.CLASSQUIZ), Quiz((q,)))
    drv.ok(ShowQuestion(now_us=1_000_000))
    drv.ok(Arm(now_us=1_000_000))
    drv.ok(Pause(now_us=2_000_000))
    drv.no(Answer(team="a", choice=1, arrival_us=2_500_000), "wrong_phase")
    drv.ok(Resume(now_us=32_000_000))
    assert drv.game.next_deadline_us() == 41_000_000
    step = drv.ok(Answer(team="a", choice=1, arrival_us=33_000_000))
    assert step.events[0].elapsed_us == 2_000_000  # type: ignore[attr-defined]
    drv.ok(Reveal())
    assert drv.game.scores["a"] == 800


def test_true_false_is_a_two_choice_question() -> None:
    q = Question("Sky is green", kind=QuestionKind.TRUE_FALSE, answer=1, points=100)
    assert q.choices == ("True", "False")
    drv = setup(GameSettings(scoring=ScoringFormula.ACCURACY), Quiz((q,)))
    drv.ok(ShowQuestion(now_us=0))
    drv.ok(Arm(now_us=0))
    drv.ok(Answer(team="a", choice=1, arrival_us=5))
    drv.ok(Reveal(now_us=10))
    assert drv.game.scores["a"] == 100


def test_numeric_closest_wins_and_ties_share() -> None:
    q = Question("Everest?", kind=QuestionKind.NUMERIC, answer=8849, points=100)
    drv = setup(quiz=Quiz((q,)))
    drv.ok(ShowQuestion(now_us=0))
    drv.ok(Arm(now_us=0))
    drv.ok(Answer(team="a", value=8800, arrival_us=1))
    drv.ok(Answer(team="b", value=8898, arrival_us=2))
    drv.ok(Answer(team="c", value=9000, arrival_us=3))
    drv.ok(Reveal())
    assert drv.game.scores == {"a": 50, "b": 50, "c": 0}


def test_open_text_is_marked_by_the_host() -> None:
    q = Question("Name a prime", kind=QuestionKind.OPEN_TEXT, points=20, penalty=1)
    drv = setup(quiz=Quiz((q,)))
    drv.ok(ShowQuestion(now_us=1_000_000))
    drv.ok(Arm(now_us=1_000_000))
    drv.no(Answer(team="a", text="  ", arrival_us=1_000_001), "bad_answer")
    drv.ok(Answer(team="a", text="7", arrival_us=1_000_001))
    drv.ok(Answer(team="b", text="9", arrival_us=1_000_001))
    drv.ok(Tick(now_us=21_000_000))
    assert drv.game.phase is Phase.CLOSED
    drv.no(Judge(correct=True), "needs_team")
    drv.no(Judge(correct=True, team="c"), "no_answer")
    drv.ok(Judge(correct=True, team="a"))
    drv.no(Judge(correct=True, team="a"), "already_judged")
    drv.ok(Judge(correct=False, team="b"))
    assert drv.game.scores == {"a": 20, "b": -1, "c": 0}
    drv.ok(Undo())
    assert drv.game.scores == {"a": 20, "b": 0, "c": 0}
    assert drv.game.state_snapshot()["judged"] == {"a": True}
    drv.ok(Reveal())
    assert drv.game.scores == {"a": 20, "b": 0, "c": 0}


def test_buzzes_during_a_phone_question_are_not_armed() -> None:
    drv = setup(quiz=mixed_quiz())
    drv.ok(ShowQuestion(index=1, now_us=0))
    drv.ok(Arm(now_us=0))
    assert outcome(press(drv, "a", 100_000)) == "not_armed"
    drv.no(Answer(team="a", text="x", arrival_us=1), "bad_answer")


# --- navigation ----------------------------------------------------------------------------------------------------

def test_skip_next_and_end() -> None:
    drv = setup()
    drv.no(Reveal(), "wrong_phase")
    drv.ok(Next(now_us=0))
    assert drv.game.state_snapshot()["question"] == 0
    armed(drv)
    step = drv.ok(Skip())
    assert drv.types(step) == ["question.skipped", "question.shown"]
    drv.no(Next(), "wrong_phase")
    drv.no(ShowQuestion(index=3), "bad_index")
    drv.ok(ShowQuestion(index=2))
    step = drv.ok(Skip())
    assert drv.types(step) == ["question.skipped", "game.ended"]
    assert drv.game.phase is Phase.FINISHED
    drv.no(Arm(), "wrong_phase")
    drv.ok(AdjustScore(team="a", delta=1, reason="late correction"))


def test_next_after_the_last_question_finishes() -> None:
    drv = setup(quiz=Quiz((buzzer(),)))
    drv.ok(ShowQuestion())
    drv.ok(Reveal())
    step = drv.ok(Next())
    assert drv.types(step) == ["game.ended"]
    assert ResetBuzzers() in step.effects


def test_end_from_pause() -> None:
    drv = setup()
    drv.ok(ShowQuestion())
    drv.ok(Pause())
    drv.ok(End())
    assert drv.game.phase is Phase.FINISHED


# --- registry ------------------------------------------------------------------------------------------------------

def test_team_registry() -> None:
    drv = setup()
    drv.no(AddTeam(team="a", name="again"), "team_exists")
    drv.no(AddTeam(team="x", name=" "), "bad_name")
    drv.ok(RenameTeam(team="a", name="Alphas"))
    drv.no(RenameTeam(team="a", name="Alphas"), "same_name")
    drv.ok(PairDevice(device="da2", team="a"))
    assert drv.game.state_snapshot()["teams"][0] == {"team": "a", "name": "Alphas", "devices": ["da", "da2"]}
    drv.no(PairDevice(device="da2", team="a"), "already_paired")
    step = drv.ok(PairDevice(device="da2", team="b"))
    assert drv.types(step) == ["device.unpaired", "device.paired"]
    drv.ok(UnpairDevice(device="da2"))
    drv.no(UnpairDevice(device="da2"), "not_paired")
    drv.ok(AdjustScore(team="b", delta=3, reason="x"))
    step = drv.ok(RemoveTeam(team="b"))
    assert drv.types(step) == ["device.unpaired", "team.removed"]
    assert "b" not in drv.game.scores
    assert drv.game.devices == {"da": "a", "dc": "c"}
    drv.no(Undo(), "nothing_to_undo")  # the undo stack held b's score


def test_a_team_cannot_be_removed_while_answering_or_while_a_ruling_is_pending() -> None:
    drv = setup()
    armed(drv)
    press(drv, "a", 1_100_000)
    drv.no(RemoveTeam(team="b"), "ruling_pending")
    drv.ok(Tick(now_us=1_200_000))
    drv.no(RemoveTeam(team="a"), "team_answering")
    drv.ok(RemoveTeam(team="b"))


# --- the step contract ---------------------------------------------------------------------------------------------

def test_invalid_inputs_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="team"):
        AddTeam(team="bad id!", name="x")
    with pytest.raises(ValueError, match="int"):
        BuzzIn(device="d", boot=1, seq="7", t_dev=1.0, arrival_us=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bool"):
        Judge(correct=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        BuzzIn(device="d", boot=1, seq=7, t_dev=float("nan"), arrival_us=1)
    with pytest.raises(ValueError, match="choice"):
        Question("x", kind=QuestionKind.MULTIPLE_CHOICE, choices=("a", "b"), answer=2)
    with pytest.raises(ValueError, match="at least one"):
        Quiz(())


def test_every_refusal_says_why_and_whose_fault() -> None:
    drv = setup()
    rej = drv.no(Judge(correct=True), "wrong_phase")
    assert "accepted in: buzzed, closed" in rej.reason
    assert rej.fault == "host"
    armed(drv)
    assert drv.no(Answer(team="a", choice=0, arrival_us=1_000_001), "not_answerable").fault == "player"


def test_an_internal_error_leaves_the_game_in_error_refusing_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    drv = setup()

    def broken(self: Game, e: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Game, "_apply_question_shown", broken)
    with pytest.raises(GameBugError, match="boom"):
        drv.game.handle(ShowQuestion())
    assert drv.game.phase is Phase.ERROR
    rej = drv.game.handle(AddTeam(team="z", name="Z"))
    assert isinstance(rej, Rejected)
    assert (rej.code, rej.fault) == ("game_error", "hub")
    monkeypatch.undo()
    assert Game.replay(drv.quiz, drv.settings, drv.log).phase is Phase.LOBBY  # recovery: replay the log


def test_replay_rebuilds_an_armed_question_mid_window_and_rules_the_same() -> None:
    drv = setup()
    armed(drv)
    press(drv, "b", 1_100_000)
    press(drv, "a", 1_099_000, arrival=1_110_000)
    twin = drv.replayed()
    assert fingerprint(twin) == fingerprint(drv.game)
    live = drv.ok(Tick(now_us=1_200_000))
    again = twin.handle(Tick(now_us=1_200_000))
    assert isinstance(again, type(live))
    assert again.events == live.events
    assert {r.team for r in live.events[0].order} == {"a", "b"}  # type: ignore[attr-defined]


def test_events_round_trip_through_json_and_bad_dicts_are_refused() -> None:
    drv = setup(quiz=mixed_quiz())
    drv.ok(ShowQuestion(index=1, now_us=0))
    drv.ok(Arm(now_us=0))
    drv.ok(Answer(team="a", choice=1, arrival_us=5))
    drv.ok(Reveal())
    for event in drv.log:
        data = json.loads(json.dumps(event.to_dict()))
        assert data["type"] == event.type
        assert event_from_dict(data) == event
        assert type(event).from_dict(data) == event
    good = TeamAdded(at_us=1, team="t", name="T").to_dict()
    with pytest.raises(EventDecodeError, match="unknown event type"):
        event_from_dict({**good, "type": "team.exploded"})
    with pytest.raises(EventDecodeError, match="no fields"):
        event_from_dict({**good, "colour": "red"})
    with pytest.raises(EventDecodeError, match="string"):
        event_from_dict({**good, "name": 5})
    with pytest.raises(EventDecodeError):
        event_from_dict({k: v for k, v in good.items() if k != "team"})


def test_the_question_is_never_published_with_its_answer_before_reveal() -> None:
    drv = setup(quiz=mixed_quiz())
    for index in range(len(drv.quiz)):
        drv.ok(ShowQuestion(index=index))
        public = drv.game.question_public()
        assert public is not None
        assert "answer" not in public
        drv.ok(Reveal())
        public = drv.game.question_public()
        assert public is not None
        assert "answer" in public
    assert all(
        e.question is None or e.question["revealed"] or "answer" not in e.question
        for s in drv.steps for e in s.effects if isinstance(e, PublishQuestion)
    )


def test_host_commands_decode_from_json_and_bad_ones_say_why() -> None:
    assert command_from_dict({"id": "c1", "cmd": "judge", "correct": True, "team": "a"}) == Judge(correct=True,
                                                                                                 team="a")
    assert command_from_dict({"cmd": "open", "now_us": 5}) == Arm(now_us=5)
    assert set(HOST_COMMANDS.values()) >= {Reveal, Next, Skip, Undo, AdjustScore, Pause, Resume, End}
    with pytest.raises(CommandError, match="unknown command 'explode'"):
        command_from_dict({"cmd": "explode"})
    with pytest.raises(CommandError, match="bool"):
        command_from_dict({"cmd": "judge", "correct": "yes"})
    with pytest.raises(CommandError, match="no fields"):
        command_from_dict({"cmd": "reveal", "answer": 1})
    with pytest.raises(CommandError, match="team"):
        command_from_dict({"cmd": "add_team", "team": "no spaces allowed", "name": "x"})


def test_replaying_a_log_onto_the_wrong_quiz_fails_with_a_sentence() -> None:
    drv = setup()
    drv.ok(ShowQuestion(index=2))
    with pytest.raises(ReplayError, match=r"event #\d+ \(question.shown\)"):
        Game.replay(Quiz((buzzer(),)), drv.settings, drv.log)


def test_publish_effects_only_when_something_changed() -> None:
    drv = setup()
    step = drv.ok(Tick(now_us=300_000))
    assert step.effects == ()
    # clock quality lives in devices_snapshot(): a sync reply must not re-publish the retained state
    step = drv.ok(SyncIn(device="da", boot=1, sample=SyncSample(400_000, 400_000 - OFFSET + 300, 400_000 - OFFSET + 310,
                                                                400_000 + 610)))
    assert step.effects == ()
    step = drv.ok(RenameTeam(team="c", name="Sea"))
    assert any(isinstance(e, PublishState) for e in step.effects)
    assert any(isinstance(e, PublishScores) for e in step.effects)  # the board shows names


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="buzz_window_us"):
        GameSettings(buzz_window_us=0)
    with pytest.raises(ValueError, match="penalty"):
        GameSettings(false_start_penalty=-1)
    assert dataclasses.replace(GameSettings(), scoring="classquiz").scoring is ScoringFormula.CLASSQUIZ  # type: ignore[arg-type]

