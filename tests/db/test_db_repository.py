"""Repository round-trips on both backends: quizzes, games, teams, devices, users, API tokens, results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.db import (
    AlreadyExistsError,
    DeviceHealth,
    InUseError,
    NewResult,
    NotFoundError,
    Repository,
    hash_token,
    new_token,
)
from hub.db.models import GameStatus, QuestionType, TokenRole, UserRole
from hub.db.schemas import QuestionCreate, QuestionPublic, QuizCreate, QuizPublic, QuizUpdate

MC = QuestionCreate(
    type=QuestionType.MULTIPLE_CHOICE,
    text="Welche Farbe hat ein Rotkehlchen? 🐦",
    choices=["Blau", "Rot-orange", "Grün"],
    answer=1,
    points=2,
    answer_time_ms=20_000,
    media={"kind": "image", "url": "/media/robin.jpg", "credits": {"by": "Zoë"}},
)
TF = QuestionCreate(type=QuestionType.TRUE_FALSE, text="The Moon is a planet.", answer=False)
NUM = QuestionCreate(type=QuestionType.NUMERIC, text="Height of Everest (m)?", answer=8848.86)
BUZZ = QuestionCreate(type=QuestionType.BUZZER, text="Capital of Australia?", answer="Canberra", penalty=1)


async def _quiz_id(repo: Repository, *questions: QuestionCreate) -> int:
    quiz = await repo.create_quiz(QuizCreate(title="Pub quiz", questions=list(questions)))
    assert quiz.id is not None
    return quiz.id


async def test_quiz_with_questions_round_trips(repo: Repository) -> None:
    quiz_id = await _quiz_id(repo, MC, TF, NUM, BUZZ)
    quiz = await repo.get_quiz(quiz_id)
    assert quiz is not None
    public = QuizPublic.model_validate(quiz)
    assert (public.title, public.description) == ("Pub quiz", "")
    assert public.created_at.tzinfo is not None

    questions = await repo.list_questions(quiz_id)
    assert [q.position for q in questions] == [0, 1, 2, 3]
    shapes = [QuestionPublic.model_validate(q) for q in questions]
    for sent, got in zip([MC, TF, NUM, BUZZ], shapes, strict=True):
        stored = got.model_dump(exclude={"id", "quiz_id", "position"})
        assert stored == sent.model_dump(exclude={"position", "round_title"})
    assert questions[0].type is QuestionType.MULTIPLE_CHOICE  # stored as its value, read back as the enum
    assert questions[1].answer is False
    assert questions[1].choices is None  # SQL NULL, not the JSON text "null"


async def test_questions_add_replace_delete(repo: Repository) -> None:
    quiz_id = await _quiz_id(repo, TF)
    added = await repo.add_question(quiz_id, NUM)
    assert added.position == 1
    round_ = await repo.create_round(quiz_id, "Finale")
    assert round_.position == 0
    placed = await repo.add_question(quiz_id, BUZZ.model_copy(update={"position": 0, "round_id": round_.id}))
    assert [q.text for q in await repo.list_questions(quiz_id)] == [TF.text, BUZZ.text, NUM.text]
    assert placed.round_id == round_.id

    assert added.id is not None
    replaced = await repo.replace_question(added.id, MC)
    assert (replaced.type, replaced.choices, replaced.position) == (MC.type, MC.choices, 1)
    again = await repo.get_question(added.id)
    assert again is not None
    assert again.answer == 1

    await repo.delete_question(added.id)
    assert await repo.get_question(added.id) is None
    with pytest.raises(NotFoundError):
        await repo.delete_question(added.id)
    with pytest.raises(NotFoundError):
        await repo.add_question(quiz_id + 999, TF)
    other = await _quiz_id(repo)
    with pytest.raises(NotFoundError, match="no round"):
        await repo.add_question(other, TF.model_copy(update={"round_id": round_.id}))


async def test_quiz_import_with_round_titles_is_one_transaction(repo: Repository) -> None:
    quiz = await repo.create_quiz(
        QuizCreate(
            title="Rounds",
            questions=[
                TF.model_copy(update={"round_title": "Warm-up"}),
                NUM.model_copy(update={"round_title": "Science"}),
                BUZZ.model_copy(update={"round_title": "Warm-up"}),
                MC,
            ],
        )
    )
    assert quiz.id is not None
    rounds = await repo.list_rounds(quiz.id)
    assert [(r.title, r.position) for r in rounds] == [("Warm-up", 0), ("Science", 1)]
    by_title = {r.id: r.title for r in rounds}
    assert [by_title.get(q.round_id) for q in await repo.list_questions(quiz.id)] == [
        "Warm-up",
        "Science",
        "Warm-up",
        None,
    ]
    later = await repo.add_question(quiz.id, TF.model_copy(update={"round_title": "Science"}))
    assert by_title[later.round_id] == "Science"  # type: ignore[index]
    with pytest.raises(ValidationError, match="not both"):
        QuestionCreate(type=QuestionType.BUZZER, text="?", round_id=1, round_title="x")


async def test_a_failing_quiz_import_stores_nothing(repo: Repository) -> None:
    bad = TF.model_copy(update={"round_id": 424242})  # names a round that does not exist
    with pytest.raises(NotFoundError, match="no round"):
        await repo.create_quiz(QuizCreate(title="Half", questions=[NUM, bad]))
    assert await repo.list_quizzes() == []


def test_invalid_questions_cannot_be_built() -> None:
    with pytest.raises(ValidationError, match="index of the right choice"):
        QuestionCreate(type=QuestionType.MULTIPLE_CHOICE, text="?", choices=["a", "b"], answer=2)
    with pytest.raises(ValidationError, match="2-10 non-empty choices"):
        QuestionCreate(type=QuestionType.MULTIPLE_CHOICE, text="?", choices=["a"], answer=0)
    with pytest.raises(ValidationError, match="true or false"):
        QuestionCreate(type=QuestionType.TRUE_FALSE, text="?", answer="yes")
    with pytest.raises(ValidationError, match="is a number"):
        QuestionCreate(type=QuestionType.NUMERIC, text="?", answer=True)
    with pytest.raises(ValidationError, match="has no choices"):
        QuestionCreate(type=QuestionType.BUZZER, text="?", choices=["a", "b"])
    with pytest.raises(ValidationError):
        QuestionCreate(type=QuestionType.BUZZER, text="", answer="x")


async def test_quiz_update_and_delete(repo: Repository) -> None:
    quiz_id = await _quiz_id(repo, TF, NUM)
    before = await repo.get_quiz(quiz_id)
    assert before is not None
    updated = await repo.update_quiz(quiz_id, QuizUpdate(description="Thursday night"))
    assert (updated.title, updated.description) == ("Pub quiz", "Thursday night")
    assert updated.updated_at >= before.updated_at

    game = await repo.create_game(quiz_id)
    with pytest.raises(InUseError, match="delete those games"):
        await repo.delete_quiz(quiz_id)
    await repo.delete_game(game.id)
    await repo.delete_quiz(quiz_id)
    assert await repo.get_quiz(quiz_id) is None
    assert await repo.list_questions(quiz_id) == []  # cascaded
    with pytest.raises(NotFoundError):
        await repo.update_quiz(quiz_id, QuizUpdate(title="x"))


async def test_games_codes_status_and_recovery_listing(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    quiz_id = await _quiz_id(repo, TF)
    draws = iter([42, 42, 7, 42])
    monkeypatch.setattr("hub.db.repository.secrets.randbelow", lambda _n: next(draws, 99))

    first = await repo.create_game(quiz_id, settings={"tie_rule": "host", "grace_ms": 30, "names": ["Ä", "B"]})
    second = await repo.create_game(quiz_id)  # draws 42 (taken by a live game), then 7
    assert (first.join_code, second.join_code) == ("000042", "000007")
    assert first.status is GameStatus.LOBBY
    assert (first.owner_fence, first.last_seq) == (0, 0)

    got = await repo.get_game(first.id)
    assert got is not None
    assert got.settings == {"tie_rule": "host", "grace_ms": 30, "names": ["Ä", "B"]}
    by_code = await repo.get_live_game_by_code("000042")
    assert by_code is not None
    assert by_code.id == first.id

    running = await repo.set_game_status(first.id, GameStatus.RUNNING)
    assert running.started_at is not None
    assert running.finished_at is None
    finished = await repo.set_game_status(first.id, GameStatus.FINISHED)
    assert finished.finished_at is not None
    assert finished.started_at == running.started_at
    assert await repo.get_live_game_by_code("000042") is None

    third = await repo.create_game(quiz_id)  # a finished game's code is free again
    assert third.join_code == "000042"
    assert [g.id for g in await repo.list_running_games()] == [second.id, third.id]
    assert [g.id for g in await repo.list_games(status=GameStatus.FINISHED)] == [first.id]
    assert len(await repo.list_games()) == 3
    with pytest.raises(NotFoundError, match="no quiz"):
        await repo.create_game(quiz_id + 999)
    with pytest.raises(NotFoundError, match="no user"):
        await repo.create_game(quiz_id, host_id=424242)


async def test_teams_join_and_rejoin(repo: Repository) -> None:
    quiz_id = await _quiz_id(repo)
    game, other = await repo.create_game(quiz_id), await repo.create_game(quiz_id)
    token = new_token()
    team = await repo.create_team(game.id, "Die Quizzards", hash_token(token), color="#e33")
    assert len(hash_token(token)) == 64
    assert hash_token(token) != token

    rejoined = await repo.team_by_token_hash(hash_token(token))
    assert rejoined is not None
    assert (rejoined.id, rejoined.game_id, rejoined.name, rejoined.color) == (team.id, game.id, "Die Quizzards", "#e33")
    assert await repo.team_by_token_hash(hash_token(new_token())) is None

    with pytest.raises(AlreadyExistsError, match="pick another name"):
        await repo.create_team(game.id, "Die Quizzards", hash_token(new_token()))
    await repo.create_team(other.id, "Die Quizzards", hash_token(new_token()))  # same name, other game: fine
    with pytest.raises(AlreadyExistsError, match="team token"):
        await repo.create_team(game.id, "Copycats", hash_token(token))
    with pytest.raises(NotFoundError):
        await repo.create_team("nosuchgame", "x", hash_token(new_token()))
    assert [t.name for t in await repo.list_teams(game.id)] == ["Die Quizzards"]


async def test_device_health_upserts_and_pairing(repo: Repository) -> None:
    seen = datetime(2026, 11, 22, 20, 0, 0, 500, tzinfo=UTC)
    device = await repo.record_device_health(
        "esp32-a1b2c3", seen_at=seen, online=True, fw="1.0.0", rssi=-60, battery_mv=3900, boot=3
    )
    assert (device.online, device.fw, device.rssi, device.battery_mv, device.boot) == (True, "1.0.0", -60, 3900, 3)
    assert device.last_seen_at == seen
    assert not device.paired

    await repo.record_device_health("esp32-a1b2c3", clock_uncertainty_us=180.5, one_way_us=900.25)
    offline = await repo.record_device_health("esp32-a1b2c3", online=False)  # the Will: nothing but the state
    assert (offline.online, offline.fw, offline.battery_mv, offline.last_seen_at) == (False, "1.0.0", 3900, seen)
    assert (offline.clock_uncertainty_us, offline.one_way_us) == (180.5, 900.25)

    fresh = await repo.record_device_health("esp32-new")  # unknown device says hello: appears unpaired, offline
    assert (fresh.online, fresh.paired, fresh.last_seen_at) == (False, False, None)

    quiz_id = await _quiz_id(repo)
    game = await repo.create_game(quiz_id)
    team = await repo.create_team(game.id, "Red", hash_token(new_token()))
    paired = await repo.pair_device("esp32-a1b2c3", team.id, name="Buzzer 1")
    assert (paired.paired, paired.team_id, paired.game_id, paired.name) == (True, team.id, game.id, "Buzzer 1")
    assert [d.id for d in await repo.list_devices(game_id=game.id)] == ["esp32-a1b2c3"]
    assert [d.id for d in await repo.list_devices()] == ["esp32-a1b2c3", "esp32-new"]

    unpaired = await repo.unpair_device("esp32-a1b2c3")
    assert (unpaired.paired, unpaired.game_id, unpaired.name, unpaired.fw) == (False, None, "Buzzer 1", "1.0.0")
    with pytest.raises(NotFoundError):
        await repo.unpair_device("esp32-ghost")
    with pytest.raises(NotFoundError):
        await repo.pair_device("esp32-a1b2c3", "nosuchteam")


async def test_fleet_health_in_one_batch(repo: Repository) -> None:
    await repo.record_device_health("dev-b", online=True, fw="0.9")
    rows = await repo.record_devices_health(
        [
            DeviceHealth("dev-b", clock_uncertainty_us=50.0, one_way_us=400.0),
            DeviceHealth("dev-a", online=True, rssi=-71),
            DeviceHealth("dev-c"),
            DeviceHealth("dev-d", clock_uncertainty_us=70.0, one_way_us=300.0),  # same shape as dev-b, but new
        ]
    )
    assert [d.id for d in rows] == ["dev-b", "dev-a", "dev-c", "dev-d"]
    assert (rows[3].online, rows[3].clock_uncertainty_us, rows[3].one_way_us) == (False, 70.0, 300.0)
    assert (rows[0].fw, rows[0].online, rows[0].clock_uncertainty_us) == ("0.9", True, 50.0)
    assert (rows[1].online, rows[1].rssi) == (True, -71)
    assert [d.id for d in await repo.list_devices()] == ["dev-a", "dev-b", "dev-c", "dev-d"]
    assert await repo.record_devices_health([]) == []


async def test_deleting_a_game_unpairs_its_devices(repo: Repository) -> None:
    # Also proves foreign keys are enforced on SQLite (they are off unless the engine turns them on).
    quiz_id = await _quiz_id(repo)
    game = await repo.create_game(quiz_id)
    team = await repo.create_team(game.id, "Blue", hash_token(new_token()))
    await repo.pair_device("esp32-1", team.id)
    await repo.delete_game(game.id)
    device = await repo.get_device("esp32-1")
    assert device is not None
    assert (device.game_id, device.team_id, device.paired) == (None, None, False)
    assert await repo.get_team(team.id) is None


async def test_users(repo: Repository) -> None:
    assert not await repo.has_admin()
    admin = await repo.create_user("root", UserRole.ADMIN, password_hash="$argon2id$v=19$m=65536,t=3,p=4$xyz")
    oidc = await repo.create_user(
        "zoë", UserRole.QUIZMASTER, oidc_issuer="https://auth.example/", oidc_subject="248289761001"
    )
    assert await repo.has_admin()
    assert admin.role is UserRole.ADMIN
    found = await repo.get_user_by_oidc("https://auth.example/", "248289761001")
    assert found is not None
    assert (found.id, found.password_hash) == (oidc.id, None)
    assert await repo.get_user_by_oidc("https://other.example/", "248289761001") is None
    by_name = await repo.get_user_by_name("root")
    assert by_name is not None
    assert by_name.password_hash == admin.password_hash

    with pytest.raises(AlreadyExistsError):
        await repo.create_user("root", UserRole.QUIZMASTER)
    with pytest.raises(AlreadyExistsError):
        await repo.create_user(
            "zoe2", UserRole.QUIZMASTER, oidc_issuer="https://auth.example/", oidc_subject="248289761001"
        )
    with pytest.raises(ValueError, match="both the issuer and the subject"):
        await repo.create_user("half", UserRole.QUIZMASTER, oidc_issuer="https://auth.example/")

    assert oidc.id is not None
    assert (await repo.set_user_role(oidc.id, UserRole.ADMIN)).role is UserRole.ADMIN
    assert (await repo.set_password_hash(oidc.id, "$argon2id$new")).password_hash == "$argon2id$new"
    when = datetime.now(UTC) - timedelta(minutes=5)
    assert (await repo.record_login(oidc.id, at=when)).last_login_at == when
    assert [u.name for u in await repo.list_users()] == ["root", "zoë"]
    await repo.delete_user(oidc.id)
    assert await repo.get_user(oidc.id) is None


async def test_api_tokens(repo: Repository) -> None:
    quiz_id = await _quiz_id(repo)
    game = await repo.create_game(quiz_id)
    secret = new_token()
    token = await repo.create_api_token("obs-overlay", TokenRole.INTEGRATOR, hash_token(secret))
    display = await repo.create_api_token("screen", TokenRole.DISPLAY, hash_token(new_token()), game_id=game.id)
    assert (token.revoked, token.last_used_at, display.game_id) == (False, None, game.id)

    used = await repo.use_api_token(hash_token(secret))
    assert used is not None
    assert used.last_used_at is not None
    assert await repo.use_api_token(hash_token("guessed")) is None

    assert token.id is not None
    revoked = await repo.revoke_api_token(token.id)
    assert revoked.revoked
    assert revoked.revoked_at is not None
    assert (await repo.revoke_api_token(token.id)).revoked_at == revoked.revoked_at
    assert await repo.use_api_token(hash_token(secret)) is None
    assert {t.name for t in await repo.list_api_tokens()} == {"obs-overlay", "screen"}

    with pytest.raises(ValueError, match="display token shows one game"):
        await repo.create_api_token("screen2", TokenRole.DISPLAY, hash_token(new_token()))
    with pytest.raises(AlreadyExistsError):
        await repo.create_api_token("dup", TokenRole.INTEGRATOR, hash_token(secret))


async def test_results_are_replaced_not_duplicated(repo: Repository) -> None:
    quiz_id = await _quiz_id(repo)
    game = await repo.create_game(quiz_id)
    red = await repo.create_team(game.id, "Red", hash_token(new_token()))
    await repo.save_results(game.id, [NewResult("Red", 10, 1, red.id), NewResult("Blue", 4, 2)])
    saved = await repo.save_results(game.id, [NewResult("Blue", 12, 1), NewResult("Red", 10, 2, red.id)])
    listed = await repo.list_results(game.id)
    assert [(r.team_name, r.score, r.rank, r.team_id) for r in listed] == [
        ("Blue", 12, 1, None),
        ("Red", 10, 2, red.id),
    ]
    assert [r.id for r in saved] == [r.id for r in listed]
    with pytest.raises(NotFoundError):
        await repo.save_results("nosuchgame", [])
