"""Pure MQTT topic and topic-filter algebra: validity, matching, and "filter A only matches what B matches".

No I/O. The ACL (`broker.acl`) and the router build on these three questions.
"""

from __future__ import annotations

__all__ = ["filter_within", "is_valid_filter", "is_valid_topic", "matches"]

_MAX_LEN = 65535


def is_valid_topic(topic: str) -> bool:
    """A topic name a client may PUBLISH to: non-empty, no wildcards, no NUL [MQTT-4.7.3-1, 3.3.2-2]."""
    return 0 < len(topic) <= _MAX_LEN and "+" not in topic and "#" not in topic and "\0" not in topic


def is_valid_filter(topic_filter: str) -> bool:
    """A filter a client may SUBSCRIBE to: '+' fills a whole level, '#' only as the whole last level [MQTT-4.7.1]."""
    if not 0 < len(topic_filter) <= _MAX_LEN or "\0" in topic_filter:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def matches(topic_filter: str, topic: str) -> bool:
    """Whether a valid filter matches a topic name; wildcards in the first level never match `$` topics."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic
    f_levels = topic_filter.split("/")
    t_levels = topic.split("/")
    for index, level in enumerate(f_levels):
        if level == "#":
            return True  # '#' also matches the parent level itself: 'a/#' matches 'a'
        if index >= len(t_levels):
            return False
        if level not in ("+", t_levels[index]):
            return False
    return len(f_levels) == len(t_levels)


def filter_within(topic_filter: str, allowed: str) -> bool:
    """Whether every topic `topic_filter` can match is also matched by the filter `allowed`.

    Both must be valid filters. Callers substituting a client id into `allowed` must first check that the id is a
    single plain level (no '/', '+', '#'), or the id would widen the pattern.
    """
    if topic_filter.startswith("$") and allowed[:1] in ("+", "#"):
        return False  # wildcards in the first level never match `$` topics, so they cannot cover them
    f_levels = topic_filter.split("/")
    a_levels = allowed.split("/")
    for index, a_level in enumerate(a_levels):
        if a_level == "#" and index == len(a_levels) - 1:
            # 'a/#' covers 'a' too, and everything below it.
            return len(f_levels) >= index
        if index >= len(f_levels):
            return False
        f_level = f_levels[index]
        if f_level == "#":
            return False  # a multi-level wildcard is only covered by a multi-level wildcard
        if a_level == "+":
            continue
        if f_level == "+" or f_level != a_level:
            return False
    return len(f_levels) == len(a_levels)
