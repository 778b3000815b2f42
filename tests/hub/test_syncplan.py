from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.syncplan import SyncPlanner


def test_burst_then_interval() -> None:
    plan = SyncPlanner(burst=3, burst_spacing_us=10, interval_us=1000)
    plan.online("d1", 0)
    times = []
    now = 0
    for _ in range(5):
        due = plan.next_due_us()
        assert due is not None
        now = due
        pings = plan.due(now)
        assert [p.device for p in pings] == ["d1"]
        times.append(now)
    assert times == [0, 10, 20, 1020, 2020]


def test_offline_device_is_not_pinged_and_online_again_restarts_burst() -> None:
    plan = SyncPlanner(burst=2, burst_spacing_us=10, interval_us=1000)
    plan.online("d1", 0)
    assert [p.n for p in plan.due(0)] == [1]
    plan.offline("d1")
    assert plan.next_due_us() is None
    assert plan.due(10_000) == []
    plan.online("d1", 20_000)
    assert [(p.device, p.n) for p in plan.due(20_000)] == [("d1", 2)]  # numbering continues


def test_reboot_restarts_burst_without_double_schedule() -> None:
    plan = SyncPlanner(burst=2, burst_spacing_us=10, interval_us=1000)
    plan.online("d1", 0)
    plan.due(0)
    plan.online("d1", 5)  # rebooted: the old schedule entry must not fire as well
    assert len(plan.due(5)) == 1
    assert len(plan.due(15)) == 1
    assert plan.due(20) == []


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans()), max_size=30))
def test_ping_numbers_strictly_increase_per_device(ops: list[tuple[str, bool]]) -> None:
    plan = SyncPlanner(burst=2, burst_spacing_us=7, interval_us=50)
    last: dict[str, int] = {}
    now = 0
    for device, up in ops:
        now += 13
        if up:
            plan.online(device, now)
        else:
            plan.offline(device)
        for ping in plan.due(now):
            assert ping.device in plan.devices
            assert ping.n > last.get(ping.device, 0)
            last[ping.device] = ping.n
