"""API shapes for quizzes and questions, separate from the tables (the full-stack-fastapi-template pattern).

``*Create`` is what a client sends (validated: an invalid question cannot be built), ``*Public`` what it gets
back (``QuestionPublic.model_validate(row)`` reads a table row). ``QuestionPublic`` includes the answer: it is
for quizmasters only; players get the question through the hub, which never sends the answer before reveal.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - pydantic resolves annotations at runtime
from typing import Any, Self

from pydantic import model_validator
from sqlmodel import Field, SQLModel

from hub.db.models import QuestionType

__all__ = [
    "MAX_CHOICES",
    "QuestionBase",
    "QuestionCreate",
    "QuestionPublic",
    "QuizBase",
    "QuizCreate",
    "QuizPublic",
    "QuizUpdate",
]

MAX_CHOICES = 10


class QuestionBase(SQLModel):
    """The fields a quizmaster edits on a question."""

    type: QuestionType
    text: str = Field(min_length=1, max_length=2000)
    choices: list[str] | None = None
    answer: Any = None
    points: int = Field(default=1, ge=0, le=1_000_000)
    penalty: int = Field(default=0, ge=0, le=1_000_000)
    buzz_window_ms: int | None = Field(default=None, gt=0, le=3_600_000)
    answer_time_ms: int | None = Field(default=None, gt=0, le=3_600_000)
    media: dict[str, Any] | None = None
    round_id: int | None = None


class QuestionCreate(QuestionBase):
    """A new or replacement question; ``position`` None appends it at the end of the quiz.

    Its round is ``round_id`` (an existing round of the quiz) or ``round_title`` (found or created by title).

    Answers by type: multiple choice, the index of the right choice; true/false, a bool; numeric, a number;
    buzzer and open text, the expected answer as text (optional: the host judges).
    """

    position: int | None = Field(default=None, ge=0)
    round_title: str | None = Field(default=None, min_length=1, max_length=200)
    """Put the question in the quiz's round with this title, creating the round if needed (for imports)."""

    @model_validator(mode="after")
    def _answer_fits_type(self) -> Self:
        if self.round_id is not None and self.round_title is not None:
            raise ValueError("give a question's round by round_id or by round_title, not both")
        kind, answer = self.type, self.answer
        if kind is QuestionType.MULTIPLE_CHOICE:
            choices = self.choices or []
            if not 2 <= len(choices) <= MAX_CHOICES or not all(c.strip() for c in choices):
                raise ValueError(f"a multiple-choice question needs 2-{MAX_CHOICES} non-empty choices")
            if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
                raise ValueError(f"a multiple-choice answer is the index of the right choice, 0-{len(choices) - 1}")
            return self
        if self.choices is not None:
            raise ValueError(f"a {kind.value} question has no choices")
        if kind is QuestionType.TRUE_FALSE and not isinstance(answer, bool):
            raise ValueError("a true/false answer is true or false")
        if kind is QuestionType.NUMERIC and (isinstance(answer, bool) or not isinstance(answer, int | float)):
            raise ValueError("a numeric answer is a number")
        if kind in {QuestionType.BUZZER, QuestionType.OPEN_TEXT} and not (answer is None or isinstance(answer, str)):
            raise ValueError(f"a {kind.value} answer is text (or absent: the host judges)")
        return self


class QuestionPublic(QuestionBase):
    """A stored question as quizmasters see it (answer included)."""

    id: int
    quiz_id: int
    position: int


class QuizBase(SQLModel):
    """The fields a quizmaster edits on a quiz."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)


class QuizCreate(QuizBase):
    """A new quiz, optionally with its questions (in order)."""

    questions: list[QuestionCreate] = Field(default_factory=list, max_length=1000)


class QuizUpdate(SQLModel):
    """A partial change to a quiz; fields left out stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class QuizPublic(QuizBase):
    """A stored quiz, without its questions."""

    id: int
    owner_id: int | None
    created_at: datetime
    updated_at: datetime
