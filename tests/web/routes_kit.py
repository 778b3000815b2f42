"""Helpers for the REST resource tests: a hub client double, signed-in clients per role, a stored quiz and game.

The hub double answers commands the way the hub does (``hub.messages.CommandReply``) and keeps retained documents
for ``latest``; everything else (app, database, sessions, CSRF, rate limits) is the real thing.
"""

from __future__ import annotations

import itertools
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from web_testkit import client_for

from hub.db.models import UserRole
from hub.messages import CommandError, CommandReply
from web.auth import create_user, issue_display_token, issue_integrator_token, issue_team_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from hub.db.repository import Repository

PASSWORD = "correct horse battery"

QUIZ_DOC: dict[str, Any] = {
    "format": "quizhub-quiz/1",
    "title": "Pub night",
    "description": "Every type once.",
    "rounds": [
        {
            "title": "Warm-up",
            "questions": [
                {"type": "buzzer", "text": "Red planet?", "answer": "Mars", "points": 10, "penalty": 5},
                {
                    "type": "multiple_choice",
                    "text": "Longest river?",
                    "choices": ["Danube", "Nile", "Seine"],
                    "answer": 1,
                    "points": 20,
                    "answer_time_s": 20,
                },
            ],
        },
        {
            "title": "Finale",
            "questions": [
                {"type": "true_false", "text": "Octopuses have three hearts.", "answer": True, "points": 5},
                {"type": "numeric", "text": "Bones in an adult?", "answer": 206, "points": 10, "buzz_window_s": 1.5},
                {
                    "type": "open_text",
                    "text": "Capital of Australia?",
                    "answer": "Canberra",
                    "media": "https://x/a.png",
                },
            ],
        },
    ],
}


@dataclass
class FakeHub:
    """A stand-in for ``web.hubclient.HubClient``: records commands, answers each with a scripted reply."""

    connected: bool = True
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refusals: dict[str, tuple[str, str]] = field(default_factory=dict)
    docs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def command(self, game_id: str, body: dict[str, Any]) -> CommandReply:
        assert "id" not in body, "the hub client sets the correlation id"
        self.sent.append((game_id, body))
        cid = "c1"
        refusal = self.refusals.get(body["cmd"])
        if refusal is not None:
            return CommandReply(id=cid, ok=False, error=CommandError(code=refusal[0], message=refusal[1]))
        return CommandReply(id=cid, ok=True, result={"seq": next(self._seq)})

    def retained(self, game_id: str) -> dict[str, bytes]:
        return {kind: json.dumps(doc).encode() for (game, kind), doc in self.docs.items() if game == game_id}

    def commands(self, cmd: str) -> list[tuple[str, dict[str, Any]]]:
        return [(g, b) for g, b in self.sent if b["cmd"] == cmd]


@asynccontextmanager
async def signed_in(
    app: FastAPI, repo: Repository, role: str, name: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a session cookie for a new ``role`` user and the CSRF header set on every request."""
    name = name or f"{role}-user"
    if await repo.get_user_by_name(name) is None:
        await create_user(repo, name, UserRole(role), PASSWORD)
    async with client_for(app) as client:
        response = await client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


def bearer(app: FastAPI, token: str) -> httpx.AsyncClient:
    """A client sending ``token`` as its bearer credential."""
    return client_for(app, headers={"Authorization": f"Bearer {token}"})


async def stored_game(repo: Repository) -> tuple[int, str]:
    """A quiz with one question and a game of it: (quiz id, game id)."""
    from hub.db.models import QuestionType  # noqa: PLC0415 - local: only this helper needs it
    from hub.db.schemas import QuestionCreate, QuizCreate  # noqa: PLC0415

    quiz = await repo.create_quiz(
        QuizCreate(title="Quick", questions=[QuestionCreate(type=QuestionType.BUZZER, text="Why?", answer="42")])
    )
    assert quiz.id is not None
    game = await repo.create_game(quiz.id)
    return quiz.id, game.id


async def tokens_for(repo: Repository, game_id: str) -> dict[str, str]:
    """A team, a display and an integrator token for ``game_id``, by role name."""
    _, team = await issue_team_token(repo, game_id=game_id, name="Owls")
    _, display = await issue_display_token(repo, game_id=game_id, name="screen")
    _, integrator = await issue_integrator_token(repo, name="overlay")
    return {"team": team, "display": display, "integrator": integrator}
