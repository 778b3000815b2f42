"""Request validation errors as sentences: what is wrong where, and what to send instead.

FastAPI answers a request its models refuse with 422 and pydantic's raw error list, which echoes the refused input
(a too-short password, say) and speaks pydantic. Here every problem becomes one sentence naming the field path,
what is wrong and what to send; ``detail`` is those sentences joined (a string, like every other refusal of this
API) and ``errors`` keeps the machine-readable list: ``loc``, ``field``, pydantic's ``type`` and the ``message``.
The refused input is never sent back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from fastapi import status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fastapi import FastAPI, Request

__all__ = ["FieldProblem", "ValidationProblem", "install_validation_errors", "problem_sentence", "validation_body"]

_SEE_DOCS: Final = "see /api/docs for the accepted shape"


class FieldProblem(BaseModel):
    """One refused part of a request."""

    loc: list[str | int] = Field(description="Where: `body`, `query`, `path`, `header` or `cookie`, then the path.")
    field: str = Field(description="The field path as text, e.g. `questions[2].choices`; empty for the whole body.")
    type: str = Field(description="pydantic's error type, e.g. `missing`, `string_too_short`, `literal_error`.")
    message: str = Field(description="A sentence: what is wrong and what to send instead.")


class ValidationProblem(BaseModel):
    """The 422 answer to a request the API's models refuse."""

    detail: str = Field(description="Every problem's sentence, in order.")
    errors: list[FieldProblem]


def _field(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _where(source: str, path: Sequence[str | int]) -> str:
    if source == "body":
        return f"Field '{_field(path)}' of the request body" if path else "The request body"
    kind = {"query": "Query parameter", "path": "Path parameter", "header": "Header", "cookie": "Cookie"}
    return f"{kind.get(source, source.capitalize())} '{_field(path)}'"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _is_missing_body(source: str, path: Sequence[str | int], kind: str) -> bool:
    return source == "body" and not path and kind == "missing"


_TEMPLATES: Final[dict[str, Callable[[str, Mapping[str, Any], str], str]]] = {
    "missing": lambda where, _ctx, _msg: f"{where} is missing; add it.",
    "extra_forbidden": lambda where, _ctx, _msg: f"{where} is not a field this route accepts; remove it.",
    "literal_error": lambda where, ctx, _msg: f"{where} must be {ctx.get('expected', 'one of the listed values')}; "
    "send one of these.",
    "enum": lambda where, ctx, _msg: f"{where} must be {ctx.get('expected', 'one of the listed values')}; "
    "send one of these.",
    "model_attributes_type": lambda where, _ctx, _msg: f"{where} must be a JSON object; send {{...}} with the fields.",
    "dict_type": lambda where, _ctx, _msg: f"{where} must be a JSON object; send {{...}} with the fields.",
}


def problem_sentence(error: Mapping[str, Any]) -> str:
    """One pydantic/FastAPI error dict as a sentence (never quoting the refused input)."""
    loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
    source, path = (str(loc[0]), loc[1:]) if loc else ("body", [])
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    msg = str(error.get("msg", "")).removeprefix("Value error, ").rstrip(".")
    if kind == "json_invalid":  # loc ends in the character offset, not a field
        reason = ctx.get("error", "it cannot be parsed")
        return f"The request body is not valid JSON ({reason}); send a JSON document."
    if _is_missing_body(source, path, kind):
        return f"The request body is missing; send a JSON body ({_SEE_DOCS})."
    where = _where(source, path)
    template = _TEMPLATES.get(kind)
    if template is not None:
        return template(where, ctx, msg)
    return f"{where} is not valid: {_lower_first(msg)}; send a value that fits ({_SEE_DOCS})."


def validation_body(errors: Sequence[Mapping[str, Any]]) -> ValidationProblem:
    """The 422 answer for these errors: one sentence each, and the machine-readable list."""
    problems: list[FieldProblem] = []
    for error in errors:
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        kind = str(error.get("type", "invalid"))
        field = "" if kind == "json_invalid" else _field(loc[1:])
        problems.append(FieldProblem(loc=loc, field=field, type=kind, message=problem_sentence(error)))
    if not problems:  # pragma: no cover - FastAPI raises with at least one error
        sentence = f"The request is not valid; {_SEE_DOCS}."
        problems.append(FieldProblem(loc=[], field="", type="invalid", message=sentence))
    return ValidationProblem(detail=" ".join(p.message for p in problems), errors=problems)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    body = validation_body(errors)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _document(schema: dict[str, Any]) -> None:
    """Make the OpenAPI 422 answers describe this body instead of FastAPI's default list."""
    components = schema.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in components:
        return
    ref = "#/components/schemas/{model}"
    problem = ValidationProblem.model_json_schema(ref_template=ref)
    components.update(problem.pop("$defs", {}))
    components["HTTPValidationError"] = problem
    components.pop("ValidationError", None)  # FastAPI's item schema; only HTTPValidationError referred to it


def install_validation_errors(app: FastAPI) -> None:
    """Answer every refused request with :class:`ValidationProblem` and say so in the OpenAPI document."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        documented = app.openapi_schema is not None
        schema = build()
        if not documented:
            _document(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document
