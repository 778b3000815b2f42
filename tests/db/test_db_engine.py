"""The engine factory: URLs, SQLite settings, time zones, and readers that never wait for writers."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from hub.db import Repository, UnsupportedDatabaseURLError, create_engine, default_db_url, migrate
from hub.db.models import UserRole
from hub.db.schemas import QuizCreate

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    assert default_db_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/quizhub.db"


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:secret@h/db", "postgresql+psycopg://u:secret@h/db", "sqlite:///x.db", "mysql+aiomysql://u@h/d"],
)
def test_unsupported_urls_are_refused_with_a_sentence(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseURLError) as info:
        create_engine(url)
    message = str(info.value)
    assert "sqlite+aiosqlite://" in message
    assert "postgresql+asyncpg://" in message
    assert "secret" not in message  # a password never reaches a log line


async def test_sqlite_file_and_folder_are_created_with_safe_settings(tmp_path: Path) -> None:
    engine = create_engine(default_db_url(tmp_path / "fresh" / "data"))
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000, "synchronous": 2}
        assert (tmp_path / "fresh" / "data" / "quizhub.db").is_file()
    finally:
        await engine.dispose()


async def test_naive_datetimes_are_refused(repo: Repository) -> None:
    quiz = await repo.create_quiz(QuizCreate(title="t"))
    assert quiz.id is not None
    user = await repo.create_user("ann", UserRole.QUIZMASTER)
    assert user.id is not None
    with pytest.raises(Exception, match="naive datetime"):
        await repo.record_login(user.id, at=datetime(2026, 1, 1))  # noqa: DTZ001 - the naive datetime is the point


async def test_readers_do_not_wait_for_a_writer(engine: AsyncEngine, repo: Repository) -> None:
    quiz = await repo.create_quiz(QuizCreate(title="before"))
    assert quiz.id is not None
    async with engine.connect() as writer:
        await writer.begin()  # on SQLite: BEGIN IMMEDIATE, holding the database's write lock
        await writer.execute(text("UPDATE quizzes SET title = 'uncommitted' WHERE id = :id"), {"id": quiz.id})
        seen = await asyncio.wait_for(repo.get_quiz(quiz.id), timeout=2)
        assert seen is not None
        assert seen.title == "before"
        listed = await asyncio.wait_for(repo.list_quizzes(), timeout=2)
        assert [q.title for q in listed] == ["before"]
        await writer.rollback()
