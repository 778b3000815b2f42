"""Hypothesis state machine over the whole game: random hosts, devices, players and clocks.

Invariants (issue 3 item 5): at most one winner per armed question; a locked-out team never wins; undo restores
exactly the scores before the undone action; scores equal the fold of the events; replaying the log reproduces the
state; a refused input changes nothing (checked by the Driver on every input); the game never reaches ERROR; the
answer is never published before reveal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from test_game_support import Driver, fingerprint

from hub.core.arbitration import ArbitrationSettings, FalseStartRule, TieRule
from hub.core.clock import SyncSample
from hub.core.events import (
    AnswerPassed,
    BuzzersArmed,
    BuzzReceived,
    BuzzRuled,
    GameEnded,
    GameEvent,
    Judged,
    QuestionRevealed,
    QuestionShown,
    QuestionSkipped,
    ScoreAdjusted,
    TeamRemoved,
    Undone,
)
from hub.core.game import (
    AddTeam,
    AdjustScore,
    Answer,
    Arm,
    BuzzIn,
    DeviceHello,
    End,
    GameSettings,
    Input,
    Judge,
    Next,
    PairDevice,
    Pause,
    RebaseClock,
    RemoveTeam,
    Resume,
    Reveal,
    ShowQuestion,
    Skip,
    Step,
    SyncIn,
    Tick,
    Undo,
    UnpairDevice,
)
from hub.core.model import Question, QuestionKind, Quiz
from hub.core.scoring import ScoringFormula
from hub.core.transitions import Phase

TEAMS = ("t0", "t1", "t2", "t3")
DEVICES = ("d0", "d1", "d2", "d3", "d4", "stray")

buzzer_questions = st.builds(lambda p, pen: Question("buzz", answer="x", points=p, penalty=pen), st.integers(1, 20),
                             st.integers(0, 5))
questions = st.one_of(
    buzzer_questions,  # listed three times: the buzzer rules are the ones most worth exercising
    buzzer_questions,
    buzzer_questions,
    st.builds(lambda p: Question("mc", kind=QuestionKind.MULTIPLE_CHOICE, choices=("a", "b", "c"), answer=2,
                                 points=p, answer_time_us=5_000_000), st.integers(0, 1000)),
    st.just(Question("tf", kind=QuestionKind.TRUE_FALSE, answer=0, points=100)),
    st.just(Question("num", kind=QuestionKind.NUMERIC, answer=42, points=100)),
    st.just(Question("open", kind=QuestionKind.OPEN_TEXT, points=10, penalty=2)),
)
quizzes = st.lists(questions, min_size=2, max_size=6).map(lambda qs: Quiz(tuple(qs)))
game_settings = st.builds(
    GameSettings,
    arbitration=st.builds(
        ArbitrationSettings,
        grace_us=st.sampled_from([0, 5_000, 30_000]),
        tie_rule=st.sampled_from(list(TieRule)),
        false_start=st.sampled_from(list(FalseStartRule)),
        seed=st.integers(0, 3),
    ),
    rearm_on_wrong=st.booleans(),
    pass_on_wrong=st.booleans(),
    buzz_window_us=st.sampled_from([None, 2_000_000]),
    answer_time_us=st.sampled_from([None, 3_000_000]),
    scoring=st.sampled_from(list(ScoringFormula)),
    false_start_penalty=st.integers(0, 3),
    grace_from_clocks=st.booleans(),
)


offset_lists = st.lists(st.integers(-10_000_000, 10_000_000), min_size=len(DEVICES), max_size=len(DEVICES))


class _Machine(RuleBasedStateMachine):
    """Drives one game with arbitrary inputs in arbitrary order and checks the invariants after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.drv: Driver
        self.now = 1_000_000
        self.offsets: dict[str, int] = {}
        self.boots: dict[str, int] = {}
        self.seqs: dict[str, int] = {}
        # independent model of the undo stack: ("play", scores) or ("adj", team, delta)
        self.undo_model: list[tuple[Any, ...]] = []
        self.model_scores: dict[str, int] = {}
        self.arm_excluded: set[str] | None = None
        self.arm_ruled = False
        self.checked = 0

    def start(self, quiz: Quiz, cfg: GameSettings, n_teams: int, offsets: list[int], synced: set[str]) -> None:
        self.drv = Driver(quiz, cfg)
        self.offsets = dict(zip(DEVICES, offsets, strict=True))
        self.boots = dict.fromkeys(DEVICES, 1)
        self.seqs = dict.fromkeys(DEVICES, 0)
        for i, team in enumerate(TEAMS[:n_teams]):
            self.send(AddTeam(team=team, name=team.upper()))
            self.send(PairDevice(device=f"d{i}", team=team))
        self.send(PairDevice(device="d4", team="t0"))  # a team with two devices
        for device in sorted(synced):
            for _ in range(2):
                self.sync(device, 400, 600)

    # ------------------------------------------------------------------ plumbing

    def send(self, inp: Input) -> None:
        result = self.drv(inp)  # the Driver checks: refused -> unchanged; fold == scores; no answer leak
        if isinstance(result, Step):
            self.follow(result.events)

    def follow(self, events: tuple[GameEvent, ...]) -> None:
        """Check each new event against the test's own models of lockouts and undo."""
        for e in events:
            self.model_undo(e)
            if isinstance(e, BuzzersArmed):
                self.arm_excluded, self.arm_ruled = set(e.excluded), False
            elif isinstance(e, BuzzReceived) and e.outcome == "false_start" and self.arm_excluded is not None:
                if self.drv.settings.arbitration.false_start is FalseStartRule.LOCKOUT:
                    self.arm_excluded.add(e.press.team)
            elif isinstance(e, BuzzRuled):
                assert not self.arm_ruled, "two rulings for one armed question"
                self.arm_ruled = True
                assert self.arm_excluded is not None
                assert e.winner_team not in self.arm_excluded, "a locked-out team won"
                assert e.winner_team is None or e.winner_team == e.order[0].team or e.too_close
                assert not {r.team for r in e.order} & self.arm_excluded
            elif isinstance(e, AnswerPassed):
                assert self.arm_excluded is not None
                assert e.team not in self.arm_excluded, "the question passed to a locked-out team"
            elif (
                isinstance(e, Judged) and self.arm_excluded is not None
                and self.drv.quiz.questions[e.index].kind is QuestionKind.BUZZER
            ):
                assert e.team not in self.arm_excluded, "a locked-out team was judged"

    def model_undo(self, e: GameEvent) -> None:  # noqa: C901 - the undo rules of the spec, one branch each
        if isinstance(e, BuzzersArmed | Judged):
            arm = (None if self.arm_excluded is None else set(self.arm_excluded), self.arm_ruled)
            self.undo_model.append(("play", dict(self.model_scores), e.type, arm))
        elif isinstance(e, ScoreAdjusted):
            self.undo_model.append(("adj", e.team, e.delta))
        elif isinstance(e, QuestionShown | TeamRemoved):
            self.undo_model.clear()
        elif isinstance(e, QuestionRevealed | QuestionSkipped | GameEnded):
            self.undo_model = [cp for cp in self.undo_model if cp[0] == "adj"]
        if isinstance(e, Undone):
            top = self.undo_model.pop()
            if top[0] == "adj":
                expected = dict(self.model_scores)
                expected[top[1]] -= top[2]
                assert e.undid == "adjustment"
            else:
                expected = {team: top[1].get(team, 0) for team in self.model_scores}
                self.arm_excluded, self.arm_ruled = top[3]
                assert e.undid == {"buzzers.armed": "arm", "judgement.made": "judgement"}[top[2]]
        else:
            expected = None
        # the fold, kept by the test
        if e.type == "team.added":
            self.model_scores[e.team] = 0  # type: ignore[attr-defined]
        elif isinstance(e, TeamRemoved):
            self.model_scores.pop(e.team)
        for team, delta in e.score_deltas():
            self.model_scores[team] += delta
        if expected is not None:
            assert self.model_scores == expected, "undo did not restore the scores before the undone action"

    @property
    def teams(self) -> list[str]:
        return sorted(self.drv.game.teams)

    # ------------------------------------------------------------------ time

    @rule(dt=st.integers(0, 4_000_000))
    def wait(self, dt: int) -> None:
        self.now += dt
        self.send(Tick(now_us=self.now))

    @rule(new_now=st.integers(0, 5_000_000))
    def hub_reboots(self, new_now: int) -> None:
        """The hub restarts on a new monotonic clock: device clocks now differ from it by a shifted offset."""
        shift = new_now - self.now
        self.now = new_now
        self.offsets = {d: off + shift for d, off in self.offsets.items()}
        self.send(RebaseClock(now_us=new_now))

    @precondition(lambda self: self.drv.game.next_deadline_us() is not None)
    @rule()
    def wake_at_deadline(self) -> None:
        deadline = self.drv.game.next_deadline_us()
        assert deadline is not None
        self.now = max(self.now, deadline)
        self.send(Tick(now_us=self.now))

    # ------------------------------------------------------------------ devices

    @rule(device=st.sampled_from(DEVICES), ago=st.integers(-2_000, 60_000), again=st.booleans(),
          gap=st.integers(0, 20_000))
    def buzz(self, device: str, ago: int, again: bool, gap: int) -> None:
        self.now += gap
        if not again or self.seqs[device] == 0:
            self.seqs[device] += 1
        t_dev = float(self.now - ago - self.offsets[device])
        self.send(BuzzIn(device=device, boot=self.boots[device], seq=self.seqs[device], t_dev=t_dev,
                         arrival_us=self.now))

    @rule(device=st.sampled_from(DEVICES), up=st.integers(50, 20_000), down=st.integers(50, 20_000))
    def sync(self, device: str, up: int, down: int) -> None:
        t1 = self.now
        t2 = t1 + up - self.offsets[device]
        sample = SyncSample(t1, t2, t2 + 20, t1 + up + down + 20)
        self.now = t1 + up + down + 20
        self.send(SyncIn(device=device, boot=self.boots[device], sample=sample))

    @rule(device=st.sampled_from(DEVICES), reboot=st.booleans())
    def hello(self, device: str, reboot: bool) -> None:
        if reboot:
            self.boots[device] += 1
            self.seqs[device] = 0
        self.send(DeviceHello(device=device, boot=self.boots[device], fw="1"))

    @rule(team=st.sampled_from(TEAMS), data=st.data())
    def answer(self, team: str, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["choice", "value", "text"]))
        value: Any = {"choice": st.integers(-1, 3), "value": st.integers(0, 100).map(float),
                      "text": st.sampled_from(["7", "", "x" * 3])}[kind]
        self.now += data.draw(st.integers(0, 3_000_000))
        self.send(Answer(team=team, arrival_us=self.now, **{kind: data.draw(value)}))

    # ------------------------------------------------------------------ host

    @rule(index=st.none() | st.integers(0, 4))
    def show(self, index: int | None) -> None:
        self.send(ShowQuestion(index=index, now_us=self.now))

    @rule(grace=st.none() | st.sampled_from([0, 10_000]))
    def arm(self, grace: int | None) -> None:
        self.send(Arm(grace_us=grace, now_us=self.now))

    @rule(correct=st.booleans(), team=st.none() | st.sampled_from(TEAMS))
    def judge(self, correct: bool, team: str | None) -> None:
        self.send(Judge(correct=correct, team=team))

    @rule(command=st.sampled_from([Reveal, Next, Skip, Undo, Pause, Resume]))
    def host(self, command: type[Input]) -> None:
        self.send(command(now_us=self.now))  # type: ignore[call-arg]

    @rule(data=st.data())
    def play_on(self, data: st.DataObject) -> None:  # noqa: C901 - one branch per phase
        """What a quiz master would do next; without it most random inputs land in the wrong phase."""
        game = self.drv.game
        phase = game.phase
        question = game.question()
        play = game._play
        if game._undo and data.draw(st.integers(0, 4)) == 0:  # hosts do change their minds
            self.send(Undo(now_us=self.now))
        elif phase is Phase.LOBBY:
            self.send(ShowQuestion(now_us=self.now))
        elif phase is Phase.QUESTION:
            self.arm(None)
        elif phase is Phase.ARMED and question is not None and question.kind is QuestionKind.BUZZER:
            self.race(data.draw(st.lists(st.tuples(st.sampled_from(DEVICES[:5]), st.integers(0, 3_000),
                                                   st.integers(0, 2_000)), min_size=1, max_size=4)),
                      data.draw(st.integers(60_000, 3_000_000)))
            self.wake_at_deadline() if game.next_deadline_us() is not None else None
        elif phase is Phase.ARMED:
            for team in data.draw(st.lists(st.sampled_from(TEAMS), max_size=4)):
                self.answer(team, data)
        elif phase is Phase.BUZZED and play is not None and play.ruling is not None:
            team = play.answering or data.draw(st.sampled_from([r.team for r in play.ruling.order]))
            self.send(Judge(correct=data.draw(st.booleans()), team=team, now_us=self.now))
        elif phase is Phase.CLOSED and play is not None and play.answers and question is not None \
                and question.kind is QuestionKind.OPEN_TEXT:
            self.send(Judge(correct=data.draw(st.booleans()), team=data.draw(st.sampled_from(sorted(play.answers)))))
        elif phase in {Phase.CLOSED, Phase.JUDGED}:
            self.send(Reveal(now_us=self.now))
        elif phase is Phase.REVEALED:
            self.send(Next(now_us=self.now))
        elif phase is Phase.PAUSED:
            self.send(Resume(now_us=self.now))

    # Rules are drawn uniformly: two more entries make the quiz master act about a fifth of the time.
    @rule(data=st.data())
    def play_on_again(self, data: st.DataObject) -> None:
        self.play_on(data)

    @rule(data=st.data())
    def play_on_more(self, data: st.DataObject) -> None:
        self.play_on(data)

    @precondition(lambda self: self.checked > 30)  # ending early would leave most runs with nothing to play
    @rule()
    def end(self) -> None:
        self.send(End())

    @rule(team=st.sampled_from(TEAMS), delta=st.integers(-5, 5))
    def adjust(self, team: str, delta: int) -> None:
        self.send(AdjustScore(team=team, delta=delta, reason="host"))

    @rule(action=st.sampled_from(["add", "remove", "pair", "unpair"]), team=st.sampled_from(TEAMS),
          device=st.sampled_from(DEVICES))
    def registry(self, action: str, team: str, device: str) -> None:
        inp: Input = {
            "add": AddTeam(team=team, name=team),
            "remove": RemoveTeam(team=team),
            "pair": PairDevice(device=device, team=team),
            "unpair": UnpairDevice(device=device),
        }[action]
        self.send(inp)

    @rule(presses=st.lists(st.tuples(st.sampled_from(DEVICES), st.integers(0, 3_000), st.integers(0, 2_000)),
                           min_size=2, max_size=5), after=st.integers(0, 2_000_000))
    def race(self, presses: list[tuple[str, int, int]], after: int = 100_000) -> None:
        """Near-simultaneous presses (µs apart), the case the arbiter exists for, `after` µs from now."""
        base = self.now + after
        for device, when, delay in sorted(presses, key=lambda p: p[1] + p[2]):
            self.seqs[device] += 1
            t_dev = float(base + when - self.offsets[device])
            self.now = max(self.now, base + when + delay)
            self.send(BuzzIn(device=device, boot=self.boots[device], seq=self.seqs[device], t_dev=t_dev,
                             arrival_us=self.now))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def never_in_error(self) -> None:
        assert self.drv.game.phase is not Phase.ERROR

    @invariant()
    def scores_are_the_fold_of_the_log(self) -> None:
        assert self.drv.game.scores == self.model_scores

    @invariant()
    def at_most_one_right_answer_per_buzzer_question(self) -> None:
        play = self.drv.game._play
        if play is not None and play.kind is QuestionKind.BUZZER:
            assert sum(play.judged.values()) <= 1
            assert {team for team, right in play.judged.items() if not right} <= play.locked_out

    @invariant()
    def replay_reproduces_the_state(self) -> None:
        self.checked += 1
        if self.checked % 7 == 0:  # replay is O(log); every 7th step keeps the machine fast
            assert fingerprint(self.drv.replayed()) == fingerprint(self.drv.game)

    def teardown(self) -> None:
        if hasattr(self, "drv"):
            assert fingerprint(self.drv.replayed()) == fingerprint(self.drv.game)


class GameMachine(_Machine):
    """Any quiz: every question kind, every input."""

    @initialize(quiz=quizzes, cfg=game_settings, n_teams=st.integers(2, 4), offsets=offset_lists,
                synced=st.sets(st.sampled_from(DEVICES)))
    def init(self, quiz: Quiz, cfg: GameSettings, n_teams: int, offsets: list[int], synced: set[str]) -> None:
        self.start(quiz, cfg, n_teams, offsets, synced)


class BuzzerMachine(_Machine):
    """Buzzer questions only, so most steps exercise arbitration, lockouts, judgement and undo."""

    @initialize(quiz=st.lists(buzzer_questions, min_size=3, max_size=6).map(lambda qs: Quiz(tuple(qs))),
                cfg=game_settings, n_teams=st.integers(2, 4), offsets=offset_lists,
                synced=st.sets(st.sampled_from(DEVICES)))
    def init(self, quiz: Quiz, cfg: GameSettings, n_teams: int, offsets: list[int], synced: set[str]) -> None:
        self.start(quiz, cfg, n_teams, offsets, synced)


_SETTINGS = settings(
    max_examples=120, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
GameMachine.TestCase.settings = _SETTINGS
BuzzerMachine.TestCase.settings = _SETTINGS
TestGameMachine = GameMachine.TestCase
TestBuzzerMachine = BuzzerMachine.TestCase


@settings(max_examples=150, deadline=None)
@given(
    presses=st.lists(
        st.tuples(st.sampled_from(DEVICES[:5]), st.integers(0, 20_000), st.integers(200, 900)),
        min_size=1, max_size=6,
    ),
    order=st.randoms(use_true_random=False),
    tie_rule=st.sampled_from(list(TieRule)),
)
def test_the_ruling_does_not_depend_on_the_order_inputs_arrive_in(
    presses: list[tuple[str, int, int]], order: Any, tie_rule: TieRule
) -> None:
    """Same presses (same device times, same arrival stamps) fed in any order: the same ruling."""
    cfg = GameSettings(arbitration=ArbitrationSettings(tie_rule=tie_rule, grace_us=40_000))
    rulings = []
    for shuffle in (False, True):
        drv = Driver(Quiz((Question("q", answer="x"),)), cfg)
        for i, team in enumerate(TEAMS):
            drv(AddTeam(team=team, name=team))
            drv(PairDevice(device=f"d{i}", team=team))
        drv(PairDevice(device="d4", team="t0"))
        for device in DEVICES[:5]:
            for at in (0, 300_000):  # 500 µs each way, device clock = hub clock - 1 s
                drv(SyncIn(device=device, boot=1, sample=SyncSample(at, at - 999_500, at - 999_490, at + 1_010)))
        drv(ShowQuestion(now_us=900_000))
        drv(Arm(now_us=1_000_000))
        inputs = [
            BuzzIn(device=device, boot=1, seq=n, t_dev=float(1_100_000 + when - 1_000_000),
                   arrival_us=1_100_000 + when + delay)
            for n, (device, when, delay) in enumerate(presses)
        ]
        if shuffle:
            order.shuffle(inputs)
        for inp in inputs:
            drv(inp)
        drv(Tick(now_us=1_200_000))
        ruled = [e for e in drv.log if isinstance(e, BuzzRuled)]
        assert len(ruled) == 1
        rulings.append(dataclasses.replace(ruled[0], at_us=0))
    assert rulings[0] == rulings[1]
