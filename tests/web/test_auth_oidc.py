"""OIDC sign-in end to end against a real OpenID Provider (npm `oidc-provider`) started on 127.0.0.1.

The browser is an httpx client: requests to http://testserver go to the app in-process, everything else to the
provider over TCP. It follows the redirects, submits the provider's login form, and comes back with a session.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from pydantic import SecretStr
from web_testkit import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, build_app, client_for

from web.auth import create_user

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from hub.db.repository import Repository
    from hub.settings import Settings

pytestmark = pytest.mark.timeout(30)

_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


@pytest.fixture
def oidc_app(settings: Settings, db: async_sessionmaker[AsyncSession], oidc_provider: str) -> FastAPI:
    return build_app(
        settings.model_copy(
            update={
                "oidc_issuer": oidc_provider,
                "oidc_client_id": OIDC_CLIENT_ID,
                "oidc_client_secret": SecretStr(OIDC_CLIENT_SECRET),
                "oidc_scope": "openid profile groups",
            }
        ),
        db,
    )


async def _start(browser: httpx.AsyncClient, next_path: str = "/") -> httpx.Response:
    """Begin sign-in and follow the redirects to the provider's login page."""
    page = await browser.get("/api/auth/oidc/login", params={"next": next_path}, follow_redirects=True)
    assert page.status_code == 200, page.text
    assert str(page.url).startswith("http://127.0.0.1:")
    return page


async def _sign_in(browser: httpx.AsyncClient, login: str, next_path: str = "/") -> httpx.Response:
    """The whole browser dance; returns the app's callback response (the last one from http://testserver)."""
    page = await _start(browser, next_path)
    match = _FORM_ACTION.search(page.text)
    assert match is not None, page.text
    done = await browser.post(
        urljoin(str(page.url), match.group(1)),
        data={"prompt": "login", "login": login, "password": "any"},
        follow_redirects=True,
    )
    callbacks = [r for r in (*done.history, done) if r.url.path == "/api/auth/oidc/callback"]
    assert len(callbacks) == 1, [str(r.url) for r in (*done.history, done)]
    return callbacks[0]


async def test_sign_in_maps_groups_to_a_role_and_starts_a_session(oidc_app: FastAPI) -> None:
    # The provider keeps scope claims out of the ID token (as the spec says), so the groups come from userinfo.
    client = oidc_app.state.auth.oidc.client
    real_userinfo = client.userinfo
    userinfo_calls: list[object] = []

    async def spy(**kwargs: object) -> object:
        userinfo_calls.append(kwargs)
        return await real_userinfo(**kwargs)

    client.userinfo = spy
    async with client_for(oidc_app) as browser:
        first = await browser.get("/api/auth/oidc/login", params={"next": "/host"})
        assert first.status_code == 302
        query = parse_qs(urlsplit(first.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["code_challenge"][0]
        assert query["state"][0]
        assert query["nonce"][0]
        assert query["redirect_uri"] == ["http://testserver/api/auth/oidc/callback"]

        callback = await _sign_in(browser, "olivia", "/host")
        assert callback.status_code == 303
        assert callback.headers["location"] == "/host"
        me = await browser.get("/api/auth/me")
        assert me.status_code == 200
        principal = me.json()["principal"]
        assert (principal["kind"], principal["name"], principal["role"]) == ("user", "olivia", "admin")
        assert me.json()["csrf_token"]
    assert len(userinfo_calls) == 1


async def test_quizmaster_group_and_identity_by_issuer_and_subject(
    oidc_app: FastAPI, repo: Repository, oidc_provider: str
) -> None:
    # A local account already has the name: the OIDC user must get another name, never that account.
    await create_user(repo, "quentin", "admin", "local password")
    async with client_for(oidc_app) as browser:
        await _sign_in(browser, "quentin")
        principal = (await browser.get("/api/auth/me")).json()["principal"]
    assert principal["role"] == "quizmaster"
    assert principal["name"] == "quentin (127.0.0.1)"
    user = await repo.get_user_by_oidc(oidc_provider, "quentin")
    assert user is not None
    assert str(user.id) == principal["id"]
    # Signing in again is the same user.
    async with client_for(oidc_app) as browser:
        await _sign_in(browser, "quentin")
        assert (await browser.get("/api/auth/me")).json()["principal"]["id"] == principal["id"]


async def test_no_mapped_group_is_refused_with_a_sentence(oidc_app: FastAPI) -> None:
    async with client_for(oidc_app) as browser:
        callback = await _sign_in(browser, "nora")
        assert callback.status_code == 403
        assert "none of the groups allowed" in callback.json()["detail"]
        assert (await browser.get("/api/auth/me")).status_code == 401


async def test_wrong_state_is_refused(oidc_app: FastAPI) -> None:
    async with client_for(oidc_app) as browser:
        await _start(browser)  # a real sign-in is under way in this browser...
        forged = await browser.get("/api/auth/oidc/callback", params={"code": "stolen", "state": "forged"})
        assert forged.status_code == 400
        assert "does not belong to a sign-in this browser started" in forged.json()["detail"]
        assert (await browser.get("/api/auth/me")).status_code == 401


async def test_a_callback_cannot_be_replayed(oidc_app: FastAPI) -> None:
    async with client_for(oidc_app) as browser:
        callback = await _sign_in(browser, "olivia")
        assert callback.status_code == 303
        replay = await browser.get(str(callback.url))
        assert replay.status_code == 400


async def test_provider_error_is_reported(oidc_app: FastAPI) -> None:
    async with client_for(oidc_app) as browser:
        response = await browser.get("/api/auth/oidc/callback", params={"error": "access_denied", "state": "x"})
        assert response.status_code == 403
        assert "cancelled or refused" in response.json()["detail"]


async def test_disabled_without_an_issuer(client: httpx.AsyncClient) -> None:
    for path in ("/api/auth/oidc/login", "/api/auth/oidc/callback"):
        response = await client.get(path)
        assert response.status_code == 404
        assert "not configured on this server" in response.json()["detail"]
    assert (await client.get("/api/auth/methods")).json() == {"password": True, "oidc": False}


async def test_open_redirects_are_not_followed(oidc_app: FastAPI) -> None:
    async with client_for(oidc_app) as browser:
        callback = await _sign_in(browser, "olivia", "//evil.example/x")
        assert callback.headers["location"] == "/"
