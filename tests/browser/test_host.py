"""The host console in Chromium: start a game from a quiz, adjust scores, add and remove teams, timers, buzzer
health, refusals shown as the server's sentence, the language switch, and who may open it."""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import PHONE, buzzers, wait_text

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _row(page: Page, table: str, name: str) -> object:
    return page.locator(f"{table} tr", has=page.locator("td.name", has_text=re.compile(f"^{re.escape(name)}$")))


async def test_start_a_game_from_a_quiz_and_run_it(ui: UI) -> None:
    host = await ui.host("/")
    await expect(host.locator("#quiz-select option", has_text="Quizhub Demo Night")).to_be_attached()
    before = set(await host.locator("#game-list li").evaluate_all("nodes => nodes.map(n => n.dataset.game)"))
    await host.click("#start-form button[type=submit]")
    await expect(host.locator("#conn")).to_have_attribute("data-status", "live")
    game_id = await host.locator("#game-id").text_content()
    assert game_id
    assert game_id not in before  # a new game, not one of the listed ones
    assert re.fullmatch(r"\d{6}", await host.locator("#join-code").text_content() or "")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "lobby")

    # Teams: the host adds one (as a team joins: by the game's code), then removes it with a confirming click.
    await host.fill("#team-add-name", "Larks")
    await host.click("#team-add-form button[type=submit]")
    larks = host.locator("#teams li", has_text="Larks")
    await expect(larks).to_be_visible()
    await expect(host.locator("#scores tr", has_text="Larks")).to_be_visible()
    await host.fill("#team-add-name", "Larks")
    await host.click("#team-add-form button[type=submit]")
    await wait_text(host, "#teams-error", "Larks")  # the server's sentence: the name is taken
    await host.fill("#team-add-name", "Owls")
    await host.click("#team-add-form button[type=submit]")
    await expect(host.locator("#teams li", has_text="Owls")).to_be_visible()
    await larks.locator("button").click()
    await expect(larks.locator("button")).to_have_text("Click again to remove")
    await larks.locator("button").click()
    await expect(larks).to_have_count(0)
    await expect(host.locator("#scores tr", has_text="Larks")).to_have_count(0)
    await host.fill("#team-add-name", "Larks")  # removed from the database too: the name is free again
    await host.click("#team-add-form button[type=submit]")
    await expect(host.locator("#teams li", has_text="Larks")).to_be_visible()
    await expect(host.locator("#teams-error")).to_have_text("")

    # Adjust a score: a bad number is refused on the page; a good one reaches every scoreboard row.
    await host.select_option("#adjust-team", label="Owls")
    await host.fill("#adjust-delta", "0")
    await host.click("#adjust-form button[type=submit]")
    await expect(host.locator("#adjust-error")).to_have_text(re.compile("other than 0"))
    await host.fill("#adjust-delta", "7")
    await host.fill("#adjust-reason", "bonus round")
    await host.click("#adjust-form button[type=submit]")
    await expect(host.locator("#scores tr", has_text="Owls").locator("td.score")).to_have_text("7")
    await expect(host.locator("#adjust-error")).to_have_text("")

    # Show the first question; a command out of turn shows the hub's sentence; pause and resume.
    await host.click("button[data-cmd=show]")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "question")
    await expect(host.locator("#question")).not_to_be_empty()
    await expect(host.locator("#qnum")).to_have_text(re.compile(r"^question 1 of \d+$"))
    await host.click("button[data-cmd=judge-right]")
    await wait_text(host, "#cmd-error", ".")
    await host.click("button[data-cmd=pause]")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "paused")
    await expect(host.locator("button[data-cmd=pause]")).to_be_hidden()
    await host.click("button[data-cmd=resume]")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "question")


async def test_answer_timer_counts_down_from_the_states_deadline(server: Server, ui: UI) -> None:
    game = server.new_game()
    team = await ui.team("Timers", game.join_code)
    host = await ui.host(f"/?game={game.id}")
    await expect(host.locator("#conn")).to_have_attribute("data-status", "live")
    # The host plays this one from the keyboard: S show, A arm, R right, U undo.
    await host.keyboard.press("s")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "question")
    await host.keyboard.press("a")
    await expect(team.locator("#buzz")).to_have_attribute("data-state", "armed")
    await team.keyboard.press("Space")
    await expect(host.locator("#phase")).to_have_attribute("data-phase", "buzzed")
    # The hub gives the winner an answer timer; the console counts it down without knowing the hub's clock.
    timer = host.locator("#timer")
    await expect(timer).to_be_visible()
    first = await wait_text(host, "#timer", r"answer: \d+ seconds? left")
    start = int(re.findall(r"\d+", first)[0])
    await expect(timer).to_have_text(re.compile(rf"answer: ([0-{max(start - 1, 0)}]) seconds? left"))
    await expect(host.locator("#winner")).to_contain_text("Timers")

    # Judged right, then undone: the score goes up and back on the console and on the team's page.
    score = host.locator("#scores tr", has_text="Timers").locator("td.score")
    await host.keyboard.press("r")
    await expect(score).to_have_text("10")
    await expect(team.locator("#score")).to_have_text("10")
    await host.keyboard.press("u")
    await expect(score).to_have_text("0")
    await expect(team.locator("#score")).to_have_text("0")


async def test_buzzer_health_in_the_console(server: Server, ui: UI) -> None:
    game = server.new_game()
    await ui.team("Wired", game.join_code)
    with server.api() as client:
        team_id = client.get(f"/api/games/{game.id}").json()["teams"][0]["id"]
    async with buzzers(server, "hw") as [hw]:
        with server.api() as client:
            client.post(f"/api/devices/{hw.device_id}/pair", json={"team_id": team_id}).raise_for_status()
        host = await ui.host(f"/?game={game.id}")
        row = host.locator(f"#devices tr[data-device='{hw.device_id}']")
        await expect(row).to_contain_text("Wired")
        await expect(row.locator("td.online")).to_have_text("yes")
        await expect(row).to_contain_text("3.9 V")
        await expect(row).to_contain_text(re.compile(r"-\d+ dBm"))


async def test_language_switch_and_phone_layout(server: Server, ui: UI) -> None:
    ctx = await ui.context(PHONE, is_mobile=True, has_touch=True)
    await ui.login(ctx)
    host = await ui.page(ctx, "/")
    await expect(host.locator("h1")).to_have_text("Quizhub · host console")
    await host.select_option("header select.lang", "it")
    await expect(host.locator("h1")).to_have_text("Quizhub · console del conduttore")
    await expect(host.locator("#start-form button[type=submit]")).to_have_text("Inizia una partita")
    await host.select_option("header select.lang", "ru")
    await expect(host.locator("h1")).to_have_text("Quizhub · пульт ведущего")
    # Nothing is wider than the phone: no sideways scrolling of the whole page (with the game list drawn).
    await expect(host.locator("#game-list li button").first).to_be_visible()
    width = await host.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    await host.goto(server.url(f"/?game={server.game_id}"))  # the console itself, with its tables
    await expect(host.locator("#scores tr").first).to_be_visible()
    # The demo's buzzers are recorded as paired to its teams (not only on the hub), so the console lists them.
    await expect(host.locator("#devices tr[data-device='demo-01']")).to_contain_text("Night Owls")
    width = await host.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width


async def test_a_quizmaster_hosts_and_a_team_is_sent_to_log_in(server: Server, ui: UI) -> None:
    password = server.add_user("quizmaster-ann")
    host = await ui.host("/", name="quizmaster-ann", password=password)
    await expect(host.locator("#who")).to_have_text("quizmaster-ann (quizmaster)")
    await expect(host.locator("#quiz-select option").first).to_be_attached()

    # A team has a token, not a session: the console is not for it.
    team = await ui.team("Nosy")
    await team.goto(server.url("/"))
    await expect(team).to_have_url(re.compile(r"/login\?next=%2F$"))
    await expect(team.locator("#login-form")).to_be_visible()


async def test_too_close_to_call_is_decided_by_the_host(server: Server, ui: UI) -> None:
    game = server.new_game()  # the default tie rule leaves a too-close ruling to the host
    with server.api() as client:
        for name in ("Left", "Right"):
            httpx.post(server.url("/api/join"), json={"code": game.join_code, "name": name}).raise_for_status()
        teams = {t["name"]: t["id"] for t in client.get(f"/api/games/{game.id}").json()["teams"]}
    async with buzzers(server, "hw", "hw") as [left, right]:
        with server.api() as client:
            for buzzer, name in ((left, "Left"), (right, "Right")):
                pair = client.post(f"/api/devices/{buzzer.device_id}/pair", json={"team_id": teams[name]})
                pair.raise_for_status()
        host = await ui.host(f"/?game={game.id}")
        for buzzer in (left, right):  # both clocks modelled
            await expect(host.locator(f"#devices tr[data-device='{buzzer.device_id}'] td").nth(5)).to_have_text(
                re.compile(r"^±")
            )
        await host.click("button[data-cmd=show]")
        await host.click("button[data-cmd=arm]")
        await left.wait_for("armed", timeout=15)
        await right.wait_for("armed", timeout=15)
        # Both press at the same true instant: the gap is inside their clocks' uncertainty.
        instant = time.monotonic_ns()
        await asyncio.gather(left.press(left.clock.at(instant)), right.press(right.clock.at(instant)))

        await expect(host.locator("#too-close")).to_be_visible()
        await expect(host.locator("#order li")).to_have_count(2)
        decide = host.locator("#decide button")
        await expect(decide).to_have_count(4)  # right or wrong, for each of the two
        await expect(host.locator("#winner")).to_have_text("")
        await host.click("button[data-cmd=judge-right]")  # no team named: the hub says which to name
        await expect(host.locator("#cmd-error")).to_have_text(re.compile("too close to call"))
        await decide.filter(has_text="Right was right").click()
        await expect(host.locator("#scores tr", has_text="Right").locator("td.score")).to_have_text("10")
        await expect(host.locator("#scores tr", has_text="Left").locator("td.score")).to_have_text("0")
        await expect(host.locator("#decide")).to_be_hidden()
        await expect(host.locator("#phase")).to_have_attribute("data-phase", "judged")
