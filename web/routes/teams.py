"""Teams: join a game with its code and a name (no account), and rejoin later with the team token.

Joining creates the team in the database, then adds it to the game on the hub (``add_team``). If the hub refuses
or cannot be reached, the team is taken out of the database again, so the name stays free and nothing half-joined
is left behind. The token is shown once; a team that refreshes its page rejoins with ``GET /api/teams/me``.
A host removes a team the other way round: from the hub first (``remove_team``), then from the database.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status

from hub.db.errors import NotFoundError, RepositoryError
from web.api_models import ID_PATTERN, JoinRequest, JoinResponse, TeamMe, TeamPublic
from web.auth import HostDep, TeamDep, check_join_rate, issue_team_token
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.routes.deps import (
    GameId,
    HubDep,
    RepoDep,
    get_game_or_404,
    hub_client,
    latest,
    refuse,
    repository_error,
    send_command,
)
from web.routes.games import game_public, join_qr_svg

if TYPE_CHECKING:
    from hub.db.models import Team
    from hub.db.repository import Repository

__all__ = ["router"]

router = APIRouter(tags=["teams"])

TeamId = Annotated[str, Path(pattern=ID_PATTERN, description="A team id.")]

_HUB_NEVER_HAD_IT = "there is no team"
"""The start of the hub's ``unknown_team`` sentence: the team never reached the hub (a join cut short)."""


async def _forget_team(repo: Repository, team_id: str) -> None:
    # The hub did not take the team: remove the row so the name is free again.
    with contextlib.suppress(NotFoundError):
        await repo.delete_team(team_id)


@router.post("/api/join", status_code=status.HTTP_201_CREATED)
async def join(request: Request, repo: RepoDep, data: JoinRequest) -> JoinResponse:
    """Join the live game with this code as a new team; the answer carries the team token, shown this once.

    Rate-limited per address and name (429 with Retry-After). 404 for an unknown code, 409 for a taken name.
    """
    await check_join_rate(request, data.name)
    game = await repo.get_live_game_by_code(data.code)
    if game is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"No game is open with code {data.code}; check the code on the screen.")
    hub = hub_client(request)
    try:
        team, token = await issue_team_token(repo, game_id=game.id, name=data.name, color=data.color)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    actor = Principal(PrincipalKind.TEAM, team.id, team.name, Role.TEAM, AuthMethod.BEARER, game_id=game.id)
    try:
        await send_command(hub, game.id, {"cmd": "add_team", "team": team.id, "name": team.name}, actor)
    except HTTPException:
        await _forget_team(repo, team.id)
        raise
    return JoinResponse(team=TeamPublic.model_validate(team, from_attributes=True), token=token)


@router.get(
    "/api/join/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}},
)
async def join_code_qr(
    request: Request,
    code: Annotated[str, Query(pattern=r"^[0-9]{6}$", description="The game's 6-digit join code.")],
) -> Response:
    """The join link for a code as a QR code (SVG). Anyone may call it: a big screen shows it from an ``<img>``,
    which cannot send the display token. It draws the code it is given and never looks it up, so it tells nobody
    whether a game has that code (guessing codes stays as slow as joining)."""
    return join_qr_svg(request, code)


async def _score(request: Request, game_id: str, team_id: str) -> tuple[int | None, int | None]:
    scores = latest(request, game_id, "scores")
    teams = scores.get("teams") if scores else None
    for entry in teams if isinstance(teams, list) else []:
        if isinstance(entry, dict) and entry.get("team") == team_id:
            score, rank = entry.get("score"), entry.get("rank")
            return (score if isinstance(score, int) else None, rank if isinstance(rank, int) else None)
    return None, None


async def _team(repo: Repository, team_id: str) -> Team:
    team = await repo.get_team(team_id)
    if team is None:  # pragma: no cover - the token was just resolved to this team
        raise refuse(status.HTTP_404_NOT_FOUND, "Your team no longer exists; join the game again.")
    return team


@router.get("/api/teams/me")
async def me(request: Request, who: TeamDep, repo: RepoDep) -> TeamMe:
    """The calling team (by its token): how a team rejoins after a refresh, keeping its name and score."""
    team = await _team(repo, who.id)
    game = await get_game_or_404(repo, team.game_id)
    score, rank = await _score(request, game.id, team.id)
    return TeamMe(
        team=TeamPublic.model_validate(team, from_attributes=True),
        game=game_public(request, game),
        score=score,
        rank=rank,
    )


@router.delete("/api/games/{game_id}/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_team(host: HostDep, hub: HubDep, repo: RepoDep, game_id: GameId, team_id: TeamId) -> None:
    """Remove a team from a game: from the hub (``remove_team``: its buzzers are unpaired), then from the database
    (its token stops working). The hub's refusal (409: a ruling is pending or the team is answering) keeps it."""
    await get_game_or_404(repo, game_id)
    team = await repo.get_team(team_id)
    if team is None or team.game_id != game_id:
        raise refuse(status.HTTP_404_NOT_FOUND, f"Game {game_id} has no team with id {team_id!r}.")
    try:
        await send_command(hub, game_id, {"cmd": "remove_team", "team": team_id}, host)
    except HTTPException as exc:
        # A team whose join was cut short never reached the hub: there is nothing to remove there.
        never_there = exc.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT and str(exc.detail).lower().startswith(
            _HUB_NEVER_HAD_IT
        )
        if not never_there:
            raise
    try:
        await repo.delete_team(team_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None
