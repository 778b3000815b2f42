"""`quizhub web`: the web app alone (REST, WebSocket bridge, pages) for a scale-out behind a proxy.

Several of these may run at once against one broker, one database and one ``redis://`` fan-out; the hub runs
elsewhere (`quizhub hub`). Every web process needs the same session key (``QUIZHUB_SECRET_KEY``, or a shared data
dir) so a cookie or a WebSocket ticket issued by one is good at the others.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import uvicorn

from hub.mqttclient import parse_broker_url
from web.app import create_app
from web.fanout import create_broadcast
from web.serve import bind_http, uvicorn_config

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["WebStartError", "check_web_settings", "run_web"]

log = logging.getLogger("quizhub.web")


class WebStartError(Exception):
    """The app could not start (broker, database or fan-out unreachable); the sentence says what to check."""


def check_web_settings(settings: Settings) -> None:
    """Refuse settings a lone web process cannot run with, before anything starts (``ValueError``, a sentence)."""
    if not settings.broker_url:
        raise ValueError("`quizhub web` needs QUIZHUB_BROKER_URL=mqtt://user:pass@host:port (a service login) in its "
                         "environment, or --broker-url (which shows the password in `ps`)")
    parse_broker_url(settings.broker_url)  # BrokerUrlError (a ValueError) names what is wrong with it
    create_broadcast(settings.fanout_url)  # UnsupportedFanoutURLError (a ValueError) names the schemes


def _fanout_name(url: str) -> str:
    """The fan-out URL without any password, for the start-up line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def run_web(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM. Prints one line once the app is up (database migrated, hub client connected).

    Raises :class:`web.serve.HttpPortInUseError` (naming ``--port``) before anything starts, and
    :class:`WebStartError` if the app's start-up (broker, database, fan-out) fails.
    """
    check_web_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sock = bind_http(settings.host, settings.http_port, flag="--port")
    try:
        config = uvicorn_config(create_app(settings))
        server = uvicorn.Server(config)
        config.load()
        server.lifespan = config.lifespan_class(config)
        with server.capture_signals():
            # uvicorn's own serve() in three steps, so the ready line is printed between start-up and serving.
            await server.startup(sockets=[sock])
            if server.should_exit:
                raise WebStartError(
                    "the web app did not start (see the log above); check --broker-url, --db-url and --fanout-url"
                )
            port = sock.getsockname()[1]
            print(  # noqa: T201 - the one line scripts and tests wait for
                f"Quizhub web running: http://{settings.host}:{port}/ "
                f"(broker {parse_broker_url(settings.broker_url)}, fan-out {_fanout_name(settings.fanout_url)})",
                flush=True,
            )
            await server.main_loop()
            await server.shutdown(sockets=[sock])
    finally:
        sock.close()


def web_forever(settings: Settings) -> None:
    """Synchronous entry for the CLI."""
    asyncio.run(run_web(settings))
