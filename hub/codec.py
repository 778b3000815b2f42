"""Bytes ⇄ wire messages: compact JSON out; JSON in, or msgpack on device topics; one error type for bad input.

Format detection looks at the first byte, because a device cannot tell us out of band (MQTT 3.1.1 has no
content type): a JSON document here is always an object, so it starts with `{` after optional whitespace,
while a msgpack map starts with 0x80-0x8f (fixmap), 0xde (map16) or 0xdf (map32). A msgpack document is
turned into the equivalent JSON document and validated exactly like JSON, so both formats accept the same
messages (no bytes, no NaN, no non-string keys).

Every problem with the *input* raises `CodecError` — the sender's fault, with one sentence that says what was
wrong and a short `code` the hub can send back on the device's error topic. Pydantic's own exceptions never
escape, so a receive loop needs exactly one `except`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import msgpack
from pydantic import BaseModel, ValidationError

from hub.messages import (
    WIRE_CONTEXT,
    Buzz,
    CommandReply,
    DeviceCommand,
    DeviceError,
    DeviceStatus,
    GameBuzzers,
    GameCommand,
    GameEventEnvelope,
    GameState,
    HubStatus,
    PublicQuestion,
    Scoreboard,
    SyncReply,
    SyncRequest,
)
from hub.topics import TopicKind

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from hub.topics import ParsedTopic

__all__ = [
    "DEVICE_MAX_BYTES",
    "GAME_MAX_BYTES",
    "MAX_ERROR_CHARS",
    "MODEL_FOR_KIND",
    "CodecError",
    "ErrorCode",
    "Message",
    "decode",
    "decode_for_topic",
    "encode",
]

DEVICE_MAX_BYTES: Final = 4096
"""Default size limit for device topics: a buzzer's messages are tens of bytes."""
GAME_MAX_BYTES: Final = 65536
"""Default size limit for game topics: the broker's publish cap; a long question with media fits easily."""

_MSGPACK_MAP_FIRST_BYTES: Final = frozenset((*range(0x80, 0x90), 0xDE, 0xDF))
_JSON_WHITESPACE: Final = b" \t\r\n"
MAX_ERROR_CHARS: Final = 500
"""Longest `CodecError` message (DeviceError allows 512 characters)."""
_MAX_ERRORS_SHOWN: Final = 3
_MAX_INPUT_SHOWN: Final = 40

M = TypeVar("M", bound=BaseModel)

Message = (
    DeviceStatus
    | Buzz
    | SyncRequest
    | SyncReply
    | DeviceCommand
    | DeviceError
    | GameBuzzers
    | GameState
    | PublicQuestion
    | Scoreboard
    | GameEventEnvelope
    | GameCommand
    | CommandReply
    | HubStatus
)
"""Any message `decode_for_topic` returns."""

MODEL_FOR_KIND: Final[dict[TopicKind, type[Message]]] = {
    TopicKind.DEVICE_STATUS: DeviceStatus,
    TopicKind.DEVICE_BUZZ: Buzz,
    TopicKind.DEVICE_SYNC: SyncRequest,
    TopicKind.DEVICE_SYNC_REPLY: SyncReply,
    TopicKind.DEVICE_CMD: DeviceCommand,
    TopicKind.DEVICE_ERROR: DeviceError,
    TopicKind.GAME_BUZZERS: GameBuzzers,
    TopicKind.GAME_STATE: GameState,
    TopicKind.GAME_QUESTION: PublicQuestion,
    TopicKind.GAME_SCORES: Scoreboard,
    TopicKind.GAME_EVENTS: GameEventEnvelope,
    TopicKind.GAME_COMMANDS: GameCommand,
    TopicKind.GAME_REPLIES: CommandReply,
    TopicKind.HUB_STATUS: HubStatus,
}
"""The message model carried by each kind of topic."""

ErrorCode = Literal["too_large", "malformed", "invalid"]


class CodecError(ValueError):
    """A payload we cannot accept: the sender's fault. `code` is `too_large`, `malformed` (not a JSON or
    msgpack object) or `invalid` (well-formed but not the expected message); `str(err)` is one sentence of at
    most `MAX_ERROR_CHARS`, so it fits a `DeviceError` or `CommandError` sent back to the sender as it is."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        if len(message) > MAX_ERROR_CHARS:
            message = message[: MAX_ERROR_CHARS - 1] + "…"
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


def encode(msg: BaseModel, *, fmt: Literal["json", "msgpack"] = "json") -> bytes:
    """The message as compact JSON (default) or msgpack; absent (None) fields are left out."""
    if fmt == "msgpack":
        packed: bytes = msgpack.packb(msg.model_dump(mode="json", exclude_none=True), use_bin_type=True)
        return packed
    return msg.model_dump_json(exclude_none=True).encode()


def decode(
    model_type: type[M],
    payload: bytes,
    *,
    allow_msgpack: bool = False,
    max_size: int = DEVICE_MAX_BYTES,
) -> M:
    """Validate `payload` as a `model_type` message; raise `CodecError` for anything else.

    JSON always; msgpack too when `allow_msgpack` (device topics). `max_size` bounds the payload in bytes
    before any parsing, so an oversized message costs nothing.
    """
    name = model_type.__name__
    size = len(payload)
    if size > max_size:
        raise CodecError("too_large", f"{name}: payload too large: {size} bytes > limit {max_size}")
    if not payload.strip(_JSON_WHITESPACE):
        raise CodecError("malformed", f"{name}: empty payload; expected a JSON object")
    if payload[0] in _MSGPACK_MAP_FIRST_BYTES:
        if not allow_msgpack:
            raise CodecError("malformed", f"{name}: looks like msgpack, which is accepted on device topics only")
        document = _msgpack_to_json(name, payload)
    elif payload.lstrip(_JSON_WHITESPACE).startswith(b"{"):
        document = payload
    else:
        accepted = "a JSON or msgpack object" if allow_msgpack else "a JSON object"
        raise CodecError("malformed", f"{name}: not {accepted} (first byte 0x{payload[0]:02x})")
    try:
        return model_type.model_validate_json(document, context=dict(WIRE_CONTEXT))
    except ValidationError as exc:
        raise CodecError(*_describe(name, exc.errors(include_url=False))) from None


def decode_for_topic(
    topic: ParsedTopic,
    payload: bytes,
    *,
    device_max_bytes: int = DEVICE_MAX_BYTES,
    game_max_bytes: int = GAME_MAX_BYTES,
) -> Message | None:
    """Decode `payload` as the message its topic carries (see `MODEL_FOR_KIND`).

    An empty payload on a retained topic is MQTT's way to clear the retained message and gives None;
    everywhere else it is a `CodecError`. Device topics accept msgpack and use the device size limit.
    """
    kind = topic.kind
    if not payload and kind.rule.retained:
        return None
    model: type[Message] = MODEL_FOR_KIND[kind]
    if kind.is_device:
        return decode(model, payload, allow_msgpack=True, max_size=device_max_bytes)
    return decode(model, payload, allow_msgpack=False, max_size=game_max_bytes)


def _msgpack_to_json(name: str, payload: bytes) -> bytes:
    try:
        # strict_map_key: JSON objects only have string keys. (unpackb bounds every length by the payload
        # size, so a hostile header cannot make it reserve memory for billions of entries.)
        obj: Any = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError("malformed", f"{name}: not a valid msgpack document ({_reason(exc)})") from None
    try:
        return json.dumps(obj, allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise CodecError("malformed", f"{name}: msgpack value has no JSON equivalent ({_reason(exc)})") from None
    except RecursionError:
        raise CodecError("malformed", f"{name}: msgpack document nested too deeply") from None


def _describe(name: str, errors: list[ErrorDetails]) -> tuple[ErrorCode, str]:
    if errors and errors[0]["type"] in {"json_invalid", "json_type"}:
        return "malformed", f"{name}: not valid JSON ({errors[0]['msg']})"
    parts = []
    for err in errors[:_MAX_ERRORS_SHOWN]:
        # A hostile document can have field names of any length; keep each part short.
        where = ".".join(_clip(str(part)) for part in err["loc"]) or "(message)"
        # Pydantic prefixes validator errors with "Value error, "; the sentence after it is ours.
        text = err["msg"].removeprefix("Value error, ")
        got = "" if err["type"] in {"missing", "value_error"} else f" (got {_short(err.get('input'))})"
        parts.append(f"field {where}: {text}{got}")
    more = len(errors) - _MAX_ERRORS_SHOWN
    suffix = f"; and {more} more" if more > 0 else ""
    return "invalid", f"{name}: " + "; ".join(parts) + suffix


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_INPUT_SHOWN else text[: _MAX_INPUT_SHOWN - 1] + "…"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 2 * _MAX_INPUT_SHOWN else text[: 2 * _MAX_INPUT_SHOWN - 1] + "…"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_INPUT_SHOWN else text[: _MAX_INPUT_SHOWN - 1] + "…"
