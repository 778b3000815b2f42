"""Settings of the embedded broker: one frozen value, validated when built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BrokerConfig"]


@dataclass(frozen=True)
class BrokerConfig:
    """How the embedded broker listens and what it allows.

    `port`/`ws_port` 0 pick any free port (read the bound one from `EmbeddedBroker.port`); `ws_port=None` turns the
    WebSocket listener off. `max_payload` caps a PUBLISH payload in bytes; a client sending more is disconnected.
    A client silent for `keepalive_factor` x its keepalive is disconnected and its Will published.
    Retained messages and persistent sessions are kept in `data_dir`.
    """

    data_dir: Path
    host: str = "0.0.0.0"  # noqa: S104 - a quiz box serves the LAN it sits on
    port: int = 1883
    ws_port: int | None = 9001
    allow_anonymous: bool = False
    max_payload: int = 65536
    topic_root: str = "quizhub"
    keepalive_factor: float = 1.5

    def __post_init__(self) -> None:
        for name, port in (("port", self.port), ("ws_port", self.ws_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ValueError(f"BrokerConfig.{name}={port} is not a TCP port; use 0..65535 (0 = any free port)")
        if self.max_payload < 1:
            raise ValueError(f"BrokerConfig.max_payload={self.max_payload} must be at least 1 byte")
        if self.keepalive_factor < 1.0:
            raise ValueError(
                f"BrokerConfig.keepalive_factor={self.keepalive_factor} must be >= 1.0; MQTT requires 1.5"
            )
        root = self.topic_root
        if not root or root.startswith("$") or any(c in root for c in "+#\0") or root.endswith("/"):
            raise ValueError(
                f"BrokerConfig.topic_root={root!r} must be a plain topic prefix such as 'quizhub' "
                "(no wildcards, no leading '$', no trailing '/')"
            )
