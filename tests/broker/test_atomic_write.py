"""broker.atomic_write: the one write path of credentials.json and Mosquitto's files (exact modes, no torn files)."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from broker.atomic_write import write_atomically
from broker.credentials import CredentialStore, Role
from broker.mosquitto_config import MosquittoOptions, export

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o000)  # a careless shell: without an explicit chmod every new file would be world-writable
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def strict_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("loose_umask")
def test_the_mode_is_exact_whatever_the_umask_and_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("old")
    target.chmod(0o666)
    write_atomically(target, "new", 0o600)
    assert target.read_text() == "new"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]


@pytest.mark.usefixtures("strict_umask")
def test_a_public_mode_is_kept_under_a_strict_umask(tmp_path: Path) -> None:
    target = tmp_path / "mosquitto.conf"
    write_atomically(target, "listener 1883\n", 0o644)
    assert _mode(target) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("kept\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "half \udcff written", 0o600)  # a lone surrogate cannot be UTF-8
    assert target.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


@pytest.mark.usefixtures("loose_umask")
def test_both_users_of_the_helper_keep_secrets_0600(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "data" / "credentials.json")
    store.add("hub", Role.SERVICE)
    store.add("bz-1", Role.DEVICE)  # the second write replaces the first
    assert _mode(store.path) == 0o600
    assert [info.name for info in CredentialStore(store.path).list()] == ["bz-1", "hub"]
    out = tmp_path / "mosq"
    export(store.hashed_logins(), out, MosquittoOptions())
    assert {name: _mode(out / name) for name in ("passwd", "acl", "mosquitto.conf")} == {
        "passwd": 0o600, "acl": 0o600, "mosquitto.conf": 0o644,
    }
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["credentials.json", "credentials.json.lock"]
