"""The hub as a running component: database, repository, MQTT transport, service and timers, in one context.

``async with Hub(...) as hub`` returns once the hub is connected to the broker and every unfinished game has
been rebuilt from its log; leaving the block publishes the hub's offline status and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Self

from hub.db import Repository, create_engine, migrate
from hub.service import HEALTH_INTERVAL_S, HubService
from hub.topics import Topics
from hub.transport import MqttTransport

if TYPE_CHECKING:
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncEngine

    from hub.core.game import GameSettings
    from hub.mqttclient import BrokerAddress
    from hub.settings import Settings

__all__ = ["Hub", "run_hub"]

log = logging.getLogger("quizhub.hub")


class Hub:
    """One hub process's parts, wired together."""

    def __init__(
        self,
        *,
        db_url: str,
        address: BrokerAddress,
        topic_root: str = "quizhub",
        client_id: str = "quizhub-hub",
        settings: GameSettings | None = None,
        start_timeout: float = 30.0,
        health_interval_s: float = HEALTH_INTERVAL_S,
    ) -> None:
        self.db_url = db_url
        self.address = address
        self.topics = Topics(topic_root)
        self.client_id = client_id
        self.settings = settings
        self.start_timeout = start_timeout
        self.health_interval_s = health_interval_s
        self.engine: AsyncEngine | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loaded = asyncio.Event()
        self._service: HubService | None = None
        self._transport: MqttTransport | None = None

    @property
    def service(self) -> HubService:
        if self._service is None:
            raise RuntimeError("the hub is not started; use `async with Hub(...)`")
        return self._service

    @property
    def repo(self) -> Repository:
        return self.service.repo

    @property
    def transport(self) -> MqttTransport:
        if self._transport is None:
            raise RuntimeError("the hub is not started; use `async with Hub(...)`")
        return self._transport

    async def _on_connect(self) -> None:
        service = self.service
        if not self._loaded.is_set():
            await service.load_games()
            self._loaded.set()
            return
        # A broker restart may have lost retained state (an external broker without persistence): send it again.
        for rt in list(service.games.values()):
            await service._publish_retained(rt)  # noqa: SLF001 - the runner is the service's owner

    async def __aenter__(self) -> Self:
        self.engine = create_engine(self.db_url)
        await migrate(self.engine)
        repo = Repository.from_engine(self.engine)

        class _Forward:
            async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
                await transport.publish(topic, payload, qos=qos, retain=retain)

        self._service = HubService(repo, _Forward(), topics=self.topics, settings=self.settings)
        transport = MqttTransport(
            self.address,
            client_id=self.client_id,
            subscriptions=self._service.subscriptions(),
            handler=self._service.on_message,
            will=self._service.will(),
            online=self._service.online_status(),
            on_connect=self._on_connect,
        )
        self._transport = transport
        self._tasks = [
            asyncio.create_task(transport.run(), name="hub-mqtt"),
            asyncio.create_task(self._service.run_timers(), name="hub-timers"),
            asyncio.create_task(self._service.run_health(self.health_interval_s), name="hub-health"),
        ]
        try:
            async with asyncio.timeout(self.start_timeout):
                await self._loaded.wait()
        except TimeoutError:
            await self._stop()
            raise ConnectionError(
                f"the hub could not reach the broker at {self.address} within {self.start_timeout:.0f} s; "
                "check --broker-url and the hub's credentials"
            ) from None
        # Now the games are known: say so on the retained status.
        topic, payload = self._service.online_status()
        await transport.publish(topic, payload, qos=1, retain=True)
        return self

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.engine is not None:
            await self.engine.dispose()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._transport is not None and self._transport.connected.is_set() and self._service is not None:
            topic, payload = self._service.will()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._transport.publish(topic, payload, qos=1, retain=True)
        await self._stop()


async def run_hub(settings: Settings, address: BrokerAddress, *, client_id: str = "quizhub-hub") -> None:
    """`quizhub hub`: run until SIGINT/SIGTERM; print one line once every game is rebuilt and live."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Hub(db_url=settings.resolved_db_url(), address=address, topic_root=settings.topic_root,
                   client_id=client_id) as hub:
        print(f"Quizhub hub running: {len(hub.service.games)} game(s) live, broker {address}", flush=True)  # noqa: T201
        await stop.wait()
