"""Helpers for the contract tests: the schema files, a validator, and hypothesis strategies from both sides.

`from_schema` turns one of *our* JSON Schemas into a strategy (the subset we use: object/array/string/integer/
number/boolean, const/enum, oneOf, local and cross-file $ref, and the if/then/else forms in game-event and
game-reply). hypothesis-jsonschema would do this, but its last release crashes on current hypothesis.
`from_model` builds instances from a pydantic model's own field types and constraints, independently of the
schema files, so "model → schema" is a real second direction.
"""

from __future__ import annotations

import json
import re
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import jsonschema
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import AfterValidator, BaseModel, RootModel, ValidationError
from pydantic.fields import FieldInfo
from referencing import Registry, Resource

from hub import messages as m

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas"

MODEL_FOR_SCHEMA: dict[str, type[BaseModel]] = {
    "device-status": m.DeviceStatus,
    "device-buzz": m.Buzz,
    "device-sync": m.SyncRequest,
    "device-sync-reply": m.SyncReply,
    "device-cmd": m.DeviceCommand,
    "device-error": m.DeviceError,
    "game-buzzers": m.GameBuzzers,
    "game-state": m.GameState,
    "game-question": m.PublicQuestion,
    "game-reveal": m.QuestionReveal,
    "game-scores": m.Scoreboard,
    "game-event": m.GameEventEnvelope,
    "game-command": m.GameCommand,
    "game-reply": m.CommandReply,
    "hub-status": m.HubStatus,
}


WIRE_PREFIXES = ("device-", "game-", "hub-")
"""Schema files named so are MQTT messages; others in schemas/ (a quiz file format, say) are not."""


def is_wire_schema(name: str) -> bool:
    return name.startswith(WIRE_PREFIXES)


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema file by name (`device-buzz`), parsed."""
    return {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(SCHEMA_DIR.glob("*.schema.json"))
    }


@cache
def registry() -> Registry:
    return Registry().with_resources((doc["$id"], Resource.from_contents(doc)) for doc in schemas().values())


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    # JSON Schema patterns are ECMA-262, where `$` matches only at the very end; Python's `$` also matches
    # before a final newline, so stock python-jsonschema would accept "dev7\n" as an id. Pydantic (Rust regex)
    # and every JS consumer refuse it; emulate ECMA here so the comparison is against the real contract.
    if validator.is_type(instance, "string"):
        ecma = re.sub(r"\$$", r"\\Z", pattern)
        if not re.search(ecma, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = jsonschema.validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


@cache
def validator(name: str) -> Any:
    """A 2020-12 validator for schema `name` with every $ref inlined (the schemas are not recursive), which
    spares `referencing` lookups in the hot loop of the property tests."""
    return EcmaValidator(inline_refs(schemas()[name], name))


def registry_validator(name: str) -> Any:
    """The same check as an integrator would run it: cross-file $refs resolved by $id through a registry."""
    return EcmaValidator(schemas()[name], registry=registry())


def inline_refs(node: Any, doc: str) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target, target_doc = _resolve(node["$ref"], doc)
            return inline_refs({k: v for k, v in target.items() if k not in {"$id", "$schema", "examples"}}, target_doc)
        return {k: inline_refs(v, doc) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [inline_refs(v, doc) for v in node]
    return node


def schema_errors(name: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator(name).iter_errors(instance)
    ]


# ------------------------------------------------------------------------------------------------ JSON values

# Our patterns are ASCII character classes; an ASCII alphabet for from_regex also spares hypothesis ~14 s of
# building a UTF-8 character map per process. Non-ASCII near-misses come from the mutation tests instead.
ASCII = st.characters(codec="ascii")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    # Integral floats are left out: JSON Schema counts 17.0 as an integer, our models (rightly) do not,
    # and no encoder of ours ever writes one.
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=4)


# ------------------------------------------------------------------------------------------------ from schema


@cache
def from_schema_name(name: str) -> st.SearchStrategy[Any]:
    """Documents valid under schema `name` (checked, so a generator slip cannot pass as agreement)."""
    return _from(schemas()[name], name).filter(validator(name).is_valid)


def _resolve(ref: str, doc_name: str) -> tuple[dict[str, Any], str]:
    file_part, _, pointer = ref.partition("#")
    if file_part:
        doc_name = file_part.removeprefix("./").removesuffix(".schema.json")
    node: Any = schemas()[doc_name]
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node, doc_name


def _from(schema: dict[str, Any], doc: str) -> st.SearchStrategy[Any]:  # noqa: C901
    if "$ref" in schema:
        target, target_doc = _resolve(schema["$ref"], doc)
        return _from(target, target_doc)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([_from(s, doc) for s in schema["oneOf"]])
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, doc)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        ints = st.integers(min_value=None if lo is None else int(lo), max_value=None if hi is None else int(hi))
        return ints | st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            strat = st.from_regex(re.sub(r"\$$", r"\\Z", schema["pattern"]), fullmatch=True, alphabet=ASCII)
            return strat.filter(lambda s: len(s) >= lo and (hi is None or len(s) <= hi))
        return st.text(min_size=lo, max_size=hi)
    if kind == "array":
        items = _from(schema["items"], doc)
        hi = min(schema.get("maxItems", 6), 6)
        unique_by = (lambda v: json.dumps(v, sort_keys=True)) if schema.get("uniqueItems") else None
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=hi, unique_by=unique_by)
    raise AssertionError(f"contract_support cannot generate from {schema!r} in {doc}")


def _object(schema: dict[str, Any], doc: str) -> st.SearchStrategy[Any]:
    if schema.get("additionalProperties", True) is not False:
        return json_objects  # free-form object (event data, reply result)
    conditionals = [schema, *schema.get("allOf", ())]
    conditionals = [c for c in conditionals if "if" in c]
    branches = [_object_branch(schema, doc, {}, set(), set())]
    for cond in conditionals:
        # Only the form we use: `if` pins one property to a const; `then` adds required or property schemas;
        # `else` may forbid properties with not/required.
        ((prop, pinned),) = cond["if"]["properties"].items()
        then = cond.get("then", {})
        overrides = {prop: pinned, **then.get("properties", {})}
        branches.append(_object_branch(schema, doc, overrides, set(then.get("required", ())), set()))
        forbidden = set(cond.get("else", {}).get("not", {}).get("required", ()))
        if forbidden:
            branches.append(_object_branch(schema, doc, {}, set(), forbidden))
    return st.one_of(branches)


def _object_branch(
    schema: dict[str, Any], doc: str, overrides: dict[str, Any], required: set[str], forbidden: set[str]
) -> st.SearchStrategy[Any]:
    props: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", ())) | required
    fixed, optional = {}, {}
    for name, sub in props.items():
        if name in forbidden:
            continue
        strat = _from(sub, doc)
        if name in overrides:
            strat = _from(overrides[name], doc)
        (fixed if name in required else optional)[name] = strat
    return st.fixed_dictionaries(fixed, optional=optional)


# ------------------------------------------------------------------------------------------------ from model


@cache
def from_model(model: type[BaseModel]) -> st.SearchStrategy[BaseModel]:
    """Instances the model itself accepts, from its field annotations and constraints alone."""
    if issubclass(model, RootModel):
        root = model.model_fields["root"]
        return _from_type(root.annotation, list(root.metadata)).map(model)
    fields = {name: _field(info) for name, info in model.model_fields.items()}
    special = _special_cases(model)
    raw = st.fixed_dictionaries(fields)
    if special is not None:
        raw = raw | special

    def build(values: dict[str, Any]) -> BaseModel | None:
        try:
            return model(**values)
        except ValidationError:
            return None  # a model-level rule (e.g. reply ok/error) refused this combination

    return raw.map(build).filter(lambda x: x is not None)  # type: ignore[return-value]


def _special_cases(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]] | None:
    # Event types whose data is typed by a model: random `type` strings would almost never hit them.
    if model is m.GameEventEnvelope:

        def typed(kind: str, data_model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
            return st.fixed_dictionaries(
                {
                    "seq": st.integers(1, 2**63 - 1),
                    "ts_us": st.integers(0, 2**63 - 1),
                    "type": st.just(kind),
                    "data": from_model(data_model).map(lambda x: json.loads(x.model_dump_json(exclude_none=True))),
                }
            )

        return typed("question_shown", m.PublicQuestion) | typed("question_revealed", m.QuestionReveal)
    return None


def _field(info: FieldInfo) -> st.SearchStrategy[Any]:
    return _from_type(info.annotation, list(info.metadata))


def _flatten(meta: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in meta:
        if isinstance(item, FieldInfo):
            out.extend(_flatten(list(item.metadata)))
        else:
            out.append(item)
    return out


def _from_type(tp: Any, meta: list[Any]) -> st.SearchStrategy[Any]:  # noqa: C901
    meta = _flatten(meta)
    origin = get_origin(tp)
    if origin is typing.Annotated:
        inner, *extra = get_args(tp)
        return _from_type(inner, meta + list(extra))
    if origin in (Union, types.UnionType):
        return st.one_of([_from_type(arg, meta) for arg in get_args(tp)])
    if tp is type(None):
        return st.none()
    if origin is Literal:
        return st.sampled_from(get_args(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return from_model(tp)
    lo = next((x.ge for x in meta if isinstance(x, at.Ge)), None)
    hi = next((x.le for x in meta if isinstance(x, at.Le)), None)
    min_len = next((x.min_length for x in meta if isinstance(x, at.MinLen)), 0)
    max_len = next((x.max_length for x in meta if isinstance(x, at.MaxLen)), None)
    pattern = next((getattr(x, "pattern", None) for x in meta if getattr(x, "pattern", None)), None)
    unique = any(isinstance(x, AfterValidator) and x.func.__name__ == "_unique" for x in meta)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=lo, max_value=hi)
    if tp is float:
        return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    if tp is str:
        if pattern is not None:
            return st.from_regex(re.sub(r"\$$", r"\\Z", pattern), fullmatch=True, alphabet=ASCII)
        return st.text(min_size=min_len, max_size=max_len)
    if origin is tuple:
        item_type, _ellipsis = get_args(tp)
        items = _from_type(item_type, [])
        size = min(max_len if max_len is not None else 6, 6)
        return st.lists(items, min_size=min_len, max_size=size, unique=unique).map(tuple)
    if origin is dict:
        return json_objects
    raise AssertionError(f"contract_support cannot generate a {tp!r}")


# ------------------------------------------------------------------------------------------------ structure

_ANNOTATIONS = {"title", "description", "examples", "default", "$id", "$schema", "$comment", "discriminator"}
_CONDITIONALS = {"allOf", "if", "then", "else"}  # model validators; covered by explicit tests instead


def normalized(node: Any, *, drop_conditionals: bool = True) -> Any:
    """A schema reduced to its constraints, so pydantic's spelling and ours compare equal when they agree:
    refs inlined (by the caller), annotations dropped, `anyOf [X, null]` → X (an absent field is how our
    optionals are spelled; the wire refuses null either way), `type` dropped next to const/enum, anyOf → oneOf
    (our alternatives never overlap), empty `additionalProperties` dropped, `required` sorted."""
    if isinstance(node, list):
        return [normalized(v, drop_conditionals=drop_conditionals) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS or (drop_conditionals and key in _CONDITIONALS):
            continue
        out[key] = normalized(value, drop_conditionals=drop_conditionals)
    if "anyOf" in out:
        options = [o for o in out.pop("anyOf") if o != {"type": "null"}]
        if len(options) == 1:
            out.update(options[0])
        else:
            out["oneOf"] = options
    if "const" in out or "enum" in out:
        out.pop("type", None)
    if out.get("additionalProperties") in ({}, True):
        del out["additionalProperties"]
    if "required" in out:
        out["required"] = sorted(out["required"])
    out.pop("$defs", None)
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(mode="validation")
    defs = raw.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return normalized(inline(raw))


def file_schema(name: str) -> dict[str, Any]:
    return normalized(inline_refs(schemas()[name], name))


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two normalized schemas differ, as readable paths."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                out.append(f"{path}/{key}: only in the file schema: {b[key]!r}"[:200])
            elif key not in b:
                out.append(f"{path}/{key}: only in the model: {a[key]!r}"[:200])
            else:
                out.extend(differences(a[key], b[key], f"{path}/{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}/{i}")]
    return [] if a == b else [f"{path or '/'}: model {a!r} != file {b!r}"[:200]]
