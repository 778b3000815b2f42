"""Local accounts: creating them (the CLI's ``quizhub user add`` and first-run setup) and checking passwords."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Final

from hub.db.engine import create_engine, session_factory
from hub.db.errors import AlreadyExistsError
from hub.db.migrate import migrate
from hub.db.models import User, UserRole
from hub.db.repository import Repository
from web.auth.passwords import check_password_policy, hash_password, verify_password

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = [
    "MAX_NAME_LENGTH",
    "InvalidUserNameError",
    "UserExistsError",
    "add_user",
    "authenticate",
    "create_user",
    "normalise_name",
]

MAX_NAME_LENGTH: Final = 64


class InvalidUserNameError(ValueError):
    """The chosen login name is empty, too long or holds control characters (the caller's fault)."""


class UserExistsError(AlreadyExistsError):
    """A user with this name already exists (the caller's fault: pick another name or remove that user)."""


def normalise_name(name: str) -> str:
    """The login name as stored: NFC, trimmed; :class:`InvalidUserNameError` if unusable."""
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean:
        raise InvalidUserNameError("the user name is empty")
    if len(clean) > MAX_NAME_LENGTH:
        raise InvalidUserNameError(f"the user name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in clean):
        raise InvalidUserNameError("the user name contains control characters")
    return clean


async def create_user(repo: Repository, name: str, role: UserRole | str, password: str) -> User:
    """Create a local account with an argon2id password hash.

    Raises :class:`InvalidUserNameError`, :class:`web.auth.passwords.PasswordTooShortError` (both ``ValueError``),
    or :class:`UserExistsError`. ``role`` is ``admin`` or ``quizmaster``.
    """
    clean = normalise_name(name)
    user_role = UserRole(role)
    check_password_policy(password)
    if await repo.get_user_by_name(clean) is not None:
        raise UserExistsError(f"a user named {clean!r} already exists; pick another name")
    password_hash = await hash_password(password)
    try:
        return await repo.create_user(clean, user_role, password_hash=password_hash)
    except AlreadyExistsError as exc:  # a racing create took the name
        raise UserExistsError(f"a user named {clean!r} already exists; pick another name") from exc


async def add_user(settings: Settings, name: str, role: UserRole | str, password: str) -> User:
    """:func:`create_user` for a command line: opens (and migrates) the configured database, then closes it.

    ``asyncio.run(add_user(settings, "ann", "quizmaster", password))``.
    """
    engine = create_engine(settings.resolved_db_url())
    try:
        await migrate(engine)
        return await create_user(Repository(session_factory(engine)), name, role, password)
    finally:
        await engine.dispose()


async def authenticate(repo: Repository, name: str, password: str) -> User | None:
    """The user if ``password`` is right for ``name``; None otherwise (same time whether or not ``name`` exists).

    Upgrades the stored hash when argon2's parameters have changed since it was made, and stamps the login.
    """
    try:
        clean = normalise_name(name)
    except InvalidUserNameError:
        clean = None
    user = await repo.get_user_by_name(clean) if clean is not None else None
    ok, new_hash = await verify_password(user.password_hash if user is not None else None, password)
    if not ok or user is None or user.id is None:
        return None
    if new_hash is not None:
        await repo.set_password_hash(user.id, new_hash)
    return await repo.record_login(user.id)
