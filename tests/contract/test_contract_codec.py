"""hub.codec: round trips in both formats, and every bad input ends as one CodecError that says what was wrong."""

from __future__ import annotations

import json
import re
from typing import Any

import msgpack
import pytest
from contract_support import MODEL_FOR_SCHEMA, from_model, json_values, schemas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.codec import (
    DEVICE_MAX_BYTES,
    GAME_MAX_BYTES,
    MODEL_FOR_KIND,
    CodecError,
    decode,
    decode_for_topic,
    encode,
)
from hub.messages import (
    Buzz,
    CommandError,
    DeviceCommand,
    DeviceConfig,
    DeviceError,
    DeviceStatus,
    GameEventEnvelope,
    GameState,
    PublicQuestion,
    SyncReply,
)
from hub.topics import ParsedTopic, TopicKind, Topics

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEVICE_MODELS = [DeviceStatus, Buzz, SyncReply, MODEL_FOR_SCHEMA["device-cmd"], MODEL_FOR_SCHEMA["device-sync"]]
ALL_MODELS = sorted(set(MODEL_FOR_SCHEMA.values()), key=lambda m: m.__name__)
TOPICS = Topics()


def parsed(kind: TopicKind) -> ParsedTopic:
    return ParsedTopic(
        kind,
        device="dev7" if kind.is_device else None,
        game=None if kind.is_device else "g1",
        client="web-1" if kind is TopicKind.GAME_REPLIES else None,
    )


def anything_but_codec_error(model: type, payload: bytes, **kw: Any) -> None:
    """Decoding either succeeds or raises one clean CodecError; any other exception fails the test."""
    error: CodecError | None = None
    try:
        decode(model, payload, **kw)
    except CodecError as err:
        error = err
    if error is None:
        return
    text = str(error)
    assert error.code in {"too_large", "malformed", "invalid"}
    assert text.startswith(f"{model.__name__}: ")
    # The hub sends the sentence back as it is: it must fit the error messages of the contract.
    DeviceError(code=error.code, message=text)
    CommandError(code=error.code, message=text)
    assert "pydantic" not in text
    assert "Traceback" not in text
    assert error.__cause__ is None, "no chained pydantic traceback"
    assert error.__context__ is None or error.__suppress_context__, "no chained pydantic traceback"


# ------------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_round_trip(model: type, data: st.DataObject) -> None:
    msg = data.draw(from_model(model))
    assert decode(model, encode(msg), max_size=GAME_MAX_BYTES) == msg


@pytest.mark.parametrize("model", DEVICE_MODELS, ids=lambda m: m.__name__)
@FAST
@given(data=st.data())
def test_msgpack_round_trip_on_device_messages(model: type, data: st.DataObject) -> None:
    msg = data.draw(from_model(model))
    packed = encode(msg, fmt="msgpack")
    assert packed[0] in {*range(0x80, 0x90), 0xDE, 0xDF}, "a msgpack map, so detection works"
    assert decode(model, packed, allow_msgpack=True) == msg
    assert decode(model, encode(msg), allow_msgpack=True) == msg, "JSON is accepted on device topics too"


def test_json_with_leading_whitespace_is_json() -> None:
    assert decode(Buzz, b' \r\n\t{"seq":1,"boot":2,"t_us":3}') == Buzz(seq=1, boot=2, t_us=3)


def test_encode_leaves_absent_fields_out() -> None:
    assert encode(DeviceStatus(state="offline")) == b'{"state":"offline"}'
    assert encode(DeviceCommand(DeviceConfig(cmd="config", game="g1", team="t3"))) == (
        b'{"cmd":"config","game":"g1","team":"t3"}'
    )


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
@FAST
@given(payload=st.binary(max_size=300))
def test_random_bytes_give_codec_error_or_a_message(model: type, payload: bytes) -> None:
    anything_but_codec_error(model, payload, allow_msgpack=True)


@FAST
@given(value=json_values, as_msgpack=st.booleans())
def test_random_json_and_msgpack_documents_never_raise_anything_else(value: Any, as_msgpack: bool) -> None:
    payload = msgpack.packb(value) if as_msgpack else json.dumps(value).encode()
    for model in DEVICE_MODELS:
        anything_but_codec_error(model, payload, allow_msgpack=True)


@FAST
@given(keys=st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=6), value=json_values)
def test_hostile_field_names_still_give_a_short_sentence(keys: list[str], value: Any) -> None:
    anything_but_codec_error(GameState, json.dumps(dict.fromkeys(keys, value)).encode(), max_size=1 << 16)
    anything_but_codec_error(
        GameState, json.dumps({"last_ruling": dict.fromkeys(keys, value)}).encode(), max_size=1 << 16
    )


@FAST
@given(
    document=st.dictionaries(st.sampled_from(["seq", "boot", "t_us", "x"]), json_values, max_size=4),
    as_msgpack=st.booleans(),
)
def test_buzz_shaped_documents_with_wrong_types(document: dict[str, Any], as_msgpack: bool) -> None:
    payload = msgpack.packb(document) if as_msgpack else json.dumps(document).encode()
    anything_but_codec_error(Buzz, payload, allow_msgpack=True)


@pytest.mark.parametrize("model", DEVICE_MODELS, ids=lambda m: m.__name__)
@FAST
@given(data=st.data())
def test_truncated_msgpack_is_malformed(model: type, data: st.DataObject) -> None:
    packed = encode(data.draw(from_model(model)), fmt="msgpack")
    cut = data.draw(st.integers(min_value=1, max_value=len(packed) - 1))
    with pytest.raises(CodecError) as info:
        decode(model, packed[:cut], allow_msgpack=True)
    assert info.value.code in {"malformed", "invalid"}


@pytest.mark.parametrize(
    ("payload", "code", "says"),
    [
        (b"", "malformed", "empty payload"),
        (b"  \n", "malformed", "empty payload"),
        (b"[1,2]", "malformed", "not a JSON or msgpack object (first byte 0x5b)"),
        (b'"seq"', "malformed", "not a JSON or msgpack object"),
        (b'{"seq":1', "malformed", "not valid JSON"),
        (b'{"seq":1,"boot":2,"t_us":NaN}', "invalid", "field t_us: Input should be a valid integer"),
        (b'{"seq":"\xff"}', "malformed", "not valid JSON"),
        (b'{"seq":-1,"boot":0,"t_us":0}', "invalid", "field seq: Input should be greater than or equal to 0 (got -1)"),
        (b'{"seq":"1","boot":0,"t_us":0}', "invalid", "field seq: Input should be a valid integer (got '1')"),
        (b'{"seq":1.0,"boot":0,"t_us":0}', "invalid", "field seq: Input should be a valid integer"),
        (b'{"seq":true,"boot":0,"t_us":0}', "invalid", "field seq: Input should be a valid integer"),
        (b'{"seq":1,"boot":0}', "invalid", "field t_us: Field required"),
        (b'{"seq":1,"boot":0,"t_us":0,"extra":1}', "invalid", "field extra: Extra inputs are not permitted"),
        (b'{"seq":1,"boot":null,"t_us":0}', "invalid", "'boot' is null; leave an absent field out"),
        (msgpack.packb({"seq": 1, "boot": 0, "t_us": b"\x00"}), "malformed", "msgpack value has no JSON equivalent"),
        (msgpack.packb({"seq": 1, "boot": 0, "t_us": float("nan")}), "malformed", "no JSON equivalent"),
        (msgpack.packb({1: 2}), "malformed", "not a valid msgpack document"),
        (msgpack.packb({"a": 1}) + b"\x00", "malformed", "not a valid msgpack document"),
        (b"\x81" * 3000, "malformed", "not a valid msgpack document"),
        (b"\xdf\xff\xff\xff\xff", "malformed", "not a valid msgpack document"),
    ],
)
def test_bad_payloads_say_what_was_wrong(payload: bytes, code: str, says: str) -> None:
    with pytest.raises(CodecError) as info:
        decode(Buzz, payload, allow_msgpack=True)
    assert info.value.code == code
    assert says in str(info.value)
    assert str(info.value).startswith("Buzz: ")


def test_oversized_payloads_are_refused_before_parsing() -> None:
    payload = b'{"seq":1,"boot":0,"t_us":0' + b" " * DEVICE_MAX_BYTES + b"}"
    with pytest.raises(CodecError, match=rf"payload too large: {len(payload)} bytes > limit {DEVICE_MAX_BYTES}"):
        decode(Buzz, payload)
    assert decode(Buzz, payload, max_size=len(payload)) == Buzz(seq=1, boot=0, t_us=0)
    with pytest.raises(CodecError, match="> limit 10"):
        decode(Buzz, b"{" + b" " * 20 + b"}", max_size=10)


def test_msgpack_is_refused_where_not_allowed() -> None:
    packed = encode(Buzz(seq=1, boot=0, t_us=0), fmt="msgpack")
    with pytest.raises(CodecError, match="looks like msgpack, which is accepted on device topics only"):
        decode(Buzz, packed)


@pytest.mark.parametrize("number", [b"NaN", b"-Infinity", b"1e400"])
def test_free_form_objects_refuse_non_finite_numbers(number: bytes) -> None:
    # Pydantic's parser reads these non-JSON tokens; they must not slip into event data and come out as null.
    with pytest.raises(CodecError, match="numbers must be finite"):
        decode(GameEventEnvelope, b'{"seq":1,"ts_us":2,"type":"x","data":{"a":[' + number + b"]}}")


def test_multiple_field_errors_are_summarised() -> None:
    with pytest.raises(CodecError) as info:
        decode(GameState, b'{"x":1,"y":2,"z":3,"w":4}')
    text = str(info.value)
    assert text.count("field ") == 3
    assert re.search(r"; and \d+ more$", text)


# ------------------------------------------------------------------------------------------------ by topic


@pytest.mark.parametrize("kind", list(TopicKind), ids=str)
def test_decode_for_topic_uses_the_kinds_model_and_limit(kind: TopicKind) -> None:
    model = MODEL_FOR_KIND[kind]
    example = _first_example(model)
    msg = decode_for_topic(parsed(kind), json.dumps(example).encode())
    assert isinstance(msg, model)
    limit = DEVICE_MAX_BYTES if kind.is_device else GAME_MAX_BYTES
    with pytest.raises(CodecError, match=f"> limit {limit}"):
        decode_for_topic(parsed(kind), b"{" + b" " * limit + b"}")
    packed = msgpack.packb(example)
    if kind.is_device:
        assert decode_for_topic(parsed(kind), packed) == msg
    else:
        with pytest.raises(CodecError, match="device topics only"):
            decode_for_topic(parsed(kind), packed)


@pytest.mark.parametrize("kind", list(TopicKind), ids=str)
def test_empty_payload_clears_retained_topics_and_is_an_error_elsewhere(kind: TopicKind) -> None:
    if kind.rule.retained:
        assert decode_for_topic(parsed(kind), b"") is None
    else:
        with pytest.raises(CodecError, match="empty payload"):
            decode_for_topic(parsed(kind), b"")


def test_decode_for_topic_limits_are_configurable() -> None:
    question = PublicQuestion(index=0, type="buzzer", text="x" * 200, points=1)
    topic = TOPICS.parse(TOPICS.game_question("g1"))
    assert topic is not None
    assert decode_for_topic(topic, encode(question)) == question
    with pytest.raises(CodecError, match="too large"):
        decode_for_topic(topic, encode(question), game_max_bytes=100)


def _first_example(model: type) -> Any:
    name = next(n for n, m in MODEL_FOR_SCHEMA.items() if m is model)
    return schemas()[name]["examples"][0]
