"""Remote-buzz round trip for bench/ws_fanout.py: a team's WebSocket press until its ruling comes back, beside the
same round trip for a simulated MQTT buzzer against the same hub.

The presser runs in its own process (``python bench/_wsbuzz.py``, started by :func:`buzz_rounds`), as viewers do:
one team socket that behaves as web/static/play.js does (answers every ``sync`` ping at once with
``performance.now()``-style milliseconds, buzzes with ``{"type":"buzz","t":…}``) and one
:class:`hub.simulator.VirtualBuzzer` (the device protocol over MQTT). Secrets reach it through the environment,
never its command line. Per round the parent arms the question through the web's hub client and names the presser;
the presser waits until it sees the arm (the ``armed`` state on the socket; the buzzers ``arm`` on MQTT), waits a
human reaction time, then measures on its own clock from just before the press is sent until the ruling names it
the winner (the ``buzz_ruled`` event on the socket; ``lock``/``win`` on MQTT). The parent then undoes back to the
question. Rounds alternate between the two pressers, so load from elsewhere hits both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.core.transitions import Phase  # noqa: E402 - after the path set-up, so the bench runs from a checkout
from hub.mqttclient import BrokerAddress  # noqa: E402
from hub.simulator import BuzzerState, VirtualBuzzer  # noqa: E402

if TYPE_CHECKING:
    from hub.runner import Hub
    from web.hubclient import HubClient

ROUND_TIMEOUT_S = 5.0


def _now_ms() -> float:
    return time.perf_counter() * 1000  # what performance.now() is to a page


class _TeamSocket:
    """The team page's socket: records state phases and rulings, answers clock pings at once."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.device: str | None = None
        self.armed_seq = 0  # seq of the newest state in phase "armed"
        self.rulings: list[tuple[float, dict[str, Any]]] = []
        self.changed = asyncio.Condition()

    async def pump(self) -> None:
        async for raw in self.ws:
            now = _now_ms()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "sync":
                t2 = _now_ms()
                await self.ws.send(json.dumps({"type": "sync_reply", "n": frame["n"], "t2": t2, "t3": _now_ms()}))
                continue
            async with self.changed:
                if kind == "hello":
                    self.device = frame["device"]
                elif kind == "state" and frame["data"] and frame["data"].get("phase") == "armed":
                    self.armed_seq = max(self.armed_seq, int(frame["data"].get("seq") or 0))
                elif kind == "event" and frame["data"]["type"] == "buzz_ruled":
                    self.rulings.append((now, frame["data"]["data"]))
                self.changed.notify_all()

    async def round(self, arm_seq: int, delay_s: float) -> float | None:
        async with asyncio.timeout(ROUND_TIMEOUT_S), self.changed:
            await self.changed.wait_for(lambda: self.armed_seq >= arm_seq)
        await asyncio.sleep(delay_s)  # the player's reaction time (a scenario parameter, not synchronisation)
        seen = len(self.rulings)
        t0 = _now_ms()
        await self.ws.send(json.dumps({"type": "buzz", "t": t0}))
        try:
            async with asyncio.timeout(ROUND_TIMEOUT_S), self.changed:
                await self.changed.wait_for(lambda: len(self.rulings) > seen)
        except TimeoutError:
            return None
        t1, ruling = self.rulings[seen]
        return t1 - t0 if ruling.get("winner_device") == self.device else None


async def _device_round(buzzer: VirtualBuzzer, delay_s: float) -> float | None:
    async with asyncio.timeout(ROUND_TIMEOUT_S):
        while buzzer.state is not BuzzerState.ARMED:
            await buzzer.observations.get()
    await asyncio.sleep(delay_s)
    while not buzzer.observations.empty():
        buzzer.observations.get_nowait()
    t0 = _now_ms()
    await buzzer.press()
    try:
        await buzzer.wait_for("won", timeout=ROUND_TIMEOUT_S)
    except TimeoutError:
        return None
    return _now_ms() - t0


async def _presser_main(ws_url: str, host: str, port: int, root: str, device: str, delay_ms: float) -> None:
    token, device_pw = os.environ["QH_BENCH_TEAM_TOKEN"], os.environ["QH_BENCH_DEVICE_PASSWORD"]
    address = BrokerAddress(host, port).with_login(device, device_pw)
    buzzer = VirtualBuzzer(device, address, root=root)
    loop = asyncio.get_running_loop()
    async with (
        connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}, ping_interval=None) as ws,
        asyncio.TaskGroup() as tg,
    ):
        team = _TeamSocket(ws)
        await ws.send(json.dumps({"type": "subscribe"}))
        pump = tg.create_task(team.pump())
        runner = tg.create_task(buzzer.run())
        async with asyncio.timeout(10):
            await buzzer.connected.wait()
            async with team.changed:
                await team.changed.wait_for(lambda: team.device is not None)
        print("ready", team.device, flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            cmd = line.split()
            if cmd[0] == "done":
                break
            if cmd[0] == "ws":
                rtt = await team.round(int(cmd[1]), delay_ms / 1000)
            else:
                rtt = await _device_round(buzzer, delay_ms / 1000)
            print(f"rtt {cmd[0]} {'-' if rtt is None else f'{rtt:.3f}'}", flush=True)
        pump.cancel()
        runner.cancel()


class _Presser:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=os.environ | env,
        )

    async def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return await self.read()

    async def read(self) -> str:
        assert self.proc.stdout is not None
        out = await asyncio.to_thread(self.proc.stdout.readline)
        if not out:
            raise RuntimeError(f"the presser process ended (exit {self.proc.poll()})")
        return out.strip()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.write("done\n")
            self.proc.stdin.flush()
        self.proc.wait(timeout=30)


async def _undo_to_question(hc: HubClient, hub: Hub, game_id: str) -> None:
    game = hub.service.games[game_id].game
    for _ in range(5):
        if game.phase is Phase.QUESTION:
            return
        await hc.command(game_id, {"cmd": "undo"})
    raise RuntimeError(f"undo did not get back to the question (phase {game.phase.value})")


async def buzz_rounds(
    hc: HubClient, hub: Hub, game_id: str, ws_url: str, *, team_token: str, broker_port: int, device: str,
    device_password: str, rounds: int, delay_ms: float,
) -> tuple[dict[str, list[float]], int]:
    """Alternate ``rounds`` presses between a team socket and an MQTT buzzer: round trips in ms per path, and how
    many rounds got no ruling for the presser."""
    presser = _Presser(
        ["--presser", ws_url, "127.0.0.1", str(broker_port), hub.topics.root, device, str(delay_ms)],
        {"QH_BENCH_TEAM_TOKEN": team_token, "QH_BENCH_DEVICE_PASSWORD": device_password},
    )
    try:
        ready = (await presser.read()).split()
        if ready[0] != "ready":
            raise RuntimeError(f"the presser did not start: {ready}")
        web_device = ready[1]
        for cmd in ({"cmd": "add_team", "team": "devteam", "name": "Wires"},
                    {"cmd": "pair", "device": device, "team": "devteam"}):
            reply = await hc.command(game_id, cmd)
            assert reply.ok or (reply.error is not None and reply.error.code == "team_exists"), reply
        game = hub.service.games[game_id].game

        def synced() -> bool:  # both clocks synced before the first press, as the hub sees them
            rows = {row["device"]: row for row in game.devices_snapshot()}
            return all(rows.get(d, {}).get("synced") for d in (device, web_device))

        await hub.service.wait_for(synced, timeout=30)
        await _undo_to_question(hc, hub, game_id)
        rtts: dict[str, list[float]] = {"ws": [], "mqtt": []}
        failed = 0
        for r in range(rounds):
            reply = await hc.command(game_id, {"cmd": "arm"})
            assert reply.ok, reply
            assert reply.result is not None
            who = "ws" if r % 2 == 0 else "mqtt"
            answer = (await presser.ask(f"{who} {int(reply.result['seq'])}")).split()
            if answer[2] == "-":
                failed += 1  # no ruling for the presser within the timeout (a false start, a lost press)
            else:
                rtts[who].append(float(answer[2]))
            await _undo_to_question(hc, hub, game_id)
        return rtts, failed
    finally:
        presser.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--presser":
        ws_url, host, port, root, device, delay_ms = sys.argv[2:8]
        asyncio.run(_presser_main(ws_url, host, int(port), root, device, float(delay_ms)))


if __name__ == "__main__":
    main()
