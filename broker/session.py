"""amqtt's `Session` with a light state holder instead of a `transitions.Machine`, and plain-deque queues.

Building a `transitions.Machine` per session costs about 2 ms of CPU (measured: 2.7 s for 1,250 connects), which
alone makes a reconnect storm of buzzers slow. The broker only needs three states and two triggers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from amqtt.session import Session

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LightSession", "MessageQueue"]


class _States:
    """The subset of `transitions.Machine` that amqtt and this broker use on a session."""

    __slots__ = ("_on_connected", "_on_disconnected", "state")

    def __init__(self, on_connected: Callable[[], None], on_disconnected: Callable[[], None]) -> None:
        self.state = "new"
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected

    def connect(self) -> None:
        self.state = "connected"
        self._on_connected()

    def disconnect(self) -> None:
        self.state = "disconnected"
        self._on_disconnected()

    def is_connected(self) -> bool:
        return self.state == "connected"

    def is_disconnected(self) -> bool:
        return self.state == "disconnected"

    def is_new(self) -> bool:
        return self.state == "new"


class MessageQueue:
    """The part of `asyncio.Queue` a session's message queues are used through, without its futures and events.

    The broker only ever uses them without waiting (`put_nowait`/`get_nowait`), so a deque does.
    """

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: deque[Any] = deque()

    def put_nowait(self, item: Any) -> None:
        self._queue.append(item)

    def get_nowait(self) -> Any:
        if not self._queue:
            raise asyncio.QueueEmpty
        return self._queue.popleft()

    def qsize(self) -> int:
        return len(self._queue)

    def empty(self) -> bool:
        return not self._queue


class LightSession(Session):  # type: ignore[misc]  # amqtt is untyped
    """A broker-side session: same data as amqtt's, cheap to create and light on the garbage collector."""

    def __init__(self) -> None:
        super().__init__()
        # amqtt makes two asyncio.Queues per session (with their deques, futures and an Event each).
        self.retained_messages = MessageQueue()
        self.delivered_message_queue = MessageQueue()

    def _init_states(self) -> None:
        self.transitions = _States(self._on_enter_connected, self._on_enter_disconnected)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.retained_messages = MessageQueue()
        self.delivered_message_queue = MessageQueue()
