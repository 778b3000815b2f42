"""Scoring: the point formulas, the awards of phone questions, and scores as a fold of the event log.

A team's score is never stored on its own: it is the sum of the `score_deltas()` of the game's events (rulings,
judgements, reveals, false-start penalties, manual adjustments and their undos), so `scores_from_events(log)`
recomputes the board from the log at any time and the game's running total must always equal it.

Speed-weighted formulas, as the field uses them (t = time taken, T = time limit, P = the question's points):

* ClassQuiz: ``int(P * (T - t) / T)`` (ClassQuiz itself fixes P = 1000): linear from P to 0, truncated.
* Kahoot: ``round(P * (1 - t / (2T)))``: from P down to P/2 at the buzzer, rounded half up (JavaScript's
  ``Math.round``; Python's ``round`` would round half to even and disagree at .5).
* Accuracy only: P for a right answer, whatever the time.

All three are computed in integer arithmetic, so the same answer always scores the same on every machine.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from hub.core.events import AnswerReceived, GameEvent, TeamAdded, TeamRemoved
from hub.core.model import CHOICE_KINDS, Question, QuestionKind

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "ScoringFormula",
    "award_answers",
    "classquiz_points",
    "kahoot_points",
    "numeric_awards",
    "rank",
    "scores_from_events",
    "speed_points",
]


class ScoringFormula(StrEnum):
    """How multiple-choice and true/false answers score (a game setting)."""

    CLASSQUIZ = "classquiz"
    KAHOOT = "kahoot"
    ACCURACY = "accuracy"


def _check_times(elapsed_us: int, limit_us: int) -> int:
    if limit_us <= 0:
        raise ValueError(f"the time limit must be positive, got {limit_us} µs")
    # An answer cannot take less than no time or more than the whole limit (late answers are refused earlier).
    return min(max(elapsed_us, 0), limit_us)


def classquiz_points(elapsed_us: int, limit_us: int, points: int = 1000) -> int:
    """ClassQuiz's ``int(P * (T - t) / T)`` with t clamped to [0, T]."""
    t = _check_times(elapsed_us, limit_us)
    return (points * (limit_us - t)) // limit_us


def kahoot_points(elapsed_us: int, limit_us: int, points: int = 1000) -> int:
    """Kahoot's ``round(P * (1 - t / (2T)))``, half up, with t clamped to [0, T]."""
    t = _check_times(elapsed_us, limit_us)
    # P(2T - t) / 2T rounded half up is floor((2 * P(2T - t) + 2T) / 4T).
    return (2 * points * (2 * limit_us - t) + 2 * limit_us) // (4 * limit_us)


def speed_points(formula: ScoringFormula, elapsed_us: int, limit_us: int, points: int) -> int:
    """Points for a right answer after `elapsed_us` under `formula`."""
    if formula is ScoringFormula.CLASSQUIZ:
        return classquiz_points(elapsed_us, limit_us, points)
    if formula is ScoringFormula.KAHOOT:
        return kahoot_points(elapsed_us, limit_us, points)
    return points


def numeric_awards(answer: float, guesses: Mapping[str, float], points: int) -> dict[str, int]:
    """Closest guess wins `points`; teams tied for closest share them (each gets ``points // n``)."""
    if not guesses:
        return {}
    best = min(abs(g - answer) for g in guesses.values())
    winners = sorted(team for team, g in guesses.items() if abs(g - answer) == best)
    share = points // len(winners)
    return dict.fromkeys(winners, share)


def award_answers(
    question: Question,
    answers: Mapping[str, AnswerReceived],
    formula: ScoringFormula,
    limit_us: int,
) -> tuple[tuple[str, int], ...]:
    """Points each team's phone answer scores at reveal, sorted by team; open text scores by host marks instead."""
    awards: dict[str, int] = {}
    if question.kind in CHOICE_KINDS:
        for team, ans in answers.items():
            if ans.choice == question.answer:
                awards[team] = speed_points(formula, ans.elapsed_us, limit_us, question.points)
    elif question.kind is QuestionKind.NUMERIC:
        assert isinstance(question.answer, int | float)  # validated by Question
        guesses = {team: ans.value for team, ans in answers.items() if ans.value is not None}
        awards = numeric_awards(float(question.answer), guesses, question.points)
    return tuple(sorted((team, pts) for team, pts in awards.items() if pts))


def scores_from_events(events: Iterable[GameEvent]) -> dict[str, int]:
    """The scoreboard as the fold of the log: teams start at 0 when added and leave when removed."""
    scores: dict[str, int] = {}
    for event in events:
        if isinstance(event, TeamAdded):
            scores[event.team] = 0
        elif isinstance(event, TeamRemoved):
            scores.pop(event.team, None)
        for team, delta in event.score_deltas():
            scores[team] = scores.get(team, 0) + delta
    return scores


def rank(scores: Mapping[str, int], names: Mapping[str, str]) -> list[dict[str, object]]:
    """Ordered scoreboard rows; equal scores share a rank (1, 1, 3), ties listed by name then id."""
    ordered: Sequence[tuple[str, int]] = sorted(
        scores.items(), key=lambda item: (-item[1], names.get(item[0], item[0]), item[0])
    )
    rows: list[dict[str, object]] = []
    previous: int | None = None
    place = 0
    for position, (team, score) in enumerate(ordered, start=1):
        if score != previous:
            place, previous = position, score
        rows.append({"rank": place, "team": team, "name": names.get(team, team), "score": score})
    return rows
