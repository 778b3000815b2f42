"""`quizhub serve --demo`: the bundled quiz, a game in the lobby with four teams, and eight simulated buzzers
paired two per team and pressing like people, so the first run shows the whole system working."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.core.game import AddTeam, PairDevice, Rejected
from hub.db.errors import RepositoryError
from hub.quizfile import demo_quiz
from hub.quizstore import import_quiz
from hub.simrun import human_presser
from hub.simulator import DeviceClock, VirtualBuzzer, run_fleet

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.db.models import Game as DbGame
    from hub.mqttclient import BrokerAddress
    from hub.runner import Hub

__all__ = ["DEMO_TEAMS", "Demo", "start_demo"]

log = logging.getLogger("quizhub.demo")

DEMO_TEAMS = (("owls", "Night Owls"), ("quizards", "Quizards"), ("brains", "Big Brains"), ("pints", "Pint Sized"))


@dataclass
class Demo:
    game_id: str
    join_code: str
    buzzers: list[VirtualBuzzer]
    task: asyncio.Task[None]


async def start_demo(hub: Hub, login_for: Callable[[str], BrokerAddress], *, seed: int | None = None) -> Demo:
    """Create the demo game and start its simulated buzzers; ``login_for(device)`` gives each its broker login."""
    quiz, doc = demo_quiz()
    game = await _existing_demo_game(hub, quiz.title)
    if game is None:  # first run (or the last demo game finished): a fresh one
        quiz_id = await import_quiz(hub.repo, doc)
        game = await hub.repo.create_game(quiz_id, settings={"grace_from_clocks": True})
        await hub.service.open_game(game.id)
        for _, name in DEMO_TEAMS:
            # A database row too, as a joining team gets: the web pages pair buzzers to, and remove, only those.
            # Nobody holds a token for it (a random hash), so no phone can act as a demo team.
            row = await hub.repo.create_team(game.id, name, token_hash=secrets.token_hex(32))
            result = await hub.service.command(game.id, AddTeam(team=row.id, name=name))
            if isinstance(result, Rejected):
                raise RuntimeError(f"demo setup failed: {result.reason}")  # noqa: TRY004 - a refusal, not a type
    rng = random.Random(seed)  # noqa: S311 - simulation
    buzzers = []
    for i in range(8):
        device = f"demo-{i + 1:02d}"
        clock = DeviceClock(offset_us=int(rng.uniform(0, 30) * 1e6), drift_ppm=rng.uniform(-80, 80))
        buzzers.append(VirtualBuzzer(device, login_for(device), root=hub.topics.root, clock=clock, jitter_ms=3.0,
                                     rng=random.Random(rng.random())))  # noqa: S311
    teams = {t.name: t.id for t in await hub.repo.list_teams(game.id)}
    team_ids = [teams.get(name, key) for key, name in DEMO_TEAMS]  # an older demo game's teams have no rows
    task = asyncio.create_task(_run(hub, game.id, buzzers, team_ids, rng), name="demo-buzzers")
    return Demo(game.id, game.join_code, buzzers, task)


async def _record_pairing(hub: Hub, device: str, team: str) -> None:
    """The devices table says what the hub did, so the devices page shows the demo's buzzers as paired."""
    try:
        await hub.repo.pair_device(device, team)
    except RepositoryError:  # an older demo game's team without a row: the hub's pairing stands alone
        log.info("demo pairing not recorded", extra={"device": device, "team": team})


async def _existing_demo_game(hub: Hub, title: str) -> DbGame | None:
    """The unfinished demo game of an earlier run, so restarting `serve --demo` does not pile up games."""
    for game in await hub.repo.list_running_games():
        quiz = await hub.repo.get_quiz(game.quiz_id)
        if quiz is not None and quiz.title == title and game.id in hub.service.games:
            return game
    return None


async def _run(hub: Hub, game_id: str, buzzers: list[VirtualBuzzer], team_ids: list[str], rng: random.Random) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_fleet(buzzers))
        for b in buzzers:
            # Not every team knows every answer, and people in a bar are slower than a lab.
            presser = human_presser(b, random.Random(rng.random()), probability=0.65,  # noqa: S311
                                    reaction_s=(0.9, 0.4), fastest_s=0.15)
            tg.create_task(presser)
        for i, b in enumerate(buzzers):
            async with asyncio.timeout(30):
                await b.connected.wait()
            team = team_ids[i // 2]
            rt = hub.service.games.get(game_id)
            if rt is None or rt.game.devices.get(b.device_id) != team:  # else: paired in an earlier run
                result = await hub.service.command(game_id, PairDevice(device=b.device_id, team=team))
                if isinstance(result, Rejected):
                    log.warning("demo pairing refused", extra={"device": b.device_id, "reason": result.reason})
                    continue
            await _record_pairing(hub, b.device_id, team)
