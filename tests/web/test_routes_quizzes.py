"""Quiz routes: CRUD, every question type, import (JSON, CSV, Open Trivia DB) and export, through the real app."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator
from routes_kit import QUIZ_DOC, bearer, signed_in, stored_game, tokens_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from hub.db.repository import Repository

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "quiz.schema.json").read_text())


@pytest.fixture
async def host(app: FastAPI, repo: Repository) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, repo, "quizmaster") as client:
        yield client


async def _count(repo: Repository) -> int:
    return len(await repo.list_quizzes())


async def test_crud_with_every_question_type(host: httpx.AsyncClient, repo: Repository) -> None:
    created = await host.post("/api/quizzes", json={"title": "Night", "description": "d"})
    assert created.status_code == 201, created.text
    quiz_id = created.json()["id"]
    assert created.json()["owner_id"] is not None
    questions: list[dict[str, Any]] = [
        {"type": "buzzer", "text": "Red planet?", "answer": "Mars", "round_title": "R1"},
        {"type": "multiple_choice", "text": "Pick", "choices": ["a", "b"], "answer": 1, "round_title": "R1"},
        {"type": "true_false", "text": "Sky blue?", "answer": True},
        {"type": "numeric", "text": "How many?", "answer": 12.5, "answer_time_ms": 30000},
        {"type": "open_text", "text": "Why?", "points": 7, "penalty": 2},
    ]
    ids = []
    for body in questions:
        response = await host.post(f"/api/quizzes/{quiz_id}/questions", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    detail = (await host.get(f"/api/quizzes/{quiz_id}")).json()
    assert [q["type"] for q in detail["questions"]] == [q["type"] for q in questions]
    assert [r["title"] for r in detail["rounds"]] == ["R1"]
    assert detail["questions"][1]["choices"] == ["a", "b"]

    replaced = await host.put(f"/api/quizzes/{quiz_id}/questions/{ids[0]}", json={"type": "buzzer", "text": "Blue?"})
    assert replaced.status_code == 200
    assert replaced.json()["position"] == 0
    assert (await host.delete(f"/api/quizzes/{quiz_id}/questions/{ids[4]}")).status_code == 204
    patched = await host.patch(f"/api/quizzes/{quiz_id}", json={"title": "Renamed"})
    assert patched.json()["title"] == "Renamed"
    assert len(patched.json()["questions"]) == 4
    assert [q["id"] for q in (await host.get("/api/quizzes")).json()] == [quiz_id]
    assert (await host.delete(f"/api/quizzes/{quiz_id}")).status_code == 204
    assert (await host.get(f"/api/quizzes/{quiz_id}")).status_code == 404


async def test_an_invalid_question_is_refused_with_a_sentence(host: httpx.AsyncClient) -> None:
    quiz_id = (await host.post("/api/quizzes", json={"title": "Night"})).json()["id"]
    bad = await host.post(
        f"/api/quizzes/{quiz_id}/questions",
        json={"type": "multiple_choice", "text": "x", "choices": ["a"], "answer": 0},
    )
    assert bad.status_code == 422
    assert "2-10 non-empty choices" in json.dumps(bad.json())
    other = (await host.post("/api/quizzes", json={"title": "Other"})).json()["id"]
    qid = (await host.post(f"/api/quizzes/{quiz_id}/questions", json={"type": "buzzer", "text": "y"})).json()["id"]
    wrong_quiz = await host.delete(f"/api/quizzes/{other}/questions/{qid}")
    assert wrong_quiz.status_code == 404
    assert wrong_quiz.json()["detail"] == f"Quiz {other} has no question with id {qid}."


async def _quiz_with(host: httpx.AsyncClient, *texts: str) -> tuple[int, list[int]]:
    questions = [{"type": "buzzer", "text": text} for text in texts]
    body = (await host.post("/api/quizzes", json={"title": "Order", "questions": questions})).json()
    return body["id"], [q["id"] for q in body["questions"]]


async def test_reorder_puts_every_question_in_its_new_place(host: httpx.AsyncClient) -> None:
    quiz_id, ids = await _quiz_with(host, "a", "b", "c")
    moved = await host.put(f"/api/quizzes/{quiz_id}/order", json={"question_ids": [ids[2], ids[0], ids[1]]})
    assert moved.status_code == 200, moved.text
    assert [(q["text"], q["position"]) for q in moved.json()["questions"]] == [("c", 0), ("a", 1), ("b", 2)]
    stored = (await host.get(f"/api/quizzes/{quiz_id}")).json()["questions"]
    assert [q["text"] for q in stored] == ["c", "a", "b"]


async def test_a_reorder_that_does_not_name_each_question_once_changes_nothing(host: httpx.AsyncClient) -> None:
    quiz_id, ids = await _quiz_with(host, "a", "b")
    _, (foreign,) = await _quiz_with(host, "other")
    for order in ([ids[1]], [ids[1], ids[0], foreign]):
        stale = await host.put(f"/api/quizzes/{quiz_id}/order", json={"question_ids": order})
        assert stale.status_code == 409, stale.text
        assert "reload the quiz" in stale.json()["detail"]
    twice = await host.put(f"/api/quizzes/{quiz_id}/order", json={"question_ids": [ids[0], ids[0]]})
    assert twice.status_code == 422
    assert "names a question twice" in twice.json()["detail"]
    missing = await host.put("/api/quizzes/999999/order", json={"question_ids": ids})
    assert missing.status_code == 404
    assert [q["text"] for q in (await host.get(f"/api/quizzes/{quiz_id}")).json()["questions"]] == ["a", "b"]


async def test_a_quiz_with_games_cannot_be_deleted(host: httpx.AsyncClient, repo: Repository) -> None:
    quiz_id, _ = await stored_game(repo)
    refused = await host.delete(f"/api/quizzes/{quiz_id}")
    assert refused.status_code == 409
    assert "delete those games before the quiz" in refused.json()["detail"]


async def test_json_import_export_round_trip(host: httpx.AsyncClient) -> None:
    imported = await host.post("/api/quizzes/import", json=QUIZ_DOC)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["title"] == "Pub night"
    assert [r["title"] for r in body["rounds"]] == ["Warm-up", "Finale"]
    assert [q["type"] for q in body["questions"]] == [
        "buzzer",
        "multiple_choice",
        "true_false",
        "numeric",
        "open_text",
    ]
    assert body["questions"][2]["answer"] is True
    assert body["questions"][3]["buzz_window_ms"] == 1500
    assert body["questions"][4]["media"] == {"url": "https://x/a.png"}
    exported = (await host.get(f"/api/quizzes/{body['id']}/export")).json()
    Draft202012Validator(SCHEMA).validate(exported)
    assert exported == QUIZ_DOC | {"rounds": exported["rounds"]}
    assert exported["rounds"][0]["questions"][1] == QUIZ_DOC["rounds"][0]["questions"][1]
    again = await host.post("/api/quizzes/import", json=exported)
    assert (await host.get(f"/api/quizzes/{again.json()['id']}/export")).json() == exported


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rounds"][1]["questions"][1].update(type="essay"), "round 2, question 2: unknown type 'essay'"),
        (lambda d: d["rounds"][0]["questions"][1].update(answer=7), "round 1, question 2:"),
        (lambda d: d["rounds"][1]["questions"][0].update(text="x" * 2001), "round 2, question 1: text"),
        (lambda d: d.update(rounds=[]), "'rounds' must be a non-empty list"),
        (lambda d: d.update(format="kahoot"), "unsupported format 'kahoot'"),
    ],
)
async def test_a_bad_json_file_names_the_place_and_stores_nothing(
    host: httpx.AsyncClient, repo: Repository, mutate: Any, message: str
) -> None:
    doc = copy.deepcopy(QUIZ_DOC)
    mutate(doc)
    refused = await host.post("/api/quizzes/import", json=doc)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("Nothing was imported. ")
    assert message.lower() in refused.json()["detail"].lower()
    assert await _count(repo) == 0


CSV_TEXT = """round,type,text,choices,answer,points,penalty,buzz_window_s,answer_time_s,media
R1,buzzer,Red planet?,,Mars,10,5,2,,
R1,multiple_choice,"Longest river, really?",Danube|Nile|Seine,Nile,20,,,20,
R2,true_false,Octopus hearts = 3,,true,,,,,

R2,numeric,Bones?,,206,,,,,
R2,open_text,Capital of Australia?,,Canberra,,,,,https://x/a.png
"""


async def _upload(host: httpx.AsyncClient, text: str, title: str = "From CSV") -> httpx.Response:
    return await host.post(
        "/api/quizzes/import/csv", files={"file": ("quiz.csv", text.encode(), "text/csv")}, data={"title": title}
    )


async def test_csv_import_and_export(host: httpx.AsyncClient) -> None:
    imported = await _upload(host, CSV_TEXT)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["title"] == "From CSV"
    questions = body["questions"]
    assert [q["type"] for q in questions] == ["buzzer", "multiple_choice", "true_false", "numeric", "open_text"]
    assert questions[1]["text"] == "Longest river, really?"
    assert questions[1]["answer"] == 1
    assert questions[0]["buzz_window_ms"] == 2000
    assert questions[2]["answer"] is True
    assert questions[2]["points"] == 10
    exported = await host.get(f"/api/quizzes/{body['id']}/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[1]["answer"] == "Nile"
    assert rows[1]["choices"] == "Danube|Nile|Seine"
    assert rows[2]["answer"] == "true"
    again = await _upload(host, exported.text)
    assert [q["answer"] for q in again.json()["questions"]] == [q["answer"] for q in questions]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CSV_TEXT.replace("Danube|Nile|Seine,Nile", "Danube|Nile|Seine,Rhine"), "line 3: the answer 'Rhine'"),
        (CSV_TEXT.replace("R2,numeric,Bones?,,206", "R2,numeric,Bones?,,many"), "line 6: a numeric answer"),
        (CSV_TEXT.replace("R2,true_false", "R2,quiz"), "line 4: unknown type 'quiz'"),
        (CSV_TEXT.replace(",true,,,,,", ",true,-3,,,,"), "line 4: 'points' must be a non-negative number"),
        ("title,body\nx,y\n", "line 1: the header row must name the columns 'type' and 'text'"),
        ("type,text\n", "the quiz has no questions"),
    ],
)
async def test_a_bad_csv_names_the_line_and_stores_nothing(
    host: httpx.AsyncClient, repo: Repository, text: str, message: str
) -> None:
    refused = await _upload(host, text)
    assert refused.status_code == 422, refused.text
    assert message.lower() in refused.json()["detail"].lower()
    assert await _count(repo) == 0


OPENTDB = {
    "response_code": 0,
    "results": [
        {
            "type": "multiple",
            "difficulty": "easy",
            "category": "Entertainment: Books",
            "question": "Who wrote &quot;Pride &amp; Prejudice&quot;?",
            "correct_answer": "Jane Austen",
            "incorrect_answers": ["Charlotte Bront&euml;", "Mary Shelley", "George Eliot"],
        },
        {
            "type": "boolean",
            "difficulty": "medium",
            "category": "Science &amp; Nature",
            "question": "The Sun is a star.",
            "correct_answer": "True",
            "incorrect_answers": ["False"],
        },
    ],
}


async def test_open_trivia_db_import_decodes_entities(host: httpx.AsyncClient) -> None:
    imported = await host.post("/api/quizzes/import/opentdb", params={"title": "Trivia"}, json=OPENTDB)
    assert imported.status_code == 201, imported.text
    first, second = imported.json()["questions"]
    assert first["text"] == 'Who wrote "Pride & Prejudice"?'
    assert first["choices"][first["answer"]] == "Jane Austen"
    assert sorted(first["choices"]) == sorted(["Jane Austen", "Charlotte Brontë", "Mary Shelley", "George Eliot"])
    assert second["type"] == "true_false"
    assert second["answer"] is True
    assert [r["title"] for r in imported.json()["rounds"]] == ["Entertainment: Books", "Science & Nature"]
    again = await host.post("/api/quizzes/import/opentdb", json=OPENTDB)
    assert again.json()["questions"][0]["answer"] == first["answer"]  # the same file imports the same way


async def test_a_bad_open_trivia_file_names_the_question(host: httpx.AsyncClient, repo: Repository) -> None:
    doc = copy.deepcopy(OPENTDB)
    doc["results"][1]["type"] = "essay"
    refused = await host.post("/api/quizzes/import/opentdb", json=doc)
    assert refused.status_code == 422
    assert "Question 2: unknown type 'essay'" in refused.json()["detail"]
    assert await _count(repo) == 0


async def test_quiz_routes_refuse_anonymous_and_non_hosts(app: FastAPI, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    tokens = await tokens_for(repo, game_id)
    async with bearer(app, "") as anonymous:
        del anonymous.headers["Authorization"]
        refused = await anonymous.get("/api/quizzes")
        assert refused.status_code == 401
        assert refused.json()["detail"].startswith("Sign in first")
    for role, token in tokens.items():
        async with bearer(app, token) as client:
            response = await client.post("/api/quizzes/import", json=QUIZ_DOC)
            assert response.status_code == 403, role
            assert response.json()["detail"].startswith("This needs the admin or quizmaster role")
    assert len(await repo.list_quizzes()) == 1
