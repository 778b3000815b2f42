"""Every query Quizhub runs, in one module: quizzes, games, teams, devices, users, tokens, results, event log.

Each method is one transaction: it opens a session, commits on success, rolls back on any error, and returns
detached rows that stay readable (``expire_on_commit=False``). Callers never see a session.

The event log's append is a compare-and-set on the game row (see :meth:`Repository.append_events`); that one
conditional UPDATE is what serialises writers on both backends, so there is no read-check-write race to lose.
"""

from __future__ import annotations

import secrets
import sqlite3
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, func, insert, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from hub.db.engine import READ_ONLY, SQLITE_BUSY_TIMEOUT_MS, session_factory
from hub.db.errors import (
    AlreadyExistsError,
    FencedOutError,
    InUseError,
    NotFoundError,
    RepositoryError,
    SequenceConflictError,
)
from hub.db.events import NewEvent, StoredEvent
from hub.db.models import (
    ApiToken,
    Device,
    Game,
    GameEvent,
    GameStatus,
    Question,
    Quiz,
    Result,
    Round,
    Team,
    TokenRole,
    User,
    UserRole,
)
from hub.db.sqlite_append import SqliteAppender
from hub.db.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from hub.db.schemas import QuestionCreate, QuizCreate, QuizUpdate

__all__ = ["JOIN_CODE_ATTEMPTS", "DeviceHealth", "NewResult", "Repository"]

_Row = TypeVar("_Row")

JOIN_CODE_ATTEMPTS = 20
"""Random join codes tried before giving up; with a million codes a clash even twice in a row is rare."""


@dataclass(frozen=True, slots=True)
class NewResult:
    """A team's final standing, as :meth:`Repository.save_results` stores it."""

    team_name: str
    score: int
    rank: int
    team_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """What a device's status message or the clock model says about it; None fields are left unchanged."""

    device_id: str
    seen_at: datetime | None = None
    online: bool | None = None
    fw: str | None = None
    rssi: int | None = None
    battery_mv: int | None = None
    boot: int | None = None
    clock_uncertainty_us: float | None = None
    one_way_us: float | None = None

    def changes(self) -> dict[str, Any]:
        """The devices-table columns this update sets."""
        values = {
            "last_seen_at": self.seen_at,
            "online": self.online,
            "fw": self.fw,
            "rssi": self.rssi,
            "battery_mv": self.battery_mv,
            "boot": self.boot,
            "clock_uncertainty_us": self.clock_uncertainty_us,
            "one_way_us": self.one_way_us,
        }
        return {key: value for key, value in values.items() if value is not None}


class Repository:
    """Typed async access to the Quizhub database. Build it from a session factory or an engine."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._appender: SqliteAppender | None = None
        self._appender_checked = False
        # Appends that went through SQLAlchemy (on an SQLite file: only refused ones, which raise).
        self.slow_appends = 0

    @property
    def append_path(self) -> str:
        """How the event log is appended: "sqlite3" (the lean writer thread) or "sqlalchemy"."""
        return "sqlite3" if self._fast_appender() is not None else "sqlalchemy"

    @property
    def fast_appends(self) -> int:
        """Appends committed by the lean SQLite writer (hub/db/sqlite_append.py); 0 on other databases."""
        return 0 if self._appender is None else self._appender.appended

    def _fast_appender(self) -> SqliteAppender | None:
        """The plain-sqlite3 log writer for an SQLite file database (see hub/db/sqlite_append.py), else None."""
        if not self._appender_checked:
            self._appender_checked = True
            bind = self._sessions.kw.get("bind")
            url = bind.url if isinstance(bind, AsyncEngine) else None
            if url is not None and url.get_backend_name() == "sqlite" and url.database not in {None, "", ":memory:"}:
                assert url.database is not None
                if not url.database.startswith("file:"):
                    self._appender = SqliteAppender(url.database, SQLITE_BUSY_TIMEOUT_MS)
                    weakref.finalize(self, self._appender.close_soon)
        return self._appender

    @classmethod
    def from_engine(cls, engine: AsyncEngine) -> Repository:
        """A repository on its own session factory for ``engine``."""
        return cls(session_factory(engine))

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            # Reads need no write lock: on SQLite this makes the transaction a deferred BEGIN (see engine.py).
            await session.connection(execution_options={READ_ONLY: True})
            yield session

    # ------------------------------------------------------------------ quizzes and questions

    async def create_quiz(self, data: QuizCreate, *, owner_id: int | None = None) -> Quiz:
        """Store a new quiz with its questions (in the order given) in one transaction."""
        async with self._write() as session:
            quiz = Quiz(title=data.title, description=data.description, owner_id=owner_id)
            session.add(quiz)
            await session.flush()
            for index, question in enumerate(data.questions):
                round_id = await _resolve_round(session, question, _id(quiz.id))
                session.add(_question_row(question, quiz_id=_id(quiz.id), position=index, round_id=round_id))
        return quiz

    async def get_quiz(self, quiz_id: int) -> Quiz | None:
        """The quiz with this id, or None."""
        async with self._read() as session:
            return await session.get(Quiz, quiz_id)

    async def list_quizzes(self) -> list[Quiz]:
        """Every quiz, newest first."""
        async with self._read() as session:
            rows = await session.exec(select(Quiz).order_by(col(Quiz.created_at).desc(), col(Quiz.id).desc()))
            return list(rows)

    async def update_quiz(self, quiz_id: int, changes: QuizUpdate) -> Quiz:
        """Apply the fields set in ``changes``; raises :class:`NotFoundError` for an unknown quiz."""
        async with self._write() as session:
            quiz = await _get_or_raise(session, Quiz, quiz_id, "quiz")
            for field, value in changes.model_dump(exclude_unset=True, exclude_none=True).items():
                setattr(quiz, field, value)
            quiz.updated_at = utcnow()
        return quiz

    async def delete_quiz(self, quiz_id: int) -> None:
        """Delete a quiz and its rounds and questions; refused with :class:`InUseError` while games use it."""
        async with self._write() as session:
            quiz = await _get_or_raise(session, Quiz, quiz_id, "quiz")
            games = (await session.exec(select(func.count()).where(col(Game.quiz_id) == quiz_id))).one()
            if games:
                raise InUseError(f"quiz {quiz_id} has {games} game(s); delete those games before the quiz")
            await session.delete(quiz)

    async def create_round(self, quiz_id: int, title: str, *, position: int | None = None) -> Round:
        """Add a named round to a quiz (at the end unless ``position`` is given)."""
        async with self._write() as session:
            await _get_or_raise(session, Quiz, quiz_id, "quiz")
            if position is None:
                position = await _next_position(session, Round, quiz_id)
            row = Round(quiz_id=quiz_id, title=title, position=position)
            session.add(row)
        return row

    async def list_rounds(self, quiz_id: int) -> list[Round]:
        """A quiz's rounds in order."""
        async with self._read() as session:
            rows = await session.exec(
                select(Round).where(Round.quiz_id == quiz_id).order_by(col(Round.position), col(Round.id))
            )
            return list(rows)

    async def add_question(self, quiz_id: int, data: QuestionCreate) -> Question:
        """Add a question to a quiz; at the end unless ``data.position`` says where."""
        async with self._write() as session:
            quiz = await _get_or_raise(session, Quiz, quiz_id, "quiz")
            round_id = await _resolve_round(session, data, quiz_id)
            position = data.position
            if position is None:
                position = await _next_position(session, Question, quiz_id)
            row = _question_row(data, quiz_id=quiz_id, position=position, round_id=round_id)
            session.add(row)
            quiz.updated_at = utcnow()
        return row

    async def get_question(self, question_id: int) -> Question | None:
        """The question with this id, or None."""
        async with self._read() as session:
            return await session.get(Question, question_id)

    async def list_questions(self, quiz_id: int) -> list[Question]:
        """A quiz's questions in play order."""
        async with self._read() as session:
            rows = await session.exec(
                select(Question).where(Question.quiz_id == quiz_id).order_by(col(Question.position), col(Question.id))
            )
            return list(rows)

    async def replace_question(self, question_id: int, data: QuestionCreate) -> Question:
        """Overwrite a question with ``data`` (keeping its position if ``data.position`` is None)."""
        async with self._write() as session:
            row = await _get_or_raise(session, Question, question_id, "question")
            round_id = await _resolve_round(session, data, row.quiz_id)
            fresh = _question_row(data, quiz_id=row.quiz_id, position=row.position, round_id=round_id)
            for field in _QUESTION_FIELDS:
                setattr(row, field, getattr(fresh, field))
            quiz = await _get_or_raise(session, Quiz, row.quiz_id, "quiz")
            quiz.updated_at = utcnow()
        return row

    async def reorder_questions(self, quiz_id: int, question_ids: Sequence[int]) -> list[Question]:
        """Put a quiz's questions in this order (positions 0..n-1), in one transaction.

        ``question_ids`` must name every question of the quiz once; otherwise nothing changes and
        :class:`RepositoryError` says which ids differ (the caller's list is stale: reload the quiz)."""
        async with self._write() as session:
            quiz = await _get_or_raise(session, Quiz, quiz_id, "quiz")
            rows = {_id(q.id): q for q in await session.exec(select(Question).where(Question.quiz_id == quiz_id))}
            if sorted(question_ids) != sorted(rows):
                missing = sorted(set(rows) - set(question_ids))
                unknown = sorted(set(question_ids) - set(rows))
                raise RepositoryError(
                    f"the new order must name each of quiz {quiz_id}'s questions once (missing {missing}, not in "
                    f"the quiz {unknown}); reload the quiz and send its question ids again in the order you want"
                )
            for position, question_id in enumerate(question_ids):
                rows[question_id].position = position
            quiz.updated_at = utcnow()
            return [rows[question_id] for question_id in question_ids]

    async def delete_question(self, question_id: int) -> None:
        """Delete one question; raises :class:`NotFoundError` for an unknown id."""
        async with self._write() as session:
            row = await _get_or_raise(session, Question, question_id, "question")
            await session.delete(row)

    # ------------------------------------------------------------------ games

    async def create_game(
        self, quiz_id: int, *, settings: dict[str, Any] | None = None, host_id: int | None = None
    ) -> Game:
        """Start a game of a quiz in the lobby, with a fresh 6-digit join code unique among live games."""
        for _ in range(JOIN_CODE_ATTEMPTS):
            code = f"{secrets.randbelow(1_000_000):06d}"
            try:
                async with self._write() as session:
                    await _get_or_raise(session, Quiz, quiz_id, "quiz")
                    if host_id is not None:
                        await _get_or_raise(session, User, host_id, "user")
                    game = Game(quiz_id=quiz_id, join_code=code, settings=settings or {}, host_id=host_id)
                    session.add(game)
            except IntegrityError:
                continue  # the code (or, astronomically rarely, the id) is taken by a live game: draw again
            return game
        raise RepositoryError(f"no free join code found in {JOIN_CODE_ATTEMPTS} tries; finish old games to free codes")

    async def get_game(self, game_id: str) -> Game | None:
        """The game with this id, or None."""
        async with self._read() as session:
            return await session.get(Game, game_id)

    async def get_live_game_by_code(self, join_code: str) -> Game | None:
        """The lobby or running game with this join code, or None (finished games give their code up)."""
        async with self._read() as session:
            rows = await session.exec(
                select(Game).where(Game.join_code == join_code, col(Game.status) != GameStatus.FINISHED)
            )
            return rows.first()

    async def list_games(self, *, status: GameStatus | None = None) -> list[Game]:
        """Games, newest first, optionally only those with ``status``."""
        query = select(Game).order_by(col(Game.created_at).desc(), col(Game.id))
        if status is not None:
            query = query.where(Game.status == status)
        async with self._read() as session:
            return list(await session.exec(query))

    async def list_running_games(self) -> list[Game]:
        """Every game not finished (lobby or running), oldest first: what a restarted hub must rebuild."""
        async with self._read() as session:
            rows = await session.exec(
                select(Game).where(col(Game.status) != GameStatus.FINISHED).order_by(col(Game.created_at), col(Game.id))
            )
            return list(rows)

    async def set_game_status(self, game_id: str, status: GameStatus) -> Game:
        """Move a game to ``status``, stamping ``started_at`` / ``finished_at`` the first time."""
        async with self._write() as session:
            changed = await session.exec(
                update(Game)
                .where(col(Game.id) == game_id)
                .values(**_status_changes(status, utcnow()))
                .returning(col(Game.id))
                .execution_options(synchronize_session=False)
            )
            if changed.first() is None:
                raise NotFoundError(f"no game with id {game_id!r}")
            return await _get_or_raise(session, Game, game_id, "game")

    async def delete_game(self, game_id: str) -> None:
        """Delete a game with its teams, events and results; its devices are unpaired."""
        async with self._write() as session:
            game = await _get_or_raise(session, Game, game_id, "game")
            await session.delete(game)

    async def claim_game(self, game_id: str, fence: int) -> Game:
        """Record that the holder of fencing token ``fence`` now owns the game (hub failover, issue 8).

        Re-claiming with the current token is allowed (a restarted owner). A token older than the game's raises
        :class:`FencedOutError`. From now on, appends with a smaller token (or none) are refused.
        """
        if fence < 0:
            raise ValueError(f"a fencing token is a non-negative integer, got {fence}")
        async with self._write() as session:
            claimed = await session.exec(
                update(Game)
                .where(col(Game.id) == game_id, col(Game.owner_fence) <= fence)
                .values(owner_fence=fence)
                .returning(col(Game.id))
                .execution_options(synchronize_session=False)
            )
            if claimed.first() is None:
                game = await _get_or_raise(session, Game, game_id, "game")
                raise FencedOutError(game_id, fence, game.owner_fence)
            return await _get_or_raise(session, Game, game_id, "game")

    # ------------------------------------------------------------------ event log

    async def append_events(
        self,
        game_id: str,
        events: Sequence[NewEvent],
        *,
        expected_next_seq: int,
        fence: int | None = None,
        status: GameStatus | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` to the game's log as ``expected_next_seq``, ``expected_next_seq + 1``, … in ONE
        transaction: all are written or none.

        Raises :class:`SequenceConflictError` if the log's next number is not ``expected_next_seq`` (another
        writer got there first) and :class:`FencedOutError` if the game was claimed with a fencing token greater
        than ``fence`` (``None`` counts as 0, the token of a never-claimed game). In both cases nothing is
        written. A successful append with a token greater than the game's raises the game's token to it, as
        :meth:`claim_game` would. An empty ``events`` writes no event but performs the same checks.
        ``status``, if given, moves the game to it in the same transaction (as :meth:`set_game_status`), so an
        event like "game started" and the game's listed status can never disagree.

        How: one conditional UPDATE on the game row, ``last_seq = expected - 1 + n`` where ``last_seq = expected
        - 1`` and ``owner_fence <= fence``. PostgreSQL row-locks it (a racing writer waits, then re-checks the
        condition against the winner's commit and matches nothing); SQLite runs writers one at a time. The
        primary key (game_id, seq) backs this up: a duplicate number cannot be stored. On an SQLite file the same
        UPDATE (status included) and INSERT run on the lean writer thread (hub/db/sqlite_append.py); only a refused
        append comes down to SQLAlchemy here, to be refused again with the reason.
        """
        if expected_next_seq < 1:
            raise ValueError(f"sequence numbers start at 1; expected_next_seq={expected_next_seq} is impossible")
        if fence is not None and fence < 0:
            raise ValueError(f"a fencing token is a non-negative integer, got {fence}")
        batch = list(events)
        held = 0 if fence is None else fence
        new_last = expected_next_seq - 1 + len(batch)
        now = utcnow()
        fast = self._fast_appender()
        if fast is not None:
            try:
                stored_fast = await fast.append(
                    game_id, batch, expected_next_seq=expected_next_seq, fence=fence, now=now, status=status
                )
            except sqlite3.IntegrityError as exc:
                raise _refused_rows(game_id, expected_next_seq, new_last, exc) from exc
            if stored_fast is not None:
                return stored_fast
            # Refused: the path below re-checks (seq and fence only grow, so it is refused too) and says why.
        self.slow_appends += 1
        async with self._write() as session:
            updated = await session.exec(
                update(Game)
                .where(
                    col(Game.id) == game_id,
                    col(Game.last_seq) == expected_next_seq - 1,
                    col(Game.owner_fence) <= held,
                )
                # Storage remembers the highest token it has accepted: a successor's first append locks the
                # old owner out even before (or without) an explicit claim_game.
                .values(last_seq=new_last, owner_fence=held, **_status_changes(status, now))
                .returning(col(Game.id))
                .execution_options(synchronize_session=False)
            )
            if updated.first() is None:
                await _raise_refused_append(session, game_id, expected_next_seq, fence)
            stored = [
                StoredEvent(game_id, expected_next_seq + i, e.type, e.payload, e.ts or now, fence)
                for i, e in enumerate(batch)
            ]
            if stored:
                rows = [
                    {"game_id": game_id, "seq": s.seq, "type": s.type, "payload": s.payload, "ts": s.ts, "fence": fence}
                    for s in stored
                ]
                try:
                    await session.exec(insert(GameEvent), params=rows)
                except IntegrityError as exc:
                    raise _refused_rows(game_id, expected_next_seq, new_last, exc.orig) from exc
        return stored

    async def load_events(self, game_id: str, after_seq: int = 0, *, limit: int | None = None) -> list[StoredEvent]:
        """The game's events with ``seq > after_seq`` in order (at most ``limit``); [] for an unknown game."""
        query = (
            select(GameEvent)
            .where(GameEvent.game_id == game_id, col(GameEvent.seq) > after_seq)
            .order_by(col(GameEvent.seq))
        )
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as session:
            rows = await session.exec(query)
            return [StoredEvent(r.game_id, r.seq, r.type, r.payload, r.ts, r.fence) for r in rows]

    async def last_seq(self, game_id: str) -> int:
        """The newest event's sequence number (0 for an empty log); :class:`NotFoundError` for an unknown game."""
        async with self._read() as session:
            game = await _get_or_raise(session, Game, game_id, "game")
            return game.last_seq

    # ------------------------------------------------------------------ teams

    async def create_team(self, game_id: str, name: str, token_hash: str, *, color: str | None = None) -> Team:
        """Join a game as a new team; :class:`AlreadyExistsError` if the name is taken in this game."""
        try:
            async with self._write() as session:
                await _get_or_raise(session, Game, game_id, "game")
                taken = await session.exec(select(Team.id).where(Team.game_id == game_id, Team.name == name))
                if taken.first() is not None:
                    raise AlreadyExistsError(f"game {game_id} already has a team named {name!r}; pick another name")
                team = Team(game_id=game_id, name=name, token_hash=token_hash, color=color)
                session.add(team)
        except IntegrityError as exc:
            # A racing join took the name between our check and insert, or the token hash is reused.
            raise AlreadyExistsError(
                f"team {name!r} could not join game {game_id}: the name or the team token is already in use"
            ) from exc
        return team

    async def get_team(self, team_id: str) -> Team | None:
        """The team with this id, or None."""
        async with self._read() as session:
            return await session.get(Team, team_id)

    async def team_by_token_hash(self, token_hash: str) -> Team | None:
        """The team a (hashed) team token belongs to: how a team rejoins after a refresh. None if unknown."""
        async with self._read() as session:
            return (await session.exec(select(Team).where(Team.token_hash == token_hash))).first()

    async def list_teams(self, game_id: str) -> list[Team]:
        """A game's teams in joining order."""
        async with self._read() as session:
            rows = await session.exec(
                select(Team).where(Team.game_id == game_id).order_by(col(Team.created_at), col(Team.id))
            )
            return list(rows)

    async def delete_team(self, team_id: str) -> None:
        """Delete a team: its token stops working, its devices are unpaired and its results keep the name only.

        :class:`NotFoundError` if there is no such team. The game's log keeps the team's events (the log is history).
        """
        async with self._write() as session:
            deleted = await session.exec(
                delete(Team).where(col(Team.id) == team_id).returning(col(Team.id)).execution_options(
                    synchronize_session=False
                )
            )
            if deleted.first() is None:
                raise NotFoundError(f"no team with id {team_id!r}")

    # ------------------------------------------------------------------ devices

    async def record_device_health(
        self,
        device_id: str,
        *,
        seen_at: datetime | None = None,
        online: bool | None = None,
        fw: str | None = None,
        rssi: int | None = None,
        battery_mv: int | None = None,
        boot: int | None = None,
        clock_uncertainty_us: float | None = None,
        one_way_us: float | None = None,
    ) -> Device:
        """Insert or update a device's presence and health; only the arguments given (not None) change.

        An unknown device is created (it then shows as unpaired). ``seen_at`` sets ``last_seen_at``.
        """
        health = DeviceHealth(
            device_id,
            seen_at=seen_at,
            online=online,
            fw=fw,
            rssi=rssi,
            battery_mv=battery_mv,
            boot=boot,
            clock_uncertainty_us=clock_uncertainty_us,
            one_way_us=one_way_us,
        )
        (device,) = await self.record_devices_health([health])
        return device

    async def record_devices_health(self, updates: Sequence[DeviceHealth]) -> list[Device]:
        """:meth:`record_device_health` for many devices in ONE transaction (one commit, one fsync).

        For periodic clock statistics of a whole fleet: on SQLite every write transaction queues with the event
        log's appends, so a hub should write health in batches rather than one device at a time.
        """
        # One executemany per shape of change (a fleet's periodic batch has one shape): a statement per device
        # meant one driver round trip each while holding SQLite's only write lock, which queued buzz appends.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for update_ in updates:
            changes = update_.changes()
            groups.setdefault(tuple(sorted(changes)), []).append({"id": update_.device_id, **changes})
        async with self._write() as session:
            dialect = (await session.connection()).dialect.name
            now = utcnow()
            for keys, group in groups.items():
                stmt = _upsert(dialect)
                if keys:
                    stmt = stmt.on_conflict_do_update(
                        index_elements=[col(Device.id)], set_={key: stmt.excluded[key] for key in keys}
                    )
                else:
                    stmt = stmt.on_conflict_do_nothing(index_elements=[col(Device.id)])
                await session.exec(stmt, params=[{"first_seen_at": now, "online": False, **row} for row in group])
            ids = [u.device_id for u in updates]
            rows = {d.id: d for d in await session.exec(select(Device).where(col(Device.id).in_(ids)))}
            return [rows[device_id] for device_id in ids]

    async def pair_device(self, device_id: str, team_id: str, *, name: str | None = None) -> Device:
        """Assign a device to a team (and so to the team's game); creates the device row if it is new."""
        async with self._write() as session:
            team = await _get_or_raise(session, Team, team_id, "team")
            device = await session.get(Device, device_id)
            if device is None:
                device = Device(id=device_id)
                session.add(device)
            device.team_id, device.game_id = team.id, team.game_id
            if name is not None:
                device.name = name
        return device

    async def unpair_device(self, device_id: str) -> Device:
        """Take a device off its team and game; it keeps its health data and name."""
        async with self._write() as session:
            device = await _get_or_raise(session, Device, device_id, "device")
            device.team_id = device.game_id = None
        return device

    async def get_device(self, device_id: str) -> Device | None:
        """The device with this id, or None."""
        async with self._read() as session:
            return await session.get(Device, device_id)

    async def list_devices(self, *, game_id: str | None = None) -> list[Device]:
        """Every device (or only those paired into ``game_id``), by id."""
        query = select(Device).order_by(col(Device.id))
        if game_id is not None:
            query = query.where(Device.game_id == game_id)
        async with self._read() as session:
            return list(await session.exec(query))

    # ------------------------------------------------------------------ users

    async def create_user(
        self,
        name: str,
        role: UserRole,
        *,
        password_hash: str | None = None,
        oidc_issuer: str | None = None,
        oidc_subject: str | None = None,
    ) -> User:
        """A new account; :class:`AlreadyExistsError` if the name or the OIDC identity is taken."""
        if (oidc_issuer is None) != (oidc_subject is None):
            raise ValueError("an OIDC identity needs both the issuer and the subject")
        user = User(
            name=name, role=role, password_hash=password_hash, oidc_issuer=oidc_issuer, oidc_subject=oidc_subject
        )
        try:
            async with self._write() as session:
                session.add(user)
        except IntegrityError as exc:
            raise AlreadyExistsError(f"a user named {name!r} or with this OIDC identity already exists") from exc
        return user

    async def get_user(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        async with self._read() as session:
            return await session.get(User, user_id)

    async def get_user_by_name(self, name: str) -> User | None:
        """The user with this login name, or None."""
        async with self._read() as session:
            return (await session.exec(select(User).where(User.name == name))).first()

    async def get_user_by_oidc(self, issuer: str, subject: str) -> User | None:
        """The user with this OIDC identity (issuer + subject, never the e-mail), or None."""
        async with self._read() as session:
            rows = await session.exec(select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject))
            return rows.first()

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        async with self._read() as session:
            return list(await session.exec(select(User).order_by(col(User.name))))

    async def has_admin(self) -> bool:
        """Whether any admin exists (if not, ``serve`` offers a one-time setup link)."""
        async with self._read() as session:
            rows = await session.exec(select(User.id).where(User.role == UserRole.ADMIN).limit(1))
            return rows.first() is not None

    async def set_user_role(self, user_id: int, role: UserRole) -> User:
        """Change a user's role."""
        async with self._write() as session:
            user = await _get_or_raise(session, User, user_id, "user")
            user.role = role
        return user

    async def set_password_hash(self, user_id: int, password_hash: str | None) -> User:
        """Set (or, with None, remove: OIDC-only) a user's argon2 password hash."""
        async with self._write() as session:
            user = await _get_or_raise(session, User, user_id, "user")
            user.password_hash = password_hash
        return user

    async def record_login(self, user_id: int, *, at: datetime | None = None) -> User:
        """Stamp a successful login."""
        async with self._write() as session:
            user = await _get_or_raise(session, User, user_id, "user")
            user.last_login_at = at or utcnow()
        return user

    async def delete_user(self, user_id: int) -> None:
        """Delete a user; quizzes and games they owned stay, without an owner."""
        async with self._write() as session:
            await session.delete(await _get_or_raise(session, User, user_id, "user"))

    # ------------------------------------------------------------------ API tokens

    async def create_api_token(
        self,
        name: str,
        role: TokenRole,
        token_hash: str,
        *,
        created_by_id: int | None = None,
        game_id: str | None = None,
    ) -> ApiToken:
        """Store a new API token (hashed with :func:`hub.db.tokens.hash_token`)."""
        if role is TokenRole.DISPLAY and game_id is None:
            raise ValueError("a display token shows one game; give its game_id")
        token = ApiToken(name=name, role=role, token_hash=token_hash, created_by_id=created_by_id, game_id=game_id)
        try:
            async with self._write() as session:
                session.add(token)
        except IntegrityError as exc:
            raise AlreadyExistsError(
                f"API token {name!r}: this token is already stored, or its game is unknown"
            ) from exc
        return token

    async def use_api_token(self, token_hash: str, *, at: datetime | None = None) -> ApiToken | None:
        """The active (not revoked) token with this hash, stamping its last use; None if unknown or revoked."""
        async with self._write() as session:
            rows = await session.exec(
                select(ApiToken).where(ApiToken.token_hash == token_hash, col(ApiToken.revoked_at).is_(None))
            )
            token = rows.first()
            if token is not None:
                token.last_used_at = at or utcnow()
            return token

    async def list_api_tokens(self) -> list[ApiToken]:
        """Every API token (hashes only), newest first."""
        async with self._read() as session:
            rows = await session.exec(select(ApiToken).order_by(col(ApiToken.created_at).desc(), col(ApiToken.id)))
            return list(rows)

    async def revoke_api_token(self, token_id: int, *, at: datetime | None = None) -> ApiToken:
        """Revoke a token; revoking twice keeps the first revocation time."""
        async with self._write() as session:
            token = await _get_or_raise(session, ApiToken, token_id, "API token")
            if token.revoked_at is None:
                token.revoked_at = at or utcnow()
        return token

    # ------------------------------------------------------------------ results

    async def save_results(self, game_id: str, standings: Sequence[NewResult]) -> list[Result]:
        """Replace the game's final standings with ``standings`` (idempotent: saving twice keeps one set)."""
        async with self._write() as session:
            await _get_or_raise(session, Game, game_id, "game")
            await session.exec(delete(Result).where(col(Result.game_id) == game_id))
            rows = [
                Result(game_id=game_id, team_id=s.team_id, team_name=s.team_name, score=s.score, rank=s.rank)
                for s in standings
            ]
            session.add_all(rows)
        return sorted(rows, key=lambda r: (r.rank, r.team_name))

    async def list_results(self, game_id: str) -> list[Result]:
        """A game's final standings by rank."""
        async with self._read() as session:
            rows = await session.exec(
                select(Result).where(Result.game_id == game_id).order_by(col(Result.rank), col(Result.team_name))
            )
            return list(rows)


# ---------------------------------------------------------------------- helpers

_QUESTION_FIELDS = (
    "round_id",
    "position",
    "type",
    "text",
    "choices",
    "answer",
    "points",
    "penalty",
    "buzz_window_ms",
    "answer_time_ms",
    "media",
)


def _question_row(data: QuestionCreate, *, quiz_id: int, position: int, round_id: int | None) -> Question:
    values = data.model_dump(include=set(_QUESTION_FIELDS))
    values["position"] = position if data.position is None else data.position
    values["round_id"] = round_id
    return Question(quiz_id=quiz_id, **values)


def _refused_rows(game_id: str, first: int, last: int, cause: object) -> RepositoryError:
    return RepositoryError(
        f"game {game_id}: the database refused events #{first}-#{last} ({cause}); nothing was written. A duplicate "
        "key here means something wrote the log outside hub.db.repository (our bug)"
    )


def _id(value: int | None) -> int:
    if value is None:  # pragma: no cover - flush always assigns the primary key
        raise RuntimeError("the database assigned no id after flush")
    return value


async def _get_or_raise(session: AsyncSession, model: type[_Row], key: object, what: str) -> _Row:
    row = await session.get(model, key)
    if row is None:
        raise NotFoundError(f"no {what} with id {key!r}")
    return row


async def _next_position(session: AsyncSession, model: type[Round | Question], quiz_id: int) -> int:
    highest = (await session.exec(select(func.max(col(model.position))).where(col(model.quiz_id) == quiz_id))).one()
    return 0 if highest is None else int(highest) + 1


async def _resolve_round(session: AsyncSession, data: QuestionCreate, quiz_id: int) -> int | None:
    # The round a question goes into: checked by id, or found (or created, at the end) by title.
    if data.round_id is not None:
        row = await session.get(Round, data.round_id)
        if row is None or row.quiz_id != quiz_id:
            raise NotFoundError(f"quiz {quiz_id} has no round with id {data.round_id}")
        return data.round_id
    if data.round_title is None:
        return None
    found = await session.exec(
        select(Round).where(Round.quiz_id == quiz_id, Round.title == data.round_title).order_by(col(Round.id))
    )
    existing = found.first()
    if existing is not None:
        return existing.id
    created = Round(quiz_id=quiz_id, title=data.round_title, position=await _next_position(session, Round, quiz_id))
    session.add(created)
    await session.flush()
    return created.id


def _status_changes(status: GameStatus | None, now: datetime) -> dict[str, Any]:
    # Column values for an UPDATE moving a game to `status`; the first start and finish times are kept.
    if status is None:
        return {}
    changes: dict[str, Any] = {"status": status}
    if status is GameStatus.RUNNING:
        changes["started_at"] = func.coalesce(col(Game.started_at), literal(now, UTCDateTime()))
    if status is GameStatus.FINISHED:
        changes["finished_at"] = func.coalesce(col(Game.finished_at), literal(now, UTCDateTime()))
    return changes


async def _raise_refused_append(session: AsyncSession, game_id: str, expected_next_seq: int, fence: int | None) -> None:
    game = await _get_or_raise(session, Game, game_id, "game")
    # The fence first: a writer that lost its lease must stop, not reload and retry.
    if game.owner_fence > (0 if fence is None else fence):
        raise FencedOutError(game_id, fence, game.owner_fence)
    raise SequenceConflictError(game_id, expected_next_seq, game.last_seq + 1)


def _upsert(dialect: str) -> sqlite.Insert | postgresql.Insert:
    # INSERT … ON CONFLICT is spelled the same on both backends but built by each dialect's own insert().
    if dialect == "postgresql":
        return postgresql.insert(Device)
    return sqlite.insert(Device)
