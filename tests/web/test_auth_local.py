"""Local accounts, the session cookie, CSRF, bearer tokens and the role dependencies, through the real app."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest
from fastapi import HTTPException
from starlette.websockets import WebSocket
from web_testkit import build_app, client_for

from hub.db.models import UserRole
from hub.db.schemas import QuizCreate
from web.auth import (
    add_user,
    authenticate_connection,
    create_user,
    issue_display_token,
    issue_integrator_token,
    issue_team_token,
)
from web.auth.csrf import origin_allowed
from web.auth.keys import SECRET_KEY_FILE, load_secret_key
from web.auth.passwords import PasswordTooShortError
from web.auth.sessions import SESSION_COOKIE
from web.auth.users import InvalidUserNameError, UserExistsError

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from hub.db.repository import Repository
    from hub.settings import Settings

PASSWORD = "correct horse battery"


async def _login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    csrf = response.json()["csrf_token"]
    assert isinstance(csrf, str)
    return csrf


async def _game(repo: Repository) -> str:
    quiz = await repo.create_quiz(QuizCreate(title="Pub night"))
    assert quiz.id is not None
    return (await repo.create_game(quiz.id)).id


async def test_password_login_sets_a_hardened_cookie_and_me_shows_the_role(
    client: httpx.AsyncClient, repo: Repository
) -> None:
    await create_user(repo, "ann", "quizmaster", PASSWORD)
    response = await client.post("/api/auth/login", json={"name": "ann", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain-http test server without an https public_url
    me = (await client.get("/api/auth/me")).json()
    assert me["principal"] == {"kind": "user", "id": me["principal"]["id"], "name": "ann", "role": "quizmaster",
                               "game_id": None}
    assert me["csrf_token"] == response.json()["csrf_token"]


async def test_form_login_works_too(client: httpx.AsyncClient, repo: Repository) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    response = await client.post("/api/auth/login", data={"name": "ann", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["principal"]["role"] == "admin"


async def test_wrong_password_and_unknown_name_get_the_same_sentence(
    client: httpx.AsyncClient, repo: Repository
) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    wrong = await client.post("/api/auth/login", json={"name": "ann", "password": "nope nope"})
    unknown = await client.post("/api/auth/login", json={"name": "bob", "password": "nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "Wrong name or password" in wrong.json()["detail"]
    assert SESSION_COOKIE not in client.cookies


async def test_login_body_must_be_json_or_a_form(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", content=b"name=ann", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]
    response = await client.post("/api/auth/login", json={"name": "ann"})
    assert response.status_code == 422


async def test_anonymous_gets_401_with_a_sentence(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Sign in first" in response.json()["detail"]


async def test_cookie_changes_need_the_csrf_header(client: httpx.AsyncClient, repo: Repository) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    csrf = await _login(client, "ann")
    refused = await client.post("/probe/admin")
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["detail"]
    forged = await client.post("/probe/admin", headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    assert (await client.post("/probe/admin", headers={"X-CSRF-Token": csrf})).json() == {"role": "admin"}
    # Reads need no token.
    assert (await client.get("/probe/anyone")).status_code == 200


async def test_cookie_changes_from_a_foreign_origin_are_refused(client: httpx.AsyncClient, repo: Repository) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    csrf = await _login(client, "ann")
    evil = await client.post("/probe/admin", headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "QUIZHUB_ALLOWED_ORIGINS" in evil.json()["detail"]
    same = await client.post("/probe/admin", headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"})
    assert same.status_code == 200
    login = await client.post(
        "/api/auth/login", json={"name": "ann", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert login.status_code == 403


async def test_allowed_origins_and_public_url_are_honoured(
    settings: Settings, db: async_sessionmaker[AsyncSession], repo: Repository
) -> None:
    settings = settings.model_copy(
        update={"public_url": "https://quiz.example", "allowed_origins": ["https://screen.example:8443"]}
    )
    await create_user(repo, "ann", "admin", PASSWORD)
    async with client_for(build_app(settings, db)) as client:
        response = await client.post("/api/auth/login", json={"name": "ann", "password": PASSWORD},
                                     headers={"Origin": "https://quiz.example"})
        assert response.status_code == 200
        assert "secure" in response.headers["set-cookie"].lower()  # https public URL → Secure cookie
        # httpx will not send a Secure cookie over http; hand it over as a browser on https would.
        cookie = response.cookies[SESSION_COOKIE]
        headers = {"X-CSRF-Token": response.json()["csrf_token"], "Cookie": f"{SESSION_COOKIE}={cookie}"}
        for origin, expected in (("https://screen.example:8443", 200), ("https://screen.example", 403)):
            got = await client.post("/probe/admin", headers={**headers, "Origin": origin})
            assert got.status_code == expected, origin


async def test_logout_needs_csrf_then_ends_the_session(client: httpx.AsyncClient, repo: Repository) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    csrf = await _login(client, "ann")
    assert (await client.post("/api/auth/logout")).status_code == 403
    response = await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_a_deleted_user_is_logged_out(client: httpx.AsyncClient, repo: Repository) -> None:
    user = await create_user(repo, "ann", "admin", PASSWORD)
    await _login(client, "ann")
    assert user.id is not None
    await repo.delete_user(user.id)
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_role_change_takes_effect_at_once(client: httpx.AsyncClient, repo: Repository) -> None:
    user = await create_user(repo, "ann", "admin", PASSWORD)
    csrf = await _login(client, "ann")
    assert user.id is not None
    await repo.set_user_role(user.id, UserRole.QUIZMASTER)
    refused = await client.post("/probe/admin", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This needs the admin role; you are signed in as quizmaster 'ann'."
    assert (await client.post("/probe/host", headers={"X-CSRF-Token": csrf})).status_code == 200


async def test_team_token_authenticates_a_team_for_its_game(client: httpx.AsyncClient, repo: Repository) -> None:
    game_id = await _game(repo)
    team, token = await issue_team_token(repo, game_id=game_id, name="Owls")
    assert token.startswith("qht_")
    assert team.token_hash != token
    assert token not in team.token_hash
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/probe/team", headers=auth)).json() == {"role": "team", "game": game_id}
    # Bearer requests need no CSRF token: browsers never attach one on their own.
    refused = await client.post("/probe/host", headers=auth)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This needs the admin or quizmaster role; you are signed in as team 'Owls'."
    assert (await client.get("/probe/read", headers=auth)).json() == {"role": "team"}


async def test_display_token_sees_only_its_game(client: httpx.AsyncClient, repo: Repository) -> None:
    game_id = await _game(repo)
    other_game = await _game(repo)
    _row, token = await issue_display_token(repo, game_id=game_id, name="Big screen")
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"/probe/display/{game_id}", headers=auth)).json() == {"role": "display",
                                                                                   "game": game_id}
    other = await client.get(f"/probe/display/{other_game}", headers=auth)
    assert other.status_code == 403
    assert "belongs to another game" in other.json()["detail"]
    assert (await client.get("/probe/team", headers=auth)).status_code == 403


async def test_integrator_token_and_revocation(client: httpx.AsyncClient, repo: Repository) -> None:
    row, token = await issue_integrator_token(repo, name="scoreboard script")
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/probe/read", headers=auth)).json() == {"role": "integrator"}
    assert row.id is not None
    await repo.revoke_api_token(row.id)
    refused = await client.get("/probe/read", headers=auth)
    assert refused.status_code == 401
    assert "unknown or revoked" in refused.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer qht_made-up", "Bearer qhd_made-up", "Bearer nonsense", "Basic YW5uOnB3", "Bearer "],
)
async def test_bad_authorization_headers_get_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/probe/anyone", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["detail"].endswith(".")


async def test_a_display_token_cannot_pose_as_an_integrator(client: httpx.AsyncClient, repo: Repository) -> None:
    game_id = await _game(repo)
    _row, token = await issue_display_token(repo, game_id=game_id, name="screen")
    forged = "qhi_" + token.removeprefix("qhd_")
    assert (await client.get("/probe/read", headers={"Authorization": f"Bearer {forged}"})).status_code == 401


async def test_a_bad_bearer_is_not_rescued_by_a_cookie(client: httpx.AsyncClient, repo: Repository) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    await _login(client, "ann")
    response = await client.get("/api/auth/me", headers={"Authorization": "Bearer qht_wrong"})
    assert response.status_code == 401


async def test_tokens_in_the_url_are_refused(client: httpx.AsyncClient, repo: Repository) -> None:
    _row, token = await issue_integrator_token(repo, name="script")
    response = await client.get("/probe/read", params={"access_token": token})
    assert response.status_code == 400
    assert "never accepted in the URL" in response.json()["detail"]


async def test_login_is_rate_limited_with_retry_after(
    settings: Settings, db: async_sessionmaker[AsyncSession], repo: Repository
) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    async with client_for(build_app(settings.model_copy(update={"login_rate_per_minute": 3}), db)) as client:
        for _ in range(3):
            assert (await client.post("/api/auth/login", json={"name": "ann", "password": "bad guess"})).status_code \
                == 401
        limited = await client.post("/api/auth/login", json={"name": "ann", "password": PASSWORD})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "try again in" in limited.json()["detail"]
        # Another name from the same address has its own budget.
        other = await client.post("/api/auth/login", json={"name": "bob", "password": "bad guess"})
        assert other.status_code == 401


async def test_join_is_rate_limited(settings: Settings, db: async_sessionmaker[AsyncSession]) -> None:
    async with client_for(build_app(settings.model_copy(update={"join_rate_per_minute": 2}), db)) as client:
        assert (await client.post("/probe/join", params={"name": "Owls"})).status_code == 200
        assert (await client.post("/probe/join", params={"name": "owls"})).status_code == 200
        limited = await client.post("/probe/join", params={"name": "OWLS"})  # names are compared case-folded
        assert limited.status_code == 429
        assert "retry-after" in limited.headers
        # Fresh names still pass until the address-wide budget (3x) is spent too.
        results = [(await client.post("/probe/join", params={"name": f"team {i}"})).status_code for i in range(6)]
        assert results == [200, 200, 200, 200, 429, 429]


async def test_create_user_validates(repo: Repository) -> None:
    with pytest.raises(PasswordTooShortError, match="at least 8 characters"):
        await create_user(repo, "ann", "admin", "short")
    with pytest.raises(InvalidUserNameError, match="empty"):
        await create_user(repo, "   ", "admin", PASSWORD)
    with pytest.raises(ValueError, match="'owner' is not a valid UserRole"):
        await create_user(repo, "ann", "owner", PASSWORD)
    await create_user(repo, " ann ", "admin", PASSWORD)
    with pytest.raises(UserExistsError, match="already exists"):
        await create_user(repo, "ann", "quizmaster", PASSWORD)


async def test_add_user_for_the_cli_opens_the_configured_database(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    # `settings.db_url` is the same SQLite file the app fixture uses.
    user = await add_user(settings, "cli-admin", "admin", PASSWORD)
    assert user.role == UserRole.ADMIN
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    await _login(client, "cli-admin")


def test_secret_key_file_is_private_and_stable(settings: Settings) -> None:
    first = load_secret_key(settings)
    path = settings.data_dir / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(settings) == first
    assert len(first) >= 32


async def test_websocket_connections_authenticate_the_same_way(app: FastAPI, repo: Repository) -> None:
    """The WebSocket bridge calls authenticate_connection on its handshake: bearer header yes, URL token no."""
    _team, token = await issue_team_token(repo, game_id=await _game(repo), name="Owls")

    def handshake(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> WebSocket:
        scope = {"type": "websocket", "app": app, "path": "/ws", "query_string": query, "headers": headers,
                 "scheme": "ws", "server": ("testserver", 80), "session": {}}
        return WebSocket(scope, receive=_never, send=_never)

    principal = await authenticate_connection(handshake([(b"authorization", f"Bearer {token}".encode())]))
    assert principal is not None
    assert principal.role.value == "team"
    assert await authenticate_connection(handshake([])) is None
    with pytest.raises(HTTPException) as refused:
        await authenticate_connection(handshake([], query=f"access_token={token}".encode()))
    assert refused.value.status_code == 400
    assert origin_allowed(handshake([(b"origin", b"http://testserver")]), app.state.settings)
    assert not origin_allowed(handshake([(b"origin", b"https://evil.example")]), app.state.settings)


async def _never(*_args: object) -> dict[str, object]:
    raise AssertionError("the handshake must not touch the socket")


async def test_openapi_lists_the_auth_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    login = spec["paths"]["/api/auth/login"]["post"]
    assert set(login["requestBody"]["content"]) == {"application/json", "application/x-www-form-urlencoded"}
    for path in ("/api/auth/logout", "/api/auth/me", "/api/auth/setup", "/api/auth/oidc/login",
                 "/api/auth/oidc/callback"):
        assert path in spec["paths"]
