"""First run: the one-time setup token creates the first admin once, and never travels in a URL query."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from web.auth import create_user, first_run_link
from web.auth.setup import SETUP_TOKEN_FILE, prepare_first_run, setup_link

if TYPE_CHECKING:
    import httpx

    from hub.db.repository import Repository
    from hub.settings import Settings

PASSWORD = "first admin password"


async def test_setup_creates_the_first_admin_once(
    client: httpx.AsyncClient, settings: Settings, repo: Repository
) -> None:
    assert (await client.get("/api/auth/setup")).json() == {"setup_required": True}
    token = await prepare_first_run(settings, repo)
    assert token is not None
    stored = settings.data_dir / SETUP_TOKEN_FILE
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert token not in stored.read_text()  # only the hash is kept

    wrong = await client.post("/api/auth/setup", json={"token": "guess", "name": "root", "password": PASSWORD})
    assert wrong.status_code == 403
    assert "wrong or was already used" in wrong.json()["detail"]

    short = await client.post("/api/auth/setup", json={"token": token, "name": "root", "password": "short"})
    assert short.status_code == 422
    assert "at least 8 characters" in short.json()["detail"]
    assert "still works" in short.json()["detail"]

    created = await client.post("/api/auth/setup", json={"token": token, "name": "root", "password": PASSWORD})
    assert created.status_code == 201, created.text
    assert created.json()["principal"]["role"] == "admin"
    assert (await client.get("/api/auth/me")).json()["principal"]["name"] == "root"
    assert not stored.exists()

    again = await client.post("/api/auth/setup", json={"token": token, "name": "root2", "password": PASSWORD})
    assert again.status_code == 409
    assert (await client.get("/api/auth/setup")).json() == {"setup_required": False}
    assert await prepare_first_run(settings, repo) is None


async def test_a_new_start_replaces_the_old_token(
    client: httpx.AsyncClient, settings: Settings, repo: Repository
) -> None:
    old = await prepare_first_run(settings, repo)
    new = await prepare_first_run(settings, repo)
    assert old is not None
    assert new is not None
    refused = await client.post("/api/auth/setup", json={"token": old, "name": "root", "password": PASSWORD})
    assert refused.status_code == 403
    accepted = await client.post("/api/auth/setup", json={"token": new, "name": "root", "password": PASSWORD})
    assert accepted.status_code == 201


async def test_no_setup_once_an_admin_exists(settings: Settings, repo: Repository) -> None:
    await create_user(repo, "ann", "admin", PASSWORD)
    assert await first_run_link(settings, repo) is None
    assert not (settings.data_dir / SETUP_TOKEN_FILE).exists()


async def test_the_link_carries_the_token_in_the_fragment(settings: Settings, repo: Repository) -> None:
    link = await first_run_link(settings.model_copy(update={"public_url": "https://quiz.example/"}), repo)
    assert link is not None
    assert link.startswith("https://quiz.example/setup#token=")
    assert "?" not in link
    assert setup_link("http://localhost:8000", "abc") == "http://localhost:8000/setup#token=abc"
