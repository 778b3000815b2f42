"""API tokens for integrators (admins only): each comes with a read-only MQTT login of the same name.

The token and the MQTT password are returned once, when issued; only hashes are kept. Revoking the token also
removes the MQTT login.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, status

from broker.credentials import CredentialExistsError, CredentialStore
from broker.credentials import Role as MqttRole
from hub.db.errors import RepositoryError
from hub.db.models import TokenRole
from web.api_models import MqttCredential, TokenCreate, TokenIssued, TokenPublic
from web.auth import AdminDep, issue_integrator_token
from web.routes.deps import DbId, RepoDep, refuse, repository_error

if TYPE_CHECKING:
    from hub.db.models import ApiToken

__all__ = ["CREDENTIALS_FILE", "credential_store", "router"]

router = APIRouter(prefix="/api/tokens", tags=["tokens"])

CREDENTIALS_FILE = "credentials.json"


def credential_store(request: Request) -> CredentialStore:
    """The broker's credential file in the data dir (the same one ``quizhub credentials`` edits)."""
    settings = request.app.state.settings
    return CredentialStore(settings.data_dir / CREDENTIALS_FILE)


def _public(token: ApiToken) -> TokenPublic:
    assert token.id is not None
    return TokenPublic(
        id=token.id,
        name=token.name,
        role=token.role,
        game_id=token.game_id,
        created_by_id=token.created_by_id,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


@router.get("")
async def list_tokens(_admin: AdminDep, repo: RepoDep) -> list[TokenPublic]:
    """Every API token (integrator and display), newest first; never the tokens themselves."""
    return [_public(t) for t in await repo.list_api_tokens()]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_token(request: Request, admin: AdminDep, repo: RepoDep, data: TokenCreate) -> TokenIssued:
    """An integrator token plus a read-only MQTT login named ``name``; both secrets are shown this once."""
    store = credential_store(request)
    try:
        password = await asyncio.to_thread(store.add, data.name, MqttRole.INTEGRATOR)
    except CredentialExistsError:
        raise refuse(
            status.HTTP_409_CONFLICT, f"An MQTT login named {data.name!r} already exists; pick another name."
        ) from None
    try:
        row, token = await issue_integrator_token(repo, name=data.name, created_by_id=admin.user_id)
    except RepositoryError as exc:
        await asyncio.to_thread(store.remove, data.name)
        raise repository_error(exc) from None
    return TokenIssued(token=_public(row), secret=token, mqtt=MqttCredential(username=data.name, password=password))


@router.delete("/{token_id}")
async def revoke_token(request: Request, _admin: AdminDep, repo: RepoDep, token_id: DbId) -> TokenPublic:
    """Revoke a token at once (its next request is refused) and remove an integrator's MQTT login."""
    try:
        row = await repo.revoke_api_token(token_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    if row.role is TokenRole.INTEGRATOR:
        await asyncio.to_thread(credential_store(request).remove, row.name)
    return _public(row)
