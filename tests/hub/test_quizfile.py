from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.model import QuestionKind
from hub.quizfile import QuizFileError, demo_quiz, quiz_from_doc, quiz_to_doc


def test_demo_quiz_has_every_question_type_and_enough_questions() -> None:
    quiz, _ = demo_quiz()
    assert len(quiz) >= 20
    assert {q.kind for q in quiz.questions} == set(QuestionKind)


def test_round_trip_of_the_demo() -> None:
    quiz, _ = demo_quiz()
    assert quiz_from_doc(quiz_to_doc(quiz)) == quiz


def test_true_false_answers_map_to_choice_indices() -> None:
    doc = {"rounds": [{"questions": [{"type": "true_false", "text": "Sky is blue?", "answer": False}]}]}
    q = quiz_from_doc(doc).questions[0]
    assert q.choices == ("True", "False")
    assert q.answer == 1


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        ({"rounds": []}, "non-empty list"),
        ({"format": "kahoot/9", "rounds": [{"questions": []}]}, "unsupported format"),
        ({"rounds": [{"questions": [{"type": "riddle", "text": "x"}]}]}, "round 1, question 1: unknown type"),
        (
            {"rounds": [{"questions": [{"text": "ok"}]}, {"questions": [{"text": "a", "type": "multiple_choice",
                                                                           "choices": ["a", "b"], "answer": 5}]}]},
            "round 2, question 1",
        ),
        ({"rounds": [{"questions": [{"text": "  "}]}]}, "non-empty prompt"),
        ({"rounds": [{"questions": [{"text": "q", "points": float("inf")}]}]}, "'points' must be a non-negative"),
        ({"rounds": [{"questions": [{"text": "q", "buzz_window_s": [1]}]}]}, "'buzz_window_s' must be"),
        ({"rounds": [{"questions": [{"text": "q", "time_limit_s": 1e300}]}]}, "implausibly large"),
    ],
)
def test_bad_files_say_where(doc: object, message: str) -> None:
    with pytest.raises(QuizFileError, match=message):
        quiz_from_doc(doc)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=12))
def test_arbitrary_json_never_raises_anything_but_quizfileerror(doc: object) -> None:
    with contextlib.suppress(QuizFileError):
        quiz_from_doc(doc)


_json_scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
_json = st.recursive(_json_scalar, lambda c: st.lists(c, max_size=3), max_leaves=6)
_fields = ["type", "text", "answer", "choices", "points", "penalty", "time_limit_s", "buzz_window_s",
           "answer_time_s", "media"]


@given(st.dictionaries(st.sampled_from(_fields), _json | st.sampled_from([k.value for k in QuestionKind])))
def test_well_shaped_file_with_any_field_values_never_raises_anything_but_quizfileerror(q: dict[str, object]) -> None:
    with contextlib.suppress(QuizFileError):
        quiz_from_doc({"rounds": [{"title": "r", "questions": [q]}]})
