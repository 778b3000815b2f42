"""The browser pages end to end in Debian's Chromium (Playwright, never `playwright install`).

On the session's real `quizhub serve --demo` (tests/browser/conftest.py): the host logs in (after a wrong password
is refused on the page) and picks the demo game; a team joins by code on its own page; a big screen opens the
host's display link (a display token, no session); the host shows and arms; the team presses space; every page
shows the same winner; the host judges and the scoreboards update; a reload keeps the team. A team name with markup
in it shows literally.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PASSWORD, PHONE, SCREEN, TIMEOUT_MS, text, wait_text

if TYPE_CHECKING:
    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEAM_NAME = "<b>Bold</b> & Co"  # must show literally, never as markup


async def test_host_team_and_screen_agree_on_the_winner(server: Server, ui: UI) -> None:
    game = server.new_game()  # a game of its own: other tests play the demo game

    # Host: log in on the page's own form, after a wrong password is refused with the server's sentence.
    host = await ui.page(path="/")
    await expect(host).to_have_url(re.compile(r"/login\?next=%2F$"))  # no session: sent to log in
    await host.fill("#login-name", server.admin)
    await host.fill("#login-password", "not-the-password")
    await host.click("#login-form button[type=submit]")
    await wait_text(host, "#login-error", ".")  # the server's sentence, and the form stays
    await host.fill("#login-password", PASSWORD)
    await host.click("#login-form button[type=submit]")
    await expect(host).to_have_url(server.url("/"))  # back where it came from
    await host.click(f"li[data-game='{game.id}'] button")
    await expect(host.locator("#conn")).to_have_attribute("data-status", "live")
    assert await text(host, "#join-code") == game.join_code

    # Team: the join link pre-fills the code; the name has markup in it.
    team_ctx = await ui.context(PHONE, is_mobile=True, has_touch=True)
    team = await ui.page(team_ctx, f"/join?code={game.join_code}")
    assert await team.input_value("#join-code") == game.join_code
    await team.fill("#join-name", TEAM_NAME)
    await team.click("#join-form button[type=submit]")
    await expect(team.locator("#conn")).to_have_text(re.compile("live"))
    assert await text(team, "#team-name") == TEAM_NAME
    assert await team.locator("#team-name b").count() == 0

    # Big screen: the host makes a display link (a read-only token in the fragment); the screen opens it in a
    # browser of its own, with no session.
    await host.click("#display-link")
    display_url = await wait_text(host, "#display-url", "/screen#token=qhd_")
    screen = await ui.page(await ui.context(SCREEN))
    await screen.goto(display_url)
    await expect(screen.locator("#conn")).to_have_text(re.compile("live"))
    assert "token" not in screen.url  # the token left the address bar
    await wait_text(screen, "#code", game.join_code)

    # The new team is on every scoreboard, literally.
    for page in (host, screen, team):
        row = page.locator("tbody tr", has_text="Bold")
        await expect(row.locator("td.name")).to_have_text(TEAM_NAME)
        assert await row.locator("b").count() == 0

    await host.click("button[data-cmd=show]")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "question")
    question = await wait_text(host, "#question", ".")
    await wait_text(team, "#question", re.escape(question))
    await wait_text(screen, "#question", re.escape(question))
    await host.click("button[data-cmd=arm]")
    await expect(team.locator("#buzz")).to_have_attribute("data-state", "armed")
    await team.keyboard.press("Space")

    # The only team pressed: every page names it as the winner.
    await expect(team.locator("#buzz")).to_have_attribute("data-state", "won")
    await expect(host.locator("#winner")).to_contain_text(TEAM_NAME)
    await expect(screen.locator("#winner")).to_contain_text(TEAM_NAME)
    await expect(host.locator("#order li", has_text="Bold").first).to_be_visible()
    assert await host.locator("#order b").count() == 0
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "buzzed")

    # The host judges right: the winner's score is 10 on every scoreboard.
    await host.click("button[data-cmd=judge-right]")
    for page in (host, screen, team):
        row = page.locator("tbody tr", has=page.locator("td.name", has_text=TEAM_NAME))
        await expect(row.locator("td.score")).to_have_text("10", timeout=TIMEOUT_MS)
    await expect(team.locator("#score")).to_have_text("10")

    # A reload keeps the team (token in localStorage) and reconnects by itself.
    await team.reload()
    await expect(team.locator("#conn")).to_have_text(re.compile("live"))
    assert await text(team, "#team-name") == TEAM_NAME
