"""The database tables (SQLModel ``table=True`` models). API shapes live in :mod:`hub.db.schemas`.

All tables share one private registry and ``MetaData`` with a naming convention, so every constraint has a
stable name that migrations can refer to on both backends, and tables other packages might declare on
SQLModel's global metadata never leak into our migrations.

There are deliberately no ORM relationships: lazy loading does not work in async code, and each query in
:mod:`hub.db.repository` says exactly what it loads.
"""

from __future__ import annotations

import secrets
from datetime import datetime  # noqa: TC003 - SQLModel resolves annotations at runtime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from hub.db.types import JSONType, UTCDateTime, utcnow

__all__ = [
    "ApiToken",
    "Device",
    "Game",
    "GameEvent",
    "GameStatus",
    "Question",
    "QuestionType",
    "Quiz",
    "Result",
    "Round",
    "TableBase",
    "Team",
    "TokenRole",
    "User",
    "UserRole",
    "metadata",
    "new_id",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class TableBase(SQLModel, registry=registry(metadata=metadata)):
    """Base of every Quizhub table; its ``metadata`` is what the migrations describe."""


def new_id() -> str:
    """A random 16-hex-digit id for games and teams: short enough for MQTT topics, unguessable enough for URLs."""
    return secrets.token_hex(8)


class UserRole(StrEnum):
    """What a logged-in person may do (DESIGN §6)."""

    ADMIN = "admin"
    QUIZMASTER = "quizmaster"


class TokenRole(StrEnum):
    """What a long-lived API token may do: integrators read game topics, displays show one game."""

    INTEGRATOR = "integrator"
    DISPLAY = "display"


class QuestionType(StrEnum):
    """How a question is answered (DESIGN §5)."""

    BUZZER = "buzzer"
    MULTIPLE_CHOICE = "multiple_choice"
    TRUE_FALSE = "true_false"
    NUMERIC = "numeric"
    OPEN_TEXT = "open_text"


class GameStatus(StrEnum):
    """Coarse game lifecycle; the fine-grained phase lives in the event log, not in a column."""

    LOBBY = "lobby"
    RUNNING = "running"
    FINISHED = "finished"


def _enum(enum_cls: type[StrEnum], name: str) -> sa.Enum:
    # VARCHAR + CHECK instead of a native PostgreSQL ENUM: adding a member later is a plain migration, not
    # an ALTER TYPE that cannot run inside a transaction. Values (not member names) are stored.
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _fk(target: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete=ondelete)


class User(TableBase, table=True):
    """A person who logs in: a local account (argon2 hash) or an OIDC identity (issuer + subject), or both."""

    __tablename__ = "users"
    __table_args__ = (
        sa.UniqueConstraint("oidc_issuer", "oidc_subject"),
        sa.CheckConstraint("(oidc_issuer IS NULL) = (oidc_subject IS NULL)", name="oidc_pair"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(64), unique=True)
    role: UserRole = Field(sa_type=_enum(UserRole, "user_role"))
    password_hash: str | None = Field(default=None, sa_type=sa.String(255))
    oidc_issuer: str | None = Field(default=None, sa_type=sa.String(255))
    oidc_subject: str | None = Field(default=None, sa_type=sa.String(255))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(TableBase, table=True):
    """A long-lived credential for an integrator or a display screen; only the token's SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(64))
    role: TokenRole = Field(sa_type=_enum(TokenRole, "token_role"))
    token_hash: str = Field(sa_type=sa.String(64), unique=True)
    # A display token shows one game; an integrator token is not bound to a game.
    game_id: str | None = Field(default=None, sa_type=sa.String(32), foreign_key="games.id", ondelete="CASCADE")
    created_by_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def revoked(self) -> bool:
        """Whether the token has been revoked (it then authenticates nothing)."""
        return self.revoked_at is not None


class Quiz(TableBase, table=True):
    """A reusable set of questions; games are played from it."""

    __tablename__ = "quizzes"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_type=sa.String(200))
    description: str = Field(default="", sa_type=sa.Text)
    owner_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Round(TableBase, table=True):
    """An optional named group of a quiz's questions ("Music", "Round 2")."""

    __tablename__ = "rounds"

    id: int | None = Field(default=None, primary_key=True)
    quiz_id: int = Field(foreign_key="quizzes.id", ondelete="CASCADE", index=True)
    title: str = Field(sa_type=sa.String(200))
    position: int = 0


class Question(TableBase, table=True):
    """One question of a quiz. ``answer`` is secret until reveal: never send this row to a player as is."""

    __tablename__ = "questions"
    __table_args__ = (
        sa.CheckConstraint("points >= 0", name="points_not_negative"),
        sa.CheckConstraint("penalty >= 0", name="penalty_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    quiz_id: int = Field(foreign_key="quizzes.id", ondelete="CASCADE", index=True)
    round_id: int | None = Field(default=None, foreign_key="rounds.id", ondelete="SET NULL", index=True)
    position: int = 0
    type: QuestionType = Field(sa_type=_enum(QuestionType, "question_type"))
    text: str = Field(sa_type=sa.Text)
    choices: list[str] | None = Field(default=None, sa_type=JSONType)
    answer: Any = Field(default=None, sa_type=JSONType, nullable=True)
    points: int = 1
    penalty: int = 0
    buzz_window_ms: int | None = None
    answer_time_ms: int | None = None
    media: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class Game(TableBase, table=True):
    """One playing of a quiz. Its state is its event log; these columns are what listing and recovery need."""

    __tablename__ = "games"
    __table_args__ = (
        # A join code identifies a game only while it is live; finished games free their code for reuse.
        sa.Index(
            "ix_games_live_join_code",
            "join_code",
            unique=True,
            sqlite_where=sa.text("status != 'finished'"),
            postgresql_where=sa.text("status != 'finished'"),
        ),
        sa.CheckConstraint("length(join_code) = 6", name="join_code_six_digits"),
        sa.CheckConstraint("last_seq >= 0", name="last_seq_not_negative"),
    )

    id: str = Field(default_factory=new_id, sa_type=sa.String(32), primary_key=True)
    # RESTRICT: a quiz with games (and so with results) cannot vanish from under them.
    quiz_id: int = Field(foreign_key="quizzes.id", ondelete="RESTRICT", index=True)
    join_code: str = Field(sa_type=sa.String(6))
    status: GameStatus = Field(default=GameStatus.LOBBY, sa_type=_enum(GameStatus, "game_status"), index=True)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    host_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Hub failover (issue 8): the fencing token of the lease holder. An append carrying a smaller token is
    # refused, so a hub that lost its lease (paused, partitioned) can never write after its successor.
    owner_fence: int = 0
    # Sequence number of the newest event in game_events; the append's compare-and-set target.
    last_seq: int = 0


class Team(TableBase, table=True):
    """A team in one game. Teams have no account; the team token (stored hashed) lets a team rejoin."""

    __tablename__ = "teams"
    __table_args__ = (sa.UniqueConstraint("game_id", "name"),)

    id: str = Field(default_factory=new_id, sa_type=sa.String(32), primary_key=True)
    game_id: str = Field(sa_type=sa.String(32), foreign_key="games.id", ondelete="CASCADE", index=True)
    name: str = Field(sa_type=sa.String(64))
    token_hash: str = Field(sa_type=sa.String(64), unique=True)
    color: str | None = Field(default=None, sa_type=sa.String(16))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Device(TableBase, table=True):
    """A buzzer, keyed by its stable device id; presence, health and clock quality as last reported."""

    __tablename__ = "devices"

    id: str = Field(sa_type=sa.String(64), primary_key=True)
    name: str | None = Field(default=None, sa_type=sa.String(64))
    game_id: str | None = Field(
        default=None, sa_type=sa.String(32), foreign_key="games.id", ondelete="SET NULL", index=True
    )
    team_id: str | None = Field(default=None, sa_type=sa.String(32), foreign_key="teams.id", ondelete="SET NULL")
    online: bool = False
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fw: str | None = Field(default=None, sa_type=sa.String(32))
    rssi: int | None = None
    battery_mv: int | None = None
    boot: int | None = None
    clock_uncertainty_us: float | None = None
    one_way_us: float | None = None

    @property
    def paired(self) -> bool:
        """Whether the device is assigned to a team (derived, so it can never disagree with ``team_id``)."""
        return self.team_id is not None


class GameEvent(TableBase, table=True):
    """One entry of a game's append-only event log. (game_id, seq) is the primary key: no gap, no duplicate."""

    __tablename__ = "game_events"
    __table_args__ = (sa.CheckConstraint("seq >= 1", name="seq_positive"),)

    game_id: str = Field(sa_type=sa.String(32), foreign_key="games.id", ondelete="CASCADE", primary_key=True)
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    type: str = Field(sa_type=sa.String(64))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The fencing token the writer held (None: written without a lease, e.g. the one-process default).
    fence: int | None = None


class Result(TableBase, table=True):
    """A team's final standing in a finished game, kept after the game (team name copied for history)."""

    __tablename__ = "results"
    __table_args__ = (sa.UniqueConstraint("game_id", "team_name"),)

    id: int | None = Field(default=None, primary_key=True)
    game_id: str = Field(sa_type=sa.String(32), foreign_key="games.id", ondelete="CASCADE", index=True)
    team_id: str | None = Field(default=None, sa_type=sa.String(32), foreign_key="teams.id", ondelete="SET NULL")
    team_name: str = Field(sa_type=sa.String(64))
    score: int
    rank: int
