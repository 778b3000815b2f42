"""MQTT logins: a file of hashed machine-made secrets, one role each.

Secrets are generated here (256 bits, URL-safe) and shown once; the file keeps only a salted HMAC-SHA256 of each.
A high-entropy secret cannot be guessed offline, so a slow password hash buys nothing and would stall the event
loop on every login (amqtt's argon2 check costs 130-175 ms of CPU per CONNECT). `verify` is a dict lookup and one
HMAC: microseconds, safe to call on the loop.

Each login also keeps a Mosquitto `$7$` hash (PBKDF2-SHA512) of the same secret, made when the secret is: neither
hash can be derived from the other, and `quizhub mosquitto-config` must be able to write a password file for an
external Mosquitto long after the secret was shown. The embedded broker never reads it (docs/broker.md says why).

The file is re-read when it changes on disk, so `quizhub credentials add` in another process takes effect at the
next CONNECT without restarting the broker. Writes are atomic (`broker.atomic_write`: temp file + rename, mode 0600)
under an advisory lock.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from broker.atomic_write import write_atomically
from broker.errors import CredentialExistsError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "MOSQUITTO_ITERATIONS",
    "CredentialExistsError",
    "CredentialInfo",
    "CredentialStore",
    "HashedLogin",
    "Role",
    "mosquitto_hash",
    "validate_name",
]

log = logging.getLogger("quizhub.broker.credentials")

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_FILE_VERSION = 1
# Mosquitto's own default (mosquitto_passwd). The secret has 256 bits, so the count adds no safety; keeping it low
# keeps an external Mosquitto's CONNECT cheap.
MOSQUITTO_ITERATIONS = 101
_MOSQUITTO_SALT_BYTES = 12


class Role(StrEnum):
    """What a login may do on the topic tree (DESIGN section 3; `broker.acl` has the exact rules)."""

    DEVICE = "device"
    INTEGRATOR = "integrator"
    HOST = "host"
    SERVICE = "service"


@dataclass(frozen=True)
class CredentialInfo:
    """A stored login as `list()` shows it: never the secret or its hash."""

    name: str
    role: Role
    created_at: datetime


@dataclass(frozen=True)
class HashedLogin:
    """A stored login with its Mosquitto password hash, for `quizhub mosquitto-config`.

    `mosquitto` is None for a login created before the store kept that hash: it must be issued again.
    """

    name: str
    role: Role
    mosquitto: str | None


@dataclass(frozen=True)
class _Entry:
    role: Role
    created_at: datetime
    salt: bytes
    digest: bytes
    mosquitto: str | None = None


def validate_name(name: str) -> str:
    """Return `name` if it can be a login, MQTT client id and topic level; raise ValueError saying why not."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"credential name {name!r} is not allowed: use 1-64 characters from letters, digits and '_.:-', "
            "starting with a letter or digit (it becomes a device's client id and topic level)"
        )
    return name


def _digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def mosquitto_hash(secret: str, salt: bytes | None = None, iterations: int = MOSQUITTO_ITERATIONS) -> str:
    """The Mosquitto 2 password-file hash of `secret`: `$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>`.

    Byte for byte what `mosquitto_passwd` writes for the same salt and iteration count.
    """
    salt = secrets.token_bytes(_MOSQUITTO_SALT_BYTES) if salt is None else salt
    derived = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


def _new_entry(role: Role, *, for_mosquitto: bool) -> tuple[str, _Entry]:
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    mosquitto = mosquitto_hash(secret) if for_mosquitto else None
    return secret, _Entry(role, datetime.now(UTC), salt, _digest(salt, secret), mosquitto)


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string or nothing, got {type(value).__name__}")


class CredentialStore:
    """Logins kept in a JSON file (mode 0600, only salted hashes), plus in-memory ephemeral ones."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, _Entry] = {}
        self._ephemeral: dict[str, _Entry] = {}
        self._stamp: tuple[int, int, int] | None = None

    # -- reading -------------------------------------------------------------------------------------------------

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        self._entries = self._read() if stamp is not None else {}
        self._stamp = stamp

    def _read(self) -> dict[str, _Entry]:
        try:
            raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
            entries = {
                name: _Entry(
                    Role(item["role"]),
                    datetime.fromisoformat(item["created_at"]),
                    bytes.fromhex(item["salt"]),
                    bytes.fromhex(item["hash"]),
                    _optional_str(item.get("mosquitto")),
                )
                for name, item in raw["credentials"].items()
            }
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"credential file {self.path} is damaged ({exc}); restore it from a backup or delete it and "
                "create the credentials again"
            ) from exc
        return entries

    # -- writing -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._stamp = None  # another process may have written since our last look
            self._refresh()
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @staticmethod
    def _stored(entry: _Entry) -> dict[str, str]:
        item = {
            "role": entry.role.value,
            "created_at": entry.created_at.isoformat(),
            "salt": entry.salt.hex(),
            "hash": entry.digest.hex(),
        }
        if entry.mosquitto is not None:
            item["mosquitto"] = entry.mosquitto
        return item

    def _write(self) -> None:
        doc = {
            "version": _FILE_VERSION,
            "credentials": {name: self._stored(entry) for name, entry in sorted(self._entries.items())},
        }
        write_atomically(self.path, json.dumps(doc, indent=2), 0o600)
        self._stamp = self._file_stamp()

    # -- public API ----------------------------------------------------------------------------------------------

    def add(self, name: str, role: Role) -> str:
        """Create a login and return its generated secret; it is shown this once and stored only hashed.

        Raises CredentialExistsError if the name is taken, ValueError if it is not a valid name.
        """
        validate_name(name)
        role = Role(role)
        with self._locked():
            if name in self._entries:
                raise CredentialExistsError(name)
            secret, entry = _new_entry(role, for_mosquitto=True)
            self._entries[name] = entry
            self._write()
        log.info("credential added", extra={"credential": name, "role": role.value})
        return secret

    def list(self) -> list[CredentialInfo]:
        """Every stored login (not the ephemeral ones), sorted by name."""
        self._refresh()
        return [CredentialInfo(name, e.role, e.created_at) for name, e in sorted(self._entries.items())]

    def hashed_logins(self) -> tuple[HashedLogin, ...]:
        """Every stored login with its Mosquitto hash (None for logins older than that hash), sorted by name."""
        self._refresh()
        return tuple(HashedLogin(name, e.role, e.mosquitto) for name, e in sorted(self._entries.items()))

    def remove(self, name: str) -> bool:
        """Delete a stored login; False if there was none. Open connections keep running until they reconnect."""
        with self._locked():
            if name not in self._entries:
                return False
            del self._entries[name]
            self._write()
        log.info("credential removed", extra={"credential": name})
        return True

    def ephemeral(self, name: str, role: Role) -> str:
        """A login kept in memory only (for `quizhub serve`'s own hub and web); a new call replaces the old secret."""
        validate_name(name)
        # Never exported (they live in this process only), so no Mosquitto hash is made.
        secret, entry = _new_entry(Role(role), for_mosquitto=False)
        self._ephemeral[name] = entry
        return secret

    def verify(self, name: str, password: str) -> Role | None:
        """The role of a login if the password is right, else None. Constant-time compare; never raises on input."""
        candidates = [self._ephemeral.get(name)]
        try:
            self._refresh()
        except ValueError:
            log.exception("credential file unreadable; only ephemeral logins work", extra={"path": str(self.path)})
        candidates.append(self._entries.get(name))
        for entry in candidates:
            if entry is not None and hmac.compare_digest(_digest(entry.salt, password), entry.digest):
                return entry.role
        return None
