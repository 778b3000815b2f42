"""Bearer tokens for teams, display screens and integrators: issued here, stored only as a SHA-256 hash.

A token is 256 random bits behind a short prefix that says its kind (``qht_`` team, ``qhd_`` display, ``qhi_``
integrator): authentication knows which table to look in, and secret scanners and people can tell them apart.
Tokens travel only in ``Authorization: Bearer`` headers, never in a URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from hub.db.models import ApiToken, Team, TokenRole
from hub.db.repository import Repository
from hub.db.tokens import hash_token, new_token
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.auth.store import active_api_token, needs_use_stamp

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = [
    "DISPLAY_PREFIX",
    "INTEGRATOR_PREFIX",
    "TEAM_PREFIX",
    "issue_display_token",
    "issue_integrator_token",
    "issue_team_token",
    "principal_for_token",
]

TEAM_PREFIX: Final = "qht_"
DISPLAY_PREFIX: Final = "qhd_"
INTEGRATOR_PREFIX: Final = "qhi_"


async def issue_team_token(
    repo: Repository, *, game_id: str, name: str, color: str | None = None
) -> tuple[Team, str]:
    """Create team ``name`` in ``game_id`` and return it with its token (shown once; only the hash is stored).

    Raises :class:`hub.db.errors.AlreadyExistsError` when the name is taken in that game and
    :class:`hub.db.errors.NotFoundError` for an unknown game. A team rejoins by presenting the token again.
    """
    token = TEAM_PREFIX + new_token()
    team = await repo.create_team(game_id, name, hash_token(token), color=color)
    return team, token


async def issue_display_token(
    repo: Repository, *, game_id: str, name: str, created_by_id: int | None = None
) -> tuple[ApiToken, str]:
    """A read-only token for a screen showing ``game_id``; returns the row and the token (shown once)."""
    token = DISPLAY_PREFIX + new_token()
    row = await repo.create_api_token(
        name, TokenRole.DISPLAY, hash_token(token), created_by_id=created_by_id, game_id=game_id
    )
    return row, token


async def issue_integrator_token(
    repo: Repository, *, name: str, created_by_id: int | None = None
) -> tuple[ApiToken, str]:
    """A read-only API token for a script or integration; returns the row and the token (shown once)."""
    token = INTEGRATOR_PREFIX + new_token()
    row = await repo.create_api_token(name, TokenRole.INTEGRATOR, hash_token(token), created_by_id=created_by_id)
    return row, token


async def principal_for_token(sessions: async_sessionmaker[AsyncSession], token: str) -> Principal | None:
    """The principal a bearer token stands for, or None when it is unknown, revoked or malformed."""
    if token.startswith(TEAM_PREFIX):
        team = await Repository(sessions).team_by_token_hash(hash_token(token))
        if team is None:
            return None
        return Principal(PrincipalKind.TEAM, team.id, team.name, Role.TEAM, AuthMethod.BEARER, game_id=team.game_id)
    kinds = {DISPLAY_PREFIX: TokenRole.DISPLAY, INTEGRATOR_PREFIX: TokenRole.INTEGRATOR}
    expected = kinds.get(token[: len(DISPLAY_PREFIX)])
    if expected is None:
        return None
    row = await active_api_token(sessions, hash_token(token))
    # A token whose prefix lies about its kind is not one we issued.
    if row is None or row.id is None or row.role != expected:
        return None
    if needs_use_stamp(row):
        await Repository(sessions).use_api_token(row.token_hash)
    if expected == TokenRole.DISPLAY:
        return Principal(
            PrincipalKind.DISPLAY, str(row.id), row.name, Role.DISPLAY, AuthMethod.BEARER, game_id=row.game_id
        )
    return Principal(PrincipalKind.INTEGRATOR, str(row.id), row.name, Role.INTEGRATOR, AuthMethod.BEARER)
