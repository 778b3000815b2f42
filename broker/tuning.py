"""Process tuning for the embedded broker: keep Python's cyclic garbage collector out of the fan-out path.

Why: a full (generation 2) collection walks every tracked container object in the process and stops the event
loop while it does. In `quizhub serve` that is the broker's sessions plus everything amqtt, FastAPI, pydantic,
authlib and the hub loaded — about 150,000 objects, tens to hundreds of milliseconds per collection on a small
two-core box (the issue measured 67 ms at 256 clients), several times the whole fan-out of a lock message.
Figures: docs/broker-performance.md.

What `apply()` does:
1. `gc.collect()` then `gc.freeze()`: everything alive at that moment (modules, classes, functions, the web app,
   configuration) moves to the permanent generation, which no later collection walks. Those objects live as
   long as the process anyway, so nothing is leaked. With serve's web app frozen too, a full collection at 64
   clients walks ~4,000 objects instead of ~150,000 (0.5 ms instead of ~190 ms, measured under load).
2. A larger nursery (`GEN0_THRESHOLD`): at CPython's default of 700 net allocations, one fan-out to a few hundred
   clients (stock amqtt: a task, a future and a timer per subscriber) triggers several young collections in
   the middle of the burst, and each one promotes the in-flight objects it finds to older generations, which
   is what makes full collections frequent (stock amqtt: 15 full collections in 200 trials at 256 clients).
   A young collection of 20,000 objects takes under 1 ms.

`apply()` is idempotent: call it once the broker has started (`broker.server` does) and again once the whole
process has finished starting (in `quizhub serve`: after the web app and hub are up), so their start-up objects
are frozen too. Set `QUIZHUB_BROKER_TUNING=off` to make it a no-op (the benchmark's baseline).
"""

from __future__ import annotations

import gc
import os

__all__ = ["GEN0_THRESHOLD", "GEN1_THRESHOLD", "GEN2_THRESHOLD", "apply", "enabled"]

GEN0_THRESHOLD = 20_000
# CPython's defaults: with the larger nursery, full collections still run now and then (about every two
# million net allocations, and only once the old generation grew by a quarter), so cyclic garbage from
# departed clients is reclaimed; and with start-up frozen they walk only live sessions.
GEN1_THRESHOLD = 10
GEN2_THRESHOLD = 10

_OFF = frozenset({"off", "0", "false", "no"})


def enabled() -> bool:
    """Whether tuning is on: QUIZHUB_BROKER_TUNING unset, or anything but off/0/false/no."""
    return os.environ.get("QUIZHUB_BROKER_TUNING", "on").strip().lower() not in _OFF


def apply() -> None:
    """Freeze what start-up left alive and enlarge the nursery; safe to call more than once."""
    if not enabled():
        return
    # Collect first, so start-up garbage is freed rather than frozen (frozen objects are never collected).
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
