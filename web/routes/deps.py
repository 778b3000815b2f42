"""What the resource routes share: the repository, the hub client, path parameters, refusals as sentences.

The hub client (``app.state.hub_client``, set by the lifespan) sends host commands over MQTT and keeps the latest
retained game documents. Until it is there, every route that needs the hub answers 503 with a sentence.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Final, Protocol, runtime_checkable

from fastapi import Depends, HTTPException, Path, Request, status
from pydantic import ValidationError

from hub.db.errors import AlreadyExistsError, InUseError, NotFoundError, RepositoryError
from hub.db.repository import Repository
from hub.messages import GameCommand
from web.api_models import ID_PATTERN
from web.auth.runtime import get_repository

if TYPE_CHECKING:
    from hub.db.models import Game
    from web.auth import Principal

__all__ = [
    "CONFLICT_CODES",
    "DbId",
    "DeviceId",
    "GameId",
    "HubClient",
    "HubDep",
    "RepoDep",
    "get_game_or_404",
    "hub_client",
    "latest",
    "refuse",
    "repository",
    "repository_error",
    "send_command",
]

DbId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A database row id.")]
GameId = Annotated[str, Path(pattern=ID_PATTERN, description="A game id.")]
DeviceId = Annotated[str, Path(pattern=ID_PATTERN, description="A device id (its MQTT user name).")]

CONFLICT_CODES: Final = frozenset(
    {
        "wrong_phase",
        "not_armed",
        "ruling_pending",
        "team_exists",
        "team_answering",
        "unknown_game",
        "finished",
        "nothing_to_undo",
    }
)
"""Hub refusals caused by the game's current state (409); every other host-fault code is a bad command (422)."""
_HUB_FAULT_CODES: Final = frozenset({"internal", "game_error"})


@runtime_checkable
class HubClient(Protocol):
    """What the routes need from :class:`web.hubclient.HubClient` (tests pass a double)."""

    @property
    def connected(self) -> bool:
        """Whether the MQTT session is up."""
        ...

    async def command(self, game_id: str, body: dict[str, Any]) -> Any:
        """Send a command to the hub and wait for its reply (``ok``, ``error.code``/``.message``, ``result``)."""
        ...

    def retained(self, game_id: str) -> dict[str, bytes]:
        """The latest retained ``state``/``question``/``scores`` payloads of a game."""
        ...


def refuse(code: int, sentence: str) -> HTTPException:
    """An HTTP refusal whose detail is one sentence, as every refusal in Quizhub is."""
    return HTTPException(code, sentence)


def repository_error(exc: RepositoryError) -> HTTPException:
    """Map the repository's errors to a status: unknown 404, taken 409, in use 409."""
    message = str(exc)
    sentence = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    if isinstance(exc, NotFoundError):
        return refuse(status.HTTP_404_NOT_FOUND, sentence)
    if isinstance(exc, AlreadyExistsError | InUseError):
        return refuse(status.HTTP_409_CONFLICT, sentence)
    return refuse(status.HTTP_409_CONFLICT, sentence)


def repository(request: Request) -> Repository:
    """The app's repository (``app.state.repo`` from the lifespan, else one on ``app.state.db_sessions``)."""
    repo = getattr(request.app.state, "repo", None)
    return repo if isinstance(repo, Repository) else get_repository(request)


RepoDep = Annotated[Repository, Depends(repository)]


def hub_client(request: Request) -> HubClient:
    """The app's hub client; 503 with a sentence when the web process has none (yet)."""
    client = getattr(request.app.state, "hub_client", None)
    if client is None or not getattr(client, "connected", True):
        raise refuse(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The hub is not connected, so game commands cannot be sent now; try again in a moment.",
        )
    return client  # type: ignore[no-any-return]


HubDep = Annotated[HubClient, Depends(hub_client)]


async def get_game_or_404(repo: Repository, game_id: str) -> Game:
    """The game, or 404 with a sentence."""
    game = await repo.get_game(game_id)
    if game is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"There is no game with id {game_id!r}.")
    return game


async def send_command(hub: HubClient, game_id: str, body: dict[str, Any], actor: Principal) -> dict[str, Any]:
    """Send ``body`` to the hub for ``game_id`` as ``actor``; the hub's ``result`` on success, else an HTTP
    refusal carrying the hub's own sentence: 409 for the game's state, 422 for a bad command, 502 for the hub."""
    command = {"actor": actor.name[:128], **body}
    try:  # what the hub would refuse, refused here without a round trip (the client sets the real id)
        GameCommand.model_validate({**command, "id": "check"})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"][1:])  # [0] is the command variant's tag
        message = str(first["msg"]).removeprefix("Value error, ")
        raise refuse(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"This {body.get('cmd')} command is not valid: {where}: {message}."
        ) from None
    try:
        reply = await hub.command(game_id, command)
    except ValueError as exc:
        raise refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, f"The hub client refused the command: {exc}.") from None
    except TimeoutError:
        raise refuse(
            status.HTTP_504_GATEWAY_TIMEOUT, "The hub did not answer the command in time; check the hub's status."
        ) from None
    except ConnectionError:
        raise refuse(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The hub is not connected, so the command was not sent."
        ) from None
    if getattr(reply, "ok", False):
        result = getattr(reply, "result", None)
        return dict(result) if isinstance(result, dict) else {}
    error = getattr(reply, "error", None)
    code = str(getattr(error, "code", "internal"))
    message = str(getattr(error, "message", "the hub refused the command without saying why"))
    sentence = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    if code in _HUB_FAULT_CODES:
        raise refuse(status.HTTP_502_BAD_GATEWAY, f"The hub failed: {sentence}")
    if code in CONFLICT_CODES:
        raise refuse(status.HTTP_409_CONFLICT, sentence)
    raise refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, sentence)


def latest(request: Request, game_id: str, kind: str) -> dict[str, Any] | None:
    """The hub client's latest retained ``kind`` document (state, question, scores) for a game, if it has one."""
    client = getattr(request.app.state, "hub_client", None)
    reader = getattr(client, "retained", None)
    if reader is None:
        return None
    raw = reader(game_id).get(kind)
    if not raw:
        return None  # never seen, or cleared (an empty retained payload)
    try:
        value = json.loads(raw)
    except ValueError:
        return None  # the hub publishes JSON; anything else is not ours to show
    return value if isinstance(value, dict) else None
