"""`quizhub mosquitto-config`: the `$7$` hashes, the generated ACL against broker/acl.py, and the command itself.

The ACL check here reads the generated file with Mosquitto 2's acl_file rules (written out below, independently of
broker/topics.py); test_mosquitto_config_e2e.py runs the same table through a real Mosquitto.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from broker.acl import Acl, Principal
from broker.credentials import CredentialStore, HashedLogin, Role, mosquitto_hash
from broker.mosquitto_config import MosquittoOptions, StoredLoginError, acl_text, export
from web.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = "qh"
LOGINS = {"svc": Role.SERVICE, "dev1": Role.DEVICE, "dev2": Role.DEVICE, "integ": Role.INTEGRATOR,
          "host1": Role.HOST}

# (login, access, topic, allowed) - login None is an anonymous client. Written out by hand from DESIGN section 3,
# so that neither broker/acl.py nor the generator is its own oracle.
CASES: list[tuple[str | None, str, str, bool]] = [
    ("dev1", "write", "qh/devices/dev1/buzz", True),
    ("dev1", "write", "qh/devices/dev1/status", True),
    ("dev1", "write", "qh/devices/dev1/sync/reply", True),
    ("dev1", "write", "qh/devices/dev2/buzz", False),
    ("dev1", "write", "qh/devices/dev2/status", False),
    ("dev1", "write", "qh/devices/dev1", False),
    ("dev1", "write", "qh/games/g1/commands", False),
    ("dev1", "write", "qh/games/g1/buzzers", False),
    ("dev1", "write", "qh/hub/status", False),
    ("dev1", "read", "qh/devices/dev1/cmd", True),
    ("dev1", "read", "qh/devices/dev1/sync", True),
    ("dev1", "read", "qh/devices/dev1/error", True),
    ("dev1", "read", "qh/games/g1/buzzers", True),
    ("dev1", "read", "qh/hub/status", True),
    ("dev1", "read", "qh/devices/dev2/cmd", False),
    ("dev1", "read", "qh/devices/dev2/sync", False),
    ("dev1", "read", "qh/devices/dev2/buzz", False),
    ("dev1", "read", "qh/devices/dev1/buzz", False),
    ("dev1", "read", "qh/games/g1/state", False),
    ("dev1", "read", "qh/games/g1/commands", False),
    ("dev1", "read", "qh/games/g1/replies/dev1", False),
    ("integ", "write", "qh/games/g1/commands", False),
    ("integ", "write", "qh/devices/integ/buzz", False),
    ("integ", "write", "qh/devices/dev1/buzz", False),
    ("integ", "write", "qh/games/g1/state", False),
    ("integ", "write", "qh/hub/status", False),
    ("integ", "read", "qh/games/g1/state", True),
    ("integ", "read", "qh/games/g1/question", True),
    ("integ", "read", "qh/games/g1/scores", True),
    ("integ", "read", "qh/games/g1/events", True),
    ("integ", "read", "qh/games/g1/buzzers", True),
    ("integ", "read", "qh/devices/dev1/status", True),
    ("integ", "read", "qh/hub/status", True),
    ("integ", "read", "qh/games/g1/commands", False),
    ("integ", "read", "qh/games/g1/replies/integ", False),
    ("integ", "read", "qh/devices/dev1/buzz", False),
    ("integ", "read", "qh/devices/dev1/cmd", False),
    ("integ", "read", "qh/devices/dev1/sync/reply", False),
    ("host1", "write", "qh/games/g1/commands", True),
    ("host1", "write", "qh/games/g1/state", False),
    ("host1", "write", "qh/devices/host1/buzz", False),
    ("host1", "write", "qh/devices/dev1/buzz", False),
    ("host1", "read", "qh/games/g1/state", True),
    ("host1", "read", "qh/games/g1/events", True),
    ("host1", "read", "qh/games/g1/replies/host1", True),
    ("host1", "read", "qh/games/g1/replies/web-1", False),
    ("host1", "read", "qh/games/g1/commands", False),
    ("host1", "read", "qh/devices/dev1/buzz", False),
    ("svc", "write", "qh/games/g1/state", True),
    ("svc", "write", "qh/devices/dev1/cmd", True),
    ("svc", "write", "qh/games/g1/buzzers", True),
    ("svc", "write", "other/games/g1/state", False),
    ("svc", "read", "qh/devices/dev1/buzz", True),
    ("svc", "read", "qh/devices/dev2/sync/reply", True),
    ("svc", "read", "qh/games/g1/commands", True),
    ("svc", "read", "$SYS/broker/version", True),
    (None, "read", "qh/games/g1/state", True),
    (None, "read", "qh/devices/dev1/buzz", False),
    (None, "write", "qh/games/g1/commands", False),
]


def _mosquitto_matches(sub: str, topic: str) -> bool:
    """mosquitto_topic_matches_sub: `$` topics only match filters that start with `$`; `a/#` also matches `a`."""
    if sub.startswith("$") != topic.startswith("$"):
        return False
    s, t = sub.split("/"), topic.split("/")
    for i, level in enumerate(s):
        if level == "#":
            return True
        if i >= len(t) or level not in ("+", t[i]):
            return False
    return len(s) == len(t)


def _mosquitto_allows(acl: str, user: str | None, access: str, topic: str) -> bool:
    """Mosquitto 2's acl_file check: the lines before any `user` apply to anonymous clients, each `user` block to
    that login; `topic [read|write|readwrite] T`; `pattern` lines would apply to everyone (we write none)."""
    blocks: dict[str | None, list[tuple[str, str]]] = {None: []}
    current: str | None = None
    for raw in acl.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword == "user":
            current = rest.strip()
            blocks.setdefault(current, [])
        elif keyword == "topic":
            kind, _, pattern = rest.partition(" ")
            if not pattern:
                kind, pattern = "readwrite", kind
            blocks[current].append((kind, pattern))
        else:
            pytest.fail(f"unexpected ACL line {line!r} (pattern lines would apply to every login)")
    return any(
        access in kind.replace("readwrite", "read write").split() and _mosquitto_matches(pattern, topic)
        for kind, pattern in blocks.get(user, [])
    )


def _embedded_allows(user: str | None, access: str, topic: str) -> bool:
    role = LOGINS[user] if user is not None else Role.INTEGRATOR  # the embedded broker's anonymous role
    who = Principal(user, role, user or "anon")
    acl = Acl(ROOT)
    return acl.may_publish(who, topic) if access == "write" else acl.may_receive(who, topic)


@pytest.mark.parametrize(("user", "access", "topic", "allowed"), CASES)
def test_generated_acl_allows_exactly_what_the_embedded_broker_allows(
    user: str | None, access: str, topic: str, allowed: bool
) -> None:
    acl = acl_text(ROOT, LOGINS.items())
    assert _embedded_allows(user, access, topic) is allowed, "broker/acl.py differs from the table"
    assert _mosquitto_allows(acl, user, access, topic) is allowed, acl


def test_every_role_gets_a_user_block_and_no_pattern_lines() -> None:
    acl = acl_text(ROOT, LOGINS.items())
    for name in LOGINS:
        assert f"\nuser {name}\n" in acl
    assert "\npattern " not in acl  # patterns apply to every login: an integrator could publish as a device


@pytest.mark.mosquitto
def test_the_hash_is_byte_for_byte_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pwfile), "alice", "s3cret-pass"], check=True,
                   capture_output=True)
    written = pwfile.read_text().strip().split(":", 1)[1]
    prefix, seven, iterations, salt_b64, _ = written.split("$")
    assert (prefix, seven) == ("", "7")
    import base64  # noqa: PLC0415

    assert mosquitto_hash("s3cret-pass", base64.b64decode(salt_b64), int(iterations)) == written


def test_the_store_keeps_a_mosquitto_hash_of_each_new_secret_and_still_verifies_it(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    secret = CredentialStore(path).add("dev1", Role.DEVICE)
    store = CredentialStore(path)  # a fresh reader: the hash is in the file, not only in memory
    (login,) = store.hashed_logins()
    assert login.name == "dev1"
    assert login.role is Role.DEVICE
    assert login.mosquitto is not None
    _, _, iterations, salt_b64, _ = login.mosquitto.split("$")
    import base64  # noqa: PLC0415

    assert mosquitto_hash(secret, base64.b64decode(salt_b64), int(iterations)) == login.mosquitto
    assert store.verify("dev1", secret) is Role.DEVICE
    assert store.verify("dev1", secret + "x") is None
    store.ephemeral("hub-mem", Role.SERVICE)
    assert [h.name for h in store.hashed_logins()] == ["dev1"]  # in-memory logins exist nowhere else


def _old_file(path: Path, *names: tuple[str, Role]) -> None:
    """A credential file as written before the store kept Mosquitto hashes (plus one fresh login)."""
    store = CredentialStore(path)
    for name, role in names:
        store.add(name, role)
    doc = json.loads(path.read_text())
    for name, _ in names:
        if name != "fresh":
            del doc["credentials"][name]["mosquitto"]
    path.write_text(json.dumps(doc))


def test_the_command_names_logins_to_reissue_and_writes_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _old_file(data / "credentials.json", ("fresh", Role.SERVICE), ("old-buzzer", Role.DEVICE))
    CredentialStore(data / "credentials.json").add("obs:1", Role.INTEGRATOR)
    out = tmp_path / "mosq"
    with pytest.raises(SystemExit) as exited:
        main(["mosquitto-config", str(out), "--data-dir", str(data), "--port", "1884"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "'old-buzzer' was created before" in err
    assert "quizhub credentials add old-buzzer --role device" in err
    assert "'obs:1' contains ':'" in err
    passwd = (out / "passwd").read_text()
    assert passwd.startswith("fresh:$7$101$")
    assert passwd.count("\n") == 1
    acl = (out / "acl").read_text()
    assert "user fresh" in acl
    assert "old-buzzer" not in acl
    assert "obs:1" not in acl


def test_the_command_writes_three_predictably_named_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    CredentialStore(data / "credentials.json").add("hub", Role.SERVICE)
    out = tmp_path / "mosq"
    with pytest.raises(SystemExit) as exited:
        main(["mosquitto-config", str(out), "--data-dir", str(data), "--port", "1884", "--ws-port", "9002",
              "--files-dir", "/mosquitto/config", "--persistence-dir", "/mosquitto/data", "--topic-root", "bar"])
    assert exited.value.code == 0, capsys.readouterr().err
    assert "1 logins" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["acl", "mosquitto.conf", "passwd"]
    conf = (out / "mosquitto.conf").read_text().splitlines()
    for line in ("listener 1884", "listener 9002", "protocol websockets", "allow_anonymous false",
                 "password_file /mosquitto/config/passwd", "acl_file /mosquitto/config/acl", "persistence true",
                 "persistence_location /mosquitto/data/"):
        assert line in conf
    assert "topic write bar/#" in (out / "acl").read_text()
    for name in ("passwd", "acl"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "70000"], "--port 70000 is not a TCP port"),
        (["--port", "1884", "--ws-port", "1884"], "give the WebSocket listener its own port"),
        (["--files-dir", "relative/dir"], "must be an absolute path"),
        (["--topic-root", "a/#"], "invalid setting topic_root"),
    ],
)
def test_bad_options_are_one_sentence_and_exit_2(
    args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["mosquitto-config", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"), *args])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_is_pure_of_the_store(tmp_path: Path) -> None:
    """The rendering takes plain values (no store needed): what docker-compose tooling can call directly."""
    hashed = mosquitto_hash("pw", b"0123456789ab")
    files = export([HashedLogin("hub", Role.SERVICE, hashed)], tmp_path / "o",
                   MosquittoOptions(port=1999, bind="127.0.0.1"))
    assert files.passwd == f"hub:{hashed}\n"
    assert "listener 1999 127.0.0.1" in files.conf
    assert (tmp_path / "o" / "data").is_dir()


# -- a tampered or foreign credentials.json -------------------------------------------------------------------------

def _tamper(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    edit(doc["credentials"])
    path.write_text(json.dumps(doc))


def _export_twice(tmp_path: Path, edit: Callable[[dict[str, Any]], None], capsys: pytest.CaptureFixture[str]) -> str:
    """Export a good store, tamper with it, export again: the second run must refuse and leave the files alone."""
    data, out = tmp_path / "data", tmp_path / "mosq"
    store = CredentialStore(data / "credentials.json")
    store.add("quizhub-hub", Role.SERVICE)
    store.add("bz-1", Role.DEVICE)
    with pytest.raises(SystemExit) as exited:
        main(["mosquitto-config", str(out), "--data-dir", str(data)])
    assert exited.value.code == 0, capsys.readouterr().err
    before = {name: (out / name).read_bytes() for name in ("passwd", "acl", "mosquitto.conf")}
    listing = sorted(p.name for p in out.iterdir())
    capsys.readouterr()
    _tamper(data / "credentials.json", edit)
    with pytest.raises(SystemExit) as exited:
        main(["mosquitto-config", str(out), "--data-dir", str(data)])
    assert exited.value.code == 2
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing written
    assert sorted(p.name for p in out.iterdir()) == listing  # no temp file left either
    err = capsys.readouterr().err
    assert err.startswith("quizhub: refusing to write Mosquitto's files"), err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_a_login_name_with_a_newline_cannot_inject_acl_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "bz-1\ntopic readwrite #"

    def rename(creds: dict[str, Any]) -> None:
        creds[evil] = creds.pop("bz-1")

    err = _export_twice(tmp_path, rename, capsys)
    assert repr(evil) in err  # the entry is named, its newline shown escaped
    assert "device login" in err
    assert "Delete that entry from credentials.json or restore the file from a backup" in err


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (lambda h: h + "\nroot:" + h, "a newline: a second passwd line"),
        (lambda h: h + "\n", "a trailing newline"),
        (lambda h: "$6$" + h[3:], "not the $7$ scheme"),
        (lambda h: "$7$101$c2FsdA==$" + h.rsplit("$", 1)[1], "a 4-byte salt, which Mosquitto drops"),
        (lambda h: h[:-4] + "==", "a truncated hash"),
        (lambda h: h.replace("$", ":", 1), "a ':' (the passwd separator)"),
        (lambda h: "$7$0$" + h.split("$", 3)[3], "zero iterations"),
    ],
)
def test_a_hash_that_quizhub_did_not_write_is_refused_with_what_to_do(
    bad: Callable[[str], str], why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def corrupt(creds: dict[str, Any]) -> None:
        creds["bz-1"]["mosquitto"] = bad(creds["bz-1"]["mosquitto"])

    err = _export_twice(tmp_path, corrupt, capsys)
    assert "Mosquitto hash for login 'bz-1'" in err, why
    assert "quizhub credentials remove bz-1" in err
    assert "quizhub credentials add bz-1 --role device" in err


def test_render_and_acl_text_check_names_themselves() -> None:
    hashed = mosquitto_hash("pw", b"0123456789ab")
    with pytest.raises(StoredLoginError, match="would refuse"):
        export([HashedLogin("a\nuser b", Role.DEVICE, hashed)], Path("/nonexistent/never-written"),
               MosquittoOptions())
    with pytest.raises(ValueError, match="is not allowed"):
        acl_text(ROOT, [("ok\ntopic readwrite #", Role.INTEGRATOR)])
    assert "user ok" in acl_text(ROOT, [("ok", Role.INTEGRATOR)])
