"""The arbiter: who buzzed first in one armed question, with the gap and how sure we are.

Theory of operation
-------------------
One ``Arbiter`` per armed question (a re-opened question after a wrong answer is a new ``Arbiter`` with that team
in ``excluded_teams``). The caller maps each press's device time onto the hub clock with the device's
``ClockModel`` and hands in a ``Press``; time passes in through ``tick(now_us)``. Nothing here reads a clock.

1. **Credit.** A press is credited at ``max(t_hub_us, arrival_us - one_way_bound_us)``: never earlier than its
   arrival minus the longest upward delay measured for that sender. A forged early timestamp therefore gains at
   most the sender's own measured latency (no time travel).
2. **False start.** A press credited before ``armed_at_us`` is a false start, handled per ``FalseStartRule``:
   ``IGNORE`` drops the press and nothing else; ``LOCKOUT`` excludes the team for the rest of this question (even a
   valid press of that team already in the window stops counting, so the ruling does not depend on which of the
   two arrived first); ``PENALTY`` drops the press and flags penalty points for the game to apply, the team may
   still buzz.
3. **Window.** The earliest arrival among the valid presses opens a grace window of ``grace_us``; ``tick`` rules
   once ``now >= that arrival + grace``. A press with an earlier credited time still gets in if it arrives within
   the window, so the grace should cover the slowest sender's upward delay (``grace_for`` derives it from the
   clock models' ``one_way_bound_us``). With such a grace, a press arriving after the ruling is credited after the
   first (``LatePress.beats_winner`` is set only when the grace was shorter than its bound); its own mapped time may
   still claim earlier (a buzz resent after loss, a tail delay, or a forgery): ``claims_earlier`` tells the host.
4. **Order.** Per team the earliest credited press counts (one buzz per team; a team's later-credited presses are
   ``SecondPressIgnored``). Teams are ranked by credited time, ties broken by ``(device, boot, seq)``, so the
   ruling is a function of the *set* of presses in the window, never of their arrival order.
5. **Too close.** If a press's gap to the first is smaller than their combined uncertainty ``u1 + u2``, the
   order between them is not known. A press the no-time-travel rule moved later (its mapped time claims earlier
   than its arrival allows) may have been honest but slow beyond its measured bound, so on its early side its
   uncertainty also counts the amount it was moved, capped at its own one-way bound: a tail delay turns a
   confident wrong ruling into "too close", and a forger gains at most a review within its own latency.
   ``TieRule.HOST`` leaves the winner to the host (``needs_host``), ``EARLIEST`` takes the earliest credited anyway,
   ``RANDOM`` draws among the first and every press too close to it, deterministically from ``seed`` (same inputs,
   same draw; replayable from the log).

Presses after the ruling are still classified (duplicate, excluded, false start, second press) and otherwise
recorded as ``LatePress`` with the gap to the winner, for the timeline.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hub.core.clock import ClockModel

__all__ = [
    "Arbiter",
    "ArbiterEvent",
    "ArbiterUsageError",
    "ArbitrationSettings",
    "DecidedBy",
    "DuplicatePress",
    "ExcludedPress",
    "FalseStart",
    "FalseStartRule",
    "LatePress",
    "Press",
    "PressAccepted",
    "RankedPress",
    "Ruling",
    "SecondPressIgnored",
    "TieRule",
    "early_slack",
    "grace_for",
    "make_press",
]

# The largest grace window we accept: beyond this a human notices the wait, and a bound this large means the
# caller passed milliseconds where µs were expected.
MAX_GRACE_US = 2_000_000


class ArbiterUsageError(ValueError):
    """The caller (hub/game code) built an invalid press or setting, or used the arbiter wrongly: our bug."""


class TieRule(StrEnum):
    """Who wins when the first two are within their combined uncertainty."""

    HOST = "host"
    EARLIEST = "earliest"
    RANDOM = "random"


class FalseStartRule(StrEnum):
    """What a press credited before the arm time does."""

    IGNORE = "ignore"
    LOCKOUT = "lockout"
    PENALTY = "penalty"


class DecidedBy(StrEnum):
    """How a ruling's winner was chosen."""

    CLEAR = "clear"  # one press, or the gap exceeds the combined uncertainty
    HOST = "host"  # too close; the host decides (winner is None)
    EARLIEST = "earliest"  # too close; earliest credited time taken anyway
    RANDOM = "random"  # too close; seeded draw among the too-close group


def _check_finite(what: str, value: float) -> None:
    if not math.isfinite(value):
        raise ArbiterUsageError(f"{what}={value!r} is not a finite number")


@dataclass(frozen=True, slots=True)
class ArbitrationSettings:
    grace_us: int = 30_000
    tie_rule: TieRule = TieRule.HOST
    false_start: FalseStartRule = FalseStartRule.LOCKOUT
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.grace_us <= MAX_GRACE_US:
            raise ArbiterUsageError(f"grace_us={self.grace_us} must be within 0..{MAX_GRACE_US} µs")
        if not isinstance(self.tie_rule, TieRule):
            raise ArbiterUsageError(f"tie_rule={self.tie_rule!r} is not a TieRule")
        if not isinstance(self.false_start, FalseStartRule):
            raise ArbiterUsageError(f"false_start={self.false_start!r} is not a FalseStartRule")


@dataclass(frozen=True, slots=True)
class Press:
    """One buzz as the arbiter sees it. ``t_hub_us``/``uncertainty_us`` come from the device's clock model,
    ``arrival_us`` is the hub time the buzz arrived, ``raw_t`` the device's own timestamp (kept for the log)."""

    device: str
    team: str
    boot: int
    seq: int
    t_hub_us: float
    uncertainty_us: float
    arrival_us: int
    one_way_bound_us: float
    raw_t: float
    # No time travel: never earlier than arrival minus the sender's measured upward-delay bound. Derived once
    # here because ranking reads it many times.
    credited_us: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.device:
            raise ArbiterUsageError("press without a device id")
        if not self.team:
            raise ArbiterUsageError(f"press from device {self.device!r} has no team (pair the device first)")
        if self.boot < 0 or self.seq < 0:
            raise ArbiterUsageError(f"press from {self.device!r}: boot={self.boot}, seq={self.seq} must be >= 0")
        _check_finite("t_hub_us", self.t_hub_us)
        _check_finite("raw_t", self.raw_t)
        for name in ("uncertainty_us", "one_way_bound_us"):
            value = getattr(self, name)
            _check_finite(name, value)
            if value < 0:
                raise ArbiterUsageError(f"press from {self.device!r}: {name}={value} must be >= 0")
        object.__setattr__(self, "credited_us", float(max(self.t_hub_us, self.arrival_us - self.one_way_bound_us)))

    @property
    def key(self) -> tuple[str, int, int]:
        """Identity of a buzz: QoS 1 may deliver the same one twice."""
        return (self.device, self.boot, self.seq)


def make_press(
    *, device: str, team: str, boot: int, seq: int, raw_t: float, arrival_us: int, clock: ClockModel
) -> Press:
    """Build a ``Press`` by mapping the device's timestamp through its clock model (raises ``NotSyncedError``)."""
    mapped = clock.to_hub(raw_t)
    return Press(
        device=device,
        team=team,
        boot=boot,
        seq=seq,
        t_hub_us=mapped.t_hub_us,
        uncertainty_us=mapped.uncertainty_us,
        arrival_us=arrival_us,
        one_way_bound_us=clock.one_way_bound_us,
        raw_t=raw_t,
    )


def grace_for(one_way_bounds_us: Iterable[float], *, floor_us: int = 20_000, cap_us: int = 250_000) -> int:
    """A grace window covering the slowest sender's measured upward delay, within ``[floor_us, cap_us]``."""
    longest = max((b for b in one_way_bounds_us if math.isfinite(b)), default=0.0)
    return int(min(cap_us, max(floor_us, math.ceil(longest))))


@dataclass(frozen=True, slots=True)
class RankedPress:
    press: Press
    credited_us: float
    gap_us: float  # credited time minus the first's credited time

    def __post_init__(self) -> None:
        _check_finite("credited_us", self.credited_us)
        if not (math.isfinite(self.gap_us) and self.gap_us >= 0):
            raise ArbiterUsageError(f"ranked gap {self.gap_us!r} must be >= 0 (an arbiter bug)")


@dataclass(frozen=True, slots=True)
class Ruling:
    winner_team: str | None
    winner_device: str | None
    order: tuple[RankedPress, ...]
    too_close: bool
    needs_host: bool
    decided_by: str

    def __post_init__(self) -> None:
        if not self.order:
            raise ArbiterUsageError("a ruling needs at least one press (an arbiter bug)")
        if (self.winner_team is None) != (self.winner_device is None):
            raise ArbiterUsageError("winner team and device must both be set or both be None (an arbiter bug)")
        if self.needs_host != (self.winner_team is None):
            raise ArbiterUsageError("exactly the rulings without a winner need the host (an arbiter bug)")
        if self.winner_team is not None and not any(
            r.press.team == self.winner_team and r.press.device == self.winner_device for r in self.order
        ):
            raise ArbiterUsageError(f"winner {self.winner_device!r} is not in the order (an arbiter bug)")
        if len({r.press.team for r in self.order}) != len(self.order):
            raise ArbiterUsageError("a team appears twice in a ruling's order (an arbiter bug)")
        if self.decided_by not in DecidedBy.__members__.values():
            raise ArbiterUsageError(f"decided_by={self.decided_by!r} is not a DecidedBy value")

    @property
    def winner(self) -> RankedPress | None:
        for r in self.order:
            if r.press.team == self.winner_team and r.press.device == self.winner_device:
                return r
        return None


def _check_credit(event: str, press: Press, credited_us: float) -> None:
    if credited_us != press.credited_us:
        raise ArbiterUsageError(f"{event} credits {credited_us} but its press is credited {press.credited_us}")


@dataclass(frozen=True, slots=True)
class PressAccepted:
    """The press is in the window (the ruling, not this event, says who won)."""

    press: Press
    credited_us: float

    def __post_init__(self) -> None:
        _check_credit("PressAccepted", self.press, self.credited_us)


@dataclass(frozen=True, slots=True)
class FalseStart:
    """A press credited before the arm time. ``rule`` says what follows; ``penalty`` asks the game for points off."""

    press: Press
    team: str
    rule: FalseStartRule
    credited_us: float
    early_by_us: float

    @property
    def penalty(self) -> bool:
        return self.rule is FalseStartRule.PENALTY

    @property
    def locks_out(self) -> bool:
        return self.rule is FalseStartRule.LOCKOUT

    def __post_init__(self) -> None:
        if self.team != self.press.team:
            raise ArbiterUsageError("false start names a different team than its press (an arbiter bug)")
        _check_credit("FalseStart", self.press, self.credited_us)
        if self.early_by_us <= 0:
            raise ArbiterUsageError(f"false start early_by_us={self.early_by_us} must be > 0 (an arbiter bug)")


@dataclass(frozen=True, slots=True)
class DuplicatePress:
    """Same ``(device, boot, seq)`` as a press already seen (QoS 1 redelivery): ignored."""

    press: Press


@dataclass(frozen=True, slots=True)
class ExcludedPress:
    """The press's team is locked out of this question (wrong answer earlier, or a false start)."""

    press: Press
    team: str

    def __post_init__(self) -> None:
        if self.team != self.press.team:
            raise ArbiterUsageError("excluded press names a different team than its press (an arbiter bug)")


@dataclass(frozen=True, slots=True)
class SecondPressIgnored:
    """The team already has an earlier-credited press (``kept``); one buzz per team."""

    press: Press
    kept: Press

    def __post_init__(self) -> None:
        if self.press.team != self.kept.team:
            raise ArbiterUsageError("second press and kept press belong to different teams (an arbiter bug)")
        if self.press.key == self.kept.key:
            raise ArbiterUsageError("a press cannot be the second press of itself (an arbiter bug)")


@dataclass(frozen=True, slots=True)
class LatePress:
    """Arrived after the ruling; ``gap_us`` is its credited time minus the winner's (or the first's)."""

    press: Press
    credited_us: float
    gap_us: float
    beats_winner: bool  # credited earlier than the ruling's first: the host may want to review
    # the device's own mapped time says it pressed before the ruling's first, but it arrived too late to be credited
    # so (a buzz resent after loss, a tail delay, or a forgery): evidence for the host, never a changed ruling
    claims_earlier: bool = False

    def __post_init__(self) -> None:
        _check_credit("LatePress", self.press, self.credited_us)
        _check_finite("gap_us", self.gap_us)


ArbiterEvent = PressAccepted | FalseStart | DuplicatePress | ExcludedPress | SecondPressIgnored | LatePress | Ruling


def _rank_key(p: Press) -> tuple[float, str, int, int]:
    # arrival order never enters: ties on credited time fall back to the press identity
    return (p.credited_us, p.device, p.boot, p.seq)


def early_slack(p: Press) -> float:
    """How much earlier than its credited time the press may truly have been: its clock uncertainty, plus the
    amount the no-time-travel rule moved it, capped at the sender's own one-way bound."""
    return p.uncertainty_us + min(p.credited_us - p.t_hub_us, p.one_way_bound_us)


def _draw(seed: int, armed_at_us: int, group: list[Press]) -> int:
    """A deterministic index into ``group`` from the seed (blake2b: stable across processes, unlike ``hash``)."""
    material = f"{seed}|{armed_at_us}|" + "|".join(f"{p.device}/{p.boot}/{p.seq}" for p in group)
    digest = hashlib.blake2b(material.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % len(group)


@dataclass(slots=True)
class _State:
    seen: set[tuple[str, int, int]] = field(default_factory=set)
    best: dict[str, Press] = field(default_factory=dict)  # team -> earliest-credited valid press
    locked: set[str] = field(default_factory=set)  # teams locked out by a false start in this question
    first_arrival: dict[str, int] = field(default_factory=dict)  # team -> earliest arrival of its valid presses


class Arbiter:
    """Collects the presses of one armed question and rules once the grace window after the first has passed."""

    def __init__(
        self, armed_at_us: int, settings: ArbitrationSettings, excluded_teams: frozenset[str] = frozenset()
    ) -> None:
        self._armed_at = armed_at_us
        self._settings = settings
        self._excluded = frozenset(excluded_teams)
        self._st = _State()
        self._ruling: Ruling | None = None
        self._window_start: int | None = None  # earliest arrival among valid presses of teams still in

    @property
    def armed_at_us(self) -> int:
        return self._armed_at

    @property
    def settings(self) -> ArbitrationSettings:
        return self._settings

    @property
    def excluded_teams(self) -> frozenset[str]:
        """Teams that cannot win this question: the ones passed in plus any locked out by a false start."""
        return self._excluded | self._st.locked

    @property
    def ruled(self) -> bool:
        return self._ruling is not None

    @property
    def ruling(self) -> Ruling | None:
        return self._ruling

    def deadline_us(self) -> int | None:
        """When ``tick`` must next be called (None: nothing pending)."""
        if self._ruling is not None or self._window_start is None:
            return None
        return self._window_start + self._settings.grace_us

    def tick(self, now_us: int) -> list[ArbiterEvent]:
        """Let time pass: returns ``[Ruling]`` once the grace window has ended, else ``[]``."""
        deadline = self.deadline_us()
        if deadline is None or now_us < deadline:
            return []
        self._ruling = self._rule()
        return [self._ruling]

    def press(self, p: Press) -> list[ArbiterEvent]:
        """Take one press; its arrival time also moves time forward (rules first if the window already ended)."""
        events: list[ArbiterEvent] = self.tick(p.arrival_us)
        st = self._st
        if p.key in st.seen:
            events.append(DuplicatePress(p))
        elif p.team in self._excluded or p.team in st.locked:
            st.seen.add(p.key)
            events.append(ExcludedPress(p, p.team))
        elif p.credited_us < self._armed_at:
            st.seen.add(p.key)
            events.append(self._false_start(p))
        elif self._ruling is not None:
            st.seen.add(p.key)
            events.append(self._late(p))
        else:
            st.seen.add(p.key)
            events.extend(self._in_window(p))
        return events

    def _false_start(self, p: Press) -> FalseStart:
        st = self._st
        rule = self._settings.false_start
        if rule is FalseStartRule.LOCKOUT:
            st.locked.add(p.team)
            if self._ruling is None and st.best.pop(p.team, None) is not None:
                # a lock-out outranks the team's valid press, whichever came first; the window then opens at the
                # earliest arrival of the teams still in
                del st.first_arrival[p.team]
                self._window_start = min(st.first_arrival.values(), default=None)
        return FalseStart(p, p.team, rule, p.credited_us, self._armed_at - p.credited_us)

    def _in_window(self, p: Press) -> list[ArbiterEvent]:
        st = self._st
        # the window opens at the earliest arrival of any valid press, including ones a team's earlier-credited
        # press later replaces, so the deadline does not depend on which of the two came first
        if p.arrival_us < st.first_arrival.get(p.team, p.arrival_us + 1):
            st.first_arrival[p.team] = p.arrival_us
        if self._window_start is None or p.arrival_us < self._window_start:
            self._window_start = p.arrival_us
        kept = st.best.get(p.team)
        if kept is None:
            st.best[p.team] = p
            return [PressAccepted(p, p.credited_us)]
        if _rank_key(p) < _rank_key(kept):
            st.best[p.team] = p
            return [PressAccepted(p, p.credited_us), SecondPressIgnored(kept, p)]
        return [SecondPressIgnored(p, kept)]

    def _late(self, p: Press) -> ArbiterEvent:
        ruling = self._ruling
        assert ruling is not None
        same_team = next((r.press for r in ruling.order if r.press.team == p.team), None)
        if same_team is not None:
            return SecondPressIgnored(p, same_team)
        ref = ruling.winner or ruling.order[0]
        credited = p.credited_us
        first = ruling.order[0].credited_us
        claims = p.t_hub_us + p.uncertainty_us < first
        return LatePress(p, credited, credited - ref.credited_us, credited < first, claims_earlier=claims)

    def _rule(self) -> Ruling:
        presses = sorted(self._st.best.values(), key=_rank_key)
        first = presses[0]
        t0 = first.credited_us
        order = tuple(RankedPress(p, p.credited_us, p.credited_us - t0) for p in presses)
        group = [first] + [p for p in presses[1:] if p.credited_us - t0 < first.uncertainty_us + early_slack(p)]
        too_close = len(group) > 1
        if not too_close:
            return Ruling(
                first.team, first.device, order, too_close=False, needs_host=False, decided_by=DecidedBy.CLEAR
            )
        rule = self._settings.tie_rule
        if rule is TieRule.HOST:
            return Ruling(None, None, order, too_close=True, needs_host=True, decided_by=DecidedBy.HOST)
        if rule is TieRule.EARLIEST:
            return Ruling(
                first.team, first.device, order, too_close=True, needs_host=False, decided_by=DecidedBy.EARLIEST
            )
        pick = group[_draw(self._settings.seed, self._armed_at, group)]
        return Ruling(pick.team, pick.device, order, too_close=True, needs_host=False, decided_by=DecidedBy.RANDOM)
