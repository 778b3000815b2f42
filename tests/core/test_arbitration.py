"""Arbiter: a scripted case per rule, then properties (order independence, one winner, excluded teams never win)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hub.core.arbitration import (
    Arbiter,
    ArbiterEvent,
    ArbiterUsageError,
    ArbitrationSettings,
    DecidedBy,
    DuplicatePress,
    ExcludedPress,
    FalseStart,
    FalseStartRule,
    LatePress,
    Press,
    PressAccepted,
    RankedPress,
    Ruling,
    SecondPressIgnored,
    TieRule,
    early_slack,
    grace_for,
    make_press,
)
from hub.core.clock import ClockModel, NotSyncedError, SyncSample

if TYPE_CHECKING:
    import random

ARMED = 10_000_000
GRACE = 30_000


def press(
    device: str,
    t: float,
    *,
    team: str | None = None,
    arrival: int | None = None,
    u: float = 100.0,
    seq: int = 1,
    boot: int = 1,
    bound: float = 50_000.0,
) -> Press:
    return Press(
        device=device,
        team=team or device.upper(),
        boot=boot,
        seq=seq,
        t_hub_us=t,
        uncertainty_us=u,
        arrival_us=arrival if arrival is not None else int(t) + 5_000,
        one_way_bound_us=bound,
        raw_t=t - 1e6,
    )


def arbiter(**kw: object) -> Arbiter:
    excluded = kw.pop("excluded", frozenset())
    assert isinstance(excluded, frozenset)
    return Arbiter(ARMED, ArbitrationSettings(**kw), excluded)  # type: ignore[arg-type]


def rulings(events: list[ArbiterEvent]) -> list[Ruling]:
    return [e for e in events if isinstance(e, Ruling)]


def run(arb: Arbiter, presses: list[Press]) -> Ruling:
    for p in presses:
        assert not rulings(arb.press(p))
    deadline = arb.deadline_us()
    assert deadline is not None
    assert arb.tick(deadline - 1) == []
    (ruling,) = rulings(arb.tick(deadline))
    return ruling


# ------------------------------------------------------------------ scripted: the ruling


def test_earliest_credited_wins_with_order_and_gaps() -> None:
    arb = arbiter()
    ruling = run(
        arb, [press("a", ARMED + 12_000, arrival=ARMED + 14_000), press("b", ARMED + 9_000, arrival=ARMED + 20_000)]
    )
    assert (ruling.winner_team, ruling.winner_device) == ("B", "b")
    assert [r.press.device for r in ruling.order] == ["b", "a"]
    assert [r.gap_us for r in ruling.order] == [0.0, 3_000.0]
    assert ruling.decided_by == DecidedBy.CLEAR
    assert not ruling.too_close
    assert arb.ruled
    assert arb.ruling is ruling
    assert arb.deadline_us() is None
    assert arb.tick(ARMED + 10**9) == []  # rules once


def test_single_press_wins_clearly() -> None:
    ruling = run(arbiter(), [press("a", ARMED + 1)])
    assert ruling.winner_team == "A"
    assert ruling.decided_by == DecidedBy.CLEAR


def test_window_opens_at_first_arrival_and_lasts_grace() -> None:
    arb = arbiter(grace_us=GRACE)
    assert arb.deadline_us() is None
    assert arb.tick(ARMED + 10**6) == []
    arb.press(press("a", ARMED + 5_000, arrival=ARMED + 8_000))
    assert arb.deadline_us() == ARMED + 8_000 + GRACE


def test_a_press_arriving_after_the_deadline_rules_first_then_is_late() -> None:
    arb = arbiter()
    arb.press(press("a", ARMED + 5_000, arrival=ARMED + 8_000))
    events = arb.press(press("b", ARMED + 1_000, arrival=ARMED + 8_000 + GRACE))
    assert isinstance(events[0], Ruling)
    assert events[0].winner_team == "A"
    late = events[1]
    assert isinstance(late, LatePress)
    assert late.gap_us == -4_000.0
    assert late.beats_winner


def test_late_press_after_the_winner_records_its_gap() -> None:
    arb = arbiter()
    run(arb, [press("a", ARMED + 5_000, arrival=ARMED + 8_000)])
    (late,) = arb.press(press("c", ARMED + 45_000, arrival=ARMED + 50_000))
    assert isinstance(late, LatePress)
    assert late.gap_us == 40_000.0
    assert not late.beats_winner


@pytest.mark.parametrize("rule", list(TieRule))
def test_too_close_follows_the_tie_rule(rule: TieRule) -> None:
    # gap 150 µs < 100 + 100 µs combined uncertainty
    ps = [press("a", ARMED + 5_150), press("b", ARMED + 5_000)]
    ruling = run(arbiter(tie_rule=rule), ps)
    assert ruling.too_close
    assert [r.press.device for r in ruling.order] == ["b", "a"]
    if rule is TieRule.HOST:
        assert ruling.winner_team is None
        assert ruling.needs_host
        assert ruling.decided_by == DecidedBy.HOST
    elif rule is TieRule.EARLIEST:
        assert ruling.winner_team == "B"
        assert not ruling.needs_host
        assert ruling.decided_by == DecidedBy.EARLIEST
    else:
        assert ruling.winner_team in {"A", "B"}
        assert ruling.decided_by == DecidedBy.RANDOM


def test_gap_equal_to_combined_uncertainty_is_not_too_close() -> None:
    ruling = run(arbiter(), [press("a", ARMED + 5_200), press("b", ARMED + 5_000)])
    assert not ruling.too_close
    assert ruling.winner_team == "B"


def test_random_tie_is_seeded_deterministic_and_draws_only_from_the_close_group() -> None:
    ps = [press("a", ARMED + 5_050), press("b", ARMED + 5_000), press("c", ARMED + 5_100), press("d", ARMED + 9_000)]
    winners = set()
    for seed in range(40):
        first = run(arbiter(tie_rule=TieRule.RANDOM, seed=seed), ps).winner_team
        again = run(arbiter(tie_rule=TieRule.RANDOM, seed=seed), list(reversed(ps))).winner_team
        assert first == again
        winners.add(first)
    assert winners == {"A", "B", "C"}  # every close press can be drawn, the clearly later D never


# ------------------------------------------------------------------ scripted: no time travel


def test_forged_early_timestamp_is_credited_no_earlier_than_arrival_minus_bound() -> None:
    honest = press("a", ARMED + 20_000, arrival=ARMED + 25_000)
    # claims to have pressed 200 ms before its arrival, but its measured upward bound is 10 ms
    forger = press("b", ARMED + 1_000, arrival=ARMED + 201_000, bound=10_000.0)
    assert forger.credited_us == ARMED + 191_000
    arb = arbiter(grace_us=250_000)
    ruling = run(arb, [honest, forger])
    assert ruling.winner_team == "A"
    assert ruling.order[1].credited_us == ARMED + 191_000


def test_forged_timestamp_before_arm_is_not_a_false_start_if_arrival_rules_it_out() -> None:
    # t_hub claims 1 s before the arm, but it arrived 5 ms after the arm with a 10 ms bound: credited 5 ms early
    p = press("b", ARMED - 1_000_000, arrival=ARMED + 5_000, bound=10_000.0)
    (event,) = arbiter().press(p)
    assert isinstance(event, FalseStart)
    assert event.early_by_us == 5_000.0


def test_honest_press_slowed_beyond_its_bound_makes_the_ruling_too_close_not_wrong() -> None:
    # b pressed 5 ms before a, but its buzz took 30 ms against a measured bound of 20 ms: moved 10 ms later
    a = press("a", ARMED + 10_000, arrival=ARMED + 14_000, u=500.0)
    b = press("b", ARMED + 5_000, arrival=ARMED + 35_000, u=500.0, bound=20_000.0)
    assert b.credited_us == ARMED + 15_000
    assert early_slack(b) == 500.0 + 10_000.0
    ruling = run(arbiter(), [a, b])
    assert [r.press.device for r in ruling.order] == ["a", "b"]
    assert ruling.too_close
    assert ruling.needs_host


def test_a_forger_gains_at_most_a_review_within_its_own_latency() -> None:
    honest = press("a", ARMED + 10_000, arrival=ARMED + 14_000, u=500.0)
    # claims 1 s early; bound 3 ms: credited at arrival - 3 ms, early slack capped at 3 ms + u
    forger = press("f", ARMED + 9_000, arrival=ARMED + 20_000, u=500.0, bound=3_000.0)
    assert early_slack(forger) == 3_500.0
    assert run(arbiter(), [honest, forger]).too_close is False
    near = press("f", ARMED + 9_000, arrival=ARMED + 15_000, u=500.0, bound=3_000.0)
    ruling = run(arbiter(tie_rule=TieRule.EARLIEST), [honest, near])
    assert ruling.too_close
    assert ruling.winner_team == "A"


def test_late_press_claiming_an_earlier_time_is_flagged_for_the_host() -> None:
    arb = arbiter()
    run(arb, [press("a", ARMED + 10_000, arrival=ARMED + 14_000)])
    # a buzz resent after loss: pressed 4 ms before a, arrived 250 ms later, credited by its arrival
    (late,) = arb.press(press("b", ARMED + 6_000, arrival=ARMED + 260_000, bound=20_000.0))
    assert isinstance(late, LatePress)
    assert not late.beats_winner
    assert late.claims_earlier
    assert late.gap_us == 230_000.0


def test_window_start_ignores_locked_out_teams_and_keeps_replaced_presses() -> None:
    arb = arbiter(false_start=FalseStartRule.LOCKOUT)
    arb.press(press("a1", ARMED + 9_000, team="A", arrival=ARMED + 10_000))
    arb.press(press("b1", ARMED + 8_000, team="B", arrival=ARMED + 12_000))
    arb.press(press("b2", ARMED + 7_000, team="B", arrival=ARMED + 13_000))  # replaces b1, window still at b1
    assert arb.deadline_us() == ARMED + 10_000 + GRACE
    arb.press(press("a2", ARMED - 1_000, team="A", arrival=ARMED + 14_000))  # locks A out
    assert arb.deadline_us() == ARMED + 12_000 + GRACE


# ------------------------------------------------------------------ scripted: false starts


def test_false_start_lockout_excludes_the_team_for_the_question() -> None:
    arb = arbiter(false_start=FalseStartRule.LOCKOUT)
    (fs,) = arb.press(press("a", ARMED - 2_000, arrival=ARMED + 1_000))
    assert isinstance(fs, FalseStart)
    assert fs.team == "A"
    assert fs.locks_out
    assert not fs.penalty
    assert fs.early_by_us == 2_000.0
    assert "A" in arb.excluded_teams
    (ex,) = arb.press(press("a2", ARMED + 3_000, team="A"))
    assert isinstance(ex, ExcludedPress)
    ruling = run(arb, [press("b", ARMED + 9_000)])
    assert ruling.winner_team == "B"
    assert {r.press.team for r in ruling.order} == {"B"}


def test_lockout_removes_the_teams_valid_press_that_arrived_before_its_false_start() -> None:
    arb = arbiter(false_start=FalseStartRule.LOCKOUT)
    arb.press(press("a2", ARMED + 1_000, team="A", arrival=ARMED + 2_000))
    arb.press(press("b", ARMED + 4_000, arrival=ARMED + 6_000))
    (fs,) = arb.press(press("a", ARMED - 500, arrival=ARMED + 9_000))
    assert isinstance(fs, FalseStart)
    ruling = run(arb, [])
    assert ruling.winner_team == "B"


def test_lockout_of_the_only_press_leaves_nothing_to_rule() -> None:
    arb = arbiter(false_start=FalseStartRule.LOCKOUT)
    arb.press(press("a2", ARMED + 1_000, team="A"))
    arb.press(press("a", ARMED - 500, team="A"))
    assert arb.deadline_us() is None
    assert arb.tick(ARMED + 10**7) == []
    assert not arb.ruled


def test_false_start_ignore_drops_only_the_press() -> None:
    arb = arbiter(false_start=FalseStartRule.IGNORE)
    (fs,) = arb.press(press("a", ARMED - 2_000, arrival=ARMED + 1_000))
    assert isinstance(fs, FalseStart)
    assert not fs.penalty
    assert not fs.locks_out
    assert arb.deadline_us() is None  # a false start does not open the window
    ruling = run(arb, [press("a", ARMED + 2_000, seq=2), press("b", ARMED + 3_000)])
    assert ruling.winner_team == "A"


def test_false_start_penalty_flags_points_and_team_may_still_buzz() -> None:
    arb = arbiter(false_start=FalseStartRule.PENALTY)
    (fs,) = arb.press(press("a", ARMED - 1, arrival=ARMED + 1_000))
    assert isinstance(fs, FalseStart)
    assert fs.penalty
    assert "A" not in arb.excluded_teams
    ruling = run(arb, [press("a", ARMED + 2_000, seq=2)])
    assert ruling.winner_team == "A"


def test_press_exactly_at_arm_time_is_valid() -> None:
    (ev,) = arbiter().press(press("a", ARMED))
    assert isinstance(ev, PressAccepted)


# ------------------------------------------------------------------ scripted: duplicates, teams, exclusions


def test_duplicate_device_boot_seq_is_ignored_even_after_the_ruling() -> None:
    arb = arbiter()
    p = press("a", ARMED + 1_000)
    arb.press(p)
    (dup,) = arb.press(p)
    assert isinstance(dup, DuplicatePress)
    run(arb, [])
    (dup2,) = arb.press(p)
    assert isinstance(dup2, DuplicatePress)
    # a new boot with the same seq is a new press (of the same team: second press)
    (second,) = arb.press(press("a", ARMED + 1_000, boot=2))
    assert isinstance(second, SecondPressIgnored)


def test_one_buzz_per_team_and_the_earliest_credited_counts() -> None:
    arb = arbiter()
    (acc,) = arb.press(press("a1", ARMED + 5_000, team="A", arrival=ARMED + 9_000))
    assert isinstance(acc, PressAccepted)
    later = arb.press(press("a2", ARMED + 7_000, team="A", arrival=ARMED + 9_500))
    assert [type(e) for e in later] == [SecondPressIgnored]
    # arrives last but was pressed first on the team's other device: it replaces the kept press
    earlier = arb.press(press("a3", ARMED + 3_000, team="A", arrival=ARMED + 10_000))
    assert [type(e) for e in earlier] == [PressAccepted, SecondPressIgnored]
    ignored = earlier[1]
    assert isinstance(ignored, SecondPressIgnored)
    assert ignored.press.device == "a1"
    assert ignored.kept.device == "a3"
    ruling = run(arb, [press("b", ARMED + 4_000)])
    assert [r.press.device for r in ruling.order] == ["a3", "b"]


def test_excluded_team_cannot_win_the_reopened_question() -> None:
    arb = arbiter(excluded=frozenset({"A"}))
    (ex,) = arb.press(press("a", ARMED + 1_000))
    assert isinstance(ex, ExcludedPress)
    assert ex.team == "A"
    ruling = run(arb, [press("b", ARMED + 50_000)])
    assert ruling.winner_team == "B"


def test_second_press_of_the_winning_team_after_the_ruling() -> None:
    arb = arbiter()
    run(arb, [press("a", ARMED + 1_000)])
    (ev,) = arb.press(press("a", ARMED + 90_000, seq=2))
    assert isinstance(ev, SecondPressIgnored)


# ------------------------------------------------------------------ scripted: validation and helpers


def test_invalid_inputs_cannot_be_built() -> None:
    with pytest.raises(ArbiterUsageError, match="grace_us"):
        ArbitrationSettings(grace_us=-1)
    with pytest.raises(ArbiterUsageError, match="grace_us"):
        ArbitrationSettings(grace_us=10_000_000)
    with pytest.raises(ArbiterUsageError, match="no team"):
        dataclasses.replace(press("a", 1.0), team="")
    with pytest.raises(ArbiterUsageError, match="finite"):
        press("a", float("nan"), arrival=1)
    with pytest.raises(ArbiterUsageError, match="uncertainty_us"):
        press("a", 1.0, u=-1.0)
    with pytest.raises(ArbiterUsageError, match=">= 0"):
        press("a", 1.0, seq=-1)
    with pytest.raises(ArbiterUsageError, match="at least one press"):
        Ruling("A", "a", (), too_close=False, needs_host=False, decided_by="clear")
    order = (RankedPress(press("a", 1.0), 1.0, 0.0),)
    with pytest.raises(ArbiterUsageError, match="both"):
        Ruling("A", None, order, too_close=False, needs_host=False, decided_by="clear")
    with pytest.raises(ArbiterUsageError, match="not in the order"):
        Ruling("B", "b", order, too_close=False, needs_host=False, decided_by="clear")
    with pytest.raises(ArbiterUsageError, match="need the host"):
        Ruling(None, None, order, too_close=True, needs_host=False, decided_by="host")
    with pytest.raises(ArbiterUsageError, match="DecidedBy"):
        Ruling("A", "a", order, too_close=False, needs_host=False, decided_by="coin")
    p = press("a", 1.0)
    with pytest.raises(ArbiterUsageError, match="credits"):
        PressAccepted(p, p.credited_us - 1.0)
    with pytest.raises(ArbiterUsageError, match="different team"):
        ExcludedPress(p, "B")
    with pytest.raises(ArbiterUsageError, match="itself"):
        SecondPressIgnored(p, p)
    with pytest.raises(ArbiterUsageError, match="early_by_us"):
        FalseStart(p, "A", FalseStartRule.LOCKOUT, p.credited_us, 0.0)


def test_make_press_maps_through_the_clock_model() -> None:
    clock = ClockModel()
    with pytest.raises(NotSyncedError):
        make_press(device="a", team="A", boot=1, seq=1, raw_t=5.0, arrival_us=1, clock=clock)
    clock.add_sample(SyncSample(t1=1_000_000.0, t2=0.0, t3=0.0, t4=1_002_000.0))
    p = make_press(device="a", team="A", boot=1, seq=1, raw_t=0.0, arrival_us=1_003_000, clock=clock)
    assert p.t_hub_us == pytest.approx(1_001_000.0)
    assert p.uncertainty_us == pytest.approx(1_002.0)
    assert p.one_way_bound_us == 2_000.0
    assert p.credited_us == pytest.approx(1_001_000.0)


def test_grace_for_covers_the_slowest_sender_within_bounds() -> None:
    assert grace_for([3_000.0, 41_000.4]) == 41_001
    assert grace_for([]) == 20_000
    assert grace_for([1e9]) == 250_000


# ------------------------------------------------------------------ properties


def _signature(r: Ruling) -> tuple[object, ...]:
    return (
        r.winner_team,
        r.winner_device,
        r.too_close,
        r.needs_host,
        r.decided_by,
        tuple((x.press.key, x.credited_us, x.gap_us) for x in r.order),
    )


# Strategies built once: hypothesis spends most of its time validating strategy objects built inside a draw loop.
_N = st.integers(min_value=1, max_value=10)
_FIRST = st.integers(min_value=0, max_value=50_000)
_PRESS = st.tuples(
    st.sampled_from("ABCDEF"),  # team
    st.sampled_from("12"),  # device of that team
    st.integers(min_value=0, max_value=GRACE - 1),  # arrival after the first
    # mapped press time before arrival: from "just now" to well before the arm (false starts); ties likely
    st.sampled_from([0, 500, 1_000, 2_000, 5_000, 20_000, 60_000]),
    st.integers(0, 1),  # boot
    st.sampled_from([0.0, 200.0, 1_500.0]),  # uncertainty
    st.sampled_from([3_000.0, 40_000.0]),  # one-way bound
)


@st.composite
def window_presses(draw: st.DrawFn) -> list[Press]:
    """Presses of up to 6 teams (2 devices each) that all arrive inside the grace window after the first."""
    first_arrival = ARMED + draw(_FIRST)
    out: list[Press] = []
    for i in range(draw(_N)):
        team, dev, after, before, boot, u, bound = draw(_PRESS)
        arrival = first_arrival + after
        out.append(
            Press(
                device=team.lower() + dev,
                team=team,
                boot=boot,
                seq=i,  # (device, boot, seq) names one press; QoS 1 copies are added below
                t_hub_us=float(arrival - before),
                uncertainty_us=u,
                arrival_us=arrival,
                one_way_bound_us=bound,
                raw_t=0.0,
            )
        )
    # QoS 1 redeliveries: identical copies. (A later copy's later arrival could only move its credit later; the
    # hub's single receive loop always hands in the first copy first, so copies here keep the first's arrival.)
    return out + draw(st.lists(st.sampled_from(out), max_size=3))


_EXCLUDED = st.frozensets(st.sampled_from("ABCDEF"), max_size=3)


settings_strategy = st.builds(
    ArbitrationSettings,
    grace_us=st.just(GRACE),
    tie_rule=st.sampled_from(list(TieRule)),
    false_start=st.sampled_from(list(FalseStartRule)),
    seed=st.integers(0, 3),
)


def _check_invariants(presses: list[Press], excluded: frozenset[str], events: list[ArbiterEvent]) -> None:
    found = rulings(events)
    assert len(found) <= 1
    locked = {e.team for e in events if isinstance(e, FalseStart) and e.locks_out}
    eligible = [p for p in presses if p.team not in excluded | locked and p.credited_us >= ARMED]
    if not found:
        assert not eligible
        return
    ruling = found[0]
    assert not {r.press.team for r in ruling.order} & (excluded | locked)
    assert ruling.winner_team is None or ruling.winner_team not in excluded | locked
    # the ruling's first is the earliest credited valid press of all eligible teams; one entry per team
    assert ruling.order[0].credited_us == min(p.credited_us for p in eligible)
    assert {r.press.team for r in ruling.order} == {p.team for p in eligible}
    if not ruling.too_close:
        assert ruling.winner == ruling.order[0]
    gaps = [r.gap_us for r in ruling.order]
    assert gaps == sorted(gaps)


@settings(max_examples=2500, deadline=None)
@given(window_presses(), settings_strategy, _EXCLUDED, st.randoms())
def test_ruling_is_order_independent_with_one_winner_never_excluded(
    presses: list[Press], cfg: ArbitrationSettings, excluded: frozenset[str], rnd: random.Random
) -> None:
    """Within the window, any arrival order gives the same ruling; at most one winner; excluded or locked-out
    teams never win; the order is every eligible team's earliest credited press."""
    in_order = sorted(presses, key=lambda p: p.arrival_us)
    shuffled = list(presses)
    rnd.shuffle(shuffled)
    results = []
    for sequence in (in_order, shuffled):
        arb = Arbiter(ARMED, cfg, excluded)
        events: list[ArbiterEvent] = []
        for p in sequence:
            events += arb.press(p)
        assert not rulings(events)  # nothing rules while every press is inside the window
        events += arb.tick(ARMED + 10**8)
        events += arb.tick(ARMED + 10**9)
        _check_invariants(presses, excluded, events)
        results.append(arb.ruling)
    a, b = results
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert _signature(a) == _signature(b)


class ArbiterMachine(RuleBasedStateMachine):
    """Presses and clock ticks in any interleaving: one ruling at most, it never changes, excluded teams lose."""

    def __init__(self) -> None:
        super().__init__()
        self.now = ARMED
        self.events: list[ArbiterEvent] = []
        self.arb = Arbiter(ARMED, ArbitrationSettings())

    @initialize(cfg=settings_strategy, excluded=st.frozensets(st.sampled_from("ABCD"), max_size=2))
    def setup(self, cfg: ArbitrationSettings, excluded: frozenset[str]) -> None:
        self.arb = Arbiter(ARMED, cfg, excluded)
        self.excluded = excluded

    @rule(
        team=st.sampled_from("ABCD"),
        dev=st.sampled_from("12"),
        seq=st.integers(0, 4),
        before=st.integers(-20_000, 80_000),
        u=st.sampled_from([0.0, 300.0, 2_000.0]),
    )
    def buzz(self, team: str, dev: str, seq: int, before: int, u: float) -> None:
        p = Press(
            device=team + dev,
            team=team,
            boot=0,
            seq=seq,
            t_hub_us=float(self.now - before),
            uncertainty_us=u,
            arrival_us=self.now,
            one_way_bound_us=30_000.0,
            raw_t=0.0,
        )
        got = self.arb.press(p)
        verdicts = [type(e) for e in got if not isinstance(e, Ruling)]
        # one verdict per press; the only pair is a team's earlier-credited press replacing its kept one
        assert len(verdicts) == 1 or verdicts == [PressAccepted, SecondPressIgnored]
        self.events += got

    @rule(dt=st.integers(0, 40_000))
    def wait(self, dt: int) -> None:
        self.now += dt
        self.events += self.arb.tick(self.now)

    @precondition(lambda self: self.arb.deadline_us() is not None)
    @rule()
    def wait_until_deadline(self) -> None:
        deadline = self.arb.deadline_us()
        assert deadline is not None
        assert deadline > self.now - GRACE * 10
        self.now = max(self.now, deadline)
        self.events += self.arb.tick(self.now)
        assert self.arb.ruled

    @invariant()
    def at_most_one_ruling_and_it_never_changes(self) -> None:
        found = rulings(self.events)
        assert len(found) <= 1
        if found:
            assert self.arb.ruling is found[0]
            assert self.arb.deadline_us() is None

    @invariant()
    def excluded_and_locked_out_teams_never_win(self) -> None:
        ruling = self.arb.ruling
        if ruling is None or ruling.winner_team is None:
            return
        locked_before = set()
        for e in self.events:
            if isinstance(e, Ruling):
                break
            if isinstance(e, FalseStart) and e.locks_out:
                locked_before.add(e.team)
        assert ruling.winner_team not in self.excluded
        assert ruling.winner_team not in locked_before


TestArbiterMachine = ArbiterMachine.TestCase
TestArbiterMachine.settings = settings(max_examples=250, stateful_step_count=25, deadline=None)
