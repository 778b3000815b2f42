"""The big screen (`/screen`) in Chromium on the session's real `quizhub serve --demo`, opened on a display token.

Each test uses a game of its own and drives the host through the REST API: the join QR in the lobby (an SVG image
from this server that loads), a countdown, the winner with the gap to the next press, the buzz timeline after each
ruling, scoreboard rank moves (animated, or not with reduced motion), question images (same-origin or data: only),
a wrong display token's message, and ?lang= for a screen set up once. Saves docs/screenshots/screen.png (1920 by 1080).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import SCREEN, SCREENSHOTS
from tests.browser.test_play import BUZZER_ANSWER, command

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A long grace window so that two presses from two pages both make the ruling; the earliest wins a close call.
RACE = {"grace_us": 2_000_000, "grace_from_clocks": False, "tie_rule": "earliest", "buzz_window_us": 60_000_000}
PIXEL = (
    "data:image/svg+xml;base64,"
    "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSI4MCIgaGVpZ2h0PSI0MCI+"
    "PHJlY3Qgd2lkdGg9IjgwIiBoZWlnaHQ9IjQwIiBmaWxsPSIjZTMzIi8+PC9zdmc+"
)


async def open_screen(ui: UI, server: Server, game_id: str, query: str = "", **ctx: Any) -> Page:
    """The screen of ``game_id`` on a fresh display token, in a context of its own (options ``ctx``)."""
    with server.api() as client:
        doc = client.post(f"/api/games/{game_id}/display-tokens", json={"name": "screen"}).raise_for_status()
    page = await ui.page(await ui.context(SCREEN, **ctx), f"/screen{query}#token={doc.json()['token']}")
    await expect(page.locator("#conn")).to_have_class(re.compile(r"\blive\b"))
    return page


def team_id(server: Server, game_id: str, name: str) -> str:
    with server.api() as client:
        teams = client.get(f"/api/games/{game_id}").raise_for_status().json()["teams"]
    return str(next(t["id"] for t in teams if t["name"] == name))


async def test_the_lobby_shows_the_join_qr_and_the_code(server: Server, ui: UI) -> None:
    game = server.new_game()
    screen = await open_screen(ui, server, game.id)
    assert "token" not in screen.url
    await expect(screen.locator("#lobby")).to_be_visible()
    await expect(screen.locator("#join-code")).to_have_text(game.join_code)
    await expect(screen.locator("#join-url")).to_have_text(re.compile(rf"/join\?code={game.join_code}$"))
    qr = screen.locator("#qr")
    await expect(qr).to_have_attribute("src", f"/api/join/qr.svg?code={game.join_code}")
    await screen.wait_for_function(
        "document.querySelector('#qr').complete && document.querySelector('#qr').naturalWidth > 0"
    )
    response = await screen.request.get(server.url(f"/api/join/qr.svg?code={game.join_code}"))
    assert response.headers["content-type"] == "image/svg+xml"
    assert f"Join with code {game.join_code}" in await response.text()

    await ui.team("Early Birds", game.join_code)
    await expect(screen.locator("#lobby-teams")).to_have_text("1 team has joined")
    command(server, game.id, "show", q=0)
    await expect(screen.locator("#lobby")).to_be_hidden()  # the QR gives way to the question
    await expect(screen.locator("#question")).to_have_text(re.compile("Red Planet"))
    assert BUZZER_ANSWER not in await screen.content()


async def test_rulings_show_the_winner_the_gap_the_timeline_and_score_moves(server: Server, ui: UI) -> None:
    game = server.new_game(RACE)
    owls = await ui.team("Owls", game.join_code)
    larks = await ui.team("Larks", game.join_code)
    screen = await open_screen(ui, server, game.id)
    command(server, game.id, "adjust", team=team_id(server, game.id, "Larks"), delta=5, reason="a head start")
    await expect(screen.locator("#scores tr").first.locator("td.name")).to_have_text("Larks")

    # One press: the only buzz, on the timeline with its uncertainty bar.
    command(server, game.id, "show", q=0)
    await expect(screen.locator("#question")).to_have_text(re.compile("Red Planet"))
    await expect(screen.locator("#timeline")).to_be_hidden()
    command(server, game.id, "arm")
    await expect(screen.locator("#countdown")).to_be_visible()  # the 60 s buzz window, counted down
    await expect(screen.locator("#countdown-value")).to_have_text(re.compile(r"^[1-6]?\d$"))
    await expect(owls.locator("#buzz")).to_have_attribute("data-state", "armed")
    await owls.keyboard.press("Space")
    await expect(screen.locator("#winner")).to_have_text("Owls")
    await expect(screen.locator("#gap")).to_have_text("the only buzz")
    await expect(screen.locator("#timeline .tl-row")).to_have_count(1)
    await expect(screen.locator("#timeline .tl-row .tl-name")).to_have_text("Owls")
    await expect(screen.locator("#timeline .tl-row .tl-bar")).to_have_count(1)

    # Judged right: Owls (10) passes Larks (5); the row glides up and shows its gain.
    command(server, game.id, "judge", verdict="right")
    owls_row = screen.locator("#scores tr", has=screen.locator("td.name", has_text="Owls"))
    await expect(screen.locator("#scores tr").first.locator("td.name")).to_have_text("Owls")
    await expect(owls_row.locator("td.delta")).to_have_text("+10")
    await expect(owls_row).to_have_class(re.compile(r"\bmoving\b"))

    # Two presses: the winner is ahead of the other by a gap (or too close to call), both on the timeline.
    command(server, game.id, "reveal")
    await expect(screen.locator("#answer")).to_have_text("Answer: Mars")
    command(server, game.id, "show", q=1)
    await expect(screen.locator("#timeline")).to_be_hidden()
    await expect(screen.locator("#answer")).to_be_empty()
    command(server, game.id, "arm")
    await expect(larks.locator("#buzz")).to_have_attribute("data-state", "armed")
    await expect(owls.locator("#buzz")).to_have_attribute("data-state", "armed")
    await larks.keyboard.press("Space")
    await owls.keyboard.press("Space")
    await expect(screen.locator("#timeline .tl-row")).to_have_count(2)
    winner = (await screen.locator("#winner").text_content() or "").strip()
    assert winner in {"Owls", "Larks"}
    other = "Owls" if winner == "Larks" else "Larks"
    await expect(screen.locator("#gap")).to_have_text(
        re.compile(rf"^(\+[\d,]+\.\d ms ahead of {other}|Too close to call)$")
    )
    await expect(screen.locator("#timeline .tl-row.first .tl-name")).to_have_text(winner)
    await expect(screen.locator("#timeline .tl-row").nth(1).locator(".tl-gap")).to_have_text(re.compile(r"^\+\d"))

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await screen.set_viewport_size({"width": 1920, "height": 1080})
    await screen.screenshot(path=str(SCREENSHOTS / "screen.png"))


async def test_reduced_motion_moves_rows_without_animating(server: Server, ui: UI) -> None:
    game = server.new_game()
    await ui.team("Tortoises", game.join_code)
    await ui.team("Hares", game.join_code)
    screen = await open_screen(ui, server, game.id, reduced_motion="reduce")
    last = screen.locator("#scores tr").last.locator("td.name")
    await expect(last).to_have_text(re.compile("Tortoises|Hares"))
    name = (await last.text_content() or "").strip()
    command(server, game.id, "adjust", team=team_id(server, game.id, name), delta=3, reason="style")
    await expect(screen.locator("#scores tr").first.locator("td.name")).to_have_text(name)
    row = screen.locator("#scores tr").first
    await expect(row.locator("td.delta")).to_have_text("+3")
    assert "moving" not in (await row.get_attribute("class") or "")


async def test_question_images_only_from_this_server_or_data_urls(server: Server, ui: UI) -> None:
    quiz = {
        "title": "Pictures",
        "questions": [
            {"type": "buzzer", "text": "What colour is this?", "answer": "Red", "media": {"url": PIXEL}},
            {
                "type": "buzzer",
                "text": "Whose cat is this?",
                "answer": "Nobody's",
                "media": {"url": "https://example.com/cat.png"},
            },
        ],
    }
    with server.api() as client:
        quiz_id = client.post("/api/quizzes", json=quiz).raise_for_status().json()["id"]
        game_id = client.post("/api/games", json={"quiz_id": quiz_id}).raise_for_status().json()["id"]
    screen = await open_screen(ui, server, game_id)
    command(server, game_id, "show", q=0)
    await expect(screen.locator("#media")).to_be_visible()
    await expect(screen.locator("#media-img")).to_have_attribute("src", PIXEL)
    await screen.wait_for_function("document.querySelector('#media-img').naturalWidth === 80")
    command(server, game_id, "show", q=1)
    await expect(screen.locator("#question")).to_have_text("Whose cat is this?")
    await expect(screen.locator("#media")).to_be_hidden()
    assert await screen.locator("img[src*='example.com']").count() == 0


async def test_a_wrong_display_token_says_what_to_do(server: Server, ui: UI) -> None:
    page = await ui.page(await ui.context(SCREEN), "/screen#token=qhd_this-is-not-a-real-token")
    await expect(page.locator("#conn")).to_have_class(re.compile(r"\brefused\b"))
    await expect(page.locator("#error")).to_have_text(
        re.compile(r"^This screen cannot show the game: .+ Ask the quizmaster")
    )
    assert "token" not in page.url
    bare = await ui.page(await ui.context(SCREEN), "/screen")
    await expect(bare.locator("#error")).to_have_text(re.compile("display link"))


async def test_lang_in_the_address_sets_the_screens_language(server: Server, ui: UI) -> None:
    game = server.new_game()
    italian = await open_screen(ui, server, game.id, "?lang=it")
    await expect(italian.locator("#lobby-title")).to_have_text("Partecipa al quiz")
    await expect(italian.locator("#code")).to_have_text(f"Entra con il codice {game.join_code}")
    russian = await open_screen(ui, server, game.id, "?lang=ru")
    await expect(russian.locator("#lobby-title")).to_have_text("Присоединяйтесь к викторине")
    await expect(russian.locator("#scores-title")).to_have_text("Счёт")
