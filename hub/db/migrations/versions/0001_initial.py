"""Initial schema: users, API tokens, quizzes, rounds, questions, games, teams, devices, game events, results.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out by hand (not imported from hub.db.models) so this revision keeps creating exactly this schema
however the models change later; the test suite checks that the migrated schema matches the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".", 1)[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete)


def _one_of(table: str, name: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("oidc_issuer", sa.String(255), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_login_at", TIMESTAMP, nullable=True),
        _pk("users", "id"),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject", name=op.f("uq_users_oidc_issuer_oidc_subject")),
        sa.CheckConstraint("(oidc_issuer IS NULL) = (oidc_subject IS NULL)", name=op.f("ck_users_oidc_pair")),
        _one_of("users", "user_role", "role", ("admin", "quizmaster")),
    )
    op.create_table(
        "quizzes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _pk("quizzes", "id"),
        _fk("quizzes", "owner_id", "users.id", "SET NULL"),
    )
    op.create_table(
        "games",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("join_code", sa.String(6), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("owner_fence", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        _pk("games", "id"),
        _fk("games", "quiz_id", "quizzes.id", "RESTRICT"),
        _fk("games", "host_id", "users.id", "SET NULL"),
        sa.CheckConstraint("length(join_code) = 6", name=op.f("ck_games_join_code_six_digits")),
        sa.CheckConstraint("last_seq >= 0", name=op.f("ck_games_last_seq_not_negative")),
        _one_of("games", "game_status", "status", ("lobby", "running", "finished")),
    )
    op.create_index(op.f("ix_games_quiz_id"), "games", ["quiz_id"])
    op.create_index(op.f("ix_games_status"), "games", ["status"])
    live = sa.text("status != 'finished'")
    op.create_index(
        op.f("ix_games_live_join_code"), "games", ["join_code"], unique=True, sqlite_where=live, postgresql_where=live
    )
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _pk("rounds", "id"),
        _fk("rounds", "quiz_id", "quizzes.id", "CASCADE"),
    )
    op.create_index(op.f("ix_rounds_quiz_id"), "rounds", ["quiz_id"])
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("choices", JSON, nullable=True),
        sa.Column("answer", JSON, nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("buzz_window_ms", sa.Integer(), nullable=True),
        sa.Column("answer_time_ms", sa.Integer(), nullable=True),
        sa.Column("media", JSON, nullable=True),
        _pk("questions", "id"),
        _fk("questions", "quiz_id", "quizzes.id", "CASCADE"),
        _fk("questions", "round_id", "rounds.id", "SET NULL"),
        sa.CheckConstraint("points >= 0", name=op.f("ck_questions_points_not_negative")),
        sa.CheckConstraint("penalty >= 0", name=op.f("ck_questions_penalty_not_negative")),
        _one_of(
            "questions",
            "question_type",
            "type",
            ("buzzer", "multiple_choice", "true_false", "numeric", "open_text"),
        ),
    )
    op.create_index(op.f("ix_questions_quiz_id"), "questions", ["quiz_id"])
    op.create_index(op.f("ix_questions_round_id"), "questions", ["round_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("game_id", sa.String(32), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        _pk("api_tokens", "id"),
        _fk("api_tokens", "game_id", "games.id", "CASCADE"),
        _fk("api_tokens", "created_by_id", "users.id", "SET NULL"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        _one_of("api_tokens", "token_role", "role", ("integrator", "display")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("game_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("color", sa.String(16), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _pk("teams", "id"),
        _fk("teams", "game_id", "games.id", "CASCADE"),
        sa.UniqueConstraint("game_id", "name", name=op.f("uq_teams_game_id_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_teams_token_hash")),
    )
    op.create_index(op.f("ix_teams_game_id"), "teams", ["game_id"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("game_id", sa.String(32), nullable=True),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=True),
        sa.Column("fw", sa.String(32), nullable=True),
        sa.Column("rssi", sa.Integer(), nullable=True),
        sa.Column("battery_mv", sa.Integer(), nullable=True),
        sa.Column("boot", sa.Integer(), nullable=True),
        sa.Column("clock_uncertainty_us", sa.Float(), nullable=True),
        sa.Column("one_way_us", sa.Float(), nullable=True),
        _pk("devices", "id"),
        _fk("devices", "game_id", "games.id", "SET NULL"),
        _fk("devices", "team_id", "teams.id", "SET NULL"),
    )
    op.create_index(op.f("ix_devices_game_id"), "devices", ["game_id"])
    op.create_table(
        "game_events",
        sa.Column("game_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("fence", sa.Integer(), nullable=True),
        _pk("game_events", "game_id", "seq"),
        _fk("game_events", "game_id", "games.id", "CASCADE"),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_game_events_seq_positive")),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("game_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("team_name", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        _pk("results", "id"),
        _fk("results", "game_id", "games.id", "CASCADE"),
        _fk("results", "team_id", "teams.id", "SET NULL"),
        sa.UniqueConstraint("game_id", "team_name", name=op.f("uq_results_game_id_team_name")),
    )
    op.create_index(op.f("ix_results_game_id"), "results", ["game_id"])


def downgrade() -> None:
    # Dependents first; dropping a table drops its indexes with it.
    for table in (
        "results",
        "game_events",
        "devices",
        "teams",
        "api_tokens",
        "questions",
        "rounds",
        "games",
        "quizzes",
        "users",
    ):
        op.drop_table(table)
