"""Quiz value types the game engine plays: questions, quizzes, and the identifiers of teams and devices.

Every type here is a frozen dataclass validated on construction, so a quiz the engine holds is always playable:
a multiple-choice question always has an answer among its choices, a numeric one a finite number, and so on.
The engine never mutates these; the web/DB layer builds them from stored quizzes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ANSWER_KINDS",
    "CHOICE_KINDS",
    "Question",
    "QuestionKind",
    "Quiz",
    "check_id",
]

# Team and device ids travel in MQTT topics and JSON; keep them to a topic-safe alphabet.
_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def check_id(value: object, what: str) -> str:
    """Return `value` if it is a valid team/device id, else raise ValueError naming `what`."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(f"{what} must be 1-64 characters of letters, digits, '_', '.', ':' or '-', got {value!r}")
    return value


class QuestionKind(StrEnum):
    """How a question is answered and scored (DESIGN §5)."""

    BUZZER = "buzzer"  # teams buzz, the winner answers aloud, the host judges
    MULTIPLE_CHOICE = "multiple_choice"  # teams pick a choice on a phone; correctness and speed score
    TRUE_FALSE = "true_false"  # a multiple choice with exactly the choices ("True", "False")
    NUMERIC = "numeric"  # teams enter a number; the closest wins, ties share
    OPEN_TEXT = "open_text"  # teams type an answer; the host marks each one


CHOICE_KINDS = frozenset({QuestionKind.MULTIPLE_CHOICE, QuestionKind.TRUE_FALSE})
ANSWER_KINDS = frozenset({*CHOICE_KINDS, QuestionKind.NUMERIC, QuestionKind.OPEN_TEXT})


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a quiz.

    `answer` is the choice index for multiple choice and true/false, a number for numeric, and the expected answer
    text (shown to the host and on reveal) for buzzer and open-text questions. `points` is the full score for a
    right answer (for speed-weighted formulas: the score of an instant answer); `penalty` is what a wrong buzzer
    answer costs (a positive number, subtracted). Time limits are in µs; None means the game's default.
    """

    prompt: str
    kind: QuestionKind = QuestionKind.BUZZER
    answer: str | int | float | None = None
    choices: tuple[str, ...] = ()
    points: int = 10
    penalty: int = 0
    buzz_window_us: int | None = None
    answer_time_us: int | None = None
    media: str | None = None
    round_name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError("a question needs a non-empty prompt")
        object.__setattr__(self, "kind", QuestionKind(self.kind))
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.points < 0 or self.penalty < 0:
            raise ValueError("points and penalty are non-negative (the penalty is subtracted)")
        for name in ("buzz_window_us", "answer_time_us"):
            limit = getattr(self, name)
            if limit is not None and (not isinstance(limit, int) or limit <= 0):
                raise ValueError(f"{name} must be a positive number of microseconds or None")
        self._check_answer()

    def _check_answer(self) -> None:  # noqa: C901 - one branch per question kind
        if self.kind in CHOICE_KINDS:
            if self.kind is QuestionKind.TRUE_FALSE and self.choices == ():
                object.__setattr__(self, "choices", ("True", "False"))
            if len(self.choices) < 2 or not all(isinstance(c, str) and c for c in self.choices):
                raise ValueError("a choice question needs at least two non-empty choices")
            if self.kind is QuestionKind.TRUE_FALSE and len(self.choices) != 2:
                raise ValueError("a true/false question has exactly two choices")
            if isinstance(self.answer, bool) or not isinstance(self.answer, int):
                raise ValueError("a choice question's answer is the index of the right choice")
            if not 0 <= self.answer < len(self.choices):
                raise ValueError(f"answer index {self.answer} is outside the {len(self.choices)} choices")
        elif self.kind is QuestionKind.NUMERIC:
            if isinstance(self.answer, bool) or not isinstance(self.answer, int | float):
                raise ValueError("a numeric question's answer is a number")
            if not math.isfinite(self.answer):
                raise ValueError("a numeric question's answer must be finite")
        elif self.choices:
            raise ValueError(f"a {self.kind} question has no choices")
        elif self.answer is not None and not isinstance(self.answer, str):
            raise ValueError(f"a {self.kind} question's answer is text for the host (or None)")

    def public(self, index: int, *, revealed: bool, time_limit_us: int | None) -> dict[str, Any]:
        """The part of the question players may see; the answer only once `revealed` (DESIGN §3)."""
        out: dict[str, Any] = {
            "index": index,
            "kind": str(self.kind),
            "prompt": self.prompt,
            "choices": list(self.choices),
            "points": self.points,
            "media": self.media,
            "round": self.round_name,
            "time_limit_us": time_limit_us,
            "revealed": revealed,
        }
        if revealed:
            out["answer"] = self.answer
        return out


@dataclass(frozen=True, slots=True)
class Quiz:
    """An ordered list of questions (rounds are a label on each question)."""

    questions: tuple[Question, ...]
    title: str = "Quiz"

    def __post_init__(self) -> None:
        object.__setattr__(self, "questions", tuple(self.questions))
        if not self.questions:
            raise ValueError("a quiz needs at least one question")
        if not all(isinstance(q, Question) for q in self.questions):
            raise ValueError("a quiz holds Question values only")

    def __len__(self) -> int:
        return len(self.questions)
