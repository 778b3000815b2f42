"""Per-device clock model: map a device's microsecond clock onto the hub's clock, with a stated error bound.

Theory of operation
-------------------
The hub pings a device and gets one *sample* back: ``t1`` (hub clock, ping sent), ``t2`` (device clock, ping
received), ``t3`` (device clock, reply sent), ``t4`` (hub clock, reply received). Write the device clock's offset
from the hub as a line over device time, ``hub = dev + off(dev)`` with ``off(x) = a + s * x`` (``a`` an offset in
µs, ``s`` the relative rate in ppm; constant drift over the sample window is the one modelling assumption).

Every sample is two *hard* facts, whatever the network did, because a message cannot arrive before it was sent:

* the ping arrived after it left the hub:   ``t2 + off(t2) >= t1``
* the reply left before it reached the hub: ``t3 + off(t3) <= t4``

With the drift limit ``|s| <= max_drift_ppm`` these are half-planes in the ``(a, s)`` plane. Their intersection (a
small convex polygon, kept incrementally) is the set of every clock line consistent with everything seen. Mapping a
device time ``x`` evaluates every vertex: the hub time is the middle of the range ``[min, max]`` of ``x + off(x)``
and the uncertainty is half its width. That range is a *guaranteed* bound, not a statistical one: the true line is
in the polygon, so the true hub time is in the range, as long as

1. the device clock is linear over the window (crystal drift changes far slower than the window), and
2. timestamps are truthful to within ``resolution_us`` (integer-µs truncation; browsers' coarsened
   ``performance.now()`` needs a larger value).

Nothing assumes symmetric path delays. Asymmetry is what the bound is made of: the fastest ping sets the lower
edge, the fastest reply sets the upper one, so the width at a sample's time is at most the best round-trip
(``uncertainty <= best_rtt / 2`` there) and shrinks further when the fastest ping and the fastest reply happened in
different samples. Away from the samples the bound grows with the polygon's spread of drift (at most
``max_drift_ppm`` per second before a second sample pins the drift down).

Only samples with small round-trips ever become edges of the polygon, so this is "fit over the samples with the
smallest round-trips" without choosing a fraction: a slow sample's half-planes are implied by a fast one's.

The model keeps the newest ``window`` samples. If a new sample contradicts the window (the polygon would be empty:
a clock step, a drift change, a lying device), the model keeps the newest samples that agree and counts the rest in
``discarded``. A device reboot (its ``boot`` counter changes) starts a new clock: the caller must ``reset()``.

Float care: device times start near 0 at boot but hub times may be ~1e15 µs. All geometry runs relative to a
reference (device time and offset of a recent sample), in seconds x ppm, so the numbers stay near 1e0..1e6.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = [
    "BadSampleError",
    "ClockError",
    "ClockModel",
    "MappedTime",
    "NotSyncedError",
    "SyncSample",
]

# A lower edge and an upper edge per sample; box edges (drift limits, the initial offset box) get negative labels.
_BOX_LABEL = -1
# The initial offset box in µs around the reference; any real sample cuts far inside it.
_OFFSET_BOX_US = 1e12
# Evaluating a clipping half-plane: points within this many µs count as on the edge (keeps degenerate
# polygons, e.g. when two samples pin the same line, from vanishing by rounding).
_ON_EDGE_US = 1e-6


class ClockError(Exception):
    """Base of this module's errors."""


class BadSampleError(ClockError, ValueError):
    """A sync reply that cannot be true: the device (or the adapter's conversion) is at fault."""


class NotSyncedError(ClockError):
    """The caller asked for a mapping before the device answered any ping (the caller's fault)."""


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise BadSampleError(f"sync sample {name}={value!r} is not a finite number")


@dataclass(frozen=True, slots=True)
class SyncSample:
    """One ping: ``t1``/``t4`` hub µs (sent/received), ``t2``/``t3`` device µs (received/replied).

    Browsers report milliseconds; the adapter multiplies by 1000 before building the sample.
    """

    t1: float
    t2: float
    t3: float
    t4: float

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t3", "t4"):
            _finite(name, getattr(self, name))
        if self.t4 < self.t1:
            raise BadSampleError(
                f"sync sample received before it was sent on the hub clock (t1={self.t1}, t4={self.t4}): "
                "the hub adapter mixed up its timestamps"
            )
        if self.t3 < self.t2:
            raise BadSampleError(
                f"device replied before it received the ping (t2={self.t2}, t3={self.t3}): "
                "the device's timestamps are wrong"
            )

    @property
    def rtt_us(self) -> float:
        """Network round-trip: hub-measured span minus the device's own processing time."""
        return max(0.0, (self.t4 - self.t1) - (self.t3 - self.t2))


@dataclass(frozen=True, slots=True)
class MappedTime:
    """A device time mapped onto the hub clock: the true hub time is within ``± uncertainty_us`` of ``t_hub_us``."""

    t_hub_us: float
    uncertainty_us: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.t_hub_us):
            raise ValueError(f"mapped time {self.t_hub_us!r} is not finite (a clock model bug)")
        if not (math.isfinite(self.uncertainty_us) and self.uncertainty_us >= 0):
            raise ValueError(f"uncertainty {self.uncertainty_us!r} must be finite and >= 0 (a clock model bug)")


def _device_drift_ppm(s_ppm: float) -> float:
    """The offset's slope ``s`` (d hub / d dev = 1 + s, ppm) as the device's rate error (d dev / d hub = 1 + drift)."""
    return (1.0 / (1.0 + s_ppm * 1e-6) - 1.0) * 1e6


@dataclass(frozen=True, slots=True)
class _HalfPlane:
    """``pa * a + ps * s <= c``, labelled by the sample (and side) that made it."""

    pa: float
    ps: float
    c: float
    label: int


# A vertex (a, s) and the label of the edge that leaves it (towards the next vertex, counter-clockwise).
_Vertex = tuple[float, float, int]


def _clip(poly: list[_Vertex], h: _HalfPlane) -> list[_Vertex]:
    """Sutherland-Hodgman for one half-plane on a convex polygon, keeping which constraint made each edge."""
    n = len(poly)
    if n == 0:
        return poly
    vals = [h.pa * a + h.ps * s - h.c for a, s, _ in poly]
    if all(v <= _ON_EDGE_US for v in vals):
        return poly  # redundant constraint: the polygon (and its edge labels) is unchanged
    out: list[_Vertex] = []
    for i in range(n):
        a0, s0, lab = poly[i]
        a1, s1, _ = poly[(i + 1) % n]
        v0, v1 = vals[i], vals[(i + 1) % n]
        in0, in1 = v0 <= _ON_EDGE_US, v1 <= _ON_EDGE_US
        if in0:
            out.append((a0, s0, lab))
        if in0 != in1:
            t = v0 / (v0 - v1)
            # leaving: the edge from here on runs along the new constraint; entering: along the old edge
            out.append((a0 + t * (a1 - a0), s0 + t * (s1 - s0), h.label if in0 else lab))
    return out


@dataclass(frozen=True, slots=True)
class _Stored:
    sample: SyncSample
    number: int  # running count, so half-plane labels stay unique across rebuilds


class ClockModel:
    """Offset and drift of one device clock (one ``boot``) relative to the hub, with a guaranteed error bound.

    ``window``: samples kept (older ones stop constraining, so slow drift changes are followed).
    ``max_drift_ppm``: the largest clock-rate difference to allow before two samples measure it.
    ``resolution_us``: how coarse the device's timestamps are (1 for µs counters, ~100-1000 for browsers).
    """

    def __init__(self, *, window: int = 64, max_drift_ppm: float = 200.0, resolution_us: float = 1.0) -> None:
        if window < 2:
            raise ValueError(f"window={window} must keep at least 2 samples to measure drift (caller's setting)")
        if not (math.isfinite(max_drift_ppm) and max_drift_ppm > 0):
            raise ValueError(f"max_drift_ppm={max_drift_ppm!r} must be a positive number (caller's setting)")
        if not (math.isfinite(resolution_us) and resolution_us >= 0):
            raise ValueError(f"resolution_us={resolution_us!r} must be >= 0 (caller's setting)")
        self._window = window
        # +1 ppm so the 1/(1+d) non-linearity and rounding never push the true line outside the box
        self._max_s = max_drift_ppm + 1.0
        # device truncation plus the hub's own integer-µs truncation
        self._slack = resolution_us + 1.0
        self._samples: deque[_Stored] = deque()
        self._count = 0
        self._discarded = 0
        self._poly: list[_Vertex] = []
        self._ref_x = 0.0  # device µs
        self._ref_off = 0.0  # hub - device µs
        self._adds_since_rebuild = 0
        self._rtt_range = (0.0, 0.0)  # (best, worst) round trip in the window, refreshed on every add

    # ------------------------------------------------------------------ inputs

    def reset(self) -> None:
        """Forget everything: call when the device's ``boot`` counter changes (its clock restarted)."""
        self._samples.clear()
        self._poly = []
        self._adds_since_rebuild = 0
        self._discarded = 0

    def add_sample(self, s: SyncSample) -> None:
        """Take one ping's four timestamps into the model."""
        self._count += 1
        stored = _Stored(s, self._count)
        self._samples.append(stored)
        dropped: _Stored | None = None
        if len(self._samples) > self._window:
            dropped = self._samples.popleft()
        self._adds_since_rebuild += 1
        needs_rebuild = (
            not self._poly
            or self._adds_since_rebuild >= self._window  # keep the reference near the data
            or (dropped is not None and self._is_active(dropped.number))
        )
        poly = self._poly
        if not needs_rebuild:
            for h in self._half_planes(stored):
                poly = _clip(poly, h)
        if poly and not needs_rebuild:
            self._poly = poly
        else:
            self._rebuild()
        rtts = [st.sample.rtt_us for st in self._samples]
        self._rtt_range = (min(rtts), max(rtts))

    # ------------------------------------------------------------------ outputs

    @property
    def synced(self) -> bool:
        """True once at least one sample constrains the model."""
        return bool(self._poly)

    @property
    def samples(self) -> int:
        """Samples currently constraining the model (at most ``window``)."""
        return len(self._samples) if self._poly else 0

    @property
    def discarded(self) -> int:
        """Samples dropped because they contradicted newer ones since the last reset."""
        return self._discarded

    def to_hub(self, t_dev: float) -> MappedTime:
        """Map a device time (µs) to hub µs; the true hub time lies within the returned uncertainty."""
        if not self._poly:
            raise NotSyncedError("no sync sample from this device yet: ping it before mapping its presses")
        if not math.isfinite(t_dev):
            raise BadSampleError(f"device time {t_dev!r} is not a finite number")
        lo, hi = self._range(t_dev)
        return MappedTime(t_hub_us=t_dev + self._ref_off + (lo + hi) / 2, uncertainty_us=(hi - lo) / 2)

    @property
    def offset_us(self) -> float:
        """Hub minus device clock (µs) at the newest sample (middle of the feasible range)."""
        self._require_synced()
        x = self._newest().t3
        lo, hi = self._range(x)
        return self._ref_off + (lo + hi) / 2

    @property
    def drift_ppm(self) -> float:
        """How fast the device clock runs relative to the hub, ppm (positive: device fast). Middle of the range."""
        self._require_synced()
        s_values = [s for _, s, _ in self._poly]
        return _device_drift_ppm((min(s_values) + max(s_values)) / 2)

    @property
    def drift_range_ppm(self) -> tuple[float, float]:
        """Every drift (ppm, positive: device fast) consistent with the samples."""
        self._require_synced()
        s_values = [s for _, s, _ in self._poly]
        return (_device_drift_ppm(max(s_values)), _device_drift_ppm(min(s_values)))

    @property
    def uncertainty_us(self) -> float:
        """The mapping's error bound at the newest sample; ``to_hub`` adds the growth since then."""
        self._require_synced()
        lo, hi = self._range(self._newest().t3)
        return (hi - lo) / 2

    @property
    def best_rtt_us(self) -> float:
        """Smallest network round-trip among the kept samples."""
        self._require_synced()
        return self._rtt_range[0]

    @property
    def one_way_bound_us(self) -> float:
        """Upper bound of the device-to-hub delay seen in the window: the largest kept round-trip.

        Every reply's upward delay is at most its sample's round-trip, so this bounds every upward delay observed
        in the window (not only the fastest one: honest presses travelling a little slower than the best ping must
        not be pushed later by the arbiter's no-time-travel clamp). It is measured on the hub's clock: a device can
        only make it larger by really answering slower.
        """
        self._require_synced()
        return self._rtt_range[1]

    # ------------------------------------------------------------------ internals

    def _require_synced(self) -> None:
        if not self._poly:
            raise NotSyncedError("no sync sample from this device yet: ping it before reading its clock model")

    def _newest(self) -> SyncSample:
        return self._samples[-1].sample

    def _range(self, t_dev: float) -> tuple[float, float]:
        x = (t_dev - self._ref_x) / 1e6
        vals = [a + s * x for a, s, _ in self._poly]
        return min(vals), max(vals)

    def _is_active(self, number: int) -> bool:
        labels = {2 * number, 2 * number + 1}
        return any(lab in labels for _, _, lab in self._poly)

    def _half_planes(self, st: _Stored) -> tuple[_HalfPlane, _HalfPlane]:
        smp = st.sample
        x2 = (smp.t2 - self._ref_x) / 1e6
        x3 = (smp.t3 - self._ref_x) / 1e6
        lower = (smp.t1 - smp.t2) - self._ref_off - self._slack  # off(t2) >= t1 - t2
        upper = (smp.t4 - smp.t3) - self._ref_off + self._slack  # off(t3) <= t4 - t3
        return (
            _HalfPlane(-1.0, -x2, -lower, 2 * st.number),
            _HalfPlane(1.0, x3, upper, 2 * st.number + 1),
        )

    def _rebuild(self) -> None:
        """Intersect the window from the newest sample back; stop at the first that contradicts the newer ones."""
        self._adds_since_rebuild = 0
        newest = self._samples[-1].sample
        self._ref_x = newest.t3
        self._ref_off = (newest.t1 + newest.t4) / 2 - (newest.t2 + newest.t3) / 2
        m, b = self._max_s, _OFFSET_BOX_US
        # counter-clockwise box in (a, s)
        poly: list[_Vertex] = [(-b, -m, _BOX_LABEL), (b, -m, _BOX_LABEL), (b, m, _BOX_LABEL), (-b, m, _BOX_LABEL)]
        kept = 0
        for st in reversed(self._samples):
            trial = poly
            for h in self._half_planes(st):
                trial = _clip(trial, h)
            if not trial:
                break
            poly = trial
            kept += 1
        if kept < len(self._samples):
            drop = len(self._samples) - kept
            self._discarded += drop
            for _ in range(drop):
                self._samples.popleft()
        self._poly = poly
