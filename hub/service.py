"""The hub: the one writer of game state. Thin glue between MQTT, the sans-IO game core and the event log.

For every input: decode → ``Game.handle`` → append the events to the log in one transaction → publish the events
and the effects. Nothing is published that is not logged first, so a hub killed at any instant restarts into a
state every listener has already seen or is about to see again (retained topics are re-published on start).

Whose fault an error is decides where it goes (STYLE practice 6):
- a device's bad message → logged, counted, and answered on ``devices/{dev}/error``;
- a host's invalid command → a ``CommandReply`` with ``ok=false`` and a sentence;
- our bug (the core in ERROR, a failed append) → logged with the game id; the game is rebuilt from its log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from hub import metrics, wire
from hub.cancellation import reraise_swallowed_cancel
from hub.codec import CodecError, decode_for_topic, encode
from hub.core.clock import ClockModel, SyncSample
from hub.core.events import (
    ArmBuzzers,
    BuzzReceived,
    BuzzRuled,
    ClockSampled,
    DeviceCommand,
    GameEvent,
    LockBuzzers,
    ResetBuzzers,
    UnpairedPress,
    event_from_dict,
)
from hub.core.game import (
    BuzzIn,
    DeviceHello,
    Game,
    GameBugError,
    GameSettings,
    Input,
    RebaseClock,
    Rejected,
    Step,
    SyncIn,
    Tick,
)
from hub.core.transitions import Phase
from hub.db.errors import FencedOutError, SequenceConflictError
from hub.db.events import NewEvent
from hub.db.models import GameStatus
from hub.db.repository import DeviceHealth
from hub.messages import Buzz, DeviceError, DeviceStatus, GameCommand, GameCommandVariant, HubStatus, SyncReply
from hub.quizstore import load_quiz
from hub.syncplan import SyncPlanner
from hub.topics import TopicKind, Topics
from hub.transport import hub_now_us

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hub.core.events import Effect
    from hub.db.repository import Repository
    from hub.lease import Grant
    from hub.transport import Incoming, Publisher

__all__ = ["VERSION", "GameRuntime", "HubService", "Ownership"]

log = logging.getLogger("quizhub.hub")

VERSION = "0.1.0"
# Events kept in memory only: one clock sample per device every 2 s would make every sync reply a database write
# (4-13 ms each on a loaded box) and the receive loop a queue. Presses carry their mapped time, so rulings and
# scores replay the same without them; after a restart the clock models re-sync from the devices' fresh bursts
# (docs/game.md, "clock.sampled").
VOLATILE_EVENTS = frozenset({ClockSampled.type})
DEVICE_EFFECTS = (ArmBuzzers, LockBuzzers, ResetBuzzers, DeviceCommand)
MAX_PENDING_PINGS = 16
# How often the devices table gets each device's clock figures and last-seen time: one batched transaction per
# interval, because per-message writes would queue behind the event log's appends (on SQLite one writer at a time).
HEALTH_INTERVAL_S = 5.0
# Rounds put off in a row while a game is armed. On SQLite the batch holds the one write lock, and a buzz's append
# waits behind it (bench, 256 devices: p99 41 ms without the batch, 247 ms with it); but a question can stay armed
# for minutes, and the devices page must not go stale for that long.
HEALTH_MAX_DEFERRALS = 6
# Command replies kept per game, so a command sent again with the same id is answered, not run twice.
RECENT_COMMANDS = 256
# A standby keeps the buzzes of games it does not own this long: one of them may be a press the dying owner
# received but never logged. Older ones cannot be (a live owner logs within ms; a stalled one loses its lease).
BACKLOG_MIN_S = 10.0
BACKLOG_MAX = 10_000
# Messages waiting in one game's lane at most, as many as the transport's own queue holds (hub/mqttclient.py).
LANE_MAX = 10_000


def _status_of(phase: Phase) -> GameStatus | None:
    """The listing status a phase means (None: leave it as it is)."""
    if phase is Phase.FINISHED:
        return GameStatus.FINISHED
    return None if phase is Phase.LOBBY else GameStatus.RUNNING


@dataclass
class GameRuntime:
    """A running game in this hub: the core, where its log ends, and the lease token it writes with."""

    game_id: str
    game: Game
    next_seq: int
    fence: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # (device, boot, seq) of every press in the log: a QoS 1 redelivery is dropped before it reaches the log.
    presses: set[tuple[str, int, int]] = field(default_factory=set)
    replies: OrderedDict[str, bytes] = field(default_factory=OrderedDict)  # (client, command id) -> its reply

    def note_presses(self, events: tuple[GameEvent, ...] | list[GameEvent]) -> None:
        for e in events:
            if isinstance(e, BuzzReceived):
                self.presses.add((e.press.device, e.press.boot, e.press.seq))
            elif isinstance(e, UnpairedPress):
                self.presses.add((e.device, e.boot, e.seq))

    def remember_reply(self, command_id: str, reply: bytes) -> None:
        self.replies[command_id] = reply
        while len(self.replies) > RECENT_COMMANDS:
            self.replies.popitem(last=False)


class Ownership(Protocol):
    """Which games this hub may act for (hub.lease.LeaseKeeper). Without one, it owns every game it opens."""

    def holds(self, game_id: str) -> bool: ...
    async def acquire(self, game_id: str) -> Grant: ...
    def drop(self, game_id: str) -> object: ...


@dataclass
class _DeviceLink:
    """What the hub knows of a device's link, outside any game: ping bookkeeping and a health clock model."""

    boot: int = 0
    fw: str = ""
    pending: dict[int, int] = field(default_factory=dict)  # ping n -> t1 we sent
    clock: ClockModel = field(default_factory=ClockModel)
    last_seen_us: int | None = None  # hub clock of the device's last message
    dirty: bool = False  # heard from since the health table was last written

    def seen(self, arrival_us: int) -> None:
        self.last_seen_us = arrival_us
        self.dirty = True


@dataclass(frozen=True)
class _Job:
    """One message's work in a lane; ``done`` (buzzes only) completes when it is handled, for the late ack."""

    run: Callable[[], Awaitable[object]]
    topic: str
    done: asyncio.Future[None] | None


@dataclass(frozen=True)
class _Lane:
    """A game's inbox and the one worker that empties it, in order: None in the queue is a nudge to look again
    whether the game is still open."""

    queue: asyncio.Queue[_Job | None]
    task: asyncio.Task[None]


def _all_of(futures: list[asyncio.Future[None]]) -> asyncio.Future[None]:
    """A future done when all of ``futures`` are, and cancelled if any is (not asyncio.gather: a cancelled child
    makes its result an exception, not a cancellation, and the transport must not acknowledge that)."""
    combined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = len(futures)

    def one_done(f: asyncio.Future[None]) -> None:
        nonlocal left
        left -= 1
        if combined.done():
            return
        if f.cancelled():
            combined.cancel()
        elif left == 0:
            combined.set_result(None)

    for f in futures:
        f.add_done_callback(one_done)
    return combined


class HubService:
    """All running games of this hub, fed from one MQTT receive loop and one timer loop.

    The receive loop only decodes and routes: each game has a lane, an asyncio queue with one worker task, and a
    game's messages are handled there one at a time in arrival order (its log and its core see them in that order),
    while different games' lanes run side by side. Before lanes, one game's log commit held every other game's
    buzzes (docs/scale.md). Arrival order across games does not matter to a ruling: the arbiter rules on the
    arrival stamps taken in paho's callback (StampedClient), not on when a message's turn comes.
    """

    def __init__(
        self,
        repo: Repository,
        publisher: Publisher,
        *,
        topics: Topics | None = None,
        settings: GameSettings | None = None,
        now_us: Callable[[], int] = hub_now_us,
        planner: SyncPlanner | None = None,
        fence: int | None = None,
        ownership: Ownership | None = None,
    ) -> None:
        self.repo = repo
        self.topics = topics or Topics()
        self.publisher = metrics.CountingPublisher(publisher, self.topics)  # counts messages out by topic kind
        self.settings = settings or GameSettings(grace_from_clocks=True)
        self.now_us = now_us
        self.planner = planner or SyncPlanner()
        self.fence = fence
        self.ownership = ownership
        # Buzzes for games this hub does not own (standby): (arrival, device, buzz), replayed at a takeover.
        self._backlog: deque[tuple[Incoming, str, Buzz]] = deque(maxlen=BACKLOG_MAX)
        self.backlog_s = BACKLOG_MIN_S
        self.games: dict[str, GameRuntime] = {}
        self.links: dict[str, _DeviceLink] = {}
        self.counters: Counter[str] = metrics.HubCounters()  # mirrored into Prometheus (hub/metrics.py)
        metrics.track(self)
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._last_retained: dict[str, bytes] = {}
        self._opening = asyncio.Lock()
        self._lanes: dict[str | None, _Lane] = {}  # game id (None: devices in no game here) -> its lane

    # ------------------------------------------------------------------ lifecycle

    def subscriptions(self) -> list[tuple[str, int]]:
        """What the hub's MQTT session subscribes to."""
        t = self.topics
        return [
            (t.filter(TopicKind.DEVICE_STATUS), 1),
            (t.filter(TopicKind.DEVICE_BUZZ), 1),
            (t.filter(TopicKind.DEVICE_SYNC_REPLY), 0),
            (t.filter(TopicKind.GAME_COMMANDS), 1),
        ]

    def ack_late(self, topic: str) -> bool:
        """Whether a QoS 1 message is acknowledged only once handled (a buzz: after its append), so a hub killed
        in between gets it again. Commands are not: the log keeps no command id to drop a second copy by."""
        parsed = self.topics.parse(topic)
        return parsed is not None and parsed.kind is TopicKind.DEVICE_BUZZ

    def will(self) -> tuple[str, bytes]:
        return self.topics.build(TopicKind.HUB_STATUS), encode(HubStatus(state="offline"))

    def online_status(self) -> tuple[str, bytes]:
        status = HubStatus(state="online", version=VERSION, games=tuple(sorted(self.games)) or None)
        return self.topics.build(TopicKind.HUB_STATUS), encode(status)

    async def load_games(self) -> None:
        """Rebuild every unfinished game from its log (start-up and crash recovery)."""
        for row in await self.repo.list_running_games():
            try:
                await self.open_game(row.id)
            except Exception:
                log.exception("could not rebuild game from its log; it stays closed", extra={"game": row.id})

    async def open_game(self, game_id: str, fence: int | None = None) -> GameRuntime:
        """Load one game into this hub (replaying its log, claiming it with ``fence``), rule the buzzes a standby kept
        for it, and re-publish its retained topics."""
        row = await self.repo.get_game(game_id)
        if row is None:
            raise LookupError(f"game {game_id!r} does not exist")
        quiz = await load_quiz(self.repo, row.quiz_id)
        settings = wire.game_settings(row.settings, self.settings)
        stored = await self.repo.load_events(game_id)
        events: list[GameEvent] = [event_from_dict(e.payload) for e in stored]
        game = Game.replay(quiz, settings, events)
        fence = self.fence if fence is None else fence
        if fence is not None:
            await self.repo.claim_game(game_id, fence)
        runtime = GameRuntime(game_id, game, next_seq=(stored[-1].seq if stored else 0) + 1, fence=fence)
        runtime.note_presses(events)
        last_at = max((e.at_us for e in events), default=0)
        if last_at > self.now_us():
            # The log was written under another monotonic clock (a rebooted box, or another hub): move the game onto
            # ours, or every timer would read as time running backwards.
            await self.execute(runtime, RebaseClock(now_us=self.now_us()))
        await self._catch_up(runtime)
        self.games[game_id] = runtime  # no await since _catch_up found nothing left: no kept buzz slips past
        for device in game.devices:
            if device in self.links:
                self.planner.online(device, self.now_us())
        await self._publish_retained(runtime)
        self._wake.set()
        log.info("game loaded", extra={"game": game_id, "events": len(stored), "phase": game.phase.value})
        return runtime

    def close_game(self, game_id: str) -> None:
        self.games.pop(game_id, None)
        if self.ownership is not None:
            self.ownership.drop(game_id)  # stop renewing: the lease runs out and a standby may take the game
        if (lane := self._lanes.get(game_id)) is not None:
            # Its worker ends once the queue is empty. What is queued still gets its turn and finds the game closed:
            # a buzz goes to the backlog (a standby's keep), a device's input is dropped, and a command is treated
            # as any command for a game not open here (opened again only with its lease).
            lane.queue.put_nowait(None)

    async def take_over(self, game_id: str, fence: int) -> GameRuntime:
        """Become the game's owner with a fresh lease token (failover): replay, claim, resume, re-sync its devices.

        The devices are still connected to the broker and will not say hello again, so each one this hub has heard
        from gets the hello it would send: its team config and, mid-question, its arm.
        """
        async with self._opening:
            rt = self.games.get(game_id)
            if rt is not None and rt.fence == fence:
                return rt
            rt = await self.open_game(game_id, fence)
        online = self.planner.devices  # from the devices' statuses, retained ones included
        for device in sorted(d for d in rt.game.devices if d in online):
            link = self.links.setdefault(device, _DeviceLink())
            await self._feed(rt, DeviceHello(device=device, boot=link.boot, fw=link.fw), device)
        log.info("game taken over", extra={"game": game_id, "fence": fence, "seq": rt.next_seq - 1})
        return rt

    async def _catch_up(self, rt: GameRuntime) -> None:
        """Rule the kept buzzes of the game's devices that its log lacks: presses the previous owner took off the
        broker but died before logging. Each (device, boot, seq) already in the log is dropped."""
        horizon = self.now_us() - int(self.backlog_s * 1_000_000)
        while True:
            devices = rt.game.devices
            mine = [b for b in self._backlog if b[1] in devices and b[0].arrival_us >= horizon]
            if not mine:
                return
            self._backlog = deque(
                (b for b in self._backlog if b[1] not in devices and b[0].arrival_us >= horizon), maxlen=BACKLOG_MAX
            )
            for msg, device, buzz in sorted(mine, key=lambda b: b[0].arrival_us):
                inp = BuzzIn(device=device, boot=buzz.boot, seq=buzz.seq, t_dev=float(buzz.t_us),
                             arrival_us=msg.arrival_us)
                if await self._press(rt, inp, device):
                    self.counters["backlog_ruled"] += 1

    async def _publish_retained(self, rt: GameRuntime) -> None:
        """Send the game's three retained topics unconditionally (start-up, recovery, broker reconnect)."""
        for topic in (self.topics.game_state(rt.game_id), self.topics.game_question(rt.game_id),
                      self.topics.game_scores(rt.game_id)):
            self._last_retained.pop(topic, None)
        game = rt.game
        seq = rt.next_seq - 1
        t = self.topics
        await self.publisher.publish(
            t.game_question(rt.game_id), wire.question(game.question_public(), game), qos=1, retain=True
        )
        await self.publisher.publish(
            t.game_scores(rt.game_id), wire.scores(seq, game.scoreboard()), qos=1, retain=True
        )
        await self.publisher.publish(
            t.game_state(rt.game_id), wire.state(rt.game_id, seq, self.now_us(), game.state_snapshot(), game),
            qos=1, retain=True,
        )

    # ------------------------------------------------------------------ the one way state changes

    async def execute(self, rt: GameRuntime, inp: Input) -> Step | Rejected:
        """Decide, log, publish. The log append happens before any publish (DESIGN §2)."""
        if self._lease_lost(rt):
            return Rejected("this hub no longer owns the game; retry against the current owner", "moved", "hub")
        try:
            return await self._execute(rt, inp)
        finally:
            self._wake.set()
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _execute(self, rt: GameRuntime, inp: Input) -> Step | Rejected:
        async with rt.lock:
            try:
                result = rt.game.handle(inp)
                if isinstance(result, Step):
                    result = self._with_due_tick(rt, result)
            except GameBugError:
                log.exception("game core failed; rebuilding from its log", extra={"game": rt.game_id})
                self.counters["core_error"] += 1
                await self._rebuild(rt)
                return Rejected("the hub hit an internal error and restored the game; try again", "hub_error", "hub")
            if isinstance(result, Rejected):
                return result
            durable = tuple(e for e in result.events if e.type not in VOLATILE_EVENTS)
            if not durable:
                await self._apply_effects(rt, result.effects)
                return result
            first_seq = rt.next_seq
            finished = rt.game.phase is Phase.FINISHED
            try:
                # The game's status moves with the event that caused it, in the same transaction.
                await self.repo.append_events(
                    rt.game_id,
                    [NewEvent(e.type, e.to_dict()) for e in durable],
                    expected_next_seq=first_seq,
                    fence=rt.fence,
                    status=_status_of(rt.game.phase),
                )
            except (SequenceConflictError, FencedOutError):
                log.exception("another hub wrote this game's log; giving the game up", extra={"game": rt.game_id})
                self.counters["fenced_out"] += 1
                self.close_game(rt.game_id)
                return Rejected("this hub no longer owns the game; retry against the current owner", "moved", "hub")
            except Exception:
                log.exception("event log append failed; state rolled back to the log", extra={"game": rt.game_id})
                self.counters["append_failed"] += 1
                await self._rebuild(rt)
                return Rejected("the game could not be saved; nothing changed, try again", "storage_error", "hub")
            rt.next_seq += len(durable)
            rt.note_presses(durable)
            # The log has them now. Buzzers hear their lock/arm first (a lit buzzer is what the room waits for),
            # then listeners get the events, then the retained state they lead to.
            to_devices = tuple(e for e in result.effects if isinstance(e, DEVICE_EFFECTS))
            await self._apply_effects(rt, to_devices)
            await self._publish_events(rt, first_seq, durable)
            await self._apply_effects(rt, tuple(e for e in result.effects if not isinstance(e, DEVICE_EFFECTS)))
            if finished:
                await self._finish(rt)
        return result

    def _lease_lost(self, rt: GameRuntime) -> bool:
        """Whether the game's lease ran out (Redis away, this process stalled); if so the game is given up at once,
        since from now on another hub may own it: not one more publish for it (the fence refuses appends anyway)."""
        if self.ownership is None or self.ownership.holds(rt.game_id):
            return False
        log.warning("lease lost; giving the game up", extra={"game": rt.game_id})
        self.counters["lease_lost"] += 1
        self.close_game(rt.game_id)
        return True

    def _with_due_tick(self, rt: GameRuntime, step: Step) -> Step:
        """Fold in the Tick a step made due at once (a zero grace window: the press that opens it also closes it),
        so the press and its ruling reach the log in one transaction and the lock goes out without a timer hop."""
        now = self.now_us()
        deadline = rt.game.next_deadline_us()
        if deadline is None or deadline > now:
            return step
        tick = rt.game.handle(Tick(now_us=now))  # a GameBugError here rolls back both, like any core failure
        if isinstance(tick, Rejected):
            return step
        return Step(step.events + tick.events, step.effects + tick.effects)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds after some step (for tests and in-process callers)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    def _retained_changed(self, topic: str, payload: bytes) -> bool:
        """Whether a retained payload differs from the last one sent, ignoring the volatile seq and ts_us.

        The core re-publishes state when anything in its snapshot moved, clock-sync figures included; on the wire
        those changes are invisible, and re-sending identical state twice a second per device is pure load.
        """
        key = wire.retained_key(payload)
        if self._last_retained.get(topic) == key:
            return False
        self._last_retained[topic] = key
        return True

    async def _rebuild(self, rt: GameRuntime) -> None:
        try:
            fresh = await self.open_game(rt.game_id, rt.fence)
        except Exception:
            log.exception("rebuilding the game failed; it is closed", extra={"game": rt.game_id})
            self.close_game(rt.game_id)
            return
        rt.game, rt.next_seq, rt.presses = fresh.game, fresh.next_seq, fresh.presses
        self.games[rt.game_id] = rt

    async def _publish_events(self, rt: GameRuntime, first_seq: int, events: tuple[GameEvent, ...]) -> None:
        topic = self.topics.game_events(rt.game_id)
        for offset, event in enumerate(events):
            await self.publisher.publish(topic, wire.event(first_seq + offset, event, rt.game), qos=1)
            if isinstance(event, BuzzRuled):
                metrics.observe_ruling(event, self.now_us())
                log.info("buzz ruled", extra={"game": rt.game_id, "device": event.winner_device,
                                              "team": event.winner_team, "too_close": event.too_close})

    async def _apply_effects(self, rt: GameRuntime, effects: tuple[Effect, ...]) -> None:
        seq = rt.next_seq - 1
        for effect in effects:
            for topic, payload, qos, retain in wire.effect_messages(
                self.topics, rt.game_id, seq=seq, now_us=self.now_us(), game=rt.game, eff=effect
            ):
                if retain and not self._retained_changed(topic, payload):
                    continue
                await self.publisher.publish(topic, payload, qos=qos, retain=retain)
            if isinstance(effect, DeviceCommand) and effect.cmd == "config" and effect.device in rt.game.devices:
                self.planner.online(effect.device, self.now_us())  # fresh burst: the game's clock model starts now

    # ------------------------------------------------------------------ MQTT input

    async def on_message(self, msg: Incoming) -> asyncio.Future[Any] | None:
        """The transport's handler, on its receive loop: decode, keep the device's link up to date, and queue the
        message to the lane of the game it concerns. Bad input is answered and counted, never raised.

        Returns the future of a queued buzz: it completes once the buzz is logged (or dropped for good), and only
        then does the transport acknowledge it. The link bookkeeping (boot, pending pings, clock samples) stays here,
        in arrival order, because it is the device's, not a game's.
        """
        parsed = self.topics.parse(msg.topic)
        metrics.message_in(parsed)
        if parsed is None:
            self.counters["unknown_topic"] += 1
            return None
        try:
            decoded = decode_for_topic(parsed, msg.payload)
        except CodecError as exc:
            self.counters[f"rejected_{exc.code}"] += 1
            log.warning("bad payload", extra={"topic": msg.topic, "reason": exc.message})
            if parsed.device:
                await self._device_error(parsed.device, exc.code, exc.message, msg.topic)
            elif parsed.kind is TopicKind.GAME_COMMANDS and parsed.game:
                await self._reply_undecodable(parsed.game, msg.payload, exc)
            return None
        if isinstance(decoded, DeviceStatus) and parsed.device:
            self._on_status(parsed.device, decoded, msg)
        elif isinstance(decoded, Buzz) and parsed.device:
            return self._on_buzz_in(parsed.device, decoded, msg)
        elif isinstance(decoded, SyncReply) and parsed.device:
            await self._on_sync_reply(parsed.device, decoded, msg)
        elif isinstance(decoded, GameCommand) and parsed.game:
            self._enqueue(parsed.game, functools.partial(self._on_command, parsed.game, decoded), msg.topic)
        return None

    async def _device_error(self, device: str, code: str, message: str, topic: str | None = None) -> None:
        err = DeviceError(code=code, message=message[:512], topic=topic[:256] if topic else None)
        await self.publisher.publish(self.topics.device_error(device), encode(err), qos=0)

    def game_of(self, device: str) -> GameRuntime | None:
        for rt in self.games.values():
            if device in rt.game.devices:
                return rt
        return None

    # ------------------------------------------------------------------ lanes: one worker per game

    def _enqueue(
        self, key: str | None, run: Callable[[], Awaitable[object]], topic: str, *, late: bool = False
    ) -> asyncio.Future[None] | None:
        """Queue ``run`` to the lane of game ``key`` (None: the devices' lane, for devices in no game here),
        starting the lane's worker if it has none. Returns, if ``late``, the future of the job's completion."""
        lane = self._lanes.get(key)
        if lane is None:
            queue: asyncio.Queue[_Job | None] = asyncio.Queue()
            lane = _Lane(queue, asyncio.create_task(self._run_lane(key, queue), name=f"hub-lane-{key or 'devices'}"))
            self._lanes[key] = lane
        if lane.queue.qsize() >= LANE_MAX:
            # Its worker is stuck (a log append that never returns): drop rather than grow without bound, as the
            # transport's own queue would. The caller acknowledges a dropped buzz at once, like aiomqtt's overflow.
            self.counters["lane_full"] += 1
            log.warning("a game's queue is full; message dropped", extra={"game": key, "topic": topic})
            return None
        done: asyncio.Future[None] | None = asyncio.get_running_loop().create_future() if late else None
        lane.queue.put_nowait(_Job(run, topic, done))
        return done

    async def _run_lane(self, key: str | None, queue: asyncio.Queue[_Job | None]) -> None:
        """Handle one lane's jobs one at a time, in the order they were queued (arrival order), until the lane is
        empty and its game is no longer open here (closed, lease lost, or never opened: a command for an unknown
        game); a later message for it starts a new worker."""
        while True:
            reraise_swallowed_cancel()  # the job before finished, but its await may have eaten this lane's cancel
            if queue.empty() and (key is None or key not in self.games):
                lane = self._lanes.get(key)
                if lane is not None and lane.queue is queue:
                    del self._lanes[key]  # no await since the check: nothing can have been queued in between
                return
            job = await queue.get()
            if job is None:  # close_game's nudge: look again whether this lane is still wanted
                continue
            try:
                await job.run()
            except asyncio.CancelledError:
                if job.done is not None:
                    job.done.cancel()  # shutdown mid-job: not acknowledged, so the broker redelivers it
                raise
            except Exception:
                self.counters["handler_error"] += 1
                log.exception("message handler failed; message dropped", extra={"topic": job.topic, "game": key})
            if job.done is not None and not job.done.done():
                job.done.set_result(None)

    async def stop(self) -> None:
        """Cancel every lane (shutdown, after the transport stopped). A job cut off mid-append is either wholly in the
        log or not at all (one transaction); its buzz and every queued one stay unacknowledged, and the broker
        redelivers them to the next session, where a logged press is dropped as a duplicate."""
        lanes = list(self._lanes.values())
        self._lanes.clear()
        for lane in lanes:
            lane.task.cancel()
        if lanes:
            # asyncio.wait, not `await task` under suppress(CancelledError): a cancel of stop() itself must go on up.
            await asyncio.wait([lane.task for lane in lanes])
        for lane in lanes:
            while not lane.queue.empty():
                job = lane.queue.get_nowait()
                if job is not None and job.done is not None:
                    job.done.cancel()

    # ------------------------------------------------------------------ device messages

    def _on_status(self, device: str, status: DeviceStatus, msg: Incoming) -> None:
        online = status.state == "online"
        hello: DeviceHello | None = None
        rt = self.game_of(device)
        if online:
            link = self.links.setdefault(device, _DeviceLink())
            if status.boot is not None and status.boot != link.boot:
                link.boot, link.clock = status.boot, ClockModel()
                link.pending.clear()
            link.fw = status.fw or link.fw
            if not msg.retain:
                link.seen(msg.arrival_us)
            self.planner.online(device, msg.arrival_us)
            self._wake.set()
            if rt is not None:
                hello = DeviceHello(device=device, boot=link.boot, fw=status.fw or "")
        else:
            self.planner.offline(device)
        # The health write goes to the device's game lane, so its hello follows it and precedes the device's next
        # buzz there; a device in no game here has the devices' lane, off the receive loop all the same.
        key = rt.game_id if rt is not None else None
        self._enqueue(key, functools.partial(self._record_status, device, status, msg, key, hello), msg.topic)

    async def _record_status(
        self, device: str, status: DeviceStatus, msg: Incoming, game_id: str | None, hello: DeviceHello | None
    ) -> None:
        online = status.state == "online"
        try:
            # Only a live "online" is a sign of life: a retained status is the broker's memory (read at hub start-up)
            # and "offline" is the Will the broker sends for a device it already lost; neither moves last-seen.
            await self.repo.record_device_health(
                device, seen_at=self._wall_at(msg.arrival_us) if online and not msg.retain else None, online=online,
                fw=status.fw,
                rssi=status.rssi, battery_mv=status.battery_mv, boot=status.boot,
            )
        except Exception:
            log.exception("could not record device health", extra={"device": device})
        else:
            self.counters["status_recorded"] += 1
            await self._notify()
        if hello is not None and game_id is not None and (rt := self.games.get(game_id)) is not None:
            await self._feed(rt, hello, device)

    def _on_buzz_in(self, device: str, buzz: Buzz, msg: Incoming) -> asyncio.Future[Any] | None:
        """Route a buzz: to its device's game, or (unpaired) to every game here. Returns when it is all logged."""
        link = self.links.setdefault(device, _DeviceLink())
        link.seen(msg.arrival_us)
        if buzz.boot != link.boot:  # it rebooted without telling us: start its clock afresh
            link.boot, link.clock = buzz.boot, ClockModel()
            link.pending.clear()
            self.planner.online(device, msg.arrival_us)
            self._wake.set()
        rt = self.game_of(device)
        if rt is not None:
            return self._enqueue(
                rt.game_id, functools.partial(self._on_buzz, rt.game_id, device, buzz, msg, paired=True), msg.topic,
                late=True,
            )
        if self.ownership is not None:
            # Perhaps another hub's game: kept in case we take it over. Kept here, on the receive loop, so a game
            # being opened (open_game) finds it in its catch-up, whatever its lane has done by then.
            self._backlog.append((msg, device, buzz))
        # An unpaired buzzer: every game in the room hears it, so press-to-pair can pick it up.
        self.counters["unpaired_press"] += 1
        pending = [
            f for game_id in list(self.games)
            if (f := self._enqueue(game_id, functools.partial(self._on_buzz, game_id, device, buzz, msg, paired=False),
                                   msg.topic, late=True)) is not None
        ]
        return _all_of(pending) if pending else None

    async def _on_buzz(self, game_id: str, device: str, buzz: Buzz, msg: Incoming, *, paired: bool) -> None:
        """A buzz's turn in game ``game_id``'s lane: rule it, unless the log has it already."""
        rt = self.games.get(game_id)
        inp = BuzzIn(device=device, boot=buzz.boot, seq=buzz.seq, t_dev=float(buzz.t_us), arrival_us=msg.arrival_us)
        if rt is None:
            # The game was closed while the buzz waited (its lease lost): a standby keeps it for whoever takes the
            # game over, as if it had arrived now; the hub that rules it drops it if the log has it.
            if paired and self.ownership is not None:
                self._backlog.append((msg, device, buzz))
            self.counters["press_game_closed"] += 1
            return
        await self._press(rt, inp, device if paired else None)

    async def _press(self, rt: GameRuntime, inp: BuzzIn, device: str | None) -> bool:
        """Feed a press unless the log has it already (a QoS 1 redelivery, or a buzz kept by a standby that the
        previous owner did log). Returns whether it was fed."""
        if (inp.device, inp.boot, inp.seq) in rt.presses:
            self.counters["duplicate_press"] += 1
            await self._notify()
            return False
        await self._feed(rt, inp, device)
        return True

    async def _on_sync_reply(self, device: str, reply: SyncReply, msg: Incoming) -> None:
        link = self.links.get(device)
        t1 = link.pending.pop(reply.n, None) if link else None
        if link is None or t1 is None:
            self.counters["sync_unexpected"] += 1  # late, replayed or forged: only our own pings count
            return
        link.seen(msg.arrival_us)
        if reply.boot is not None and reply.boot != link.boot:
            link.boot, link.clock = reply.boot, ClockModel()
        try:
            sample = SyncSample(float(t1), float(reply.t2), float(reply.t3), float(msg.arrival_us))
        except ValueError as exc:
            self.counters["sync_invalid"] += 1
            await self._device_error(device, "invalid", f"sync reply rejected: {exc}", msg.topic)
            return
        link.clock.add_sample(sample)
        rt = self.game_of(device)
        if rt is not None:
            inp = SyncIn(device=device, boot=link.boot, sample=sample)
            self._enqueue(rt.game_id, functools.partial(self._feed_game, rt.game_id, inp, device), msg.topic)

    async def _feed_game(self, game_id: str, inp: Input, device: str | None) -> None:
        """``_feed`` from a lane: only if the game is still open here when the input's turn comes."""
        if (rt := self.games.get(game_id)) is not None:
            await self._feed(rt, inp, device)

    async def _feed(self, rt: GameRuntime, inp: Input, device: str | None) -> None:
        result = await self.execute(rt, inp)
        if isinstance(result, Rejected):
            self.counters[f"rejected_{result.code}"] += 1
            if device is not None and result.fault == "device":
                await self._device_error(device, result.code, result.reason)

    # ------------------------------------------------------------------ host commands

    async def _reply(self, game_id: str, client: str | None, payload: bytes) -> None:
        if client:
            await self.publisher.publish(self.topics.game_reply(game_id, client), payload, qos=1)

    async def _reply_undecodable(self, game_id: str, payload: bytes, exc: CodecError) -> None:
        cid, client = wire.salvage_command_ids(payload)
        if cid and client:
            await self._reply(game_id, client, wire.reply_error(cid, exc.code, exc.message))

    async def _on_command(self, game_id: str, command: GameCommand) -> None:
        cmd = command.root
        rt = self.games.get(game_id)
        if rt is None:
            rt, elsewhere = await self._open_on_demand(game_id)
            if elsewhere:
                return  # another hub owns the game and answers
            if rt is None:
                await self._reply(game_id, cmd.client, wire.reply_error(
                    cmd.id, "unknown_game", f"game {game_id!r} does not exist or has finished"))
                return
        if (earlier := rt.replies.get(f"{cmd.client}\x00{cmd.id}")) is not None:
            # The same command again (a QoS 1 redelivery, a client's retry): answer as before, do not run it twice.
            self.counters["duplicate_command"] += 1
            await self._reply(game_id, cmd.client, earlier)
            return
        await self._run_command(rt, cmd)

    async def _run_command(self, rt: GameRuntime, cmd: GameCommandVariant) -> None:
        game_id = rt.game_id
        if cmd.cmd == "identify":
            device = getattr(cmd, "device", "")
            await self.publisher.publish(self.topics.device_cmd(device), wire.identify(), qos=1)
            await self._reply(game_id, cmd.client, wire.reply_ok(cmd.id, {}))
            return
        try:
            inp = wire.command_input(cmd, rt.game, self.now_us())
        except wire.UnsupportedCommandError as exc:
            await self._reply(game_id, cmd.client, wire.reply_error(cmd.id, exc.code, str(exc)))
            return
        result = await self.execute(rt, inp)
        if isinstance(result, Rejected):
            self.counters[f"rejected_{result.code}"] += 1
            if result.code == "moved" and self.ownership is not None:
                return  # the lease is gone: the new owner hears the same command and answers it
            reply = wire.reply_error(cmd.id, result.code, result.reason)
        else:
            reply = wire.reply_ok(cmd.id, {"seq": rt.next_seq - 1})
        if not isinstance(result, Rejected) or result.fault != "hub":
            # Our own failures ("try again") are not remembered: the retry must run.
            rt.remember_reply(f"{cmd.client}\x00{cmd.id}", reply)
        await self._reply(game_id, cmd.client, reply)

    async def _open_on_demand(self, game_id: str) -> tuple[GameRuntime | None, bool]:
        """A game created after this hub started (through the web API): load it at its first command.

        Returns the game (None: unknown or finished) and whether another hub holds its lease.
        """
        try:
            row = await self.repo.get_game(game_id)
            if row is None or row.status is GameStatus.FINISHED:
                return None, False
            if self.ownership is None:
                return await self.open_game(game_id), False
            grant = await self.ownership.acquire(game_id)
            if grant.token is None:
                return None, True
            return await self.take_over(game_id, grant.token), False
        except Exception:
            log.exception("could not open the game for a command", extra={"game": game_id})
            return None, False

    async def _finish(self, rt: GameRuntime) -> None:
        """Keep the final standings (the results table outlives the game)."""
        try:
            await self.repo.save_results(rt.game_id, wire.results(rt.game.scoreboard()))
        except Exception:
            log.exception("could not store the results", extra={"game": rt.game_id})

    async def command(self, game_id: str, inp: Input) -> Step | Rejected:
        """Run a core input against a running game directly (in-process callers and tests)."""
        rt = self.games.get(game_id)
        if rt is None:
            return Rejected(f"game {game_id!r} is not running on this hub", "unknown_game", "host")
        return await self.execute(rt, inp)

    # ------------------------------------------------------------------ timers

    def _next_wake_us(self) -> int | None:
        times = [t for rt in self.games.values() if (t := rt.game.next_deadline_us()) is not None]
        if (ping := self.planner.next_due_us()) is not None:
            times.append(ping)
        return min(times) if times else None

    async def run_timers(self) -> None:
        """Fire game deadlines and clock-sync pings on time, until cancelled."""
        while True:
            self._wake.clear()
            now = self.now_us()
            for rt in list(self.games.values()):
                deadline = rt.game.next_deadline_us()
                if deadline is not None and deadline <= now:
                    await self.execute(rt, Tick(now_us=now))
            await self._send_pings(now)
            wake_at = self._next_wake_us()
            timeout = None if wake_at is None else max(0.0, (wake_at - self.now_us()) / 1e6)
            if timeout == 0.0:
                continue
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _send_pings(self, now: int) -> None:
        for ping in self.planner.due(now):
            if self.ownership is not None and self.game_of(ping.device) is None:
                # Its game may be another hub's, and two hubs numbering pings alike would take each other's replies.
                continue
            link = self.links.setdefault(ping.device, _DeviceLink())
            if len(link.pending) >= MAX_PENDING_PINGS:  # a silent device: forget the oldest unanswered pings
                for n in sorted(link.pending)[: len(link.pending) - MAX_PENDING_PINGS + 1]:
                    del link.pending[n]
            t1 = self.now_us()
            link.pending[ping.n] = t1
            await self.publisher.publish(self.topics.device_sync(ping.device), wire.sync(ping.n, t1), qos=0)

    def health(self, device: str) -> dict[str, Any]:
        """Clock quality of a device as the hub sees it (for the devices page and the health table)."""
        link = self.links.get(device)
        if link is None or not link.clock.synced:
            return {"synced": False}
        return {
            "synced": True,
            "uncertainty_us": link.clock.uncertainty_us,
            "one_way_us": link.clock.one_way_bound_us,
            "drift_ppm": link.clock.drift_ppm,
        }

    async def write_health(self) -> int:
        """Write last-seen and clock figures of every device heard from since the last call, in one transaction.

        Returns how many devices were written. A failed write is logged and retried at the next call.
        """
        updates: list[DeviceHealth] = []
        for device, link in self.links.items():
            if not link.dirty or link.last_seen_us is None:
                continue
            link.dirty = False
            health = self.health(device)
            updates.append(DeviceHealth(
                device, seen_at=self._wall_at(link.last_seen_us),
                clock_uncertainty_us=health.get("uncertainty_us"), one_way_us=health.get("one_way_us"),
            ))
        if not updates:
            return 0
        try:
            await self.repo.record_devices_health(updates)
        except Exception:
            log.exception("could not record device health", extra={"devices": len(updates)})
            for update in updates:
                if (again := self.links.get(update.device_id)) is not None:
                    again.dirty = True  # try again at the next call
            return 0
        self.counters["health_written"] += len(updates)
        await self._notify()
        return len(updates)

    def _wall_at(self, hub_us: int) -> datetime:
        """The wall-clock time of a hub-clock instant in the past (when a message arrived, not when it was handled)."""
        return wire.utc_now() - timedelta(microseconds=max(0, self.now_us() - hub_us))

    async def run_health(self, interval_s: float = HEALTH_INTERVAL_S) -> None:
        """Write device health every ``interval_s`` until cancelled; a round waits while a game is armed."""
        deferred = 0
        while True:
            await asyncio.sleep(interval_s)
            armed = any(rt.game.phase is Phase.ARMED for rt in self.games.values())
            if armed and deferred < HEALTH_MAX_DEFERRALS:
                deferred += 1
                self.counters["health_deferred"] += 1
                continue
            deferred = 0
            await self.write_health()
