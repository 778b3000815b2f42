"""Queries the auth layer needs that :class:`hub.db.repository.Repository` does not offer (read-only).

``Repository.use_api_token`` stamps ``last_used_at`` on every call: a write transaction per request, which on
SQLite would queue every display's and integrator's request behind the hub's event-log writes. Authentication
looks the token up here without writing, and stamps the use through the repository at most every few minutes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final

from sqlmodel import col, select

from hub.db.engine import READ_ONLY
from hub.db.models import ApiToken
from hub.db.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["LAST_USED_RESOLUTION", "active_api_token", "needs_use_stamp"]

LAST_USED_RESOLUTION: Final = timedelta(minutes=5)
"""How stale ``api_tokens.last_used_at`` may get before a request refreshes it."""


async def active_api_token(sessions: async_sessionmaker[AsyncSession], token_hash: str) -> ApiToken | None:
    """The unrevoked API token with this hash, or None; a read-only transaction."""
    async with sessions() as session, session.begin():
        await session.connection(execution_options={READ_ONLY: True})
        rows = await session.exec(
            select(ApiToken).where(ApiToken.token_hash == token_hash, col(ApiToken.revoked_at).is_(None))
        )
        return rows.first()


def needs_use_stamp(token: ApiToken) -> bool:
    """Whether this token's ``last_used_at`` is old enough to be worth a write."""
    return token.last_used_at is None or utcnow() - token.last_used_at > LAST_USED_RESOLUTION
