"""Quizzes between their three shapes: the file a person writes, the rows the database keeps, the core's Quiz.

The core's validation is the strictest, so an import first builds the core Quiz from the file (placed errors,
nothing stored on any error) and only then writes rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.core.model import Question, QuestionKind, Quiz
from hub.db.models import QuestionType
from hub.db.schemas import QuestionCreate, QuizCreate
from hub.quizfile import QuizFileError, quiz_from_doc

if TYPE_CHECKING:
    from hub.db.models import Question as QuestionRow
    from hub.db.repository import Repository

__all__ = ["import_quiz", "load_quiz", "question_fields", "question_from_row"]

_MS = 1000


def question_fields(q: Question) -> dict[str, Any]:
    """A core question as the fields of a stored one (``QuestionCreate``): ms limits, a true/false answer as a bool,
    text answers as text, the round by title. The web importers build their rows from this too."""
    answer: Any = q.answer
    if q.kind is QuestionKind.TRUE_FALSE:
        answer = q.answer == 0
    elif q.kind in {QuestionKind.BUZZER, QuestionKind.OPEN_TEXT} and answer is not None:
        answer = str(answer)
    return {
        "type": QuestionType(q.kind.value),
        "text": q.prompt,
        "choices": list(q.choices) if q.kind is QuestionKind.MULTIPLE_CHOICE else None,
        "answer": answer,
        "points": q.points,
        "penalty": q.penalty,
        "buzz_window_ms": q.buzz_window_us // _MS if q.buzz_window_us else None,
        "answer_time_ms": q.answer_time_us // _MS if q.answer_time_us else None,
        "media": {"url": q.media} if q.media else None,
        "round_title": q.round_name[:200] if q.round_name else None,
    }


async def import_quiz(repo: Repository, doc: Any, *, owner_id: int | None = None) -> int:
    """Store a ``quizhub-quiz/1`` document in one transaction; returns the quiz id.

    Raises QuizFileError (with the question's place) before anything is written.
    """
    quiz = quiz_from_doc(doc)
    description = doc.get("description", "") if isinstance(doc, dict) else ""
    questions = [QuestionCreate(**question_fields(q)) for q in quiz.questions]
    row = await repo.create_quiz(
        QuizCreate(title=quiz.title[:200], description=str(description)[:10_000], questions=questions),
        owner_id=owner_id,
    )
    if row.id is None:  # pragma: no cover - the database always assigns one
        raise QuizFileError("the database did not assign the quiz an id")
    return row.id


def question_from_row(row: QuestionRow, round_name: str | None) -> Question:
    """A stored question as the core plays it."""
    kind = QuestionKind(row.type.value)
    answer: Any = row.answer
    if kind is QuestionKind.TRUE_FALSE and isinstance(answer, bool):
        answer = 0 if answer else 1
    media = row.media.get("url") if isinstance(row.media, dict) else None
    return Question(
        prompt=row.text,
        kind=kind,
        answer=answer,
        choices=tuple(row.choices or ()),
        points=row.points,
        penalty=row.penalty,
        buzz_window_us=row.buzz_window_ms * _MS if row.buzz_window_ms else None,
        answer_time_us=row.answer_time_ms * _MS if row.answer_time_ms else None,
        media=media if isinstance(media, str) else None,
        round_name=round_name,
    )


async def load_quiz(repo: Repository, quiz_id: int) -> Quiz:
    """The stored quiz as the core's Quiz (LookupError if it does not exist)."""
    row = await repo.get_quiz(quiz_id)
    if row is None:
        raise LookupError(f"quiz {quiz_id} does not exist")
    rounds = {r.id: r.title for r in await repo.list_rounds(quiz_id)}
    questions = [question_from_row(q, rounds.get(q.round_id)) for q in await repo.list_questions(quiz_id)]
    return Quiz(tuple(questions), title=row.title)
