"""Every Quizhub setting in one place.

Each setting has a ``QUIZHUB_*`` environment variable (``QUIZHUB_HTTP_PORT=8080``) and, where the CLI offers it, a
flag (``--http-port 8080``); a flag beats the environment, which beats the default. Secrets are ``SecretStr`` so they
never print in a repr or a log line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_data_dir"]


def default_data_dir() -> Path:
    """Where a bar's box keeps its database, credentials and broker state unless told otherwise."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "quizhub"


class Settings(BaseSettings):
    """Runtime configuration shared by the broker, hub and web parts."""

    model_config = SettingsConfigDict(env_prefix="QUIZHUB_", extra="ignore")

    host: str = Field("0.0.0.0", description="Address every listener binds to.")  # noqa: S104 - a bar's LAN must reach it
    http_port: int = Field(8000, ge=0, le=65535)
    mqtt_port: int = Field(1883, ge=0, le=65535)
    mqtt_ws_port: int | None = Field(9001, ge=0, le=65535, description="MQTT over WebSocket; None disables.")
    data_dir: Path = Field(default_factory=default_data_dir)
    db_url: str = Field("", description="Empty = SQLite file in the data dir.")
    broker_url: str = Field("", description="Empty = the embedded broker; else mqtt://user:pass@host:port.")
    fanout_url: str = Field("memory://", description="memory:// or redis://host:port/db for several web processes.")
    lease_url: str = Field("", description="Empty = one hub owns every game; redis://… = hubs share games by lease.")
    lease_ms: int = Field(3000, ge=300, le=600_000, description="Game lease time: a dead hub's games move this fast.")
    topic_root: str = Field("quizhub", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    allow_anonymous: bool = Field(default=False, description="Let MQTT clients connect without credentials.")
    max_payload: int = Field(65536, ge=256, description="Largest MQTT publish the broker accepts, in bytes.")
    secret_key: SecretStr | None = Field(None, description="Session signing key; generated into the data dir if unset.")
    public_url: str = Field("", description="Where browsers reach the web (https://quiz.example); empty = as asked.")
    allowed_origins: list[str] = Field(default_factory=list, description="Browser origins allowed besides public_url.")
    cookie_secure: bool | None = Field(None, description="Secure session cookie; None = when public_url is https.")
    session_max_age_s: int = Field(12 * 3600, ge=60, description="How long a login lasts without activity.")
    oidc_issuer: str = Field("", description="OpenID Provider issuer URL; empty disables OIDC login.")
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_scope: str = Field("openid profile email", description="Scopes to ask for; add what carries the groups.")
    oidc_groups_claim: str = Field("groups", description="ID token / userinfo claim listing the user's groups.")
    oidc_admin_groups: list[str] = Field(default_factory=lambda: ["quizhub-admins"])
    oidc_quizmaster_groups: list[str] = Field(default_factory=lambda: ["quizhub-quizmasters"])
    login_rate_per_minute: int = Field(10, ge=1, description="Login attempts per client address and name.")
    join_rate_per_minute: int = Field(20, ge=1, description="Team joins per client address and team name.")
    log_format: Literal["text", "console", "json"] = Field("text", description="text (console is an alias) or json.")
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token for /metrics; once set, every scraper must send it, loopback included."
    )
    metrics_port: int | None = Field(None, ge=0, le=65535, description="`quizhub hub`: serve /metrics on this port.")
    metrics_host: str = Field("127.0.0.1", description="`quizhub hub`: the metrics port's bind address.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    demo: bool = Field(default=False, description="Load the bundled demo quiz and simulated buzzers.")

    def resolved_db_url(self) -> str:
        """The database URL to use: the configured one, or the SQLite file in the data dir."""
        if self.db_url:
            return self.db_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'quizhub.db'}"
