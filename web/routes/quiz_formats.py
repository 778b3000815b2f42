"""Quiz files in and out: our JSON (``quizhub-quiz/1``), CSV, and Open Trivia DB JSON.

Every import builds the whole :class:`QuizCreate` first and raises :class:`QuizImportError` with the place of the
first problem ("round 2, question 3: ...", "line 7: ...", "question 4: ..."); only a complete quiz is stored, in
one transaction. Exports read the stored rows, so whatever the API accepted exports and imports again.
"""

from __future__ import annotations

import csv
import html
import io
import math
import random
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from hub.db.models import QuestionType
from hub.db.schemas import MAX_CHOICES, QuestionCreate, QuizCreate
from hub.quizfile import FORMAT, quiz_from_doc
from hub.quizstore import question_fields

if TYPE_CHECKING:
    from hub.core.model import Question as CoreQuestion
    from hub.db.models import Question, Quiz, Round

__all__ = [
    "CSV_COLUMNS",
    "QuizImportError",
    "create_from_csv",
    "create_from_doc",
    "create_from_opentdb",
    "quiz_csv",
    "quiz_doc",
]

CSV_COLUMNS: Final = (
    "round",
    "type",
    "text",
    "choices",
    "answer",
    "points",
    "penalty",
    "buzz_window_s",
    "answer_time_s",
    "media",
)
"""The CSV header. ``type`` and ``text`` are required; ``choices`` are separated by ``|``; a multiple-choice
``answer`` is the text of the right choice; a true/false answer is ``true`` or ``false``."""
_MS: Final = 1000
_DEFAULT_POINTS: Final = 10
_MAX_CSV_BYTES: Final = 2_000_000


class QuizImportError(ValueError):
    """A quiz file that cannot be imported; the message names the place and what to fix."""


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {message}" if where else message


def _question(where: str, **fields: Any) -> QuestionCreate:
    try:
        return QuestionCreate(**fields)
    except ValidationError as exc:
        raise QuizImportError(f"{where}: {_first_error(exc)}") from None


def _quiz(title: str, description: str, questions: list[QuestionCreate]) -> QuizCreate:
    if not questions:
        raise QuizImportError("the quiz has no questions")
    try:
        return QuizCreate(title=title.strip()[:200] or "Quiz", description=description[:10_000], questions=questions)
    except ValidationError as exc:
        raise QuizImportError(f"quiz: {_first_error(exc)}") from None


# ------------------------------------------------------------------------------------------------- our JSON


def _places(doc: dict[str, Any]) -> list[str]:
    # quiz_from_doc accepted the document, so the structure is known to be rounds of question lists.
    return [
        f"round {r_i}, question {q_i}"
        for r_i, rnd in enumerate(doc["rounds"], 1)
        for q_i, _ in enumerate(rnd["questions"], 1)
    ]


def _media(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str) and raw:
        return {"url": raw}
    if isinstance(raw, dict) and raw:
        return raw
    return None


def _from_core(question: CoreQuestion, where: str) -> QuestionCreate:
    return _question(where, **question_fields(question))


def create_from_doc(doc: Any) -> QuizCreate:
    """A ``quizhub-quiz/1`` document as a :class:`QuizCreate`; :class:`QuizImportError` names the question."""
    try:
        quiz = quiz_from_doc(doc)
    except (ValueError, TypeError) as exc:  # QuizFileError is a ValueError; odd JSON types may raise TypeError
        raise QuizImportError(str(exc)) from None
    questions = [_from_core(q, where) for q, where in zip(quiz.questions, _places(doc), strict=True)]
    description = doc.get("description", "")
    return _quiz(quiz.title, description if isinstance(description, str) else "", questions)


def _seconds(ms: int | None) -> float | int | None:
    if ms is None:
        return None
    return ms // _MS if ms % _MS == 0 else ms / _MS


def quiz_doc(quiz: Quiz, rounds: list[Round], questions: list[Question]) -> dict[str, Any]:
    """A stored quiz as a ``quizhub-quiz/1`` document (questions grouped into consecutive rounds)."""
    titles = {r.id: r.title for r in rounds}
    out_rounds: list[dict[str, Any]] = []
    current: object = object()
    for q in questions:
        title = titles.get(q.round_id)
        if not out_rounds or title != current:
            out_rounds.append({"title": title, "questions": []} if title else {"questions": []})
            current = title
        item: dict[str, Any] = {"type": q.type.value, "text": q.text, "points": q.points}
        if q.choices is not None:
            item["choices"] = list(q.choices)
        if q.answer is not None:
            item["answer"] = q.answer
        if q.penalty:
            item["penalty"] = q.penalty
        if q.buzz_window_ms:
            item["buzz_window_s"] = _seconds(q.buzz_window_ms)
        if q.answer_time_ms:
            item["answer_time_s"] = _seconds(q.answer_time_ms)
        url = q.media.get("url") if isinstance(q.media, dict) else None
        if isinstance(url, str) and url:
            item["media"] = url
        out_rounds[-1]["questions"].append(item)
    doc: dict[str, Any] = {"format": FORMAT, "title": quiz.title}
    if quiz.description:
        doc["description"] = quiz.description
    doc["rounds"] = out_rounds or [{"questions": []}]
    return doc


# ------------------------------------------------------------------------------------------------- CSV


def _csv_number(value: str, column: str, where: str, *, integer: bool) -> float | int | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise QuizImportError(f"{where}: '{column}' must be a number, got {text!r}") from None
    if not math.isfinite(number) or number < 0 or number > 1e9:
        raise QuizImportError(f"{where}: '{column}' must be a non-negative number, got {text!r}")
    if integer:
        if number != int(number):
            raise QuizImportError(f"{where}: '{column}' must be a whole number, got {text!r}")
        return int(number)
    return number


def _csv_answer(kind: QuestionType, raw: str, choices: list[str] | None, where: str) -> Any:
    text = raw.strip()
    if kind is QuestionType.MULTIPLE_CHOICE:
        options = choices or []
        if text not in options:
            raise QuizImportError(f"{where}: the answer {text!r} is not one of the choices {options}")
        return options.index(text)
    if kind is QuestionType.TRUE_FALSE:
        if text.lower() not in {"true", "false"}:
            raise QuizImportError(f"{where}: a true/false answer is 'true' or 'false', got {text!r}")
        return text.lower() == "true"
    if kind is QuestionType.NUMERIC:
        try:
            number = float(text)
        except ValueError:
            raise QuizImportError(f"{where}: a numeric answer is a number, got {text!r}") from None
        if not math.isfinite(number):
            raise QuizImportError(f"{where}: a numeric answer is a finite number, got {text!r}")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return text or None


def _csv_row(row: dict[str, str], where: str) -> QuestionCreate:
    kind_text = row.get("type", "").strip() or "buzzer"
    try:
        kind = QuestionType(kind_text)
    except ValueError:
        kinds = ", ".join(k.value for k in QuestionType)
        raise QuizImportError(f"{where}: unknown type {kind_text!r}; use one of {kinds}") from None
    choices_text = row.get("choices", "").strip()
    choices = [c.strip() for c in choices_text.split("|")] if choices_text else None
    if kind is not QuestionType.MULTIPLE_CHOICE and choices:
        raise QuizImportError(f"{where}: a {kind.value} question has no choices")
    points = _csv_number(row.get("points", ""), "points", where, integer=True)
    penalty = _csv_number(row.get("penalty", ""), "penalty", where, integer=True)
    window = _csv_number(row.get("buzz_window_s", ""), "buzz_window_s", where, integer=False)
    answer_time = _csv_number(row.get("answer_time_s", ""), "answer_time_s", where, integer=False)
    round_title = row.get("round", "").strip()
    return _question(
        where,
        type=kind,
        text=row.get("text", "").strip(),
        choices=choices if kind is QuestionType.MULTIPLE_CHOICE else None,
        answer=_csv_answer(kind, row.get("answer", ""), choices, where),
        points=_DEFAULT_POINTS if points is None else points,
        penalty=penalty or 0,
        buzz_window_ms=round(window * _MS) if window else None,
        answer_time_ms=round(answer_time * _MS) if answer_time else None,
        media=_media(row.get("media", "").strip()),
        round_title=round_title[:200] or None,
    )


def create_from_csv(data: bytes, title: str) -> QuizCreate:
    """A CSV file (header row, then one question per line) as a :class:`QuizCreate`; errors name the line."""
    if len(data) > _MAX_CSV_BYTES:
        raise QuizImportError(f"the CSV file is larger than {_MAX_CSV_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QuizImportError(f"the CSV file is not UTF-8 (byte {exc.start} cannot be read)") from None
    if "\x00" in text:
        raise QuizImportError("the CSV file contains a NUL character; save it as UTF-8 text")
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    header = [name.strip() for name in (reader.fieldnames or [])]
    if "text" not in header or "type" not in header:
        known = ", ".join(CSV_COLUMNS)
        raise QuizImportError(f"line 1: the header row must name the columns 'type' and 'text' (known: {known})")
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        names, known = ", ".join(map(repr, unknown)), ", ".join(CSV_COLUMNS)
        raise QuizImportError(f"line 1: unknown column(s) {names}; use {known}")
    reader.fieldnames = header
    questions: list[QuestionCreate] = []
    try:
        for row in reader:
            where = f"line {reader.line_num}"
            if "\x00extra" in row:
                raise QuizImportError(f"{where}: more fields than the header has columns")
            values = {key: value or "" for key, value in row.items()}
            if not any(v.strip() for v in values.values()):
                continue  # a blank line
            questions.append(_csv_row(values, where))
    except csv.Error as exc:
        raise QuizImportError(f"line {reader.line_num}: {exc}") from None
    return _quiz(title, "", questions)


def quiz_csv(rounds: list[Round], questions: list[Question]) -> str:
    """A stored quiz as CSV in the import format."""
    titles = {r.id: r.title for r in rounds}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for q in questions:
        answer: Any = q.answer
        if q.type is QuestionType.MULTIPLE_CHOICE and q.choices and isinstance(answer, int):
            answer = q.choices[answer]
        elif isinstance(answer, bool):
            answer = "true" if answer else "false"
        url = q.media.get("url") if isinstance(q.media, dict) else None
        writer.writerow(
            [
                titles.get(q.round_id) or "",
                q.type.value,
                q.text,
                "|".join(q.choices or []),
                "" if answer is None else answer,
                q.points,
                q.penalty or "",
                _seconds(q.buzz_window_ms) or "",
                _seconds(q.answer_time_ms) or "",
                url if isinstance(url, str) else "",
            ]
        )
    return out.getvalue()


# ------------------------------------------------------------------------------------------------- Open Trivia DB


def _text(value: Any, field: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QuizImportError(f"{where}: '{field}' must be a non-empty string")
    return html.unescape(value).strip()


def _opentdb_question(raw: Any, where: str) -> QuestionCreate:
    if not isinstance(raw, dict):
        raise QuizImportError(f"{where}: expected an object with 'type', 'question' and 'correct_answer'")
    kind = raw.get("type")
    text = _text(raw.get("question"), "question", where)
    correct = _text(raw.get("correct_answer"), "correct_answer", where)
    category = raw.get("category")
    round_title = html.unescape(category).strip()[:200] if isinstance(category, str) and category.strip() else None
    if kind == "boolean":
        if correct not in {"True", "False"}:
            raise QuizImportError(f"{where}: a boolean question's correct_answer is 'True' or 'False'")
        return _question(
            where,
            type=QuestionType.TRUE_FALSE,
            text=text,
            answer=correct == "True",
            points=_DEFAULT_POINTS,
            round_title=round_title,
        )
    if kind != "multiple":
        raise QuizImportError(f"{where}: unknown type {kind!r}; Open Trivia DB questions are 'multiple' or 'boolean'")
    wrong = raw.get("incorrect_answers")
    if not isinstance(wrong, list) or not wrong:
        raise QuizImportError(f"{where}: 'incorrect_answers' must be a non-empty list")
    if len(wrong) >= MAX_CHOICES:
        raise QuizImportError(f"{where}: at most {MAX_CHOICES - 1} incorrect answers are supported")
    choices = [_text(item, "incorrect_answers", where) for item in wrong]
    # The right answer's place is random but the same on every import of the file (seeded by the question).
    position = random.Random(text).randint(0, len(choices))  # noqa: S311 - shuffling, not security
    choices.insert(position, correct)
    return _question(
        where,
        type=QuestionType.MULTIPLE_CHOICE,
        text=text,
        choices=choices,
        answer=position,
        points=_DEFAULT_POINTS,
        round_title=round_title,
    )


def create_from_opentdb(doc: Any, title: str) -> QuizCreate:
    """An Open Trivia DB API answer (``{"results": [...]}``) as a :class:`QuizCreate`; errors name the question."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise QuizImportError("an Open Trivia DB file is a JSON object with a 'results' list")
    code = doc.get("response_code", 0)
    if code != 0:
        raise QuizImportError(f"the Open Trivia DB answered response_code {code!r}, which carries no questions")
    questions = [_opentdb_question(raw, f"question {i}") for i, raw in enumerate(doc["results"], 1)]
    return _quiz(title, "Imported from the Open Trivia Database (CC BY-SA 4.0).", questions)
