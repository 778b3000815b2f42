"""Pure parts of the broker: topic algebra, ACL table, wire parsing, credential file."""

from __future__ import annotations

import contextlib
import json
import stat
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker import wire
from broker.acl import Acl, Principal
from broker.config import BrokerConfig
from broker.credentials import CredentialExistsError, CredentialStore, Role
from broker.topics import filter_within, is_valid_filter, matches

LEVEL = st.sampled_from(["a", "b", "quizhub", "", "$SYS", "dev1"])
TOPIC = st.lists(LEVEL, min_size=1, max_size=5).map("/".join).filter(lambda t: t != "")
FILTER_LEVEL = st.sampled_from(["a", "b", "quizhub", "", "$SYS", "dev1", "+"])


@st.composite
def filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(FILTER_LEVEL, min_size=1, max_size=5))
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels)


@given(filters(), filters(), TOPIC)
def test_filter_within_is_sound(inner: str, outer: str, topic: str):
    """If `inner` is within `outer`, no topic matched by `inner` escapes `outer`: the ACL relies on this."""
    if filter_within(inner, outer) and matches(inner, topic):
        assert matches(outer, topic)


@given(filters())
def test_every_filter_is_within_itself(f: str):
    assert filter_within(f, f)


@pytest.mark.parametrize(("f", "topic", "expected"), [
    ("#", "$SYS/broker/version", False), ("+/broker/version", "$SYS/broker/version", False),
    ("$SYS/#", "$SYS/broker/version", True), ("a/#", "a", True), ("a/+", "a/", True), ("a/+", "a", False),
    ("+/+", "/a", True), ("a/b", "a/b", True), ("a/+/c", "a/b/c/d", False),
])
def test_matches(f, topic, expected):
    assert matches(f, topic) is expected


@pytest.mark.parametrize("f", ["a/#/b", "a#", "a/b+", "", "#/a"])
def test_invalid_filters(f):
    assert not is_valid_filter(f)


ROOT = "quizhub"


@pytest.mark.parametrize(("who", "topic", "allowed"), [
    (Principal("dev1", Role.DEVICE, "dev1"), "quizhub/devices/dev1/buzz", True),
    (Principal("dev1", Role.DEVICE, "dev1"), "quizhub/devices/dev1", False),
    (Principal("dev1", Role.DEVICE, "dev1"), "quizhub/devices/dev2/buzz", False),
    (Principal("dev1", Role.DEVICE, "dev2"), "quizhub/devices/dev2/buzz", False),  # id must equal name
    (Principal("i", Role.INTEGRATOR, "i"), "quizhub/games/g/state", False),
    (Principal("h", Role.HOST, "h"), "quizhub/games/g/commands", True),
    (Principal("h", Role.HOST, "h"), "quizhub/games/g/state", False),
    (Principal("s", Role.SERVICE, "s"), "quizhub/games/g/state", True),
    (Principal("s", Role.SERVICE, "s"), "other/x", False),
])
def test_publish_rules(who, topic, allowed):
    assert Acl(ROOT).may_publish(who, topic) is allowed


@pytest.mark.parametrize(("who", "topic_filter", "allowed"), [
    (Principal("dev1", Role.DEVICE, "dev1"), "quizhub/devices/dev1/cmd", True),
    (Principal("dev1", Role.DEVICE, "dev1"), "quizhub/devices/dev1/#", False),
    (Principal("dev1", Role.DEVICE, "dev1"), "quizhub/games/+/buzzers", True),
    (Principal("dev1", Role.DEVICE, "dev1"), "quizhub/games/g7/buzzers", True),
    (Principal("i", Role.INTEGRATOR, "i"), "quizhub/games/#", False),
    (Principal("i", Role.INTEGRATOR, "i"), "quizhub/devices/+/status", True),
    (Principal("h", Role.HOST, "web-1"), "quizhub/games/+/replies/web-1", True),
    (Principal("h", Role.HOST, "web-1"), "quizhub/games/+/replies/+", False),
    (Principal("h", Role.HOST, "#"), "quizhub/games/+/replies/#", False),  # a client id cannot widen the rule
    (Principal("s", Role.SERVICE, "s"), "#", True),
    (Principal("s", Role.SERVICE, "s"), "$SYS/#", True),
])
def test_subscribe_rules(who, topic_filter, allowed):
    assert Acl(ROOT).may_subscribe(who, topic_filter) is allowed


def test_credentials_file_holds_only_hashes_with_mode_0600(tmp_path):
    store = CredentialStore(tmp_path / "credentials.json")
    secret = store.add("buzzer-01", Role.DEVICE)
    assert len(secret) >= 40
    raw = (tmp_path / "credentials.json").read_text()
    assert secret not in raw
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600
    assert json.loads(raw)["credentials"]["buzzer-01"]["role"] == "device"
    assert store.verify("buzzer-01", secret) is Role.DEVICE
    assert store.verify("buzzer-01", secret + "x") is None
    assert store.verify("nobody", secret) is None
    with pytest.raises(CredentialExistsError, match="buzzer-01"):
        store.add("buzzer-01", Role.HOST)
    assert [(c.name, c.role) for c in store.list()] == [("buzzer-01", Role.DEVICE)]
    assert store.remove("buzzer-01") is True
    assert store.remove("buzzer-01") is False
    assert store.verify("buzzer-01", secret) is None


def test_another_process_sees_changes_without_restart(tmp_path):
    running = CredentialStore(tmp_path / "c.json")
    cli = CredentialStore(tmp_path / "c.json")
    secret = cli.add("obs", Role.INTEGRATOR)
    assert running.verify("obs", secret) is Role.INTEGRATOR
    cli.remove("obs")
    assert running.verify("obs", secret) is None


def test_ephemeral_logins_stay_in_memory(tmp_path):
    store = CredentialStore(tmp_path / "c.json")
    secret = store.ephemeral("quizhub-hub", Role.SERVICE)
    assert store.verify("quizhub-hub", secret) is Role.SERVICE
    assert not (tmp_path / "c.json").exists()
    assert store.list() == []


@pytest.mark.parametrize("name", ["", "a/b", "dev+", "#", "x" * 65, "-lead"])
def test_names_that_cannot_be_a_topic_level_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="not allowed"):
        CredentialStore(tmp_path / "c.json").add(name, Role.DEVICE)


def _connect_body(flags: int, *fields: bytes) -> bytes:
    return b"\x00\x04MQTT\x04" + bytes((flags,)) + b"\x00\x3c" + b"".join(
        struct.pack("!H", len(f)) + f for f in fields)


def test_parse_connect_reads_every_field():
    body = _connect_body(0xC0 | 0x04 | 0x08 | 0x20 | 0x02, b"dev1", b"q/devices/dev1/status", b"off", b"dev1", b"pw")
    c = wire.parse_connect(0, body)
    assert (c.client_id, c.username, c.password, c.will_topic, c.will_payload, c.will_qos, c.will_retain,
            c.clean_session, c.keepalive) == ("dev1", "dev1", b"pw", "q/devices/dev1/status", b"off", 1, True,
                                              True, 60)


@pytest.mark.parametrize(("flags", "fields", "error"), [
    (0x01 | 0x02, (b"x",), "reserved"),
    (0x40 | 0x02, (b"x", b"pw"), "password without a user name"),
    (0x08 | 0x02, (b"x",), "Will QoS"),
    (0x02, (b"x", b"extra"), "bytes after"),
])
def test_parse_connect_names_the_broken_rule(flags, fields, error):
    with pytest.raises(wire.ProtocolViolation, match=error):
        wire.parse_connect(0, _connect_body(flags, *fields))


def test_other_protocol_levels_are_unsupported_not_malformed():
    with pytest.raises(wire.UnsupportedProtocolError):
        wire.parse_connect(0, b"\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01x")


@given(st.binary(max_size=300), st.integers(0, 15))
def test_parsers_never_raise_anything_but_protocol_violation(body, flags):
    for parse in (lambda: wire.parse_connect(flags, body), lambda: wire.parse_publish(flags, body, 100),
                  lambda: wire.parse_subscribe(flags, body), lambda: wire.parse_unsubscribe(flags, body)):
        with contextlib.suppress(wire.ProtocolViolation):
            parse()


@pytest.mark.parametrize(("kw", "message"), [
    ({"topic_root": "quiz/#"}, "topic_root"), ({"port": 70000}, "port"), ({"keepalive_factor": 0.5}, "1.5"),
    ({"max_payload": 0}, "max_payload"),
])
def test_config_refuses_nonsense_with_a_sentence(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        BrokerConfig(data_dir=tmp_path, **kw)
