"""The browser pages end to end in Debian's Chromium (Playwright, never `playwright install`).

A real `quizhub serve --demo` (embedded broker, hub, web, 4 demo teams with 8 simulated buzzers) runs on free ports
with a temporary data dir. The host logs in (after a wrong password is refused on the page) and picks the demo game;
a team joins by code on its own page; a big screen opens the host's display link (a display token, no session); the
host shows and arms; the team presses space; every page shows the same winner; the host judges and the scoreboards
update; a reload keeps the team. A team name with markup in it shows literally. Screenshots of each page go to
docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.services import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from playwright.async_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ADMIN, PASSWORD = "host", "correct-horse-battery-staple"
TEAM_NAME = "<b>Bold</b> & Co"  # must show literally, never as markup
TIMEOUT_MS = 15_000
ADD_ADMIN = (
    "import asyncio, sys; from hub.settings import Settings; from web.auth.users import add_user; "
    "asyncio.run(add_user(Settings(), sys.argv[1], 'admin', sys.argv[2]))"
)


class Server:
    def __init__(self, base_url: str, join_code: str, game_id: str) -> None:
        self.base_url = base_url
        self.join_code = join_code
        self.game_id = game_id


def _quizhub() -> list[str]:
    script = Path(sys.executable).parent / "quizhub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "web.cli"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "QUIZHUB_DATA_DIR": str(data), "QUIZHUB_LOG_LEVEL": "WARNING"}
    for key in ("QUIZHUB_DB_URL", "QUIZHUB_BROKER_URL", "QUIZHUB_FANOUT_URL", "QUIZHUB_PUBLIC_URL"):
        env.pop(key, None)
    # The admin account, in the server's own database before it starts (as `quizhub user add` would).
    subprocess.run(
        [sys.executable, "-c", ADD_ADMIN, ADMIN, PASSWORD],
        env=env,
        check=True,
        timeout=60,
    )
    http_port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *_quizhub(),
                "serve",
                "--demo",
                "--host",
                "127.0.0.1",
                "--http-port",
                str(http_port),
                "--mqtt-port",
                str(free_port()),
                "--mqtt-ws-port",
                "0",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        code = None
        while code is None:
            text = log.read_text(errors="replace")
            found = re.search(r"Demo game: join code (\d{6})", text)
            if found:
                code = found.group(1)
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"quizhub serve --demo did not start:\n{text[-4000:]}")
            time.sleep(0.2)
        base = f"http://127.0.0.1:{http_port}"
        yield Server(base, code, _demo_game_id(base))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _demo_game_id(base: str) -> str:
    import httpx  # noqa: PLC0415

    with httpx.Client(base_url=base, timeout=10) as client:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.post("/api/auth/login", json={"name": ADMIN, "password": PASSWORD}).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        games = client.get("/api/games").raise_for_status().json()
        return str(games[0]["id"])


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `apt-get install -y chromium` (scripts/install does it).")
    from playwright.async_api import async_playwright  # noqa: PLC0415

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def _errors_of(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    # An HTTP refusal the page handles (401 before login, no favicon) is logged by Chromium; script errors are not.
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{page.url}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )


async def _text(page: Page, selector: str) -> str:
    return (await page.locator(selector).text_content() or "").strip()


async def _wait_text(page: Page, selector: str, pattern: str) -> str:
    """Wait until the element's text matches the regex; return the text."""
    await page.wait_for_function(
        "([sel, pat]) => { const n = document.querySelector(sel); return !!n && new RegExp(pat).test(n.textContent); }",
        arg=[selector, pattern],
        timeout=TIMEOUT_MS,
    )
    return await _text(page, selector)


async def test_host_team_and_screen_agree_on_the_winner(server: Server, browser: object) -> None:
    from playwright.async_api import Browser, expect  # noqa: PLC0415

    assert isinstance(browser, Browser)
    errors: list[str] = []
    host_ctx = await browser.new_context(viewport={"width": 1280, "height": 860})
    team_ctx = await browser.new_context(viewport={"width": 420, "height": 860}, is_mobile=True, has_touch=True)

    # Host: log in locally, pick the demo game.
    host = await host_ctx.new_page()
    _errors_of(host, errors)
    await host.goto(server.base_url + "/")
    await host.fill("#login-name", ADMIN)
    await host.fill("#login-password", "not-the-password")
    await host.click("#login-form button[type=submit]")
    await _wait_text(host, "#login-error", ".")  # the server's sentence, and the form stays
    await expect(host.locator("#games")).to_be_hidden()
    await host.fill("#login-password", PASSWORD)
    await host.click("#login-form button[type=submit]")
    await host.click(f"li[data-game='{server.game_id}'] button")
    await _wait_text(host, "#conn", "^live$")
    assert await _text(host, "#join-code") == server.join_code

    # Team: the join link pre-fills the code; the name has markup in it.
    team = await team_ctx.new_page()
    _errors_of(team, errors)
    await team.goto(f"{server.base_url}/join?code={server.join_code}")
    assert await team.input_value("#join-code") == server.join_code
    await team.fill("#join-name", TEAM_NAME)
    await team.click("#join-form button[type=submit]")
    await _wait_text(team, "#conn", "^live$")
    assert await _text(team, "#team-name") == TEAM_NAME
    assert await team.locator("#team-name b").count() == 0

    # Big screen: the host makes a display link (a read-only token in the fragment); the screen opens it in a
    # browser of its own, with no session.
    await host.click("#display-link")
    display_url = await _wait_text(host, "#display-url", "/screen#token=qhd_")
    screen_ctx = await browser.new_context(viewport={"width": 1600, "height": 900})
    screen = await screen_ctx.new_page()
    _errors_of(screen, errors)
    await screen.goto(display_url)
    await _wait_text(screen, "#conn", "^live$")
    assert "token" not in screen.url  # the token left the address bar
    await _wait_text(screen, "#code", server.join_code)

    # The new team is on every scoreboard, literally.
    for page in (host, screen, team):
        row = page.locator("tbody tr", has_text="Bold")
        await expect(row.locator("td.name")).to_have_text(TEAM_NAME, timeout=TIMEOUT_MS)
        assert await row.locator("b").count() == 0

    # Give the hub a moment to sync the team's clock (it pings on connect), then show the question and arm.
    await asyncio.sleep(1.5)
    await host.click("button[data-cmd=show]")
    await _wait_text(host, "#phase", "^question$")
    question = await _wait_text(host, "#question", ".")
    await _wait_text(team, "#question", re.escape(question))
    await _wait_text(screen, "#question", re.escape(question))
    await host.click("button[data-cmd=arm]")
    await expect(team.locator("#buzz")).to_have_attribute("data-state", "armed", timeout=TIMEOUT_MS)
    await team.keyboard.press("Space")

    # Everyone shows the same winner.
    await expect(team.locator("#buzz")).to_have_attribute("data-state", re.compile("^(won|lost)$"), timeout=TIMEOUT_MS)
    host_winner = await _wait_text(host, "#winner", "^First: ")
    screen_winner = await _wait_text(screen, "#winner", ".")
    assert host_winner.removeprefix("First: ").startswith(screen_winner)
    team_state = await team.locator("#buzz").get_attribute("data-state")
    assert (team_state == "won") == (screen_winner == TEAM_NAME), (team_state, screen_winner)
    if team_state == "lost":
        assert screen_winner in await _text(team, "#buzz")
    # The team's press is in the host's buzz order (it pressed while armed, whoever was first).
    await expect(host.locator("#order li", has_text="Bold").first).to_be_visible(timeout=TIMEOUT_MS)
    assert await host.locator("#order b").count() == 0
    assert await _text(host, "#phase") == "buzzed"

    # The host judges right: the winner's score is 10 on every scoreboard.
    await host.click("button[data-cmd=judge-right]")
    for page in (host, screen, team):
        row = page.locator(
            "tbody tr", has=page.locator("td.name", has_text=re.compile(f"^{re.escape(screen_winner)}$"))
        )
        await expect(row.locator("td.score")).to_have_text("10", timeout=TIMEOUT_MS)
    if team_state == "won":
        await expect(team.locator("#score")).to_have_text("10", timeout=TIMEOUT_MS)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await expect(host.locator("button[data-cmd=judge-right]")).to_be_enabled()  # its request has returned
    # The display link is a live secret of a throwaway server; it stays out of the docs all the same.
    await host.screenshot(path=str(SCREENSHOTS / "host.png"), full_page=True, mask=[host.locator("#display-url")])
    await screen.screenshot(path=str(SCREENSHOTS / "screen.png"))
    await team.screenshot(path=str(SCREENSHOTS / "play.png"))

    # A reload keeps the team (token in localStorage) and reconnects by itself.
    await team.reload()
    await _wait_text(team, "#conn", "^live$")
    assert await _text(team, "#team-name") == TEAM_NAME

    for ctx in (host_ctx, team_ctx, screen_ctx):
        await ctx.close()
    assert errors == []
