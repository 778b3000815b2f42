"""Every question of the demo quiz (one of each type) becomes a public question the wire contract accepts.

A numeric question is an ``estimate`` on the wire: the core's name for it used to reach the schema's enum and make
the hub fail to publish the question at all."""

from __future__ import annotations

import jsonschema

from hub import wire
from hub.core.model import QuestionKind
from hub.messages import load_schema
from hub.quizfile import demo_quiz


def test_every_demo_question_is_a_valid_public_question() -> None:
    quiz, _ = demo_quiz()
    schema = load_schema("game-question")
    kinds = set()
    for index, question in enumerate(quiz.questions):
        doc = wire.public_question(question, index).model_dump(mode="json", exclude_none=True)
        jsonschema.validate(doc, schema)
        kinds.add(question.kind)
        if question.kind is QuestionKind.NUMERIC:
            assert doc["type"] == "estimate"
    assert kinds == set(QuestionKind)
