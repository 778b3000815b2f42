"""A request the API's models refuse gets 422 with a sentence per problem (where, what, what to send), a
machine-readable list, and never the refused input back (web/errors.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from routes_kit import FakeHub, signed_in, stored_game
from web_testkit import client_for

from web.errors import problem_sentence

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from hub.db.repository import Repository


@pytest.fixture
async def host(app: FastAPI, repo: Repository) -> AsyncIterator[httpx.AsyncClient]:
    app.state.hub_client = FakeHub()
    async with signed_in(app, repo, "admin", "ada") as client:
        yield client


def _refused(response: httpx.Response) -> tuple[str, list[dict[str, Any]]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert isinstance(body["detail"], str), body
    for error in body["errors"]:
        assert set(error) == {"loc", "field", "type", "message"}, error  # no "input": nothing refused is echoed
        assert error["message"] in body["detail"]
    return body["detail"], body["errors"]


async def test_a_missing_field_names_it_and_says_to_add_it(host: httpx.AsyncClient) -> None:
    detail, errors = _refused(await host.post("/api/games", json={}))
    assert detail == "Field 'quiz_id' of the request body is missing; add it."
    assert errors == [{"loc": ["body", "quiz_id"], "field": "quiz_id", "type": "missing", "message": detail}]


async def test_every_problem_of_a_host_command_gets_its_own_sentence(
    host: httpx.AsyncClient, repo: Repository
) -> None:
    _, game_id = await stored_game(repo)
    body = {"cmd": "explode", "q": -1, "extra": 1}
    detail, errors = _refused(await host.post(f"/api/games/{game_id}/commands", json=body))
    by_field = {e["field"]: e["message"] for e in errors}
    assert by_field["cmd"].startswith("Field 'cmd' of the request body must be 'show', 'arm'")
    assert by_field["cmd"].endswith("; send one of these.")
    assert by_field["q"] == (
        "Field 'q' of the request body is not valid: input should be greater than or equal to 0; "
        "send a value that fits (see /api/docs for the accepted shape)."
    )
    assert by_field["extra"] == "Field 'extra' of the request body is not a field this route accepts; remove it."
    assert detail == " ".join(e["message"] for e in errors)


async def test_nested_fields_are_named_by_their_path(host: httpx.AsyncClient) -> None:
    quiz = {"title": "Night", "questions": [{"type": "buzzer", "text": "ok"}, {"type": "riddle", "text": "?"}]}
    _, errors = _refused(await host.post("/api/quizzes", json=quiz))
    assert any(e["field"].startswith("questions[1]") for e in errors), errors
    assert all(e["message"].startswith(f"Field '{e['field']}' of the request body") for e in errors)


async def test_a_refused_password_is_never_sent_back(host: httpx.AsyncClient) -> None:
    response = await host.post("/api/users", json={"name": "quinn", "role": "admin", "password": "s3cr!"})
    assert "s3cr!" not in response.text
    detail, _ = _refused(response)
    assert "password" in detail


async def test_bad_json_a_missing_body_and_a_bad_query_parameter(app: FastAPI, host: httpx.AsyncClient) -> None:
    broken = await host.post("/api/quizzes", content=b'{"title": ', headers={"content-type": "application/json"})
    detail, errors = _refused(broken)
    assert detail.startswith("The request body is not valid JSON (")
    assert detail.endswith("); send a JSON document.")
    assert errors[0]["field"] == ""
    detail, _ = _refused(await host.post("/api/quizzes"))
    assert detail.startswith("The request body is missing; send a JSON body")
    async with client_for(app) as anyone:
        detail, errors = _refused(await anyone.get("/api/join/qr.svg", params={"code": "abc"}))
    assert detail.startswith("Query parameter 'code' is not valid: string should match pattern")
    assert errors[0]["loc"] == ["query", "code"]


def test_the_openapi_document_describes_this_body(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    problem = schemas["HTTPValidationError"]
    assert problem["properties"]["detail"]["type"] == "string"
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldProblem"}
    assert set(schemas["FieldProblem"]["properties"]) == {"loc", "field", "type", "message"}
    assert "ValidationError" not in schemas


def test_a_validator_sentence_loses_pydantics_prefix() -> None:
    sentence = problem_sentence(
        {"type": "value_error", "loc": ("body", "choices"), "msg": "Value error, a question needs 2-10 choices"}
    )
    assert sentence == (
        "Field 'choices' of the request body is not valid: a question needs 2-10 choices; "
        "send a value that fits (see /api/docs for the accepted shape)."
    )
