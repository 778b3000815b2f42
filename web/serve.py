"""`quizhub serve`: broker, hub and web in one process, the embedded default for a bar's single box."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn

from broker.config import BrokerConfig
from broker.credentials import CredentialStore
from broker.server import EmbeddedBroker
from web.app import create_app

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["HttpPortInUseError", "bind_http", "run_serve"]

log = logging.getLogger("quizhub.serve")


@dataclass
class HttpPortInUseError(Exception):
    """The HTTP port is taken by another program: the user picks another with the flag named."""

    port: int
    host: str

    def __str__(self) -> str:
        return f"HTTP port {self.port} on {self.host} is already in use; choose another with --http-port"


def bind_http(host: str, port: int) -> socket.socket:
    """Bind the HTTP listening socket up front, so a busy port is one clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise HttpPortInUseError(port, host) from None
        raise
    sock.listen(128)
    sock.setblocking(False)  # noqa: FBT003 - socket API
    return sock


def _lan_address() -> str:
    try:
        addr = socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
    return addr if not addr.startswith("127.") else "127.0.0.1"


def _banner(settings: Settings, http_port: int, mqtt_port: int | None, ws_port: int | None) -> str:
    ip = _lan_address()
    lines = [
        "Quizhub is running.",
        f"  Host console:  http://{ip}:{http_port}/   (API docs: http://{ip}:{http_port}/api/docs)",
    ]
    if mqtt_port is not None:
        lines.append(f"  Buzzers (MQTT): mqtt://{ip}:{mqtt_port}")
    if ws_port is not None:
        lines.append(f"  MQTT over WebSocket: ws://{ip}:{ws_port}")
    if settings.broker_url:
        lines.append("  Broker: external (see --broker-url)")
    lines.append(f"  Data: {settings.data_dir}")
    lines.append("  Stop with Ctrl-C.")
    return "\n".join(lines)


async def run_serve(settings: Settings) -> None:
    """Run until interrupted. Raises the port errors before anything listens, so they print as one line."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    http_sock = bind_http(settings.host, settings.http_port)
    async with AsyncExitStack() as stack:
        stack.callback(http_sock.close)
        mqtt_port: int | None = None
        ws_port: int | None = None
        if not settings.broker_url:
            credentials = CredentialStore(settings.data_dir / "credentials.json")
            config = BrokerConfig(
                data_dir=settings.data_dir,
                host=settings.host,
                port=settings.mqtt_port,
                ws_port=settings.mqtt_ws_port,
                allow_anonymous=settings.allow_anonymous,
                max_payload=settings.max_payload,
                topic_root=settings.topic_root,
            )
            broker = await stack.enter_async_context(EmbeddedBroker(config, credentials))
            mqtt_port, ws_port = broker.port, broker.ws_port
        app = create_app(settings)
        config_uv = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        server = uvicorn.Server(config_uv)
        print(_banner(settings, http_sock.getsockname()[1], mqtt_port, ws_port), flush=True)  # noqa: T201
        await server.serve(sockets=[http_sock])


def serve_forever(settings: Settings) -> None:
    """Synchronous entry for the CLI."""
    asyncio.run(run_serve(settings))
