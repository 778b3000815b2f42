"""The embedded broker enforces exactly the ACL the AsyncAPI document publishes (x-quizhub-acl)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from broker.acl import Acl, Principal
from broker.credentials import Role

DOC = yaml.safe_load((Path(__file__).resolve().parents[2] / "schemas" / "asyncapi.yaml").read_text(encoding="utf-8"))
TABLE: dict[str, dict[str, list[str]]] = DOC["x-quizhub-acl"]
ROOT = "quizhub"
ME = "dev-7"
OTHER = "dev-8"
ALL_LEAVES = [
    "devices/{d}/status", "devices/{d}/buzz", "devices/{d}/sync", "devices/{d}/sync/reply", "devices/{d}/cmd",
    "devices/{d}/error", "games/g1/buzzers", "games/g1/state", "games/g1/question", "games/g1/scores",
    "games/g1/events", "games/g1/commands", "games/g1/replies/{d}", "hub/status",
]


def _concrete(pattern: str) -> str:
    return pattern.replace("{own id}", ME).replace("{own client id}", ME).replace("+", "g1")


def _own(pattern: str, own: dict[str, str]) -> str:
    for key, value in own.items():
        pattern = pattern.replace(key, value)
    return pattern


def _who(role: str) -> Principal:
    return Principal(ME, Role(role), ME)


@pytest.mark.parametrize("role", sorted(TABLE))
def test_everything_the_document_grants_the_broker_grants(role: str) -> None:
    acl, who = Acl(ROOT), _who(role)
    for pattern in TABLE[role]["publish"]:
        topic = _concrete(pattern).replace("#", "x/y")
        assert acl.may_publish(who, topic), f"{role} may publish {topic} per asyncapi.yaml"
    for pattern in TABLE[role]["subscribe"]:
        assert acl.may_subscribe(who, pattern.replace("{own id}", ME).replace("{own client id}", ME)), pattern


@pytest.mark.parametrize("role", sorted(TABLE))
def test_nothing_the_document_withholds_is_granted(role: str) -> None:
    """Every concrete topic of the tree: granted by the broker only if some documented pattern covers it."""
    from broker.topics import matches  # noqa: PLC0415

    acl, who = Acl(ROOT), _who(role)
    own = {"{own id}": ME, "{own client id}": ME}
    granted_pub = [_own(p, own) for p in TABLE[role]["publish"]]
    granted_sub = [_own(p, own) for p in TABLE[role]["subscribe"]]
    for leaf in ALL_LEAVES:
        for dev in (ME, OTHER):
            topic = f"{ROOT}/{leaf.format(d=dev)}"
            documented_pub = any(matches(p, topic) for p in granted_pub) or (
                role == "device" and topic.startswith(f"{ROOT}/devices/{ME}/")
            )
            documented_sub = any(matches(p, topic) for p in granted_sub)
            assert acl.may_publish(who, topic) == documented_pub, f"{role} publish {topic}"
            assert acl.may_subscribe(who, topic) == documented_sub, f"{role} subscribe {topic}"
