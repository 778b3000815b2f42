"""Quizzes and their questions (hosts: admin or quizmaster): CRUD, import and export.

Imports take our JSON (``quizhub-quiz/1``, see ``schemas/quiz.schema.json``), CSV and Open Trivia DB JSON. A bad
file is refused with 422 and a sentence naming the question or line; nothing of it is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Response, UploadFile, status

from hub.db.errors import RepositoryError
from hub.db.schemas import QuestionCreate, QuestionPublic, QuizCreate, QuizPublic, QuizUpdate
from web.api_models import QuestionOrder, QuizDetail, RoundPublic
from web.auth import HostDep  # noqa: TC001 - FastAPI resolves annotations at runtime
from web.routes.deps import DbId, RepoDep, refuse, repository_error
from web.routes.quiz_formats import (
    QuizImportError,
    create_from_csv,
    create_from_doc,
    create_from_opentdb,
    quiz_csv,
    quiz_doc,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/quizzes", tags=["quizzes"])

_MAX_UPLOAD = 2_000_000


async def _detail(repo: RepoDep, quiz_id: int) -> QuizDetail:
    quiz = await repo.get_quiz(quiz_id)
    if quiz is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"There is no quiz with id {quiz_id}.")
    rounds = [RoundPublic.model_validate(r, from_attributes=True) for r in await repo.list_rounds(quiz_id)]
    questions = [QuestionPublic.model_validate(q) for q in await repo.list_questions(quiz_id)]
    return QuizDetail(**QuizPublic.model_validate(quiz).model_dump(), rounds=rounds, questions=questions)


async def _store(repo: RepoDep, data: QuizCreate, host: HostDep) -> QuizDetail:
    try:
        quiz = await repo.create_quiz(data, owner_id=host.user_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    assert quiz.id is not None
    return await _detail(repo, quiz.id)


def _unprocessable(exc: QuizImportError) -> Exception:
    message = str(exc)
    sentence = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    return refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Nothing was imported. {sentence}")


@router.get("")
async def list_quizzes(_host: HostDep, repo: RepoDep) -> list[QuizPublic]:
    """Every quiz, newest first (without questions)."""
    return [QuizPublic.model_validate(q) for q in await repo.list_quizzes()]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_quiz(host: HostDep, repo: RepoDep, data: QuizCreate) -> QuizDetail:
    """A new quiz, with its questions in order (each may name a ``round_title``)."""
    return await _store(repo, data, host)


@router.get("/{quiz_id}")
async def get_quiz(_host: HostDep, repo: RepoDep, quiz_id: DbId) -> QuizDetail:
    """A quiz with its rounds and questions (answers included)."""
    return await _detail(repo, quiz_id)


@router.patch("/{quiz_id}")
async def update_quiz(_host: HostDep, repo: RepoDep, quiz_id: DbId, changes: QuizUpdate) -> QuizDetail:
    """Change a quiz's title or description."""
    try:
        await repo.update_quiz(quiz_id, changes)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return await _detail(repo, quiz_id)


@router.delete("/{quiz_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_quiz(_host: HostDep, repo: RepoDep, quiz_id: DbId) -> None:
    """Delete a quiz with its questions; refused (409) while games of it exist."""
    try:
        await repo.delete_quiz(quiz_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None


@router.post("/{quiz_id}/questions", status_code=status.HTTP_201_CREATED)
async def add_question(_host: HostDep, repo: RepoDep, quiz_id: DbId, data: QuestionCreate) -> QuestionPublic:
    """Add a question of any type (at the end unless ``position`` is given)."""
    try:
        row = await repo.add_question(quiz_id, data)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return QuestionPublic.model_validate(row)


async def _question_of(repo: RepoDep, quiz_id: int, question_id: int) -> None:
    row = await repo.get_question(question_id)
    if row is None or row.quiz_id != quiz_id:
        raise refuse(status.HTTP_404_NOT_FOUND, f"Quiz {quiz_id} has no question with id {question_id}.")


@router.put("/{quiz_id}/questions/{question_id}")
async def replace_question(
    _host: HostDep, repo: RepoDep, quiz_id: DbId, question_id: DbId, data: QuestionCreate
) -> QuestionPublic:
    """Replace a question (keeping its position unless ``position`` is given)."""
    await _question_of(repo, quiz_id, question_id)
    try:
        row = await repo.replace_question(question_id, data)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return QuestionPublic.model_validate(row)


@router.put("/{quiz_id}/order")
async def reorder_questions(_host: HostDep, repo: RepoDep, quiz_id: DbId, order: QuestionOrder) -> QuizDetail:
    """Put the quiz's questions in a new play order, all at once; 409 unless it names each question once."""
    try:
        await repo.reorder_questions(quiz_id, order.question_ids)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return await _detail(repo, quiz_id)


@router.delete("/{quiz_id}/questions/{question_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_question(_host: HostDep, repo: RepoDep, quiz_id: DbId, question_id: DbId) -> None:
    """Delete one question."""
    await _question_of(repo, quiz_id, question_id)
    try:
        await repo.delete_question(question_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None


# ------------------------------------------------------------------------------------------------- import


@router.post("/import", status_code=status.HTTP_201_CREATED)
async def import_quiz(
    host: HostDep,
    repo: RepoDep,
    doc: Annotated[dict[str, Any], Body(description="A quizhub-quiz/1 document (schemas/quiz.schema.json).")],
) -> QuizDetail:
    """Import our JSON format; 422 names the round and question of the first problem, and stores nothing."""
    try:
        data = create_from_doc(doc)
    except QuizImportError as exc:
        raise _unprocessable(exc) from None
    return await _store(repo, data, host)


@router.post("/import/csv", status_code=status.HTTP_201_CREATED)
async def import_csv(
    host: HostDep,
    repo: RepoDep,
    file: Annotated[UploadFile, File(description="UTF-8 CSV: a header row, then one question per line.")],
    title: Annotated[str, Form(min_length=1, max_length=200)] = "Imported quiz",
) -> QuizDetail:
    """Import a CSV file (columns: round, type, text, choices, answer, points, penalty, buzz_window_s,
    answer_time_s, media); 422 names the line of the first problem, and stores nothing."""
    data = await file.read(_MAX_UPLOAD + 1)
    try:
        quiz = create_from_csv(data, title)
    except QuizImportError as exc:
        raise _unprocessable(exc) from None
    return await _store(repo, quiz, host)


@router.post("/import/opentdb", status_code=status.HTTP_201_CREATED)
async def import_opentdb(
    host: HostDep,
    repo: RepoDep,
    doc: Annotated[dict[str, Any], Body(description="An Open Trivia DB API answer: {response_code, results}.")],
    title: Annotated[str, Query(min_length=1, max_length=200)] = "Open Trivia DB quiz",
) -> QuizDetail:
    """Import Open Trivia DB JSON (types multiple and boolean, HTML entities decoded); 422 names the question."""
    try:
        quiz = create_from_opentdb(doc, title)
    except QuizImportError as exc:
        raise _unprocessable(exc) from None
    return await _store(repo, quiz, host)


# ------------------------------------------------------------------------------------------------- export


async def _rows(repo: RepoDep, quiz_id: int) -> tuple[Any, list[Any], list[Any]]:
    quiz = await repo.get_quiz(quiz_id)
    if quiz is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"There is no quiz with id {quiz_id}.")
    return quiz, await repo.list_rounds(quiz_id), await repo.list_questions(quiz_id)


@router.get("/{quiz_id}/export")
async def export_quiz(_host: HostDep, repo: RepoDep, quiz_id: DbId) -> dict[str, Any]:
    """The quiz as a quizhub-quiz/1 document (imports again unchanged)."""
    quiz, rounds, questions = await _rows(repo, quiz_id)
    return quiz_doc(quiz, rounds, questions)


@router.get(
    "/{quiz_id}/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_quiz_csv(_host: HostDep, repo: RepoDep, quiz_id: DbId) -> Response:
    """The quiz as CSV in the import format."""
    _, rounds, questions = await _rows(repo, quiz_id)
    return Response(
        quiz_csv(rounds, questions),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="quiz-{quiz_id}.csv"'},
    )
