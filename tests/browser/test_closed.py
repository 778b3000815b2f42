"""The `closed` phase on every page, in Chromium on the real server: a buzzer question whose buzz window runs out
with nobody pressing, and a multiple-choice question whose answer timer runs out when every team has answered.

The host console says what happened and offers exactly the commands the hub takes in closed (hub/core/transitions.py
and Game._decide_*); the team page says time is up and keeps the team's own answer, with no correct answer before the
reveal; the big screen says time is up with the question still up. No page shows the raw key `phase_closed`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MULTIPLE_CHOICE = 6  # the demo quiz's first multiple-choice question (0-based)


async def _offered(host: Page) -> set[str]:
    """The host's command buttons a quiz master can see now."""
    buttons = host.locator("#console .controls [data-cmd]")
    return set(await buttons.evaluate_all("nodes => nodes.filter(n => n.checkVisibility()).map(n => n.dataset.cmd)"))


async def _no_raw_keys(*pages: Page) -> None:
    for page in pages:
        body = await page.locator("body").inner_text()
        assert "phase_closed" not in body, page.url


async def _open(server: Server, ui: UI, settings: dict[str, int], *teams: str) -> tuple[Page, list[Page], Page, str]:
    game = server.new_game(settings)
    phones = [await ui.team(name, game.join_code) for name in teams]
    host = await ui.host(f"/?game={game.id}")
    await expect(host.locator("#conn")).to_have_attribute("data-status", "live")
    await expect(host.locator("#scores tr")).to_have_count(len(teams))
    screen = await ui.screen(game.id)
    await expect(screen.locator("#conn")).to_have_attribute("data-status", "live")
    return host, phones, screen, game.id


async def test_buzz_window_runs_out_with_nobody_pressing(server: Server, ui: UI) -> None:
    host, [phone], screen, _ = await _open(server, ui, {"buzz_window_us": 1_500_000}, "Sleepers")
    await host.click("button[data-cmd=show]")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "question")
    question = (await host.locator("#question").text_content() or "").strip()
    assert question
    await host.click("button[data-cmd=arm]")
    await expect(phone.locator("#buzz")).to_have_attribute("data-state", "armed")

    await expect(host.locator("#phase")).to_have_attribute("data-phase", "closed")
    await expect(host.locator("#closed-note")).to_have_text(re.compile(r"^Time's up: nobody buzzed\."))
    # Closed after a buzz window: arm again, reveal, skip, undo (back to before the arm) or pause; never show, next,
    # or right/wrong (nobody buzzed, so there is no answer to judge).
    assert await _offered(host) == {"arm", "reveal", "skip", "undo", "pause"}  # drawn with the note, in one render
    await host.reload()  # the same after a reload: the hub's state says it holds the arm's checkpoint
    await expect(host.locator("#closed-note")).to_have_text(re.compile(r"^Time's up: nobody buzzed\."))
    assert await _offered(host) == {"arm", "reveal", "skip", "undo", "pause"}

    await expect(phone.locator("#phase")).to_have_attribute("data-phase", "closed")
    await expect(phone.locator("#phase")).to_have_text("Time's up: nobody buzzed")
    await expect(phone.locator("#buzz")).to_have_attribute("data-state", "closed")
    await expect(phone.locator("#buzz")).to_be_disabled()
    await expect(phone.locator("#question")).to_have_text(question)

    await expect(screen.locator("#phase")).to_have_attribute("data-phase", "closed")
    await expect(screen.locator("#phase")).to_have_text("Time's up: nobody buzzed")
    await expect(screen.locator("#question")).to_have_text(question)
    await expect(screen.locator("#countdown")).to_be_hidden()
    await expect(screen.locator("#answer")).to_be_empty()
    await _no_raw_keys(host, phone, screen)

    # The offered re-arm is one the hub takes: the buzzers are live again for the team.
    await host.click("button[data-cmd=arm]")
    await expect(phone.locator("#buzz")).to_have_attribute("data-state", "armed")
    await expect(host.locator("#closed-note")).to_be_hidden()


async def test_every_team_answers_a_multiple_choice_question(server: Server, ui: UI) -> None:
    host, [quick, slow], screen, game_id = await _open(server, ui, {}, "Quick", "Slow")
    with server.api() as client:
        client.post(f"/api/games/{game_id}/commands", json={"cmd": "show", "q": MULTIPLE_CHOICE}).raise_for_status()
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "question")
    await expect(quick.locator("#choices button.choice").first).to_be_visible()
    question = (await quick.locator("#question").text_content() or "").strip()
    assert question
    await host.click("button[data-cmd=arm]")
    await expect(quick.locator("#choices button.choice").first).to_be_enabled()
    picked = quick.locator("#choices button[data-choice=b]")
    picked_text = (await picked.locator(".choice-text").text_content() or "").strip()
    await picked.click()
    await expect(quick.locator("#answer-status")).to_have_text(re.compile("locked in"))

    await expect(host.locator("#phase")).to_have_attribute("data-phase", "armed")  # one team of two is in
    # The last team's answer closes the answers (the demo question's own timer is far longer than this test).
    await slow.locator("#choices button[data-choice=a]").click()
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "closed")
    await expect(host.locator("#closed-note")).to_have_text("Answers closed: 2 of 2 teams answered.")
    # A phone question cannot be re-armed and scores itself at reveal; nothing to undo since it was shown.
    assert await _offered(host) == {"reveal", "skip", "pause"}

    # A console reloaded (or opened) now reads who answered and whether undo is possible from the hub's state: it
    # did not see the answers come in, yet gives the same count and the same commands.
    await host.reload()
    await expect(host.locator("#conn")).to_have_attribute("data-status", "live")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "closed")
    await expect(host.locator("#closed-note")).to_have_text("Answers closed: 2 of 2 teams answered.")
    assert await _offered(host) == {"reveal", "skip", "pause"}

    for phone in (quick, slow):
        await expect(phone.locator("#phase")).to_have_attribute("data-phase", "closed")
        await expect(phone.locator("#phase")).to_have_text("Time's up: answers are closed")
        await expect(phone.locator("#question")).to_have_text(question)
        await expect(phone.locator("#choices button.choice").first).to_be_disabled()
        await expect(phone.locator("#choices button.right")).to_have_count(0)  # no correct answer before the reveal
    await expect(quick.locator("#answer-status")).to_have_text(f"Your answer: B · {picked_text}. Wait for the reveal.")
    await expect(quick.locator("#choices button.picked")).to_have_attribute("data-choice", "b")
    await expect(slow.locator("#choices button.picked")).to_have_attribute("data-choice", "a")

    # A reloaded phone still shows its own answer (the socket replays nothing from before it connected).
    await quick.reload()
    await expect(quick.locator("#phase")).to_have_attribute("data-phase", "closed")
    await expect(quick.locator("#answer-status")).to_have_text(f"Your answer: B · {picked_text}. Wait for the reveal.")
    await expect(quick.locator("#choices button.picked")).to_have_attribute("data-choice", "b")

    await expect(screen.locator("#phase")).to_have_attribute("data-phase", "closed")
    await expect(screen.locator("#phase")).to_have_text("Time's up: answers are closed")
    await expect(screen.locator("#question")).to_have_text(question)
    await expect(screen.locator("#choices li")).not_to_have_count(0)
    await expect(screen.locator("#choices li.right")).to_have_count(0)
    await expect(screen.locator("#answer")).to_be_empty()
    await _no_raw_keys(host, quick, slow, screen)

    # The offered reveal is one the hub takes.
    await host.click("button[data-cmd=reveal]")
    await expect(screen.locator("#phase")).to_have_attribute("data-phase", "revealed")
    await expect(screen.locator("#choices li.right")).to_have_count(1)
    await expect(host.locator("#closed-note")).to_be_hidden()
