"""Password hashing with argon2id, run off the event loop.

argon2 is deliberately slow and memory-hard (tens of milliseconds, 64 MiB by default); running it on the event
loop would stall every WebSocket of the process, so both directions go to the default thread pool.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MIN_PASSWORD_LENGTH", "PasswordTooShortError", "check_password_policy", "hash_password", "verify_password"]

MIN_PASSWORD_LENGTH: Final = 8

_hasher = PasswordHasher()
# Verified when the name is unknown or has no password, so a failed login takes as long either way and the
# response time does not tell which names exist.
_DUMMY_HASH: Final = _hasher.hash("quizhub: no such user")


class PasswordTooShortError(ValueError):
    """The chosen password is too short (the caller's fault: choose a longer one)."""

    def __init__(self) -> None:
        super().__init__(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")


def check_password_policy(password: str) -> None:
    """Raise :class:`PasswordTooShortError` unless ``password`` is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShortError


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (computed in a worker thread)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Check ``password`` against ``stored_hash`` in a worker thread.

    Returns ``(ok, new_hash)``: ``new_hash`` is set when the hash used older parameters and should be replaced.
    ``stored_hash=None`` (no such user, or an OIDC-only account) costs the same time and returns ``(False, None)``.
    """
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, functools.partial(_verify, stored_hash or _DUMMY_HASH, password))
    if not ok or stored_hash is None:
        return False, None
    if _hasher.check_needs_rehash(stored_hash):
        return True, await hash_password(password)
    return True, None


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
