"""Process tuning for the embedded broker: keep Python's cyclic garbage collector out of the fan-out path.

Why: a full (generation 2) collection walks every tracked container object in the process. After the broker
has imported amqtt, FastAPI and friends and accepted a few hundred clients, that is hundreds of thousands of
objects, and the walk stops the event loop for tens of milliseconds (67 ms measured at 256 clients) — longer
than the fan-out of a lock message itself. See docs/broker-performance.md for the measurements.

`apply()` is called once, after the broker has started (`broker.server`). Setting the environment variable
`QUIZHUB_BROKER_TUNING=off` makes it a no-op (the benchmark's baseline).
"""

from __future__ import annotations

import gc
import os

__all__ = ["GEN0_THRESHOLD", "GEN1_THRESHOLD", "GEN2_THRESHOLD", "apply", "enabled"]

# Young collections are cheap (they walk only young objects) but frequent under load: at the default 700 a
# burst of 256 deliveries triggers several. A larger nursery means fewer, still sub-millisecond, pauses.
GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 100


def enabled() -> bool:
    """Whether tuning is on (QUIZHUB_BROKER_TUNING is unset or not one of off/0/false/no)."""
    return os.environ.get("QUIZHUB_BROKER_TUNING", "on").strip().lower() not in {"off", "0", "false", "no"}


def apply() -> None:
    """Tune the collector for a long-running broker; call once after start-up."""
    if not enabled():
        return
    # Collect what start-up left behind, then move every surviving object (modules, classes, config) into the
    # permanent generation, so later full collections never walk them again. Objects frozen here live as long
    # as the process anyway.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
