"""The team page (`/play`, `/join`) in Chromium on the session's real `quizhub serve --demo`.

Each test plays a game of its own (the demo quiz: question 0 is a buzzer question, 6 multiple choice with the answer
"Carbon dioxide" (b), 11 true/false with the answer true, 15 numeric (8849 m), 19 open text) and drives the host
through the REST API: the buzz button's states (armed → won/lost, and a false start before the arm), answering end to
end with nothing of the answer on the page or its socket before the reveal, a dropped socket that comes back by
itself with the team, a bad code's sentence, and the language switch.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PHONE, SCREENSHOTS

if TYPE_CHECKING:
    from playwright.async_api import Page, WebSocketRoute

    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BUZZER_Q, MC_Q, TF_Q, NUMERIC_Q, OPEN_Q = 0, 6, 11, 15, 19
BUZZER_ANSWER = "Mars"


def command(server: Server, game_id: str, cmd: str, **fields: Any) -> None:
    """A host command through the REST API (the host console is tested elsewhere)."""
    with server.api() as client:
        response = client.post(f"/api/games/{game_id}/commands", json={"cmd": cmd, **fields})
        assert response.status_code == 200, response.text


def record_frames(page: Page) -> list[str]:
    """Every text frame the page's WebSockets receive, from now on."""
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    return frames


def answer_keys(frames: list[str]) -> list[str]:
    """Frames that carry an answer or its correctness anywhere (what a team must not get before the reveal)."""

    def has_answer(node: object) -> bool:
        if isinstance(node, dict):
            return any(k in {"answer", "correct", "reveal"} or has_answer(v) for k, v in node.items())
        if isinstance(node, list):
            return any(has_answer(v) for v in node)
        return False

    return [frame for frame in frames if has_answer(json.loads(frame))]


async def test_buzz_states_armed_then_won_and_lost(server: Server, ui: UI) -> None:
    game = server.new_game()
    first = await ui.team("Owls", game.join_code)
    second = await ui.team("Larks", game.join_code)
    buzz1, buzz2 = first.locator("#buzz"), second.locator("#buzz")
    await expect(buzz1).to_have_attribute("data-state", "wait")

    command(server, game.id, "show", q=BUZZER_Q)
    await expect(buzz1).to_have_attribute("data-state", "ready")  # shown, not armed: pressing now is too early
    await expect(first.locator("#question")).to_have_text(re.compile("Red Planet"))
    command(server, game.id, "arm")
    await expect(buzz1).to_have_attribute("data-state", "armed")
    await expect(buzz2).to_have_attribute("data-state", "armed")
    await expect(buzz1).to_be_enabled()

    await first.keyboard.press("Space")
    await expect(buzz1).to_have_attribute("data-state", "won")
    await expect(buzz1).to_have_text("You're first!")
    await expect(buzz2).to_have_attribute("data-state", "lost")
    await expect(buzz2).to_have_text("Owls was first")
    await expect(buzz2).to_be_disabled()

    command(server, game.id, "judge", verdict="right")
    await expect(first.locator("#score")).to_have_text("10")
    await expect(first.locator("#rank")).to_have_text("1")
    await expect(second.locator("#rank")).to_have_text("2")
    await expect(second.locator("tbody tr.me td.name")).to_have_text("Larks")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await first.set_viewport_size({"width": 390, "height": 844})
    await first.screenshot(path=str(SCREENSHOTS / "play.png"))


async def test_a_press_before_the_arm_is_too_early_and_locks_the_team_out(server: Server, ui: UI) -> None:
    game = server.new_game()  # the hub's default false-start rule: locked out for the question
    early = await ui.team("Hasty", game.join_code)
    calm = await ui.team("Calm", game.join_code)
    command(server, game.id, "show", q=BUZZER_Q)
    buzz = early.locator("#buzz")
    await expect(buzz).to_have_attribute("data-state", "ready")
    await early.keyboard.press("Space")

    await expect(buzz).to_have_attribute("data-state", "false_start")  # the hub's verdict, from the event
    await expect(buzz).to_have_text("Too early!")
    await expect(early.locator("#message")).to_have_text(re.compile("locked out for this question"))
    command(server, game.id, "arm")
    await expect(calm.locator("#buzz")).to_have_attribute("data-state", "armed")
    await expect(buzz).to_have_attribute("data-state", "false_start")  # still out: the hub's locked_out list
    await expect(buzz).to_be_disabled()


async def test_multiple_choice_and_true_false_answers_without_the_answer_before_reveal(server: Server, ui: UI) -> None:
    game = server.new_game()
    page = await ui.team("Pickers", game.join_code)
    frames = record_frames(page)
    await page.reload()  # the socket again, now recorded from its first frame; the team is kept
    await expect(page.locator("#conn")).to_have_text("live")
    assert await page.locator("#team-name").text_content() == "Pickers"

    # A buzzer question first: its answer is nowhere before the reveal.
    command(server, game.id, "show", q=BUZZER_Q)
    await expect(page.locator("#question")).to_have_text(re.compile("Red Planet"))

    command(server, game.id, "show", q=MC_Q)
    choices = page.locator("#choices button")
    await expect(choices).to_have_count(4)
    await expect(page.locator("#buzz")).to_be_hidden()
    await expect(choices.first).to_be_disabled()  # not open until the host starts the clock
    command(server, game.id, "arm")
    await expect(page.locator("#choices button[data-choice=b]")).to_be_enabled()
    await page.click("#choices button[data-choice=b]")
    # The only team has answered, so the answers close at once: the page keeps the team's answer on show.
    await expect(page.locator("#answer-status")).to_have_text("Your answer: B · Carbon dioxide. Wait for the reveal.")
    await expect(page.locator("#choices button[data-choice=a]")).to_be_disabled()

    # Nothing of an answer before the reveal: not on the page, not on the socket.
    content = await page.content()
    assert BUZZER_ANSWER not in content
    assert await page.locator("#choices .right").count() == 0
    assert answer_keys(frames) == [], answer_keys(frames)

    command(server, game.id, "reveal")
    await expect(page.locator("#choices button[data-choice=b]")).to_have_class(re.compile(r"\bright\b"))
    await expect(page.locator("#answer-status")).to_have_text("Right!")
    await expect(page.locator("#score")).not_to_have_text("0")

    # True/false: the two choices in the page's language; a wrong pick is told after the reveal.
    command(server, game.id, "show", q=TF_Q)
    await expect(page.locator("#choices button")).to_have_text([re.compile("True"), re.compile("False")])
    command(server, game.id, "arm")
    await page.click("#choices button[data-choice=b]")
    await expect(page.locator("#answer-status")).to_have_text("Your answer: B · False. Wait for the reveal.")
    command(server, game.id, "reveal")
    await expect(page.locator("#answer-status")).to_have_text(re.compile("^Not this time"))


async def test_a_bad_code_shows_the_servers_sentence(server: Server, ui: UI) -> None:
    code = "000000" if server.join_code != "000000" else "000001"
    page = await ui.page(await ui.context({"width": 375, "height": 800}), f"/join?code={code}")
    await expect(page.locator("#join-code")).to_have_value(code)
    await page.fill("#join-name", "Nobody")
    await page.click("#join-form button[type=submit]")
    sentence = f"No game is open with code {code}; check the code on the screen."
    await expect(page.locator("#join-error")).to_have_text(sentence)
    await expect(page.locator("#team")).to_be_hidden()


async def test_the_language_switch_translates_the_page(server: Server, ui: UI) -> None:
    page = await ui.page(await ui.context({"width": 375, "height": 800}, locale="it-IT"), "/play")
    await expect(page.locator("#join-form button[type=submit]")).to_have_text("Entra")  # the browser's language
    await expect(page.locator("html")).to_have_attribute("lang", "it")
    await page.select_option("select.lang", "ru")
    await expect(page.locator("#join-form button[type=submit]")).to_have_text("Войти")
    await expect(page.locator("h2")).to_have_text("Войти в игру")
    game = server.new_game()
    await page.fill("#join-code", game.join_code)
    await page.fill("#join-name", "Совы")
    await page.click("#join-form button[type=submit]")
    await expect(page.locator("#buzz")).to_have_text("Ждите")
    await expect(page.locator("#phase")).to_have_text("Ждём начала викторины")
    await page.select_option("select.lang", "en")  # the choice is kept: back to English for the next page
    await expect(page.locator("#hint")).to_have_text("Tap the button or press the space bar.")


async def test_numeric_and_open_text_answers_use_an_input(server: Server, ui: UI) -> None:
    game = server.new_game()
    page = await ui.team("Typists", game.join_code)
    command(server, game.id, "show", q=NUMERIC_Q)
    number = page.locator("#free-input")
    await expect(number).to_have_attribute("type", "number")
    await expect(page.locator("#free-label")).to_have_text(re.compile("^Your number"))  # the hub has no unit yet
    await expect(number).to_be_disabled()
    command(server, game.id, "arm")
    await expect(number).to_be_enabled()
    await number.fill("8800")
    await page.click("#free-form button[type=submit]")
    # The only team has answered, so the answers close at once: the page keeps the team's answer on show.
    await expect(page.locator("#answer-status")).to_have_text("Your answer: 8,800. Wait for the reveal.")
    await expect(number).to_be_disabled()
    command(server, game.id, "reveal")
    await expect(page.locator("#answer-status")).to_have_text("The answer was 8849.")

    command(server, game.id, "show", q=OPEN_Q)
    await expect(number).to_have_attribute("type", "text")
    command(server, game.id, "arm")
    await number.fill("Van Gogh")
    await number.press("Enter")
    await expect(page.locator("#answer-status")).to_have_text("Your answer: Van Gogh. Wait for the reveal.")


async def test_a_dropped_connection_reconnects_by_itself_and_keeps_the_team(server: Server, ui: UI) -> None:
    game = server.new_game()
    page = await ui.page(await ui.context(PHONE, is_mobile=True, has_touch=True))
    sockets: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:  # pass every socket through, keeping a handle to drop it
        ws.connect_to_server()
        sockets.append(ws)

    await page.route_web_socket(re.compile(r"/ws(\?|$)"), through)
    await page.goto(server.url(f"/join?code={game.join_code}"))
    await page.fill("#join-name", "Roamers")
    await page.click("#join-form button[type=submit]")
    await expect(page.locator("#conn")).to_have_class(re.compile(r"\blive\b"))
    command(server, game.id, "show", q=BUZZER_Q)
    await expect(page.locator("#buzz")).to_have_attribute("data-state", "ready")

    await sockets[-1].close(code=4000, reason="the Wi-Fi dropped")
    await expect(page.locator("#conn")).to_have_class(re.compile(r"\boffline\b"))
    command(server, game.id, "arm")  # happens while the phone is away
    await expect(page.locator("#conn")).to_have_class(re.compile(r"\blive\b"))
    assert len(sockets) == 2
    await expect(page.locator("#team-name")).to_have_text("Roamers")
    await expect(page.locator("#buzz")).to_have_attribute("data-state", "armed")
    await page.keyboard.press("Space")  # the new socket holds the team's buzzer
    await expect(page.locator("#buzz")).to_have_attribute("data-state", "won")
