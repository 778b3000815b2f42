"""The buzzer firmware's portable core, built for the host: its C++ unit tests under ctest, and host_buzzer (the
same core on libmosquitto) played against a private Mosquitto by a Python stand-in for the hub.

What the device must do (DESIGN §3): retained online status with a Will, an immediate sync echo whose t2/t3
are on its own clock, config → subscribe to the game's buzzers, one QoS 1 buzz per arm with seq/boot/t_us,
win/lock display, and presses made while offline delivered on reconnect with their original time.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.firmware.buzzer_harness import (
    HostBuzzer,
    HubSide,
    LinkCutter,
    Mosquitto,
    device_clock,
    host_us,
    retained_on,
)

# The first test to need host_buzzer_exe also pays for the CMake build (about a minute on 2 cores).
pytestmark = [pytest.mark.firmware, pytest.mark.timeout(600)]

Spawn = Callable[..., HostBuzzer]


def test_core_unit_tests_pass_under_ctest(firmware_build_dir: Path, host_buzzer_exe: Path) -> None:
    assert host_buzzer_exe.exists()
    proc = subprocess.run(
        ["ctest", "--test-dir", str(firmware_build_dir), "--output-on-failure", "--timeout", "300"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ctest failed:\n{out[-12000:]}"
    # Every suite ran (a silently empty ctest would also exit 0).
    for name in ("core.codec", "core.press", "core.device", "core.backoff", "core.portable", "host_buzzer.help"):
        assert re.search(rf"{re.escape(name)} \.+\s+Passed", out), f"{name} did not pass:\n{out}"
    assert "100% tests passed" in out


@pytest.fixture
def hub(private_mosquitto: Mosquitto, topic_root: str) -> Iterator[HubSide]:
    side = HubSide(private_mosquitto.port, topic_root)
    yield side
    side.close()


def _online(b: HostBuzzer, root: str) -> None:
    b.wait_event("subscribed", where=lambda e: e["topic"] == f"{root}/devices/{b.device_id}/cmd")
    b.wait_event("subscribed", where=lambda e: e["topic"] == f"{root}/devices/{b.device_id}/sync")


def _pair_and_arm(b: HostBuzzer, hub: HubSide, root: str, game: str = "g1", q: int = 1) -> None:
    _online(b, root)
    hub.publish(f"devices/{b.device_id}/cmd", {"cmd": "config", "game": game, "team": "t3", "color": "#e33"})
    b.wait_event("subscribed", where=lambda e: e["topic"] == f"{root}/games/{game}/buzzers")
    cfg = b.wait_event("config")
    assert (cfg["game"], cfg["team"], cfg["color"]) == (game, "t3", "#ee3333")
    mark = b.mark()
    hub.publish(f"games/{game}/buzzers", {"cmd": "arm", "q": q})
    assert b.wait_event("state", after=mark, where=lambda e: e["to"] == "armed")["q"] == q


@pytest.mark.mosquitto
def test_status_is_retained_online_and_the_will_says_offline_after_kill_9(
    spawn_buzzer: Spawn, private_mosquitto: Mosquitto, hub: HubSide, topic_root: str
) -> None:
    b = spawn_buzzer(device_id="dev1", port=private_mosquitto.port, boot=7)
    b.wait_event("connected")
    status, retained = hub.wait("devices/dev1/status")
    assert status == {"state": "online", "fw": "1.0.0", "rssi": -60, "battery_mv": 3900, "boot": 7}
    assert retained is False  # live delivery to an existing subscriber; a new one gets it retained:
    assert retained_on(private_mosquitto.port, f"{topic_root}/devices/dev1/status")["state"] == "online"

    b.kill9()
    offline, _ = hub.wait("devices/dev1/status", where=lambda s: s["state"] == "offline")
    assert offline == {"state": "offline"}
    assert retained_on(private_mosquitto.port, f"{topic_root}/devices/dev1/status") == {"state": "offline"}


@pytest.mark.mosquitto
def test_quit_says_offline_itself_and_a_boot_file_counts_restarts(
    spawn_buzzer: Spawn, private_mosquitto: Mosquitto, hub: HubSide, tmp_path: Path
) -> None:
    boot_file = tmp_path / "boot"
    for expected_boot in (1, 2):
        b = spawn_buzzer(device_id="dev2", port=private_mosquitto.port, boot_file=boot_file)
        assert b.wait_event("start")["boot"] == expected_boot
        status, _ = hub.wait("devices/dev2/status", where=lambda s: s["state"] == "online")
        assert status["boot"] == expected_boot
        assert b.quit() == 0
        assert b.wait_event("bye")["queued"] == 0
        hub.wait("devices/dev2/status", where=lambda s: s["state"] == "offline")


@pytest.mark.mosquitto
@pytest.mark.parametrize(("offset_us", "drift_ppm"), [(0, 0.0), (2_500_000_000, 150.0), (37_000, -80.0)])
def test_sync_reply_stamps_t2_at_receipt_and_t3_at_send_on_the_device_clock(
    spawn_buzzer: Spawn, private_mosquitto: Mosquitto, hub: HubSide, topic_root: str, offset_us: int, drift_ppm: float
) -> None:
    b = spawn_buzzer(device_id="dev3", port=private_mosquitto.port, offset_us=offset_us, drift_ppm=drift_ppm, boot=4)
    _online(b, topic_root)
    for n in range(1, 6):
        t1 = host_us()
        hub.publish("devices/dev3/sync", {"n": n, "t1": t1}, qos=0)
        reply, _ = hub.wait("devices/dev3/sync/reply", where=lambda r, n=n: r["n"] == n)
        t4 = host_us()
        assert reply["t1"] == t1
        assert reply["boot"] == 4
        # The device clock is offset + drift applied to the host clock, so the stamps are bounded exactly by the
        # device-clock readings of the hub's send (t1) and receive (t4) instants (±1 µs rounding).
        lo = device_clock(t1, offset_us, drift_ppm) - 1
        hi = device_clock(t4, offset_us, drift_ppm) + 1
        assert lo <= reply["t2"] <= reply["t3"] <= hi, (lo, reply, hi)
        # What a hub would estimate: offset within half the round trip of the truth at that moment.
        est = ((reply["t2"] - t1) + (reply["t3"] - t4)) / 2
        true = device_clock((t1 + t4) // 2, offset_us, drift_ppm) - (t1 + t4) // 2
        assert abs(est - true) <= (t4 - t1) / 2 + 2
        ev = b.wait_event("sync_reply", where=lambda e, n=n: e["n"] == n)
        assert (ev["t2"], ev["t3"]) == (reply["t2"], reply["t3"])


@pytest.mark.mosquitto
def test_config_arm_press_buzz_win_and_lock(
    spawn_buzzer: Spawn, private_mosquitto: Mosquitto, hub: HubSide, topic_root: str
) -> None:
    offset, drift = 123_456_789, -40.0
    b = spawn_buzzer(device_id="dev1", port=private_mosquitto.port, offset_us=offset, drift_ppm=drift, boot=7)
    _pair_and_arm(b, hub, topic_root)
    assert b.wait_event("led", where=lambda e: e["pattern"] == "armed")["color"] == "#ee3333"

    # A press with a known true time in the near future: host_buzzer waits for it, so the buzz cannot arrive
    # before the press happened (the hub's no-time-travel rule holds for the twin as for a real button).
    at = host_us() + 150_000
    expected_t = b.press_at(at)
    assert b.wait_event("press_scheduled")["t_us"] == expected_t
    buzz, retained = hub.wait("devices/dev1/buzz")
    arrival = host_us()
    assert buzz == {"seq": 1, "boot": 7, "t_us": expected_t}
    assert not retained
    assert arrival >= at
    assert device_clock(at, offset, drift) == expected_t
    b.wait_event("buzz_acked", where=lambda e: e["seq"] == 1)

    # One buzz per arm: a second press (well past the debounce window) is ignored by the state machine.
    mark = b.mark()
    b.press_at(at + 200_000)
    assert b.wait_event("press_ignored", after=mark)["reason"] == "state"

    hub.publish("games/g1/buzzers", {"cmd": "lock", "q": 1, "winner": "dev1"})
    b.wait_event("won")
    b.wait_event("led", where=lambda e: e["pattern"] == "won")
    b.wait_event("piezo", where=lambda e: e["pattern"] == "win")

    # Next question: pressed, but someone else wins.
    mark = b.mark()
    hub.publish("games/g1/buzzers", {"cmd": "arm", "q": 2})
    b.wait_event("armed", after=mark)
    b.press_at(max(host_us(), at + 300_000))  # clear of the 30 ms debounce after the ignored press
    buzz, _ = hub.wait("devices/dev1/buzz")
    assert (buzz["seq"], buzz["boot"]) == (2, 7)
    hub.publish("games/g1/buzzers", {"cmd": "lock", "q": 2, "winner": "dev9"})
    b.wait_event("locked", after=mark)

    # Re-open that locks my team out: this buzzer stays locked.
    mark = b.mark()
    hub.publish("games/g1/buzzers", {"cmd": "arm", "q": 2, "locked_out": ["t3"]})
    assert b.wait_event("state", after=mark)["to"] == "locked"

    # Bad input from the hub is logged and changes nothing; hub error notes are surfaced.
    mark = b.mark()
    hub.publish("devices/dev1/cmd", '{"cmd":"config","game":"#"}')
    hub.publish("devices/dev1/cmd", "not json")
    hub.publish("devices/dev1/error", {"code": "bad_buzz", "message": "t_us is missing"})
    assert b.wait_event("rejected", after=mark)["error"] == "bad_value"
    assert b.wait_event("rejected", after=mark, where=lambda e: e["error"] == "syntax")["topic_kind"] == "cmd"
    assert b.wait_event("hub_error", after=mark) | {"host_us": 0} == {
        "event": "hub_error",
        "host_us": 0,
        "code": "bad_buzz",
        "message": "t_us is missing",
    }

    # identify blinks, then the state's pattern comes back.
    mark = b.mark()
    hub.publish("devices/dev1/cmd", {"cmd": "identify", "duration_ms": 300})
    b.wait_event("led", after=mark, where=lambda e: e["pattern"] == "identify")
    b.wait_event("led", after=mark, where=lambda e: e["pattern"] == "locked")


@pytest.mark.mosquitto
def test_a_press_while_disconnected_is_delivered_after_reconnect_with_its_original_time(
    spawn_buzzer: Spawn, private_mosquitto: Mosquitto, link_cutter: LinkCutter, hub: HubSide, topic_root: str
) -> None:
    b = spawn_buzzer(
        device_id="dev5",
        port=link_cutter.port,
        offset_us=5_000_000,
        drift_ppm=25.0,
        boot=2,
        extra=["--backoff-base-ms", "200", "--backoff-cap-ms", "800", "--keepalive", "5"],
    )
    _pair_and_arm(b, hub, topic_root)
    hub.wait("devices/dev5/status", where=lambda s: s["state"] == "online")

    mark = b.mark()
    link_cutter.cut()  # Wi-Fi gone: the broker sees the link drop and publishes the Will
    b.wait_event("disconnected", after=mark)
    hub.wait("devices/dev5/status", where=lambda s: s["state"] == "offline")
    b.wait_event("led", after=mark, where=lambda e: e["pattern"] == "offline")

    at = host_us()
    expected_t = b.press_at(at)
    queued = b.wait_event("queued", after=mark)
    assert (queued["seq"], queued["t_us"]) == (1, expected_t)
    # While the link is down every reconnect attempt fails and backs off (at least two attempts seen).
    b.wait_event("connecting", after=mark, where=lambda e: e["attempt"] >= 3, timeout=15)

    mark = b.mark()
    link_cutter.restore()
    b.wait_event("connected", after=mark, timeout=15)
    hub.wait("devices/dev5/status", where=lambda s: s["state"] == "online")
    buzz, _ = hub.wait("devices/dev5/buzz")
    assert buzz == {"seq": 1, "boot": 2, "t_us": expected_t}
    assert b.wait_event("buzz", after=mark)["resend"] is True
    b.wait_event("buzz_acked", after=mark)
    # Still armed-and-pressed after the reconnect; the game subscription came back.
    b.wait_event("subscribed", after=mark, where=lambda e: e["topic"] == f"{topic_root}/games/g1/buzzers")


def test_readme_round_table_is_generated_from_the_core(host_buzzer_exe: Path) -> None:
    table = subprocess.run(
        [str(host_buzzer_exe), "--transitions"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    readme = (Path(__file__).resolve().parents[2] / "firmware" / "esp32" / "README.md").read_text()
    embedded = readme.split("<!-- transitions:begin -->")[1].split("<!-- transitions:end -->")[0].strip()
    assert embedded == table, f"README.md round table is stale; paste `host_buzzer --transitions`:\n{table}"
