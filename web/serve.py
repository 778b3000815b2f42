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

from broker import tuning
from broker.credentials import CredentialStore, Role
from broker.server import EmbeddedBroker
from hub.demo import Demo, start_demo
from hub.mqttclient import BrokerAddress, parse_broker_url
from hub.runner import Hub
from web.app import create_app
from web.auth.setup import first_run_link
from web.broker_only import broker_config

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from hub.settings import Settings

__all__ = ["HttpPortInUseError", "bind_http", "run_serve", "uvicorn_config"]

log = logging.getLogger("quizhub.serve")


def uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    """uvicorn's settings for the web app, shared by ``quizhub serve`` and ``quizhub web``.

    permessage-deflate is off: every socket compresses with its own context, so a fan-out compressed each frame once
    per viewer; py-spy on bench/scale.py's 20-game phase put it at about 13 % of a web process's busy time, for
    frames of a few hundred bytes on a local network (docs/scale.md, "Where the web's time goes").
    """
    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", ws_per_message_deflate=False)


@dataclass
class HttpPortInUseError(Exception):
    """The HTTP port is taken by another program: the user picks another with the flag named, which is the command's
    own (``--http-port`` for ``quizhub serve``, ``--port`` for ``quizhub web``). Both commands raise this one class."""

    port: int
    host: str
    flag: str = "--http-port"

    def __str__(self) -> str:
        return f"HTTP port {self.port} on {self.host} is already in use; choose another with {self.flag}"


def bind_http(host: str, port: int, *, flag: str = "--http-port") -> socket.socket:
    """Bind the HTTP listening socket up front, so a busy port is one clear error before anything starts.

    Raises :class:`HttpPortInUseError` naming ``flag``, the option of the calling command that sets the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it a
    # second small WebSocket frame waits for the client's delayed ACK (about 40 ms) behind the first.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise HttpPortInUseError(port, host, flag) from None
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


def _local(host: str) -> str:
    """Where this process reaches its own listener bound to ``host``."""
    return "127.0.0.1" if host in {"0.0.0.0", "", "::"} else host  # noqa: S104 - comparing, not binding


async def run_serve(settings: Settings) -> None:
    """Run until interrupted. Raises the port errors before anything listens, so they print as one line."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    http_sock = bind_http(settings.host, settings.http_port)
    async with AsyncExitStack() as stack:
        stack.callback(http_sock.close)
        mqtt_port: int | None = None
        ws_port: int | None = None
        credentials: CredentialStore | None = None
        if settings.broker_url:
            address = parse_broker_url(settings.broker_url)
        else:
            credentials = CredentialStore(settings.data_dir / "credentials.json")
            broker = await stack.enter_async_context(EmbeddedBroker(broker_config(settings), credentials))
            mqtt_port, ws_port = broker.port, broker.ws_port
            # The in-process hub logs in with a secret that lives only in this process's memory.
            address = BrokerAddress(_local(settings.host), broker.port).with_login(
                "quizhub-hub", credentials.ephemeral("quizhub-hub", Role.SERVICE)
            )
        hub = await stack.enter_async_context(
            Hub(db_url=settings.resolved_db_url(), address=address, topic_root=settings.topic_root)
        )
        demo_line = ""
        if settings.demo:
            demo = await _demo(hub, address, credentials)
            stack.callback(demo.task.cancel)
            demo_line = f"  Demo game: join code {demo.join_code} (8 simulated buzzers in 4 teams)"
        setup = await first_run_link(settings, hub.repo)
        if setup:
            demo_line += f"\n  First run: create the admin account at {setup}"
        app = create_app(settings)
        app.state.hub = hub
        config_uv = uvicorn_config(app)
        server = uvicorn.Server(config_uv)
        banner = _banner(settings, http_sock.getsockname()[1], mqtt_port, ws_port)
        print(banner + (f"\n{demo_line.lstrip(chr(10))}" if demo_line else ""), flush=True)  # noqa: T201
        # Everything long-lived now exists: freeze it out of the garbage collector's reach (docs/broker-performance.md).
        tuning.apply()
        await server.serve(sockets=[http_sock])


async def _demo(hub: Hub, address: BrokerAddress, credentials: CredentialStore | None) -> Demo:
    def login_for(device: str) -> BrokerAddress:
        if credentials is None:  # external broker: the demo buzzers use the hub's own login details
            return address
        return BrokerAddress(address.host, address.port).with_login(device, credentials.ephemeral(device, Role.DEVICE))

    return await start_demo(hub, login_for)


def serve_forever(settings: Settings) -> None:
    """Synchronous entry for the CLI."""
    asyncio.run(run_serve(settings))
