"""The session signing key: from settings, or generated once into the data dir (owner-only file).

Several web processes must share the key (a cookie signed by one is checked by another): set
``QUIZHUB_SECRET_KEY`` for them, or give them one data dir.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["SECRET_KEY_FILE", "load_secret_key"]

SECRET_KEY_FILE: Final = "secret_key"  # noqa: S105 - a file name, not a secret
_MIN_LENGTH: Final = 32


def load_secret_key(settings: Settings) -> str:
    """The configured secret key, else the data dir's ``secret_key`` file (created 0600 on first use)."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key) < _MIN_LENGTH:
            raise ValueError(f"QUIZHUB_SECRET_KEY must be at least {_MIN_LENGTH} characters; use a random string")
        return key
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        # Written to a private temporary file, then hard-linked into place: link fails if the name exists, so when
        # two processes start together exactly one key wins, and nobody ever reads a half-written file.
        tmp = path.with_name(f".{SECRET_KEY_FILE}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48))
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < _MIN_LENGTH:
        raise ValueError(f"{path} holds no usable key (under {_MIN_LENGTH} characters); delete it to make a new one")
    return key
