"""The hub's Prometheus metrics and JSON log lines, moved by a real round: embedded broker, SQLite, a real Hub and a
simulated buzzer (the hub tests' arena), scraped over HTTP from `serve_metrics` as Prometheus would."""

from __future__ import annotations

import io
import json
import logging
import urllib.request
from typing import TYPE_CHECKING

import pytest

from hub import metrics
from hub.logs import JsonFormatter
from tests.hub_arena import hub_marks
from tests.ops.test_web_metrics import samples

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.hub.conftest import Arena

pytestmark = hub_marks(timeout=60)


@pytest.fixture(scope="module")
def scrape_url() -> str:
    """The hub's own metrics endpoint, as `quizhub hub --metrics-port 0` starts it (one thread for the module)."""
    host, port = metrics.serve_metrics("127.0.0.1", 0)
    return f"http://{host}:{port}/metrics"


def scrape(url: str) -> dict[str, float]:
    """Every sample of the exposition text, keyed by its name and labels as printed."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        return samples(resp.read().decode())


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The hub's log records rendered by the JSON formatter, as `--log-format json` prints them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("quizhub")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _sample_count() -> float:
    for sample in metrics.BUZZ_TO_RULING.collect()[0].samples:
        if sample.name.endswith("_count"):
            return sample.value
    return 0.0


async def test_a_round_moves_the_counters_the_latency_histogram_and_logs_the_ruling_as_json(
    arena: Arena, scrape_url: str, json_log: io.StringIO
) -> None:
    before = scrape(scrape_url)
    await arena.host.ok("add_team", team="red", name="Red")
    buzzer = await arena.buzzer("bz-metrics")
    await arena.host.ok("pair", device="bz-metrics", team="red")
    await buzzer.wait_for("config")
    await arena.host.ok("show")
    await arena.host.ok("arm")
    await buzzer.wait_for("armed")
    rulings = _sample_count()
    await buzzer.press()
    # The observation follows the ruling's publish, and every step wakes wait_for once it has published.
    await arena.hub.service.wait_for(lambda: _sample_count() > rulings, timeout=10)

    after = scrape(scrape_url)

    def moved(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved('quizhub_hub_mqtt_messages_in_total{kind="deviceBuzz"}') >= 1
    assert moved('quizhub_hub_mqtt_messages_in_total{kind="gameCommands"}') >= 4
    assert moved('quizhub_hub_mqtt_messages_out_total{kind="gameEvents"}') >= 1
    assert moved('quizhub_hub_mqtt_messages_out_total{kind="deviceCmd"}') >= 1  # config, arm, lock/won
    assert moved("quizhub_hub_buzz_to_ruling_seconds_count") >= 1
    assert moved("quizhub_hub_buzz_to_ruling_seconds_sum") > 0  # the grace window at least: never instant
    assert after["quizhub_hub_devices_connected"] >= 1
    assert after["quizhub_hub_games"] >= 1

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    ruled = [doc for doc in lines if doc["msg"] == "buzz ruled"]
    assert ruled, lines
    assert ruled[-1]["game"] == arena.game_id
    assert ruled[-1]["device"] == "bz-metrics"
    assert ruled[-1]["team"] == "red"
    assert ruled[-1]["level"] == "info"


async def test_a_malformed_payload_counts_as_rejected_with_its_reason(arena: Arena, scrape_url: str) -> None:
    key = 'quizhub_hub_rejected_inputs_total{reason="malformed"}'
    before = scrape(scrape_url).get(key, 0.0)
    buzzer = await arena.buzzer("bz-garbage")
    client = buzzer._client
    assert client is not None
    await client.publish(f"{arena.env.root}/devices/bz-garbage/buzz", b"{not json", qos=1)
    err = await buzzer.wait_for("error")  # the hub counts before it answers on the device's error topic
    assert err.data["code"] == "malformed"
    after = scrape(scrape_url)
    assert after[key] == before + 1
    assert after.get('quizhub_hub_mqtt_messages_out_total{kind="deviceError"}', 0.0) >= 1
