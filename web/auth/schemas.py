"""API shapes of the auth routes (request bodies and responses); the tables live in :mod:`hub.db.models`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from web.auth.principal import Principal, PrincipalKind, Role  # noqa: TC001 - pydantic resolves annotations at runtime

__all__ = ["AuthMethods", "LoginRequest", "PrincipalPublic", "SessionInfo", "SetupRequest", "SetupStatus"]


class LoginRequest(BaseModel):
    """``POST /api/auth/login`` as JSON or as a form (``name``, ``password``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SetupRequest(BaseModel):
    """``POST /api/auth/setup``: the one-time token from the setup link and the first admin's account."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class PrincipalPublic(BaseModel):
    """Who the caller is, as the browser may see it."""

    kind: PrincipalKind
    id: str
    name: str
    role: Role
    game_id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> PrincipalPublic:
        return cls(
            kind=principal.kind, id=principal.id, name=principal.name, role=principal.role, game_id=principal.game_id
        )


class SessionInfo(BaseModel):
    """The caller and, for a cookie session, the CSRF token to send as ``X-CSRF-Token`` on every change."""

    principal: PrincipalPublic
    csrf_token: str | None = None


class SetupStatus(BaseModel):
    """Whether the server still waits for its first admin (then the setup link printed by ``serve`` works)."""

    setup_required: bool


class AuthMethods(BaseModel):
    """The ways to sign in on this server, for the login page."""

    password: bool = True
    oidc: bool
