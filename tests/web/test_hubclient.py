"""HubClient against the real embedded broker and a real Hub: commands with correlated replies, relay into the
fan-out (memory:// and real Redis), retained cache, and a clear timeout when no hub answers."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from broker.credentials import Role
from hub.messages import SyncRequest
from hub.topics import TopicKind, Topics
from tests.hub.conftest import Arena
from tests.hub_arena import hub_marks
from web.fanout import create_broadcast
from web.hubclient import FeedMessage, HubClient, HubTimeoutError

# The hub's fixtures (embedded broker, database, running Hub with the demo game): tests/hub_arena.py.
pytestmark = hub_marks(timeout=30)


def _client(arena: Arena, broadcast: object, **kwargs: object) -> HubClient:
    name = f"web-{uuid.uuid4().hex[:8]}"
    return HubClient(
        arena.env.address(name, Role.SERVICE), broadcast=broadcast, topics=Topics(arena.env.root),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_commands_and_relay(arena: Arena, backend: str, request: pytest.FixtureRequest) -> None:
    url = "memory://" if backend == "memory" else str(request.getfixturevalue("redis_url"))
    async with create_broadcast(url) as bus:
        hc = _client(arena, bus)
        async with bus.subscribe(hc.channel(arena.game_id)) as sub, hc:
            # Retained topics arrive on subscribe: the relay and the cache both have the current picture.
            seen: dict[str, FeedMessage] = {}
            async with asyncio.timeout(10):
                async for raw in sub:
                    msg = FeedMessage.decode(raw)
                    seen[msg.kind] = msg
                    if {"state", "scores"} <= seen.keys():
                        break
            assert json.loads(seen["state"].payload)["phase"] == "lobby"
            assert hc.retained(arena.game_id)["state"] == seen["state"].payload

            reply = await hc.command(arena.game_id, {"cmd": "add_team", "team": "t1", "name": "Owls"})
            assert reply.ok, reply
            assert reply.result is not None
            seq = reply.result["seq"]
            wrong = await hc.command(arena.game_id, {"cmd": "judge", "verdict": "right"})
            assert not wrong.ok
            assert wrong.error is not None
            assert wrong.error.code == "wrong_phase"

            events: list[FeedMessage] = []
            async with asyncio.timeout(10):
                async for raw in sub:
                    msg = FeedMessage.decode(raw)
                    if msg.kind == "event":
                        events.append(msg)
                    if msg.kind == "scores" and any(t["team"] == "t1" for t in json.loads(msg.payload)["teams"]):
                        break
            assert [(e.seq, e.type) for e in events] == [(seq, "team_added")]
            assert json.loads(events[0].payload)["data"]["name"] == "Owls"


async def test_bad_command_and_timeout(arena: Arena) -> None:
    async with create_broadcast("memory://") as bus:
        async with _client(arena, bus) as hc:
            with pytest.raises(ValueError, match="not a valid hub command"):
                await hc.command(arena.game_id, {"cmd": "teleport"})
            unknown = await hc.command("no-such-game", {"cmd": "arm"})
            assert not unknown.ok
            assert unknown.error is not None
            assert unknown.error.code == "unknown_game"
        # A client under a topic root no hub serves: nobody answers, and the error says what to check.
        lonely = HubClient(
            arena.env.address(f"web-{uuid.uuid4().hex[:8]}", Role.SERVICE), broadcast=bus,
            topics=Topics(f"{arena.env.root}-nohub"),
        )
        async with lonely:
            with pytest.raises(HubTimeoutError, match=r"did not answer command 'arm'.*is the hub running"):
                await lonely.command(arena.game_id, {"cmd": "arm"}, timeout=0.3)


async def test_virtual_device_gets_its_pings(arena: Arena) -> None:
    """Pairing a virtual device makes the hub ping it; only the registered device's pings reach the callback."""
    async with create_broadcast("memory://") as bus, _client(arena, bus) as hc:
        pings: asyncio.Queue[SyncRequest] = asyncio.Queue()
        hc.register_device("web-t1", pings.put_nowait)
        assert (await hc.command(arena.game_id, {"cmd": "add_team", "team": "t1", "name": "Owls"})).ok
        assert (await hc.command(arena.game_id, {"cmd": "pair", "device": "web-t1", "team": "t1"})).ok
        async with asyncio.timeout(10):
            ping = await pings.get()
        assert ping.n >= 0
        assert ping.t1 > 0
        # A reply published through the client reaches the hub as that device's sync reply.
        body = json.dumps({"n": ping.n, "t1": ping.t1, "t2": 1000, "t3": 1010, "boot": 1}).encode()
        await hc.publish_device(TopicKind.DEVICE_SYNC_REPLY, "web-t1", body)
        links = arena.hub.service.links
    await arena.hub.service.wait_for(lambda: "web-t1" in links and links["web-t1"].clock.samples > 0)
