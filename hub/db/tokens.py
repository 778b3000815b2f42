"""Bearer tokens for teams and integrators: generated here, stored only as a hash.

The tokens are 256-bit random strings, so a plain SHA-256 is the right hash (no salt or slow hash needed: there
is nothing to brute-force), and it lets the database look a token up by its hash with a unique index.
Passwords are different: those use argon2 and live with the web login code.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["hash_token", "new_token"]


def new_token() -> str:
    """A fresh URL-safe bearer token (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The 64-hex-digit SHA-256 of ``token``, as stored in ``teams.token_hash`` and ``api_tokens.token_hash``."""
    return hashlib.sha256(token.encode()).hexdigest()
