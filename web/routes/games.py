"""Games: create one from a quiz, its join code and QR code, its state, host commands, results.

Host commands go to the hub over MQTT through the app's hub client and are answered with the hub's own reply:
200 when it accepted, 409 when the game's state refuses it, 422 for a bad command (docs/api.md).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Annotated

import segno
from fastapi import APIRouter, Depends, Query, Request, Response, status

from hub.db.errors import RepositoryError
from hub.db.models import GameStatus
from web.api_models import (
    CommandResult,
    DisplayTokenCreate,
    DisplayTokenIssued,
    GameCreate,
    GameDetail,
    GamePublic,
    HostCommand,
    LiveState,
    ResultPublic,
    TeamPublic,
)
from web.auth import (
    DisplayDep,
    HostDep,
    Principal,
    ReaderDep,
    Role,
    issue_display_token,
    require_game_access,
    require_roles,
)
from web.routes.deps import GameId, HubDep, RepoDep, get_game_or_404, latest, refuse, repository_error, send_command

if TYPE_CHECKING:
    from hub.db.models import Game

__all__ = ["game_public", "join_qr_svg", "join_url", "router"]

router = APIRouter(prefix="/api/games", tags=["games"])

GameReaderDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.QUIZMASTER, Role.INTEGRATOR))]
"""Hosts and integrators: the whole list of games."""


def join_url(request: Request, code: str) -> str:
    """The page a phone opens to join with ``code`` (``public_url`` if set, else as this request addressed us)."""
    settings = getattr(request.app.state, "settings", None)
    base = str(getattr(settings, "public_url", "") or request.base_url).rstrip("/")
    return f"{base}/join?code={code}"


def game_public(request: Request, game: Game) -> GamePublic:
    """A game row as the API shows it."""
    return GamePublic(
        id=game.id,
        quiz_id=game.quiz_id,
        join_code=game.join_code,
        join_url=join_url(request, game.join_code),
        status=game.status,
        host_id=game.host_id,
        created_at=game.created_at,
        started_at=game.started_at,
        finished_at=game.finished_at,
    )


@router.get("")
async def list_games(
    request: Request,
    _reader: GameReaderDep,
    repo: RepoDep,
    game_status: Annotated[GameStatus | None, Query(alias="status")] = None,
) -> list[GamePublic]:
    """Games, newest first, optionally only those with ``status`` (hosts and integrators)."""
    return [game_public(request, g) for g in await repo.list_games(status=game_status)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_game(request: Request, host: HostDep, repo: RepoDep, data: GameCreate) -> GamePublic:
    """A new game of a quiz, in the lobby, with a fresh 6-digit join code."""
    quiz = await repo.get_quiz(data.quiz_id)
    if quiz is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"There is no quiz with id {data.quiz_id}.")
    if not await repo.list_questions(data.quiz_id):
        raise refuse(status.HTTP_409_CONFLICT, f"Quiz {data.quiz_id} has no questions yet; add some first.")
    try:
        game = await repo.create_game(data.quiz_id, settings=data.settings, host_id=host.user_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return game_public(request, game)


@router.get("/{game_id}")
async def get_game(request: Request, reader: ReaderDep, repo: RepoDep, game_id: GameId) -> GameDetail:
    """A game, its teams, and the hub's latest state, question and scores (teams and displays: their game)."""
    require_game_access(reader, game_id)
    game = await get_game_or_404(repo, game_id)
    teams = [TeamPublic.model_validate(t, from_attributes=True) for t in await repo.list_teams(game_id)]
    live = LiveState(
        state=latest(request, game_id, "state"),
        question=latest(request, game_id, "question"),
        scores=latest(request, game_id, "scores"),
    )
    has_live = live.state is not None or live.question is not None or live.scores is not None
    return GameDetail(game=game_public(request, game), teams=teams, live=live if has_live else None)


@router.delete("/{game_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_game(_host: HostDep, repo: RepoDep, game_id: GameId) -> None:
    """Delete a game that is not running, with its teams, events and results."""
    game = await get_game_or_404(repo, game_id)
    if game.status is GameStatus.RUNNING:
        raise refuse(status.HTTP_409_CONFLICT, f"Game {game_id} is running; end it before deleting it.")
    try:
        await repo.delete_game(game_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None


@router.get(
    "/{game_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}},
)
async def join_qr(request: Request, viewer: DisplayDep, repo: RepoDep, game_id: GameId) -> Response:
    """The join link as a QR code (SVG, made on the server; no third-party service sees the code)."""
    require_game_access(viewer, game_id)
    game = await get_game_or_404(repo, game_id)
    return join_qr_svg(request, game.join_code)


def join_qr_svg(request: Request, code: str) -> Response:
    """The join link for ``code`` as an SVG QR code."""
    qr = segno.make(join_url(request, code), error="m")
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=8, border=2, xmldecl=False, title=f"Join with code {code}")
    return Response(out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


@router.post("/{game_id}/commands")
async def host_command(
    host: HostDep, hub: HubDep, repo: RepoDep, game_id: GameId, command: HostCommand
) -> CommandResult:
    """Send a host command to the hub and answer with its reply (409: not now; 422: not valid)."""
    await get_game_or_404(repo, game_id)
    body = command.model_dump(exclude_none=True)
    return CommandResult(result=await send_command(hub, game_id, body, host))


@router.post("/{game_id}/display-tokens", status_code=status.HTTP_201_CREATED)
async def create_display_token(
    host: HostDep, repo: RepoDep, game_id: GameId, data: DisplayTokenCreate
) -> DisplayTokenIssued:
    """A read-only token for a screen showing this game (shown once)."""
    await get_game_or_404(repo, game_id)
    try:
        row, token = await issue_display_token(repo, game_id=game_id, name=data.name, created_by_id=host.user_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    assert row.id is not None
    return DisplayTokenIssued(id=row.id, game_id=game_id, name=row.name, token=token)


async def _results(repo: RepoDep, game_id: str) -> list[ResultPublic]:
    await get_game_or_404(repo, game_id)
    return [ResultPublic.model_validate(r, from_attributes=True) for r in await repo.list_results(game_id)]


@router.get("/{game_id}/results")
async def results(reader: ReaderDep, repo: RepoDep, game_id: GameId) -> list[ResultPublic]:
    """The final standings, best first (empty until the game has finished)."""
    require_game_access(reader, game_id)
    return await _results(repo, game_id)


@router.get(
    "/{game_id}/results.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def results_csv(reader: ReaderDep, repo: RepoDep, game_id: GameId) -> Response:
    """The final standings as CSV: rank, team, score."""
    require_game_access(reader, game_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "team", "score", "team_id"])
    for r in await _results(repo, game_id):
        writer.writerow([r.rank, r.team_name, r.score, r.team_id or ""])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="results-{game_id}.csv"'},
    )
