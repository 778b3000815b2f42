"""The hub as a running component: database, repository, MQTT transport, service and timers, in one context.

``async with Hub(...) as hub`` returns once the hub is connected to the broker and every unfinished game has
been rebuilt from its log; leaving the block publishes the hub's offline status and closes everything.

With a lease URL (``--lease-url redis://…``) several hubs share the games: each game is rebuilt by the hub that
wins its lease, and the others stand by, taking over any game whose lease runs out (docs/failover.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import TYPE_CHECKING, Self

from hub.db import Repository, create_engine, migrate
from hub.db.errors import FencedOutError
from hub.lease import DEFAULT_LEASE_MS, LeaseKeeper, RedisLeaseStore
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

# PostgreSQL connections the hub keeps (and may add on top, closed after use): one per game appending at the same
# moment, plus health and lease reads. bench/scale.py presses in 20 games at once.
DB_POOL_SIZE = 20
DB_POOL_OVERFLOW = 20


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
        lease_url: str = "",
        lease_ms: int = DEFAULT_LEASE_MS,
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
        # The holder name is unique per process: a restarted hub with the same client id is a new holder.
        self.keeper = (
            LeaseKeeper(RedisLeaseStore(lease_url, prefix=f"quizhub:{topic_root}"),
                        holder=f"{client_id}/{os.getpid()}", ttl_ms=lease_ms)
            if lease_url else None
        )

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
            if self.keeper is None:
                await service.load_games()
            else:
                await self._lease_round(self.keeper)
            self._loaded.set()
            return
        # A broker restart may have lost retained state (an external broker without persistence): send it again.
        for rt in list(service.games.values()):
            await service._publish_retained(rt)  # noqa: SLF001 - the runner is the service's owner

    async def __aenter__(self) -> Self:
        # On PostgreSQL every game's lane appends on its own connection at once (hub/service.py); the default pool
        # (5, and overflow connections closed after each use) would make the sixth concurrent append open a fresh
        # connection each time. Connections are opened as needed, so an idle hub holds few.
        postgres = self.db_url.startswith("postgresql")
        pool = {"pool_size": DB_POOL_SIZE, "max_overflow": DB_POOL_OVERFLOW} if postgres else {}
        self.engine = create_engine(self.db_url, **pool)
        await migrate(self.engine)
        repo = Repository.from_engine(self.engine)

        class _Forward:
            async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
                await transport.publish(topic, payload, qos=qos, retain=retain)

        self._service = HubService(repo, _Forward(), topics=self.topics, settings=self.settings, ownership=self.keeper)
        transport = MqttTransport(
            self.address,
            client_id=self.client_id,
            subscriptions=self._service.subscriptions(),
            handler=self._service.on_message,
            will=self._service.will(),
            online=self._service.online_status(),
            on_connect=self._on_connect,
            ack_late=self._service.ack_late,
        )
        self._transport = transport
        self._tasks = [
            asyncio.create_task(transport.run(), name="hub-mqtt"),
            asyncio.create_task(self._service.run_timers(), name="hub-timers"),
            asyncio.create_task(self._service.run_health(self.health_interval_s), name="hub-health"),
        ]
        if self.keeper is not None:
            self._tasks += [
                asyncio.create_task(self._renew_leases(self.keeper), name="hub-lease-renew"),
                asyncio.create_task(self._watch_leases(self.keeper), name="hub-lease-watch"),
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
        if self._tasks:
            # asyncio.wait collects the tasks without raising what they ended with, and lets a cancel of _stop through.
            await asyncio.wait(self._tasks)
            for task in self._tasks:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("hub task ended with an error at shutdown", exc_info=task.exception())
        self._tasks = []
        if self._service is not None:
            # After the transport: no message can start a new lane now. Before the engine: a lane may be mid-append.
            await self._service.stop()
        if self.keeper is not None:
            # Released, not left to expire: a standby takes the games over at its next look, not a lease later.
            with contextlib.suppress(Exception):
                await self.keeper.close()
        if self.engine is not None:
            await self.engine.dispose()

    # ------------------------------------------------------------------ leases (several hubs)

    async def _renew_leases(self, keeper: LeaseKeeper) -> None:
        """Renew this hub's leases; a game whose lease is lost is dropped at once (no publish for it after)."""
        await self._loaded.wait()
        while True:
            for game_id in await keeper.renew_due():
                log.warning("lease lost; the game is given up", extra={"game": game_id})
                self.service.close_game(game_id)
            await asyncio.sleep(keeper.period_s / 4)

    async def _watch_leases(self, keeper: LeaseKeeper) -> None:
        """Take over every running game nobody holds, trying again as soon as a holder's lease can have run out."""
        await self._loaded.wait()
        while True:
            wait_s = await self._lease_round(keeper)
            await asyncio.sleep(wait_s)  # a poll by design: Redis announces no expiry we could wait on

    async def _lease_round(self, keeper: LeaseKeeper) -> float:
        """One look at every unfinished game: acquire the free ones and take them over. Returns when to look again."""
        service = self.service
        wait_s = keeper.period_s
        try:
            rows = await service.repo.list_running_games()
        except Exception:
            log.exception("could not list the running games; trying again")
            return wait_s
        taken = False
        for row in rows:
            if row.id in service.games:
                continue
            grant = await keeper.acquire(row.id)
            if grant.token is None:
                wait_s = min(wait_s, grant.retry_in_ms / 1000 + 0.005)
                continue
            try:
                await service.take_over(row.id, grant.token)
            except FencedOutError as exc:
                log.warning("the database knows a newer fencing token; catching up", extra={"game": row.id})
                await keeper.fenced(row.id, exc.owner_fence)
                wait_s = 0.005
            except Exception:
                log.exception("could not take the game over; releasing it", extra={"game": row.id})
                await keeper.release(row.id)
            else:
                taken = True
        if taken and self._transport is not None and self._transport.connected.is_set():
            topic, payload = service.online_status()
            await self._transport.publish(topic, payload, qos=1, retain=True)
        return wait_s

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._transport is not None and self._transport.connected.is_set() and self._service is not None:
            topic, payload = self._service.will()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._transport.publish(topic, payload, qos=1, retain=True)
        await self._stop()


async def run_hub(
    settings: Settings, address: BrokerAddress, *, client_id: str = "quizhub-hub", lease_url: str = "",
    lease_ms: int = DEFAULT_LEASE_MS,
) -> None:
    """`quizhub hub`: run until SIGINT/SIGTERM; print one line once every game is rebuilt and live."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Hub(db_url=settings.resolved_db_url(), address=address, topic_root=settings.topic_root,
                   client_id=client_id, lease_url=lease_url, lease_ms=lease_ms) as hub:
        leases = f", leases {lease_ms} ms" if lease_url else ""
        print(f"Quizhub hub running: {len(hub.service.games)} game(s) live, broker {address}{leases}",  # noqa: T201
              flush=True)
        await stop.wait()
