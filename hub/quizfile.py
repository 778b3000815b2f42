"""Our quiz file format (``quizhub-quiz/1``) to and from the core's ``Quiz``.

Files say times in seconds and questions have ``text``/``type``, because people write them by hand; the core
speaks microseconds and ``prompt``/``kind``. Every problem is reported with the question it is in
("round 2, question 3: ..."), and a file with any problem loads nothing.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

from hub.core.model import Question, QuestionKind, Quiz

__all__ = ["FORMAT", "QuizFileError", "demo_quiz", "quiz_from_doc", "quiz_to_doc"]

FORMAT = "quizhub-quiz/1"
_SECONDS = 1_000_000


class QuizFileError(ValueError):
    """The quiz file is not valid; the message names the place and what to fix."""


def _number(raw: dict[str, Any], key: str, where: str, default: float | None) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise QuizFileError(f"{where}: '{key}' must be a non-negative number, got {value!r}")
    if value > 1e9:
        raise QuizFileError(f"{where}: '{key}' is implausibly large ({value!r})")
    return float(value)


def _seconds(raw: dict[str, Any], key: str, where: str, default: float | None = None) -> int | None:
    value = _number(raw, key, where, default)
    return int(value * _SECONDS) if value else None


def _question(raw: Any, where: str, round_name: str | None) -> Question:
    if not isinstance(raw, dict):
        raise QuizFileError(f"{where}: expected an object with 'type' and 'text'")
    kind_text = raw.get("type", "buzzer")
    try:
        kind = QuestionKind(kind_text)
    except ValueError:
        kinds = ", ".join(k.value for k in QuestionKind)
        raise QuizFileError(f"{where}: unknown type {kind_text!r}; use one of {kinds}") from None
    answer = raw.get("answer")
    if kind is QuestionKind.TRUE_FALSE and isinstance(answer, bool):
        answer = 0 if answer else 1  # choices are ("True", "False")
    limit = _number(raw, "time_limit_s", where, None)
    buzz_window_us = _seconds(raw, "buzz_window_s", where)
    answer_time_us = _seconds(raw, "answer_time_s", where, limit if kind is not QuestionKind.BUZZER else None)
    points = _number(raw, "points", where, 10)
    penalty = _number(raw, "penalty", where, 0)
    try:
        return Question(
            prompt=raw.get("text", ""),
            kind=kind,
            answer=answer,
            choices=tuple(raw.get("choices", ())),
            points=int(points or 0),
            penalty=int(penalty or 0),
            buzz_window_us=buzz_window_us,
            answer_time_us=answer_time_us,
            media=raw.get("media"),
            round_name=round_name,
        )
    except (TypeError, ValueError) as exc:
        raise QuizFileError(f"{where}: {exc}") from None


def quiz_from_doc(doc: Any) -> Quiz:
    """Build a Quiz from a parsed ``quizhub-quiz/1`` document; raise QuizFileError saying where it is wrong."""
    if not isinstance(doc, dict):
        raise QuizFileError("a quiz file is a JSON object with 'title' and 'rounds'")
    if doc.get("format", FORMAT) != FORMAT:
        raise QuizFileError(f"unsupported format {doc.get('format')!r}; this version reads {FORMAT!r}")
    rounds = doc.get("rounds")
    if not isinstance(rounds, list) or not rounds:
        raise QuizFileError("'rounds' must be a non-empty list of rounds, each with 'questions'")
    questions: list[Question] = []
    for r_i, rnd in enumerate(rounds, 1):
        if not isinstance(rnd, dict) or not isinstance(rnd.get("questions"), list):
            raise QuizFileError(f"round {r_i}: expected an object with a 'questions' list")
        name = rnd.get("title")
        for q_i, raw in enumerate(rnd["questions"], 1):
            questions.append(_question(raw, f"round {r_i}, question {q_i}", name if isinstance(name, str) else None))
    if not questions:
        raise QuizFileError("the quiz has no questions")
    title = doc.get("title") or "Quiz"
    return Quiz(tuple(questions), title=str(title))


def quiz_to_doc(quiz: Quiz) -> dict[str, Any]:
    """The inverse of ``quiz_from_doc`` (rounds regrouped by consecutive round names)."""
    rounds: list[dict[str, Any]] = []
    for q in quiz.questions:
        if not rounds or rounds[-1]["title"] != q.round_name:
            rounds.append({"title": q.round_name, "questions": []})
        item: dict[str, Any] = {"type": q.kind.value, "text": q.prompt, "points": q.points}
        if q.kind is QuestionKind.TRUE_FALSE:
            item["answer"] = q.answer == 0
        elif q.answer is not None:
            item["answer"] = q.answer
        if q.choices and q.kind is not QuestionKind.TRUE_FALSE:
            item["choices"] = list(q.choices)
        if q.penalty:
            item["penalty"] = q.penalty
        if q.buzz_window_us:
            item["buzz_window_s"] = q.buzz_window_us / _SECONDS
        if q.answer_time_us:
            item["answer_time_s"] = q.answer_time_us / _SECONDS
        if q.media:
            item["media"] = q.media
        rounds[-1]["questions"].append(item)
    return {"format": FORMAT, "title": quiz.title, "rounds": rounds}


def demo_quiz() -> tuple[Quiz, dict[str, Any]]:
    """The bundled demo quiz (24 questions of every type) and its document."""
    text = resources.files("hub").joinpath("data/demo_quiz.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    return quiz_from_doc(doc), doc
