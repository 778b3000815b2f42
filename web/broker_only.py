"""`quizhub broker`: the hardened embedded broker alone, for a scale-out where hub and web run elsewhere."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from broker.config import BrokerConfig
from broker.credentials import CredentialStore
from broker.server import EmbeddedBroker

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["broker_config", "run_broker"]

log = logging.getLogger("quizhub.broker")


def broker_config(settings: Settings) -> BrokerConfig:
    """The embedded broker's configuration from the CLI/environment settings."""
    return BrokerConfig(
        data_dir=settings.data_dir,
        host=settings.host,
        port=settings.mqtt_port,
        ws_port=settings.mqtt_ws_port,
        allow_anonymous=settings.allow_anonymous,
        max_payload=settings.max_payload,
        topic_root=settings.topic_root,
    )


async def run_broker(settings: Settings) -> None:
    """Run the broker until SIGINT/SIGTERM."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = broker_config(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with EmbeddedBroker(config, CredentialStore(settings.data_dir / "credentials.json")) as broker:
        print(f"Quizhub broker listening: mqtt port {broker.port}, websocket port {broker.ws_port}", flush=True)  # noqa: T201
        await stop.wait()
