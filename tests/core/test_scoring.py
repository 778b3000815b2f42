"""Scoring formulas, numeric awards, ranks, and scores as the fold of events (issue 3 item 4)."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from hub.core.events import Judged, QuestionRevealed, ScoreAdjusted, TeamAdded, TeamRemoved, Undone
from hub.core.scoring import (
    ScoringFormula,
    classquiz_points,
    kahoot_points,
    numeric_awards,
    rank,
    scores_from_events,
    speed_points,
)

limits = st.integers(1, 120_000_000)
points = st.integers(0, 10_000)


def test_classquiz_matches_its_formula_at_known_points() -> None:
    assert classquiz_points(0, 20_000_000) == 1000
    assert classquiz_points(10_000_000, 20_000_000) == 500
    assert classquiz_points(20_000_000, 20_000_000) == 0
    assert classquiz_points(1, 3) == 666  # int() truncates
    assert classquiz_points(-5, 10) == 1000  # clamped
    assert classquiz_points(50, 10) == 0


def test_kahoot_matches_its_formula_and_rounds_half_up() -> None:
    assert kahoot_points(0, 20_000_000) == 1000
    assert kahoot_points(20_000_000, 20_000_000) == 500
    assert kahoot_points(10_000_000, 20_000_000) == 750
    # P=1, t=T: exactly 0.5 -> 1 like JavaScript's Math.round (Python's round() would say 0)
    assert kahoot_points(10, 10, points=1) == 1
    assert round(0.5) == 0


@given(t=st.integers(-10, 130_000_000), limit=limits, p=points)
def test_formulas_equal_their_exact_rational_definition(t: int, limit: int, p: int) -> None:
    tc = min(max(t, 0), limit)
    assert classquiz_points(t, limit, p) == math.floor(Fraction(p * (limit - tc), limit))
    assert kahoot_points(t, limit, p) == math.floor(p * (1 - Fraction(tc, 2 * limit)) + Fraction(1, 2))


@given(t1=st.integers(0, 60_000_000), t2=st.integers(0, 60_000_000), limit=limits, p=points)
def test_faster_never_scores_less_and_scores_stay_in_range(t1: int, t2: int, limit: int, p: int) -> None:
    fast, slow = sorted((t1, t2))
    for formula in ScoringFormula:
        a = speed_points(formula, fast, limit, p)
        b = speed_points(formula, slow, limit, p)
        assert a >= b
        assert 0 <= b <= a <= p
    assert kahoot_points(slow, limit, p) >= p // 2


def test_accuracy_only_ignores_time() -> None:
    assert speed_points(ScoringFormula.ACCURACY, 19_999_999, 20_000_000, 300) == 300


def test_numeric_closest_wins_and_ties_share() -> None:
    assert numeric_awards(100, {"a": 90, "b": 120, "c": 101}, 100) == {"c": 100}
    assert numeric_awards(100, {"a": 90, "b": 110, "c": 50}, 100) == {"a": 50, "b": 50}
    assert numeric_awards(100, {"a": 90, "b": 110, "c": 110}, 100) == {"a": 33, "b": 33, "c": 33}
    assert numeric_awards(100, {}, 100) == {}


def test_scores_fold_over_adds_removals_and_every_delta() -> None:
    events = [
        TeamAdded(at_us=0, team="a", name="A"),
        TeamAdded(at_us=0, team="b", name="B"),
        Judged(at_us=1, index=0, team="a", correct=True, delta=10),
        ScoreAdjusted(at_us=2, team="b", delta=-3, reason="noise"),
        QuestionRevealed(at_us=3, index=1, awards=(("a", 500), ("b", 250))),
        Undone(at_us=4, undid="adjustment", deltas=(("b", 3),)),
        TeamAdded(at_us=5, team="c", name="C"),
        TeamRemoved(at_us=6, team="b"),
    ]
    assert scores_from_events(events) == {"a": 510, "c": 0}


def test_rank_shares_places_on_equal_scores() -> None:
    rows = rank({"a": 5, "b": 9, "c": 5, "d": 1}, {"a": "Zed", "b": "B", "c": "Abe", "d": "D"})
    assert [(r["rank"], r["team"]) for r in rows] == [(1, "b"), (2, "c"), (2, "a"), (4, "d")]
