"""Ending a loop whose task was cancelled even when an await inside it swallowed the cancel.

Python 3.11's ``asyncio.wait_for`` (which aiomqtt's publish and subscribe use) returns the awaited result and drops
the cancel when both arrive in the same loop turn (bpo-42130, rewritten in 3.12). A long-lived loop then goes on
to its next iteration and waits for ever for input nobody will send; shutdown waits with it. The cancel is still
counted on the task (``Task.cancelling()``: nothing called ``uncancel``), so the loop can notice it and end.
"""

from __future__ import annotations

import asyncio

__all__ = ["reraise_swallowed_cancel"]


def reraise_swallowed_cancel() -> None:
    """Raise CancelledError if the current task has a cancel pending that an await swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
