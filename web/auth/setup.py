"""First run: while no admin exists, a one-time setup token lets whoever holds it create the first admin.

``serve`` calls :func:`prepare_first_run` and prints the link it returns. The token sits in the link's fragment
(``/setup#token=…``): browsers never send a fragment to the server, so it appears in no access log; the setup page
posts it in the body of ``POST /api/auth/setup``. Only the token's SHA-256 is kept, in an owner-only file in the
data dir, and the file is removed (atomically: only one request can win) when the token is used or an admin exists.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from typing import TYPE_CHECKING, Final

from hub.db.tokens import hash_token

if TYPE_CHECKING:
    from pathlib import Path

    from hub.db.repository import Repository
    from hub.settings import Settings

__all__ = [
    "SETUP_TOKEN_FILE",
    "claim_setup_token",
    "first_run_link",
    "prepare_first_run",
    "restore_setup_token",
    "setup_link",
]

SETUP_TOKEN_FILE: Final = "setup-token.sha256"  # noqa: S105 - a file name, not a secret


def _path(settings: Settings) -> Path:
    return settings.data_dir / SETUP_TOKEN_FILE


async def prepare_first_run(settings: Settings, repo: Repository) -> str | None:
    """A fresh setup token when no admin exists (its hash replaces any older one), else None.

    Each call issues a new token, so a link printed by an earlier start stops working.
    """
    path = _path(settings)
    if await repo.has_admin():
        path.unlink(missing_ok=True)
        return None
    token = secrets.token_urlsafe(32)
    _write_hash(path, hash_token(token))
    return token


def setup_link(base_url: str, token: str) -> str:
    """The link ``serve`` prints: ``{base_url}/setup#token=…`` (fragment: never sent to the server or its logs)."""
    return f"{base_url.rstrip('/')}/setup#token={token}"


async def first_run_link(settings: Settings, repo: Repository) -> str | None:
    """:func:`prepare_first_run` and :func:`setup_link` in one: what ``serve`` prints, or None if set up."""
    token = await prepare_first_run(settings, repo)
    if token is None:
        return None
    base = settings.public_url or f"http://localhost:{settings.http_port}"
    return setup_link(base, token)


def claim_setup_token(settings: Settings, token: str) -> str | None:
    """Use up ``token``: its stored hash (keep it for :func:`restore_setup_token`) if it matched, else None.

    The hash file is removed by a rename to a name unique to this call, which only one caller can win; a wrong
    token leaves the file in place.
    """
    path = _path(settings)
    try:
        stored = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not hmac.compare_digest(stored, hash_token(token)):
        return None
    claimed = path.with_name(f".{SETUP_TOKEN_FILE}.{secrets.token_hex(8)}")
    try:
        path.rename(claimed)
    except FileNotFoundError:  # another request claimed it between our read and rename
        return None
    claimed.unlink(missing_ok=True)
    return stored


def restore_setup_token(settings: Settings, stored_hash: str) -> None:
    """Put a claimed token back (the admin could not be created, e.g. a too-short password)."""
    path = _path(settings)
    if not path.exists():
        _write_hash(path, stored_hash)


def _write_hash(path: Path, digest: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(digest)
        tmp.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
