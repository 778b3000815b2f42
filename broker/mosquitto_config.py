"""The embedded broker's logins and topic ACL as files for an external Mosquitto 2 (`quizhub mosquitto-config`).

Three files go into one folder, always under these names (docker-compose and docs/operations.md rely on them):
`mosquitto.conf` (listener, no anonymous clients, persistence, packet cap, and the other two files), `passwd`
(Mosquitto `$7$` PBKDF2-SHA512 hashes, kept by the credential store since each secret was made) and `acl`.

The ACL is written from `broker.acl.Acl.rules` itself, one `user` block per login, so it cannot drift from the
embedded broker. Mosquitto's `pattern` lines (`%u`, `%c`) are not used: they apply to *every* login, so
`pattern write quizhub/devices/%u/#` would also let an integrator or host publish as a device named after it.
Two rules are bound to the login name on Mosquitto where the embedded broker binds them to the client id, because
Mosquitto cannot tie a client id to a login: a host reads the replies for the client id equal to its login name,
and a device may connect with any client id (its topics still follow its login, so it can only publish as itself).

Names and hashes are read back from `credentials.json`, which may have been edited by hand or written by an older
Quizhub, so each is checked again before it is written (a newline in a name would be ACL lines of its own): a name
with `broker.credentials.validate_name`, a hash against the exact `$7$` form. One bad entry refuses the whole export
with a sentence naming it (StoredLoginError); nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from broker.acl import Acl, Principal
from broker.atomic_write import write_atomically
from broker.credentials import Role, validate_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from broker.credentials import HashedLogin

__all__ = [
    "ACL_FILE",
    "CONF_FILE",
    "PASSWD_FILE",
    "MosquittoFiles",
    "MosquittoOptions",
    "SkippedLogin",
    "StoredLoginError",
    "acl_text",
    "export",
    "render",
    "write_files",
]

CONF_FILE = "mosquitto.conf"
PASSWD_FILE = "passwd"  # noqa: S105 - a file name, not a password
ACL_FILE = "acl"
# Room for the fixed header, topic name and packet id on top of the payload cap (Mosquitto caps whole packets).
_PACKET_ROOM = 1024
# Exactly what `broker.credentials.mosquitto_hash` writes and Mosquitto 2 accepts: `$7$`, the iteration count, a
# 12-byte salt (16 base64 characters; Mosquitto drops a login whose salt has any other length) and a 64-byte
# PBKDF2-SHA512 (88 base64 characters). Nothing else from the store may reach the password file.
_MOSQUITTO_HASH_RE = re.compile(r"\$7\$[1-9][0-9]{0,8}\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==")


@dataclass(frozen=True)
class MosquittoOptions:
    """What the generated `mosquitto.conf` says.

    `files_dir` is the output folder as the broker will see it (in a container: where it is mounted, such as
    `/mosquitto/config`); None means the output folder itself. `persistence_dir` is where Mosquitto keeps
    retained messages and persistent sessions; None means `data/` inside `files_dir`.
    """

    port: int = 1883
    bind: str | None = None
    ws_port: int | None = None
    topic_root: str = "quizhub"
    max_payload: int = 65536
    files_dir: str | None = None
    persistence_dir: str | None = None

    def __post_init__(self) -> None:
        for flag, port in (("--port", self.port), ("--ws-port", self.ws_port)):
            if port is not None and not 1 <= port <= 65535:
                raise ValueError(f"{flag} {port} is not a TCP port; use 1..65535")
        if self.ws_port is not None and self.ws_port == self.port:
            raise ValueError(f"--port and --ws-port are both {self.port}; give the WebSocket listener its own port")
        root = self.topic_root
        if not root or root.startswith("$") or any(c in root for c in "+#\0 \n") or root.endswith("/"):
            raise ValueError(
                f"topic root {root!r} must be a plain topic prefix such as 'quizhub' "
                "(no wildcards, spaces, leading '$' or trailing '/')"
            )
        for flag, path in (("--files-dir", self.files_dir), ("--persistence-dir", self.persistence_dir)):
            if path is not None and (not path.startswith("/") or any(c in path for c in "\n\0")):
                raise ValueError(f"{flag} {path!r} must be an absolute path as the broker sees it")


@dataclass(frozen=True)
class SkippedLogin:
    """A stored login that could not be written for Mosquitto, and what the operator should do about it."""

    name: str
    role: Role
    reason: str


@dataclass(frozen=True)
class MosquittoFiles:
    """The three files' contents, and the logins left out of them."""

    conf: str
    passwd: str
    acl: str
    skipped: tuple[SkippedLogin, ...]


class StoredLoginError(ValueError):
    """A stored login that no Quizhub command would have written (a hand-edited, damaged or foreign credential
    file). The files are not written at all: such a name or hash could add lines to Mosquitto's passwd or acl."""


def _check_stored(login: HashedLogin) -> None:
    """Refuse a login whose name or hash `quizhub credentials add` could not have made (StoredLoginError)."""
    refusing = "refusing to write Mosquitto's files: the credential store (credentials.json in the data dir)"
    try:
        validate_name(login.name)
    except ValueError as exc:
        raise StoredLoginError(
            f"{refusing} holds a {login.role.value} login whose name `quizhub credentials add` would refuse "
            f"({exc}). The file was edited by hand or is damaged, and such a name could add lines to Mosquitto's "
            "passwd or acl file. Delete that entry from credentials.json or restore the file from a backup, "
            "then run this command again"
        ) from None
    if login.mosquitto is not None and not _MOSQUITTO_HASH_RE.fullmatch(login.mosquitto):
        raise StoredLoginError(
            f"{refusing} holds a Mosquitto hash for login {login.name!r} that is not a `$7$` PBKDF2-SHA512 hash "
            "as Quizhub writes it ($7$ITERATIONS$SALT$HASH: a 12-byte salt and a 64-byte hash, in base64). The "
            f"file was edited by hand or is damaged. Issue the login again (`quizhub credentials remove "
            f"{login.name}`, then `quizhub credentials add {login.name} --role {login.role.value}`), give the new "
            "password to that client, then run this command again"
        )


def _skip_reason(login: HashedLogin) -> str | None:
    if ":" in login.name:
        # Mosquitto splits a password-file line at the first ':'; such a name can never log in there.
        return (
            f"{login.name!r} contains ':', which a Mosquitto password file cannot hold; create a login without it "
            f"(quizhub credentials add NEWNAME --role {login.role.value}) and give its password to that client"
        )
    if login.mosquitto is None:
        return (
            f"{login.name!r} was created before Quizhub kept a Mosquitto hash; issue it again with "
            f"`quizhub credentials remove {login.name}` and `quizhub credentials add {login.name} "
            f"--role {login.role.value}`, give the new password to that client, then run this command again"
        )
    return None


def _device_write(pattern: str) -> str:
    # The embedded broker lets a device publish strictly *under* its own prefix (acl.Acl.may_publish), but on
    # Mosquitto `devices/ID/#` also matches `devices/ID` itself; `+/#` needs at least one more level.
    return pattern[: -len("#")] + "+/#" if pattern.endswith("/#") else pattern


def _rule_lines(acl: Acl, name: str | None, role: Role) -> list[str]:
    rules = acl.rules(Principal(name, role, name or "anonymous"))
    writes = [_device_write(p) if role is Role.DEVICE else p for p in rules.publish]
    return [f"topic write {p}" for p in writes] + [f"topic read {p}" for p in rules.subscribe]


def acl_text(topic_root: str, logins: Iterable[tuple[str, Role]]) -> str:
    """The Mosquitto ACL file: anonymous clients' lines first (inert while `allow_anonymous false`), then a
    `user` block per login, each granting exactly what `broker.acl.Acl` grants that login."""
    acl = Acl(topic_root)
    lines = [
        "# Written by `quizhub mosquitto-config` from broker/acl.py; edits are lost when it runs again.",
        "# Anonymous clients (only if allow_anonymous is turned on): read-only, as on the embedded broker.",
        *_rule_lines(acl, None, Role.INTEGRATOR),
    ]
    for name, role in logins:
        validate_name(name)  # a name with a newline would be ACL lines of its own; render() says what to do
        lines += ["", f"# {role.value}", f"user {name}", *_rule_lines(acl, name, role)]
    return "\n".join(lines) + "\n"


def _passwd_text(logins: Iterable[HashedLogin]) -> str:
    return "".join(f"{login.name}:{login.mosquitto}\n" for login in logins)


def _conf_text(options: MosquittoOptions, files_dir: PurePosixPath) -> str:
    persistence = PurePosixPath(options.persistence_dir) if options.persistence_dir else files_dir / "data"
    bind = f" {options.bind}" if options.bind else ""
    lines = [
        "# Written by `quizhub mosquitto-config`; the logins and ACL of the embedded broker (docs/broker.md).",
        "per_listener_settings false",
        f"listener {options.port}{bind}",
        "protocol mqtt",
    ]
    if options.ws_port is not None:
        lines += [f"listener {options.ws_port}{bind}", "protocol websockets"]
    lines += [
        "allow_anonymous false",
        f"password_file {files_dir / PASSWD_FILE}",
        f"acl_file {files_dir / ACL_FILE}",
        f"max_packet_size {options.max_payload + _PACKET_ROOM}",
        # Retained game state, device status and queued QoS 1 messages for persistent sessions (the hub's) survive
        # a broker restart; saved every minute and at shutdown, so a crash loses at most a minute of them.
        "persistence true",
        f"persistence_location {persistence}/",
        "autosave_interval 60",
    ]
    return "\n".join(lines) + "\n"


def render(logins: Sequence[HashedLogin], options: MosquittoOptions, files_dir: PurePosixPath) -> MosquittoFiles:
    """The three files for `logins` (stored logins only: `quizhub serve`'s in-memory ones do not exist elsewhere).

    Each login is checked again as `quizhub credentials add` checks a new one (StoredLoginError, nothing written):
    the names and hashes come from a file that may have been edited since. Logins Mosquitto cannot take (a ':' in
    the name, no `$7$` hash yet) are left out and named in `skipped`.
    """
    for login in logins:
        _check_stored(login)
    kept: list[HashedLogin] = []
    skipped: list[SkippedLogin] = []
    for login in logins:
        reason = _skip_reason(login)
        if reason is None:
            kept.append(login)
        else:
            skipped.append(SkippedLogin(login.name, login.role, reason))
    return MosquittoFiles(
        conf=_conf_text(options, files_dir),
        passwd=_passwd_text(kept),
        acl=acl_text(options.topic_root, ((login.name, login.role) for login in kept)),
        skipped=tuple(skipped),
    )


def write_files(directory: Path, files: MosquittoFiles, *, persistence_dir: Path | None = None) -> None:
    """Write the three files into `directory` (created if missing), each replaced atomically so a broker
    reloading on SIGHUP never reads half a file. The password and ACL files are 0600 (Mosquitto 2.0.16+ warns
    about readable ones): the broker must run as the files' owner or they must be chowned to its user."""
    directory.mkdir(parents=True, exist_ok=True)
    if persistence_dir is not None:
        persistence_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / PASSWD_FILE, files.passwd, 0o600)
    write_atomically(directory / ACL_FILE, files.acl, 0o600)
    write_atomically(directory / CONF_FILE, files.conf, 0o644)


def export(logins: Sequence[HashedLogin], directory: Path, options: MosquittoOptions) -> MosquittoFiles:
    """Render and write the files into `directory`; returns what was written and which logins were left out.

    With no `files_dir` the broker reads the files where they are written, and the persistence folder (when it is
    the default `data/`) is created there too.
    """
    directory = directory.resolve()
    local = options.files_dir is None
    files_dir = PurePosixPath(directory) if local else PurePosixPath(str(options.files_dir))
    files = render(logins, options, files_dir)
    persistence = directory / "data" if local and options.persistence_dir is None else None
    write_files(directory, files, persistence_dir=persistence)
    return files
