"""Everything the hub publishes during a real round validates against the JSON Schema files of `schemas/`.

The models in hub.messages are checked against the schemas in tests/contract; this closes the loop on the running
system: a recorder subscribed to the whole tree keeps every payload and each is validated by its topic's schema.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, get_args

from broker.credentials import Role
from hub import wire
from hub.core.game import AddTeam, Answer, Arm, Game, Input, Judge, Reveal, ShowQuestion, Step, Tick, Undo
from hub.core.model import Question, QuestionKind, Quiz
from hub.core.transitions import Phase
from hub.messages import Phase as WirePhase
from hub.mqttclient import make_client
from hub.topics import TopicKind, Topics
from tests.contract.contract_support import schema_errors

if TYPE_CHECKING:
    from tests.hub.conftest import Arena

SCHEMA_OF = {
    TopicKind.DEVICE_STATUS: "device-status",
    TopicKind.DEVICE_BUZZ: "device-buzz",
    TopicKind.DEVICE_SYNC: "device-sync",
    TopicKind.DEVICE_SYNC_REPLY: "device-sync-reply",
    TopicKind.DEVICE_CMD: "device-cmd",
    TopicKind.DEVICE_ERROR: "device-error",
    TopicKind.GAME_BUZZERS: "game-buzzers",
    TopicKind.GAME_STATE: "game-state",
    TopicKind.GAME_QUESTION: "game-question",
    TopicKind.GAME_SCORES: "game-scores",
    TopicKind.GAME_EVENTS: "game-event",
    TopicKind.GAME_COMMANDS: "game-command",
    TopicKind.GAME_REPLIES: "game-reply",
    TopicKind.HUB_STATUS: "hub-status",
}


async def test_every_published_payload_matches_its_schema(arena: Arena) -> None:
    topics = Topics(arena.env.root)
    recorded: list[tuple[str, bytes]] = []
    done = asyncio.Event()
    marker = f"{arena.host.client_id}-end"
    recorder = make_client(arena.env.address("recorder", Role.SERVICE), identifier="recorder")
    async with recorder:
        await recorder.subscribe(f"{arena.env.root}/#", qos=1)

        async def record() -> None:
            async for msg in recorder.messages:
                recorded.append((str(msg.topic), bytes(msg.payload)))  # type: ignore[arg-type]
                if str(msg.topic).endswith(f"/{marker}"):
                    done.set()

        task = asyncio.create_task(record())
        try:
            await arena.host.ok("add_team", team="red", name="Red")
            await arena.host.ok("add_team", team="blue", name="Blue")
            a = await arena.buzzer("bz-a")
            await arena.host.ok("pair", device="bz-a", team="red")
            await a.wait_for("config")
            await arena.host.ok("show")
            await arena.host.ok("arm")
            await a.wait_for("armed")
            await a.press()
            rt = arena.hub.service.games[arena.game_id]
            await arena.hub.service.wait_for(lambda: rt.game.phase is Phase.BUZZED)
            await arena.host.ok("judge", verdict="right")
            await arena.host.ok("reveal")
            await arena.host.ok("next")
            await arena.host.send("judge", verdict="maybe")  # an invalid command: its error reply is recorded too
            # A sentinel published after everything else: once it is back, every earlier message has been recorded.
            await recorder.publish(f"{arena.env.root}/games/{arena.game_id}/replies/{marker}", b"{}", qos=1)
            async with asyncio.timeout(10):
                await done.wait()
        finally:
            task.cancel()

    kinds_seen = set()
    failures = []
    for topic, payload in recorded:
        parsed = topics.parse(topic)
        if parsed is None or topic.endswith(marker) or not payload or parsed.kind is TopicKind.GAME_COMMANDS:
            continue  # commands come from the test's host, not the hub
        kinds_seen.add(parsed.kind)
        failures.extend(f"{topic}: {error}" for error in schema_errors(SCHEMA_OF[parsed.kind], json.loads(payload)))
    assert not failures, "\n".join(failures[:20])
    expected = {TopicKind.GAME_STATE, TopicKind.GAME_QUESTION, TopicKind.GAME_SCORES, TopicKind.GAME_EVENTS,
                TopicKind.GAME_BUZZERS, TopicKind.GAME_REPLIES, TopicKind.DEVICE_CMD, TopicKind.DEVICE_SYNC,
                TopicKind.DEVICE_STATUS, TopicKind.HUB_STATUS, TopicKind.DEVICE_BUZZ}
    assert expected <= kinds_seen, expected - kinds_seen


def test_every_core_phase_goes_on_the_wire() -> None:
    """The state machine's phases (hub.core) are the wire's: a state in any of them is published, schema-valid."""
    assert set(get_args(WirePhase)) == {phase.value for phase in Phase}
    for phase in Phase:
        doc = json.loads(wire.state("g1", 1, 5, {"phase": phase.value, "paused_from": phase.value}))
        assert doc["phase"] == phase.value
        assert schema_errors("game-state", doc) == []


def test_the_state_says_who_answered_who_is_marked_and_whether_undo_is_possible() -> None:
    """A console opened mid-question reads these from the state (web/static/host.js); ids and verdicts only."""
    quiz = Quiz((
        Question("Name a prime", kind=QuestionKind.OPEN_TEXT, points=20, answer_time_us=10_000_000),
        Question("Buzz!", kind=QuestionKind.BUZZER, answer="A", points=10, buzz_window_us=1_000_000),
    ))
    game = Game(quiz)

    def do(inp: Input) -> dict[str, object]:
        assert isinstance(game.handle(inp), Step), inp
        payload = wire.state("g1", 1, 0, game.state_snapshot(), game)
        doc: dict[str, object] = json.loads(payload)
        assert schema_errors("game-state", doc) == []
        assert b"seventeen" not in payload, "an answer is never in the state"
        assert b"nineteen" not in payload
        return doc

    def seen(doc: dict[str, object]) -> tuple[object, object, object]:
        return doc.get("answered"), doc.get("judged"), doc.get("can_undo")

    do(AddTeam(team="a", name="A"))
    do(AddTeam(team="b", name="B"))
    assert seen(do(ShowQuestion(now_us=1_000))) == (None, None, False)
    assert seen(do(Arm(now_us=2_000))) == (None, None, False)  # opening the phones' answers is no checkpoint
    assert seen(do(Answer(team="b", text="seventeen", arrival_us=3_000))) == (["b"], None, False)
    doc = do(Answer(team="a", text="nineteen", arrival_us=4_000))
    assert doc["phase"] == "closed"
    assert seen(doc) == (["a", "b"], None, False)
    right_a = {"team": "a", "verdict": "right"}
    assert seen(do(Judge(correct=True, team="a"))) == (["a", "b"], [right_a], True)
    assert seen(do(Judge(correct=False, team="b"))) == (["a", "b"], [right_a, {"team": "b", "verdict": "wrong"}], True)
    assert seen(do(Undo())) == (["a", "b"], [right_a], True)
    assert seen(do(Undo())) == (["a", "b"], None, False)
    assert seen(do(Reveal())) == (["a", "b"], None, False)

    assert seen(do(ShowQuestion(index=1, now_us=5_000))) == (None, None, False)
    assert seen(do(Arm(now_us=6_000))) == (None, None, True)  # undo goes back to before the arm
    doc = do(Tick(now_us=1_006_000))
    assert doc["phase"] == "closed"  # nobody buzzed in the window
    assert seen(doc) == (None, None, True)
    assert seen(do(Undo())) == (None, None, False)


async def test_closing_phone_answers_is_acknowledged_and_published(arena: Arena) -> None:
    """The last team's answer closes a phone question: its command gets a reply and the retained state says closed."""
    topics = Topics(arena.env.root)
    await arena.host.ok("add_team", team="red", name="Red")
    quiz = arena.hub.service.games[arena.game_id].game.quiz
    q = next(i for i, question in enumerate(quiz.questions) if question.kind is QuestionKind.MULTIPLE_CHOICE)
    await arena.host.ok("show", q=q)
    await arena.host.ok("arm")
    async with asyncio.timeout(10):
        await arena.host.ok("answer", team="red", value=["b"])
    watcher = make_client(arena.env.address("watcher", Role.SERVICE), identifier="watcher")
    async with watcher, asyncio.timeout(10):
        await watcher.subscribe(topics.game_state(arena.game_id), qos=1)
        async for msg in watcher.messages:
            state = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
            assert state["phase"] == "closed", state
            assert schema_errors("game-state", state) == []
            break
