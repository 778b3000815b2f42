"""Request and response shapes of the REST API, apart from the tables (the full-stack-fastapi-template pattern).

Quiz and question shapes come from :mod:`hub.db.schemas` (``QuizCreate``, ``QuestionCreate``...); this module adds
the rest: games, teams, devices, users, API tokens, host commands and readiness. ``*Public`` is what a client
reads, ``*Create``/``*Update`` what it sends. Secrets (team and API tokens, MQTT passwords) appear only in the
``*Issued`` answers, once.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - pydantic resolves annotations at runtime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hub.db.models import GameStatus, TokenRole, UserRole  # noqa: TC001 - pydantic resolves annotations at runtime
from hub.db.schemas import QuestionPublic, QuizPublic

__all__ = [
    "ID_PATTERN",
    "CommandResult",
    "DevicePublic",
    "DisplayTokenCreate",
    "DisplayTokenIssued",
    "GameCreate",
    "GameDetail",
    "GamePublic",
    "HostCommand",
    "IdentifyRequest",
    "JoinRequest",
    "JoinResponse",
    "LiveState",
    "MqttCredential",
    "PairRequest",
    "QuestionOrder",
    "QuizDetail",
    "Readiness",
    "ResultPublic",
    "RoundPublic",
    "TeamMe",
    "TeamPublic",
    "TokenCreate",
    "TokenIssued",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
    "UserUpdate",
]

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""Game, team and device ids: one MQTT topic level each (as in ``hub.messages``)."""

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""A display name: 1-64 characters, no control characters."""
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------- quizzes


class RoundPublic(BaseModel):
    """A named group of a quiz's questions."""

    id: int
    title: str
    position: int


class QuestionOrder(_Request):
    """A quiz's question ids in their new play order: each of the quiz's questions once."""

    question_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(max_length=1000)

    @model_validator(mode="after")
    def _each_once(self) -> QuestionOrder:
        if len(set(self.question_ids)) != len(self.question_ids):
            raise ValueError("question_ids names a question twice; name each question of the quiz once")
        return self


class QuizDetail(QuizPublic):
    """A quiz with its rounds and its questions in play order (answers included: quizmasters only)."""

    rounds: list[RoundPublic]
    questions: list[QuestionPublic]


# ---------------------------------------------------------------------------------------------- games


class GameCreate(_Request):
    """A new game of a stored quiz; ``settings`` are passed to the hub as they are (e.g. scoring options)."""

    quiz_id: int = Field(ge=1, le=2**31 - 1)
    settings: dict[str, Any] = Field(default_factory=dict)


class GamePublic(BaseModel):
    """A game as the database lists it; ``join_url`` is what the QR code encodes."""

    id: str
    quiz_id: int
    join_code: str
    join_url: str
    status: GameStatus
    host_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TeamPublic(BaseModel):
    """A team of one game (never its token)."""

    id: str
    game_id: str
    name: str
    color: str | None
    created_at: datetime


class LiveState(BaseModel):
    """The hub's latest retained documents for a game (each None until the web process has seen one)."""

    state: dict[str, Any] | None = None
    question: dict[str, Any] | None = None
    scores: dict[str, Any] | None = None


class GameDetail(BaseModel):
    """A game with its teams and, when the hub client has it, the live state."""

    game: GamePublic
    teams: list[TeamPublic]
    live: LiveState | None


class ResultPublic(BaseModel):
    """A team's final standing."""

    team_id: str | None
    team_name: str
    score: int
    rank: int


HostCommandName = Literal[
    "show",
    "arm",
    "judge",
    "decide",
    "reveal",
    "next",
    "skip",
    "undo",
    "adjust",
    "pause",
    "resume",
    "end",
    "remove_team",
]


class HostCommand(_Request):
    """A host command for the hub (see docs/wire.md); the server adds the correlation id and the actor.

    Fields by command: ``show`` (``q``), ``judge`` (``verdict``, optional ``team``, ``points``), ``decide``
    (``team``), ``adjust`` (``team``, ``delta``, ``reason``), ``remove_team`` (``team``); the others take none.
    Devices are paired, unpaired and identified through ``/api/devices``.
    """

    cmd: HostCommandName
    q: int | None = Field(default=None, ge=0, le=2**32 - 1)
    verdict: Literal["right", "wrong"] | None = None
    team: Id | None = None
    points: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    delta: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class CommandResult(BaseModel):
    """The hub accepted the command; ``result`` is what it answered (e.g. the new event's ``seq``)."""

    ok: Literal[True] = True
    result: dict[str, Any] = Field(default_factory=dict)


class DisplayTokenCreate(_Request):
    """A screen that shows one game."""

    name: Name = "display"


class DisplayTokenIssued(BaseModel):
    """A display token, shown this once."""

    id: int
    game_id: str
    name: str
    token: str


# ---------------------------------------------------------------------------------------------- teams


class JoinRequest(_Request):
    """Join a game with its 6-digit code under a team name."""

    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]
    name: Name
    color: Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?$")] | None = None


class JoinResponse(BaseModel):
    """The new team and its token: shown this once; the team rejoins with it (``Authorization: Bearer``)."""

    team: TeamPublic
    token: str


class TeamMe(BaseModel):
    """The calling team, its game, and its score when the hub's scoreboard has it."""

    team: TeamPublic
    game: GamePublic
    score: int | None
    rank: int | None


# ---------------------------------------------------------------------------------------------- devices


class DevicePublic(BaseModel):
    """A buzzer with its pairing and its last reported health."""

    id: str
    name: str | None
    game_id: str | None
    team_id: str | None
    paired: bool
    online: bool
    first_seen_at: datetime
    last_seen_at: datetime | None
    fw: str | None
    rssi: int | None
    battery_mv: int | None
    boot: int | None
    clock_uncertainty_us: float | None
    one_way_us: float | None


class PairRequest(_Request):
    """Pair a device to a team (and so to the team's game)."""

    team_id: Id
    name: Name | None = None


class IdentifyRequest(_Request):
    """Blink a device; ``game_id`` is needed only when the device is not paired into a game."""

    game_id: Id | None = None


# ---------------------------------------------------------------------------------------------- users, tokens


class UserCreate(_Request):
    """A local account."""

    name: Name
    role: UserRole
    password: str = Field(min_length=8, max_length=1024)


class UserUpdate(_Request):
    """Change a user's role or password; fields left out stay as they are."""

    role: UserRole | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class UserPublic(BaseModel):
    """An account, never its password hash."""

    id: int
    name: str
    role: UserRole
    has_password: bool
    oidc: bool
    created_at: datetime
    last_login_at: datetime | None


TokenName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class TokenCreate(_Request):
    """An integrator's API token; the name is also its MQTT user name."""

    name: TokenName


class TokenPublic(BaseModel):
    """An API token as listed (only its hash is stored)."""

    id: int
    name: str
    role: TokenRole
    game_id: str | None
    created_by_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class MqttCredential(BaseModel):
    """A read-only MQTT login for the broker (integrator role)."""

    username: str
    password: str


class TokenIssued(BaseModel):
    """A new API token and its MQTT login, shown this once."""

    token: TokenPublic
    secret: str
    mqtt: MqttCredential


# ---------------------------------------------------------------------------------------------- readiness


class Readiness(BaseModel):
    """Whether this web process can serve: every check is "ok" or says what is wrong."""

    ready: bool
    checks: dict[str, str]
