"""Shared helpers for the game tests: a driver that keeps the log and checks every step, and a state fingerprint.

Named test_game_* so it lives with the game tests; it defines no tests itself.
"""

from __future__ import annotations

import json
from typing import Any

from hub.core.events import GameEvent, PublishQuestion, event_from_dict
from hub.core.game import Game, GameSettings, Input, Rejected, Step
from hub.core.model import Question, QuestionKind, Quiz
from hub.core.scoring import scores_from_events


def fingerprint(game: Game) -> Any:
    """Everything observable plus the internals a refused input must not touch (arbiter, undo stack, clocks)."""
    play = game._play
    play_fp: Any = None
    if play is not None:
        arb = play.arbiter
        arb_fp = None
        if arb is not None:
            st = arb._st
            arb_fp = (
                arb.armed_at_us,
                arb.excluded_teams,
                arb.ruled,
                arb.deadline_us(),
                sorted(st.seen),
                sorted(st.best.items()),
                sorted(st.locked),
                arb.ruling,
            )
        play_fp = (
            play.index,
            play.attempt,
            arb_fp,
            play.armed_at_us,
            play.grace_us,
            play.seed,
            play.window_deadline_us,
            sorted(play.locked_out),
            sorted(play.seen),
            play.ruling,
            play.answering,
            play.answer_deadline_us,
            play.timer_expired,
            sorted(play.judged.items()),
            sorted(play.answers.items()),
            play.opened_at_us,
            play.answers_deadline_us,
        )
    clocks = {
        d: (boot, m.synced, m.samples, m.to_hub(0.0) if m.synced else None) for d, (boot, m) in game._clocks.items()
    }
    return (
        game.state_snapshot(),
        game.scoreboard(),
        game.question_public(),
        game.next_deadline_us(),
        game._phase,
        game._paused_from,
        game._paused_at_us,
        play_fp,
        [(cp.label, cp.phase, cp.scores) for cp in game._undo],
        dict(game._device_info),
        clocks,
        dict(game._unpaired_presses),
    )


class Driver:
    """Feeds inputs to a game, keeps the log, and checks the step contract on every input."""

    def __init__(self, quiz: Quiz, settings: GameSettings | None = None) -> None:
        self.quiz = quiz
        self.settings = settings or GameSettings()
        self.game = Game(quiz, self.settings)
        self.log: list[GameEvent] = []
        self.steps: list[Step] = []

    def __call__(self, inp: Input) -> Step | Rejected:
        before = fingerprint(self.game)
        result = self.game.handle(inp)
        if isinstance(result, Rejected):
            assert fingerprint(self.game) == before, f"refused {inp} but the game changed"
            assert result.reason
            assert result.code
            return result
        self.log.extend(result.events)
        self.steps.append(result)
        for effect in result.effects:
            if isinstance(effect, PublishQuestion) and effect.question is not None:
                assert effect.question["revealed"] or "answer" not in effect.question, "answer leaked"
        json.dumps([self.game.state_snapshot(), self.game.devices_snapshot()])
        assert self.game.scores == scores_from_events(self.log)
        return result

    def ok(self, inp: Input) -> Step:
        result = self(inp)
        assert isinstance(result, Step), f"{inp} was refused: {result}"
        return result

    def no(self, inp: Input, code: str) -> Rejected:
        result = self(inp)
        assert isinstance(result, Rejected), f"{inp} was accepted: {result}"
        assert result.code == code, result
        return result

    def types(self, step: Step) -> list[str]:
        return [e.type for e in step.events]

    def replayed(self) -> Game:
        """The game rebuilt from the JSON round trip of the log."""
        events = [event_from_dict(json.loads(json.dumps(e.to_dict()))) for e in self.log]
        assert events == self.log
        return Game.replay(self.quiz, self.settings, events)


def buzzer(prompt: str = "Q?", **kw: Any) -> Question:
    return Question(prompt, kind=QuestionKind.BUZZER, answer="A", **kw)


def mixed_quiz() -> Quiz:
    return Quiz(
        (
            Question("Capital of France?", answer="Paris", points=10, penalty=5),
            Question("2+2?", kind=QuestionKind.MULTIPLE_CHOICE, choices=("3", "4", "5"), answer=1, points=1000),
            Question("The sky is green.", kind=QuestionKind.TRUE_FALSE, answer=1, points=500),
            Question("Height of Everest (m)?", kind=QuestionKind.NUMERIC, answer=8849, points=100),
            Question("Name a prime.", kind=QuestionKind.OPEN_TEXT, points=20, penalty=0),
            Question("Longest river?", answer="Nile", points=10, penalty=0),
        )
    )
