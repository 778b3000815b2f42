"""The devices page in Chromium with simulated hardware buzzers on the server's broker: unpaired buzzers appear as
they connect (pushed over the socket, not polled), Identify makes one blink, the team picker pairs, press-to-pair
pairs the next pressed buzzer, unpair, a bad pairing's error next to it, and who may open the page."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import buzzers

if TYPE_CHECKING:
    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_pair_by_picker_and_by_press(server: Server, ui: UI) -> None:
    game = server.new_game()
    await ui.team("Herons", game.join_code)
    await ui.team("Kites", game.join_code)
    page = await ui.host(f"/devices?game={game.id}")
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live")
    await expect(page.locator("#press-teams li")).to_have_count(2)

    async with buzzers(server, "hw", "hw") as [first, second]:
        # They appear as they connect, unpaired, with their health.
        row1 = page.locator(f"#unpaired tr[data-device='{first.device_id}']")
        row2 = page.locator(f"#unpaired tr[data-device='{second.device_id}']")
        await expect(row1.locator("td.online")).to_have_text("yes")
        await expect(row2).to_contain_text("3.9 V")

        # Identify: the buzzer itself gets the blink command.
        await row1.locator("button.identify").click()
        await first.wait_for("identify", timeout=15)

        # Pair with the picker: the buzzer moves to the paired table and is configured for the team.
        await row1.locator("select.team-pick").select_option(label="Herons")
        await row1.locator("button.pair").click()
        paired1 = page.locator(f"#paired tr[data-device='{first.device_id}']")
        await expect(paired1.locator("td.team")).to_have_text("Herons")
        await expect(row1).to_have_count(0)
        assert (await first.wait_for("config", timeout=15)).data["game"] == game.id

        # Press-to-pair: pick the team, then press the unpaired buzzer.
        await page.locator("#press-teams li", has_text="Kites").locator("button").click()
        await expect(page.locator("#press-status")).to_have_text(re.compile("press the buzzer for Kites"))
        await second.press()
        paired2 = page.locator(f"#paired tr[data-device='{second.device_id}']")
        await expect(paired2.locator("td.team")).to_have_text("Kites")
        await expect(page.locator("#press-status")).to_have_text(f"{second.device_id} now belongs to Kites.")
        await expect(page.locator("#press-teams button[aria-pressed=true]")).to_have_count(0)  # waits no more

        # The server recorded both pairings.
        with server.api() as client:
            devices = client.get("/api/devices", params={"game_id": game.id}).json()
        assert {d["id"] for d in devices if d["team_id"]} >= {first.device_id, second.device_id}

        # Unpair: back to the unpaired table.
        await paired1.locator("button.unpair").click()
        await expect(row1).to_be_visible()
        await expect(paired1).to_have_count(0)


async def test_a_buzzer_that_connects_later_is_pushed_not_polled(server: Server, ui: UI) -> None:
    game = server.new_game()
    ctx = await ui.context()
    await ctx.clock.install()  # the page's timers run on a clock the test can stop
    await ui.login(ctx)
    reads: list[str] = []  # every read of the device list, from the page's first request on
    ctx.on("request", lambda r: reads.append(r.url) if r.method == "GET" and r.url.endswith("/api/devices") else None)
    page = await ui.page(ctx, f"/devices?game={game.id}")
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live")
    await expect(page.locator("#unpaired")).to_have_attribute("aria-busy", "false")  # the list read on connect
    # No timer of the page fires from here on (its measurements re-read included) until the test moves the clock.
    await page.clock.pause_at(await page.evaluate("Date.now() + 1"))
    await expect(page.locator("#unpaired")).to_have_attribute("aria-busy", "false")  # a read the jump ran is done
    before = list(reads)

    async with buzzers(server, "hw") as [hw]:
        row = page.locator(f"#unpaired tr[data-device='{hw.device_id}']")
        await expect(row.locator("td.online")).to_have_text("yes")
        await expect(row).to_contain_text("3.9 V")
        # Only a read of the list could show it on a polling page: there was none since the clock stopped.
        assert reads == before, f"the page read the device list again instead of being told: {reads}"
    # Switched off: the page hears that too.
    await expect(row.locator("td.offline")).to_have_text("no")
    assert reads == before, f"the page read the device list again instead of being told: {reads}"
    # What only the hub measures (clock sync error, last seen) is re-read every 5 s while buzzers are online.
    async with page.expect_request(lambda r: r.method == "GET" and r.url.endswith("/api/devices")):
        await page.clock.run_for(5_000)


async def test_a_bad_pairing_shows_its_error_next_to_the_buzzer(server: Server, ui: UI) -> None:
    game = server.new_game()
    await ui.team("Rooks", game.join_code)
    page = await ui.host(f"/devices?game={game.id}")
    async with buzzers(server, "hw") as [hw]:
        row = page.locator(f"#unpaired tr[data-device='{hw.device_id}']")
        await expect(row).to_be_visible()
        # No team picked: the page says what to do.
        await row.locator("button.pair").click()
        await expect(row.locator(".row-error")).to_have_text(re.compile("Pick the team"))
        # A team the server does not know (gone since the page listed it): the server's sentence, in that row.
        await row.locator("select.team-pick").evaluate(
            "s => { s.append(new Option('Ghosts', 'no-such-team')); s.value = 'no-such-team'; }"
        )
        await row.locator("button.pair").click()
        await expect(row.locator(".row-error")).to_have_text(re.compile("no team with id 'no-such-team'"))
        other = page.locator("#unpaired tr .row-error").filter(has_not_text="no-such-team")
        await expect(other.filter(has_text=re.compile("."))).to_have_count(0)


async def test_who_may_open_the_devices_page(server: Server, ui: UI) -> None:
    password = server.add_user("quizmaster-bo")
    page = await ui.host("/devices", name="quizmaster-bo", password=password)
    await expect(page.locator("h1")).to_have_text("Quizhub · devices")
    await expect(page.locator("#game-select option").first).to_be_attached()

    # A team's page holds a team token, no session: it is sent to log in, and its token cannot read devices.
    team = await ui.team("Snoops")
    token = await team.evaluate("localStorage.getItem('quizhub.team')")
    assert token
    await team.goto(server.url("/devices"))
    await expect(team).to_have_url(re.compile(r"/login\?next=%2Fdevices$"))
    response = httpx.get(server.url("/api/devices"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403, response.text
