"""`configure_logging`, as each `quizhub` command calls it: one stderr handler of its own, replaced by the next call."""

from __future__ import annotations

import json
import logging

import pytest

from hub.logs import ConsoleFormatter, JsonFormatter, ProcessLogHandler, configure_logging


def _own_handlers() -> list[ProcessLogHandler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, ProcessLogHandler)]


def test_a_second_call_replaces_the_first_handler_and_keeps_the_others(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    others = [h for h in root.handlers if not isinstance(h, ProcessLogHandler)]
    configure_logging("text", "INFO")
    (first,) = _own_handlers()
    assert isinstance(first.formatter, ConsoleFormatter)
    configure_logging("json", "DEBUG")
    (second,) = _own_handlers()
    assert second is not first
    assert isinstance(second.formatter, JsonFormatter)
    assert [h for h in root.handlers if not isinstance(h, ProcessLogHandler)] == others  # pytest's, left alone
    assert root.level == logging.DEBUG
    assert logging.getLogger("amqtt").level == logging.WARNING
    logging.getLogger("quizhub.test").info("once", extra={"game": "g1"})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines  # one handler wrote it
    doc = json.loads(lines[0])
    assert (doc["msg"], doc["game"]) == ("once", "g1")
