"""hub.cancellation: a loop notices a cancel that an await inside it swallowed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hub.cancellation import reraise_swallowed_cancel


async def test_a_swallowed_cancel_is_raised_at_the_next_check() -> None:
    entered = asyncio.Event()
    checks = 0

    async def loop() -> None:
        nonlocal checks
        while True:
            reraise_swallowed_cancel()
            checks += 1
            entered.set()
            # What 3.11's wait_for does when the awaited result lands with the cancel:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    task = asyncio.create_task(loop())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):  # without the check the loop waits again, for ever
            await task
    assert checks == 1


async def test_no_cancel_and_an_expired_timeout_raise_nothing() -> None:
    reraise_swallowed_cancel()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await asyncio.Event().wait()
    reraise_swallowed_cancel()  # the timeout's own cancel was taken back (uncancel)
