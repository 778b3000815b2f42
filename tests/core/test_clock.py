"""Clock model: scripted cases for each behaviour, then properties over offsets, drifts, delays and sample counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core.clock import BadSampleError, ClockModel, MappedTime, NotSyncedError, SyncSample


@dataclass(frozen=True)
class FakeDevice:
    """A device clock: ``dev = dev0 + (hub - hub0) * (1 + drift)`` with integer-µs truncated readings."""

    hub0: float
    dev0: float
    drift_ppm: float

    def dev(self, hub: float) -> float:
        return self.dev0 + (hub - self.hub0) * (1 + self.drift_ppm * 1e-6)

    def hub(self, dev: float) -> float:
        return self.hub0 + (dev - self.dev0) / (1 + self.drift_ppm * 1e-6)

    def ping(self, t1: float, down: float, proc: float, up: float) -> SyncSample:
        """One sync exchange started at hub time t1; readings truncated to whole µs like real counters."""
        t1i = math.floor(t1)
        t2 = math.floor(self.dev(t1i + down))
        t3 = math.floor(self.dev(t1i + down + proc))
        t4 = math.floor(t1i + down + proc + up)
        return SyncSample(t1i, max(t2, 0), max(t3, t2, 0), max(t4, t1i))


def check_inside(model: ClockModel, device: FakeDevice, hub_t: float) -> MappedTime:
    mapped = model.to_hub(device.dev(hub_t))
    assert abs(mapped.t_hub_us - hub_t) <= mapped.uncertainty_us + 0.01, (mapped, hub_t)
    return mapped


# ------------------------------------------------------------------ scripted


def test_sample_validation_names_the_culprit() -> None:
    with pytest.raises(BadSampleError, match="hub adapter"):
        SyncSample(t1=100.0, t2=5.0, t3=6.0, t4=99.0)
    with pytest.raises(BadSampleError, match="device"):
        SyncSample(t1=100.0, t2=6.0, t3=5.0, t4=200.0)
    with pytest.raises(BadSampleError, match="finite"):
        SyncSample(t1=math.nan, t2=5.0, t3=6.0, t4=200.0)
    assert SyncSample(100.0, 5.0, 7.0, 200.0).rtt_us == 98.0


def test_not_synced_until_first_sample_and_after_reset() -> None:
    model = ClockModel()
    assert not model.synced
    assert model.samples == 0
    with pytest.raises(NotSyncedError):
        model.to_hub(1.0)
    with pytest.raises(NotSyncedError):
        _ = model.offset_us
    model.add_sample(SyncSample(1_000.0, 10.0, 20.0, 3_010.0))
    assert model.synced
    assert model.samples == 1
    model.reset()
    assert not model.synced
    with pytest.raises(NotSyncedError):
        model.to_hub(1.0)


def test_single_sample_maps_midpoint_with_half_rtt() -> None:
    # device is 1000 µs behind the hub; 1000 µs each way; 10 µs processing
    model = ClockModel()
    model.add_sample(SyncSample(t1=10_000.0, t2=10_000.0, t3=10_010.0, t4=12_010.0))
    mapped = model.to_hub(10_005.0)
    assert mapped.t_hub_us == pytest.approx(11_005.0, abs=0.5)
    # half the 2000 µs round trip, plus the 2 µs truncation slack and the drift growth over 5 µs
    assert 1000.0 <= mapped.uncertainty_us <= 1003.0
    assert model.best_rtt_us == 2000.0
    assert model.one_way_bound_us == 2000.0


def test_uncertainty_grows_with_drift_limit_away_from_samples() -> None:
    model = ClockModel(max_drift_ppm=200.0)
    model.add_sample(SyncSample(t1=0.0, t2=0.0, t3=0.0, t4=2_000.0))
    near = model.to_hub(0.0).uncertainty_us
    one_second_later = model.to_hub(1_000_000.0).uncertainty_us
    # one sample cannot tell drift: the bound widens by the drift limit (+1 ppm margin), 201 µs per second
    assert one_second_later - near == pytest.approx(201.0, abs=1.0)


def test_two_distant_samples_measure_drift() -> None:
    device = FakeDevice(hub0=5e12, dev0=0.0, drift_ppm=120.0)
    model = ClockModel()
    for k in range(20):
        model.add_sample(device.ping(5e12 + k * 2e6, down=500.0, proc=20.0, up=500.0))
    assert model.drift_ppm == pytest.approx(120.0, abs=2.0)
    lo, hi = model.drift_range_ppm
    assert lo <= 120.0 <= hi
    assert model.offset_us == pytest.approx(
        device.hub(model._samples[-1].sample.t3) - model._samples[-1].sample.t3, abs=model.uncertainty_us + 0.01
    )
    check_inside(model, device, 5e12 + 40e6)


def test_best_ping_and_best_reply_from_different_samples_combine() -> None:
    # sample A: fast ping (100 µs) and slow reply (5 ms); sample B: slow ping and fast reply. No sample has a
    # round trip under 5.1 ms, yet together they pin the offset to about ±100 µs.
    device = FakeDevice(hub0=0.0, dev0=1e9, drift_ppm=0.0)
    model = ClockModel()
    model.add_sample(device.ping(1e6, down=100.0, proc=10.0, up=5_000.0))
    model.add_sample(device.ping(1.5e6, down=5_000.0, proc=10.0, up=100.0))
    assert model.best_rtt_us >= 5_000.0
    mapped = check_inside(model, device, 1.5e6)
    assert mapped.uncertainty_us < 250.0


def test_huge_hub_clock_and_browser_milliseconds_keep_precision() -> None:
    # hub µs near 1.7e15 (epoch-based), browser performance.now() in ms with 0.1 ms resolution
    device = FakeDevice(hub0=1.7e15, dev0=0.0, drift_ppm=-35.0)
    model = ClockModel(resolution_us=100.0)
    for k in range(10):
        t1 = 1.7e15 + k * 2e6
        t2 = math.floor(device.dev(t1 + 3_000.0) / 100.0) * 100.0
        t3 = math.floor(device.dev(t1 + 3_200.0) / 100.0) * 100.0
        model.add_sample(SyncSample(t1, t2, t3, t1 + 6_200.0))
    mapped = check_inside(model, device, 1.7e15 + 19e6)
    assert mapped.uncertainty_us < 3_500.0


def test_contradicting_sample_drops_the_older_window() -> None:
    device = FakeDevice(hub0=0.0, dev0=0.0, drift_ppm=10.0)
    model = ClockModel()
    for k in range(5):
        model.add_sample(device.ping(k * 1e6, down=300.0, proc=5.0, up=300.0))
    # the device clock jumps 50 ms ahead (a step the caller did not see as a reboot)
    stepped = FakeDevice(hub0=0.0, dev0=50_000.0, drift_ppm=10.0)
    model.add_sample(stepped.ping(6e6, down=300.0, proc=5.0, up=300.0))
    assert model.discarded == 5
    assert model.samples == 1
    check_inside(model, stepped, 6e6)
    model.reset()
    assert model.discarded == 0


def test_window_keeps_only_recent_samples() -> None:
    device = FakeDevice(hub0=0.0, dev0=0.0, drift_ppm=0.0)
    model = ClockModel(window=4)
    model.add_sample(device.ping(0.0, down=80_000.0, proc=5.0, up=80_000.0))
    for k in range(1, 6):
        model.add_sample(device.ping(k * 1e6, down=1_000.0, proc=5.0, up=1_000.0))
    assert model.samples == 4
    # the slow first ping has left the window, so the upward bound forgets its 160 ms round trip
    assert model.one_way_bound_us == pytest.approx(2_000.0, abs=2.0)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="window"):
        ClockModel(window=1)
    with pytest.raises(ValueError, match="max_drift_ppm"):
        ClockModel(max_drift_ppm=0.0)
    with pytest.raises(ValueError, match="resolution_us"):
        ClockModel(resolution_us=-1.0)


def test_reboot_is_the_callers_reset() -> None:
    """A new ``boot`` restarts the device clock near 0; the caller resets, and the new clock is learnt afresh."""
    before = FakeDevice(hub0=0.0, dev0=0.0, drift_ppm=50.0)
    model = ClockModel()
    for k in range(5):
        model.add_sample(before.ping(k * 1e6, down=400.0, proc=5.0, up=400.0))
    after = FakeDevice(hub0=6e6, dev0=0.0, drift_ppm=50.0)
    model.reset()
    model.add_sample(after.ping(6e6, down=400.0, proc=5.0, up=400.0))
    assert model.samples == 1
    check_inside(model, after, 6.2e6)


# ------------------------------------------------------------------ properties

delays = st.floats(min_value=0.0, max_value=80_000.0)


@st.composite
def scenarios(draw: st.DrawFn, *, symmetric: bool) -> tuple[FakeDevice, list[tuple[float, float, float, float]]]:
    device = FakeDevice(
        hub0=draw(st.floats(min_value=0.0, max_value=2e15)),
        dev0=draw(st.floats(min_value=0.0, max_value=1e13)),
        drift_ppm=draw(st.floats(min_value=-200.0, max_value=200.0)),
    )
    n = draw(st.integers(min_value=1, max_value=24))
    pings = []
    t = device.hub0 + 1_000.0
    for _ in range(n):
        t += draw(st.floats(min_value=1_000.0, max_value=5e6))
        down = draw(delays)
        up = down if symmetric else draw(delays)
        pings.append((t, down, draw(st.floats(min_value=0.0, max_value=2_000.0)), up))
    return device, pings


def _feed(window: int, device: FakeDevice, pings: list[tuple[float, float, float, float]]) -> ClockModel:
    model = ClockModel(window=window)
    for t1, down, proc, up in pings:
        model.add_sample(device.ping(t1, down, proc, up))
    return model


@settings(max_examples=2000, deadline=None)
@given(
    scenarios(symmetric=True),
    st.integers(min_value=2, max_value=40),
    st.lists(st.floats(min_value=-3e6, max_value=10e6), min_size=1, max_size=5),
)
def test_error_inside_stated_uncertainty_with_symmetric_delays(
    scenario: tuple[FakeDevice, list[tuple[float, float, float, float]]], window: int, queries: list[float]
) -> None:
    device, pings = scenario
    model = _feed(window, device, pings)
    last = pings[-1][0]
    for dt in queries:
        check_inside(model, device, last + dt)


@settings(max_examples=2000, deadline=None)
@given(scenarios(symmetric=False), st.floats(min_value=0.0, max_value=10e6))
def test_error_inside_stated_uncertainty_even_with_asymmetric_delays(
    scenario: tuple[FakeDevice, list[tuple[float, float, float, float]]], dt: float
) -> None:
    device, pings = scenario
    model = _feed(32, device, pings)
    mapped = check_inside(model, device, pings[-1][0] + dt)
    # the bound is never worse than the best kept sample alone: half its round trip, grown by the drift limit
    x = device.dev(pings[-1][0] + dt)
    single = min(
        st_.sample.rtt_us / 2 + 201.0 * (abs(x - st_.sample.t2) + abs(x - st_.sample.t3)) / 2e6 + 2.0
        for st_ in model._samples
    )
    assert mapped.uncertainty_us <= single + 0.01


@settings(max_examples=600, deadline=None)
@given(scenarios(symmetric=False))
def test_reported_drift_range_contains_the_truth(
    scenario: tuple[FakeDevice, list[tuple[float, float, float, float]]],
) -> None:
    device, pings = scenario
    model = _feed(32, device, pings)
    lo, hi = model.drift_range_ppm
    assert lo - 0.01 <= device.drift_ppm <= hi + 0.01
    assert model.samples <= 32
    assert model.one_way_bound_us >= model.best_rtt_us
