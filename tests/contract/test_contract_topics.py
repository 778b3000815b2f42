"""hub.topics: builders and parser are inverse, ids are validated, and parse never raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.messages import ID_PATTERN
from hub.topics import ID_RE, ParsedTopic, TopicKind, Topics, is_valid_id, validate_id

ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True, alphabet=st.characters(codec="ascii"))
roots = st.lists(ids, min_size=1, max_size=3).map("/".join)
SETTINGS = settings(max_examples=200, deadline=None)


def topic_for(kind: TopicKind, dev: str, game: str, client: str) -> ParsedTopic:
    path = kind.rule.path
    return ParsedTopic(
        kind,
        device=dev if "{dev}" in path else None,
        game=game if "{game}" in path else None,
        client=client if "{client}" in path else None,
    )


@SETTINGS
@given(root=roots, kind=st.sampled_from(list(TopicKind)), dev=ids, game=ids, client=ids)
def test_build_then_parse_is_identity(root: str, kind: TopicKind, dev: str, game: str, client: str) -> None:
    topics = Topics(root)
    parsed = topic_for(kind, dev, game, client)
    topic = topics.topic_of(parsed)
    assert topic.startswith(root + "/")
    assert topics.parse(topic) == parsed
    assert Topics(root + "x").parse(topic) is None, "another root never matches"


@SETTINGS
@given(
    topic=st.text(max_size=80)
    | st.lists(
        st.sampled_from(
            ["quizhub", "devices", "games", "hub", "status", "sync", "reply", "replies", "d", "", "+", "#"]
        ),
        max_size=6,
    ).map("/".join)
)
def test_parse_never_raises_and_only_returns_round_trippable_topics(topic: str) -> None:
    topics = Topics()
    parsed = topics.parse(topic)
    if parsed is not None:
        assert topics.topic_of(parsed) == topic


def test_named_builders_match_design_section_3() -> None:
    t = Topics()
    assert t.device_status("dev7") == "quizhub/devices/dev7/status"
    assert t.device_buzz("dev7") == "quizhub/devices/dev7/buzz"
    assert t.device_sync("dev7") == "quizhub/devices/dev7/sync"
    assert t.device_sync_reply("dev7") == "quizhub/devices/dev7/sync/reply"
    assert t.device_cmd("dev7") == "quizhub/devices/dev7/cmd"
    assert t.device_error("dev7") == "quizhub/devices/dev7/error"
    assert t.game_buzzers("g1") == "quizhub/games/g1/buzzers"
    assert t.game_state("g1") == "quizhub/games/g1/state"
    assert t.game_question("g1") == "quizhub/games/g1/question"
    assert t.game_scores("g1") == "quizhub/games/g1/scores"
    assert t.game_events("g1") == "quizhub/games/g1/events"
    assert t.game_commands("g1") == "quizhub/games/g1/commands"
    assert t.game_reply("g1", "web-1") == "quizhub/games/g1/replies/web-1"
    assert t.hub_status() == "quizhub/hub/status"


def test_subscription_filters() -> None:
    t = Topics("site/qh")
    assert t.filter(TopicKind.DEVICE_BUZZ) == "site/qh/devices/+/buzz"
    assert t.filter(TopicKind.DEVICE_SYNC_REPLY) == "site/qh/devices/+/sync/reply"
    assert t.filter(TopicKind.GAME_REPLIES) == "site/qh/games/+/replies/+"
    assert t.filter(TopicKind.HUB_STATUS) == "site/qh/hub/status"


def test_delivery_rules_of_design_section_3() -> None:
    retained = {k for k in TopicKind if k.rule.retained}
    assert retained == {
        TopicKind.DEVICE_STATUS,
        TopicKind.GAME_STATE,
        TopicKind.GAME_QUESTION,
        TopicKind.GAME_SCORES,
        TopicKind.HUB_STATUS,
    }
    assert TopicKind.DEVICE_BUZZ.rule.qos == 1
    assert TopicKind.GAME_EVENTS.rule.qos == 1
    assert TopicKind.GAME_COMMANDS.rule.qos == 1
    assert {k for k in TopicKind if k.is_device} == {k for k in TopicKind if k.name.startswith("DEVICE_")}


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "a b", "é", "x" * 65, "dev\n", "$SYS"])
def test_invalid_ids_are_refused_by_builders_and_parser(bad: str) -> None:
    t = Topics()
    assert not is_valid_id(bad)
    with pytest.raises(ValueError, match=r"device id .* is invalid: use 1 to 64 of the characters"):
        t.device_buzz(bad)
    with pytest.raises(ValueError, match="client id"):
        t.game_reply("g1", bad)
    assert t.parse(f"quizhub/devices/{bad}/buzz") is None


def test_validate_id_returns_the_id() -> None:
    assert validate_id("dev-7_A") == "dev-7_A"
    assert validate_id("x" * 64) == "x" * 64


@pytest.mark.parametrize("root", ["", "$SYS", "a//b", "a/+", "#", "a/", "/a"])
def test_invalid_roots_are_refused(root: str) -> None:
    with pytest.raises(ValueError, match="topic root"):
        Topics(root)


def test_unknown_paths_parse_to_none() -> None:
    t = Topics()
    for topic in [
        "quizhub",
        "quizhub/",
        "quizhub/devices/d1",
        "quizhub/devices/d1/status/x",
        "quizhub/games/g1/replies",
        "quizhub/hub",
        "other/devices/d1/buzz",
        "quizhub/devices/d1/sync/rep",
    ]:
        assert t.parse(topic) is None, topic


def test_topic_ids_and_message_ids_follow_one_rule() -> None:
    assert f"^{ID_RE.pattern}$" == ID_PATTERN
