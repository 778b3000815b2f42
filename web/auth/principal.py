"""Who is calling: roles (DESIGN §6) and the principal every route's dependency resolves.

A principal is built from exactly one credential: a session cookie (a person: admin or quizmaster) or a bearer
token (a team, a display screen or an integrator). It is a frozen value; routes read it, never change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AuthMethod", "Principal", "PrincipalKind", "Role"]


class Role(StrEnum):
    """What a principal may do. Each route declares the roles it accepts (see :mod:`web.auth.deps`)."""

    ADMIN = "admin"
    """Users, devices, settings; everything a quizmaster may do."""
    QUIZMASTER = "quizmaster"
    """Quizzes and hosting games."""
    TEAM = "team"
    """One team in one game: joins with the game code, buzzes and answers; no account."""
    DISPLAY = "display"
    """A read-only screen showing one game."""
    INTEGRATOR = "integrator"
    """A script with an API token: reads games and devices."""


class PrincipalKind(StrEnum):
    """What sort of thing the credential belongs to."""

    USER = "user"
    TEAM = "team"
    DISPLAY = "display"
    INTEGRATOR = "integrator"


class AuthMethod(StrEnum):
    """How the credential came: only cookie-authenticated changes need a CSRF token."""

    SESSION = "session"
    BEARER = "bearer"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    ``id`` is the row id as text (users and API tokens have integer ids, teams have hex ids); ``game_id`` is set
    for teams and displays, which may only see their own game.
    """

    kind: PrincipalKind
    id: str
    name: str
    role: Role
    via: AuthMethod
    game_id: str | None = None

    @property
    def user_id(self) -> int | None:
        """The ``users.id`` of a logged-in person, else None."""
        return int(self.id) if self.kind is PrincipalKind.USER else None

    @property
    def is_host(self) -> bool:
        """Whether the principal may run games (admin or quizmaster)."""
        return self.role in {Role.ADMIN, Role.QUIZMASTER}

    def may_see_game(self, game_id: str) -> bool:
        """Whether this principal may read ``game_id``: people and integrators see every game, others their own."""
        return self.game_id is None or self.game_id == game_id

    def describe(self) -> str:
        """A short phrase for refusals: "quizmaster 'ann'", "team 'Owls'"."""
        if self.kind is PrincipalKind.USER:
            return f"{self.role.value} {self.name!r}"
        return f"{self.kind.value} {self.name!r}"
