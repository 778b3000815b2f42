"""The JSON Schemas are sound, their examples valid, and each agrees with its pydantic model both ways."""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_support import (
    MODEL_FOR_SCHEMA,
    SCHEMA_DIR,
    differences,
    file_schema,
    from_model,
    from_schema_name,
    is_wire_schema,
    json_values,
    model_schema,
    registry_validator,
    schema_errors,
    schemas,
    validator,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from hub import messages
from hub.codec import CodecError, decode, encode

NAMES = sorted(MODEL_FOR_SCHEMA)
AGREEMENT = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def model_accepts(name: str, document: Any) -> bool:
    try:
        decode(MODEL_FOR_SCHEMA[name], json.dumps(document).encode(), max_size=1 << 20)
    except CodecError:
        return False
    return True


def test_every_schema_file_has_a_model_and_every_model_a_schema() -> None:
    assert sorted(n for n in schemas() if is_wire_schema(n)) == NAMES
    assert set(NAMES) <= set(messages.schema_names())


@pytest.mark.parametrize("name", sorted(schemas()))
def test_every_schema_file_is_a_valid_2020_12_schema(name: str) -> None:
    # Also the non-message schemas other parts keep in schemas/ (they ship in the wheel the same way).
    doc = schemas()[name]
    Draft202012Validator.check_schema(doc)
    assert doc["$id"].endswith(f"/{name}.schema.json")


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_2020_12_with_id_title_description_examples(name: str) -> None:
    doc = schemas()[name]
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith(f"/{name}.schema.json")
    assert doc["title"] == MODEL_FOR_SCHEMA[name].__name__
    assert len(doc["description"]) > 40
    assert doc["examples"], "every schema carries examples"


@pytest.mark.parametrize("name", NAMES)
def test_every_object_in_a_schema_is_closed(name: str) -> None:
    # additionalProperties false everywhere, except the two documented free-form bags (event data, result).
    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and path not in {"properties/data", "properties/result"}:
                assert node.get("additionalProperties") is False, f"{name}: {path or '(root)'} is open"
            for key, value in node.items():
                walk(value, f"{path}/{key}".strip("/"))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(schemas()[name], "")


@pytest.mark.parametrize("name", NAMES)
def test_model_json_schema_has_the_same_constraints_as_the_file(name: str) -> None:
    # Deterministic half of "models and schemas agree": every bound, pattern, enum, required list and
    # closed object the same. (The hypothesis tests below catch what a structural diff cannot.)
    assert differences(model_schema(MODEL_FOR_SCHEMA[name]), file_schema(name)) == []


@pytest.mark.parametrize("name", NAMES)
def test_examples_validate_against_schema_and_model(name: str) -> None:
    for example in schemas()[name]["examples"]:
        assert schema_errors(name, example) == []
        assert registry_validator(name).is_valid(example), "cross-file $refs resolve through $id as well"
        msg = decode(MODEL_FOR_SCHEMA[name], json.dumps(example).encode(), max_size=1 << 20)
        assert json.loads(encode(msg)) == example, "an example should be in the encoder's own spelling"


@pytest.mark.parametrize("name", NAMES)
@AGREEMENT
@given(data=st.data())
def test_schema_valid_documents_are_accepted_by_the_model(name: str, data: st.DataObject) -> None:
    document = data.draw(from_schema_name(name))
    msg = decode(MODEL_FOR_SCHEMA[name], json.dumps(document).encode(), max_size=1 << 20)
    assert json.loads(encode(msg)) == document


@pytest.mark.parametrize("name", NAMES)
@AGREEMENT
@given(data=st.data())
def test_model_instances_are_valid_under_the_schema(name: str, data: st.DataObject) -> None:
    msg = data.draw(from_model(MODEL_FOR_SCHEMA[name]))
    document = json.loads(encode(msg))
    assert schema_errors(name, document) == []


def _mutations(document: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = sorted(document)
    extra = st.sampled_from(["answer", "correct", "x", "Seq"]).map(lambda k: {**document, k: 1})
    if not keys:
        return extra
    key = st.sampled_from(keys)
    dropped = key.map(lambda k: {x: v for x, v in document.items() if x != k})
    nulled = key.map(lambda k: {**document, k: None})
    replaced = st.tuples(key, json_values).map(lambda kv: {**document, kv[0]: kv[1]})
    return st.one_of(extra, dropped, nulled, replaced)


@pytest.mark.parametrize("name", NAMES)
@AGREEMENT
@given(data=st.data())
def test_schema_and_model_agree_on_mutated_documents(name: str, data: st.DataObject) -> None:
    # Near-misses of valid documents (a field dropped, nulled, retyped, or one added): whatever the verdict,
    # schema and model must give the same one.
    document = data.draw(from_schema_name(name))
    mutated = data.draw(_mutations(document))
    assert validator(name).is_valid(mutated) == model_accepts(name, mutated), (
        f"schema says {schema_errors(name, mutated) or 'valid'}; model disagrees"
    )


ANSWER_LEAKS = [
    {"index": 3, "type": "buzzer", "text": "Capital of France?", "points": 10, "answer": "Paris"},
    {
        "index": 3,
        "type": "multiple_choice",
        "text": "Capital?",
        "points": 10,
        "correct": ["b"],
        "choices": [{"id": "b", "text": "Paris"}],
    },
    {
        "index": 3,
        "type": "multiple_choice",
        "text": "Capital?",
        "points": 10,
        "choices": [{"id": "b", "text": "Paris", "correct": True}],
    },
]


@pytest.mark.parametrize("leak", ANSWER_LEAKS)
def test_a_public_question_can_never_carry_the_answer(leak: dict[str, Any]) -> None:
    assert schema_errors("game-question", leak)
    assert not model_accepts("game-question", leak)
    event = {"seq": 5, "ts_us": 1, "type": "question_shown", "data": leak}
    assert schema_errors("game-event", event)
    assert not model_accepts("game-event", event)
    state = {"game": "g1", "seq": 5, "ts_us": 1, "phase": "question", "armed": False, "question": leak}
    assert schema_errors("game-state", state)


def test_the_reveal_carries_the_answer_and_is_typed_in_events() -> None:
    reveal = {"index": 3, "answer": "Paris", "correct": ["b"]}
    event = {"seq": 9, "ts_us": 1, "type": "question_revealed", "data": reveal}
    assert schema_errors("game-event", event) == []
    msg = decode(messages.GameEventEnvelope, json.dumps(event).encode())
    assert msg.typed_data() == messages.QuestionReveal(index=3, answer="Paris", correct=("b",))
    broken = {**event, "data": {"index": 3}}
    assert schema_errors("game-event", broken)
    assert not model_accepts("game-event", broken)


def test_load_schema_reads_the_source_tree_and_refuses_unknown_names() -> None:
    for name in messages.schema_names():
        assert messages.load_schema(name) == json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    loaded = messages.load_schema("device-buzz")
    loaded["title"] = "changed"
    assert messages.load_schema("device-buzz")["title"] == "Buzz", "each call returns a fresh copy"
    with pytest.raises(KeyError, match="no wire schema named 'nope'"):
        messages.load_schema("nope")


def test_load_schema_prefers_the_copy_inside_an_installed_wheel(tmp_path, monkeypatch) -> None:
    # The wheel force-includes schemas/ as hub/_schemas; emulate that layout and check it wins.
    fake_pkg = tmp_path / "hub"
    (fake_pkg / "_schemas").mkdir(parents=True)
    (fake_pkg / "_schemas" / "only-in-wheel.schema.json").write_text('{"title": "W"}')
    monkeypatch.setattr(messages.resources, "files", lambda _pkg: fake_pkg)
    messages._load_schema_text.cache_clear()
    try:
        assert messages.schema_names() == ("only-in-wheel",)
        assert messages.load_schema("only-in-wheel") == {"title": "W"}
    finally:
        messages._load_schema_text.cache_clear()
