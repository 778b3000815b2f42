"""The quiz editor in Chromium on the shared server: a quiz with one question of every type made, edited, moved and
renamed on the page and read back through the API; a refused field's sentence next to that field; a bad CSV's
line-numbered error with nothing imported; a good import; an export that imports again equal; who may open it;
markup in a question shown as text."""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import PHONE, SCREENSHOTS

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MARKUP = "<b>Bold</b> & <i>co</i>?"


def _name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def _quiz(server: Server, quiz_id: int) -> dict[str, Any]:
    with server.api() as client:
        doc: dict[str, Any] = client.get(f"/api/quizzes/{quiz_id}").raise_for_status().json()
    return doc


def _quiz_titles(server: Server) -> list[str]:
    with server.api() as client:
        return [q["title"] for q in client.get("/api/quizzes").raise_for_status().json()]


def _open_id(page: Page) -> int:
    found = re.search(r"[?&]quiz=(\d+)", page.url)
    assert found, page.url
    return int(found.group(1))


async def _new_quiz(page: Page, title: str) -> int:
    await page.fill("#new-quiz-title", title)
    await page.click("#new-quiz-form button[type=submit]")
    await expect(page.locator("#quiz-title")).to_have_value(title)
    return _open_id(page)


async def _save(page: Page, count: int) -> None:
    await page.click("#question-form button[type=submit]")
    await expect(page.locator("#question-editor")).to_be_hidden()
    await expect(page.locator("#questions > li")).to_have_count(count)


async def _start(page: Page, kind: str) -> Locator:
    await page.click("#add-question")
    form = page.locator("#question-form")
    await form.locator("#q-type").select_option(kind)
    return form


async def test_a_quiz_with_every_question_type_made_edited_and_moved(server: Server, ui: UI) -> None:
    page = await ui.host("/editor")
    quiz_id = await _new_quiz(page, _name("Editor night"))

    form = await _start(page, "buzzer")
    await form.locator("#q-text").fill(MARKUP)
    await form.locator("#q-answer-text").fill("Mars")
    await _save(page, 1)

    form = await _start(page, "multiple_choice")
    await form.locator("#q-text").fill("Largest planet?")
    await form.locator("#q-add-choice").click()
    choices = form.locator("input.choice-text")
    for i, choice in enumerate(["Mars", "Jupiter", "Venus"]):
        await choices.nth(i).fill(choice)
    await form.locator("input.choice-correct").nth(1).check()
    await _save(page, 2)

    form = await _start(page, "true_false")
    await form.locator("#q-text").fill("The Sun is a planet.")
    await form.locator("#q-false").check()
    await _save(page, 3)

    form = await _start(page, "numeric")
    await form.locator("#q-text").fill("Moons of Mars?")
    await form.locator("#q-number").fill("3")
    await form.locator("#q-buzz-window").fill("5")
    await form.locator("#q-answer-time").fill("12.5")
    await _save(page, 4)

    form = await _start(page, "open_text")
    await form.locator("#q-text").fill("Why is Mars red?")
    await form.locator("#q-points").fill("7")
    await form.locator("#q-penalty").fill("2")
    await form.locator("#q-media").fill("/static/mars.png")
    await form.locator("#q-round").fill("Finale")
    await _save(page, 5)

    # Edit the numeric question, then move it up one place.
    numeric = page.locator("#questions > li[data-type=numeric]")
    await numeric.locator("button.edit").click()
    await expect(page.locator("#q-number")).to_have_value("3")
    await page.fill("#q-number", "2")
    await _save(page, 5)
    await expect(numeric.locator(".q-answer")).to_have_text("Answer: 2")
    await page.locator("#questions > li[data-type=numeric] button.up").click()
    await expect(page.locator("#questions > li").nth(2)).to_have_attribute("data-type", "numeric")
    await expect(page.locator("#questions > li[data-type=numeric] button.up")).to_be_focused()

    # Rename the quiz.
    title = _name("Space night")
    await page.fill("#quiz-title", title)
    await page.click("#quiz-form button[type=submit]")
    await expect(page.locator("#quiz-list button[aria-current=true]")).to_have_text(title)

    # The markup shows as text: no <b> element anywhere in the list.
    await expect(page.locator("#questions > li").first.locator(".q-text")).to_have_text(MARKUP)
    assert await page.locator("#questions b, #questions i").count() == 0

    # The server stored all of it.
    doc = _quiz(server, quiz_id)
    assert doc["title"] == title
    got = [(q["type"], q["text"], q["answer"]) for q in doc["questions"]]
    assert got == [
        ("buzzer", MARKUP, "Mars"),
        ("multiple_choice", "Largest planet?", 1),
        ("numeric", "Moons of Mars?", 2),
        ("true_false", "The Sun is a planet.", False),
        ("open_text", "Why is Mars red?", None),
    ]
    choice, numeric_q, open_q = doc["questions"][1], doc["questions"][2], doc["questions"][4]
    assert choice["choices"] == ["Mars", "Jupiter", "Venus"]
    assert (numeric_q["buzz_window_ms"], numeric_q["answer_time_ms"]) == (5000, 12500)
    assert (open_q["points"], open_q["penalty"], open_q["media"]) == (7, 2, {"url": "/static/mars.png"})
    assert [r["title"] for r in doc["rounds"] if r["id"] == open_q["round_id"]] == ["Finale"]

    await page.locator("#questions > li").nth(1).locator("button.edit").click()
    await expect(page.locator("#question-heading")).to_have_text("Question 2")
    await expect(page.locator("#q-text")).to_be_focused()
    await expect(page.locator("input.choice-correct").nth(1)).to_be_checked()
    await expect(page.locator("#q-rounds option")).to_have_attribute("value", "Finale")  # the quiz's rounds offered
    await page.locator("#q-cancel").click()
    await page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "editor.png"))

    # Delete a question (two clicks), then the quiz.
    delete = page.locator("#questions > li").first.locator("button.delete")
    await delete.click()
    await delete.click()
    await expect(page.locator("#questions > li")).to_have_count(4)
    await page.click("#delete-quiz")
    await page.click("#delete-quiz")
    await expect(page.locator("#quiz")).to_be_hidden()
    assert title not in _quiz_titles(server)


async def test_a_refused_field_shows_its_error_next_to_that_field(server: Server, ui: UI) -> None:
    page = await ui.host("/editor")
    # A quiz without a title: the server's sentence under the title field.
    await page.click("#new-quiz-form button[type=submit]")
    title_error = page.locator("#new-quiz-form .field-error[data-for=title]")
    await expect(title_error).to_contain_text("title")
    await expect(page.locator("#new-quiz-title")).to_have_attribute("aria-invalid", "true")

    quiz_id = await _new_quiz(page, _name("Errors"))
    form = await _start(page, "buzzer")
    await form.locator("#q-text").fill("Too many points")
    await form.locator("#q-points").fill("2000000")
    await form.locator("button[type=submit]").click()
    points_error = form.locator(".field-error[data-for=points]")
    await expect(points_error).to_contain_text("points")
    await expect(form.locator("#q-points")).to_be_focused()
    await expect(form.locator(".field-error[data-for=text]")).to_be_empty()

    # A numeric question without its number: the whole-question sentence goes next to the answer.
    await form.locator("#q-points").fill("10")
    await form.locator("#q-type").select_option("numeric")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".field-error[data-for=answer]")).to_contain_text("number")
    await expect(points_error).to_be_empty()
    await expect(form.locator("#q-number")).to_be_focused()
    # Escape closes the form; nothing was stored.
    await page.keyboard.press("Escape")
    await expect(page.locator("#question-editor")).to_be_hidden()
    await expect(page.locator("#add-question")).to_be_focused()
    assert _quiz(server, quiz_id)["questions"] == []

    # A move on a list another editor changed meanwhile: refused with the server's sentence, and its order shown.
    with server.api() as client:
        body = {"title": _name("Stale"), "questions": [{"type": "buzzer", "text": t} for t in "abc"]}
        stale = client.post("/api/quizzes", json=body).raise_for_status().json()
    await page.goto(server.url(f"/editor?quiz={stale['id']}"))
    await expect(page.locator("#questions > li")).to_have_count(3)
    with server.api() as client:
        client.delete(f"/api/quizzes/{stale['id']}/questions/{stale['questions'][2]['id']}").raise_for_status()
    await page.locator("#questions > li").first.locator("button.down").click()
    await expect(page.locator("#questions-error")).to_contain_text("reload the quiz")
    await expect(page.locator("#questions .q-text")).to_have_text(["a", "b"])

    # A quiz with games cannot be deleted: the server's sentence says what to do first.
    await page.locator("#quiz-list button", has_text="Demo").first.click()
    await expect(page.locator("#quiz-title")).to_have_value(re.compile("Demo"))
    await page.click("#delete-quiz")
    await page.click("#delete-quiz")
    await expect(page.locator("#quiz-error")).to_contain_text("delete those games before the quiz")


CSV_HEADER = "round,type,text,choices,answer,points,penalty,buzz_window_s,answer_time_s,media\n"


async def test_a_bad_csv_imports_nothing_and_a_good_one_imports(server: Server, ui: UI) -> None:
    page = await ui.host("/editor")
    await expect(page.locator("#quiz-list li").first).to_be_visible()
    before_page = await page.locator("#quiz-list li").count()
    before = _quiz_titles(server)
    bad = CSV_HEADER + ",buzzer,Fine question,,,,,,,\n,multiple_choice,Pick,a|b,c,,,,,\n"
    await page.set_input_files("#import-file", {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()})
    await page.fill("#import-title", _name("Bad import"))
    await page.click("#import-form button[type=submit]")
    await expect(page.locator("#import-error")).to_contain_text("Line 3:")
    await expect(page.locator("#import-error")).to_contain_text("Nothing was imported")
    assert _quiz_titles(server) == before
    await expect(page.locator("#quiz-list li")).to_have_count(before_page)

    title = _name("Good import")
    good = CSV_HEADER + "R1,buzzer,Capital of Italy?,,Rome,10,,,,\nR1,true_false,Rome is in Italy.,,true,5,,,,\n"
    await page.set_input_files("#import-file", {"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode()})
    await page.fill("#import-title", title)
    await page.click("#import-form button[type=submit]")
    await expect(page.locator("#quiz-title")).to_have_value(title)
    await expect(page.locator("#questions > li")).to_have_count(2)
    await expect(page.locator("#import-error")).to_be_empty()
    assert _quiz_titles(server).count(title) == 1

    # A file that is not JSON at all: the page says so, and nothing is imported.
    await page.set_input_files("#import-file", {"name": "x.json", "mimeType": "application/json", "buffer": b"{no"})
    await page.click("#import-form button[type=submit]")
    await expect(page.locator("#import-error")).to_contain_text("not valid JSON")

    # Open Trivia DB JSON, recognised by its shape; its HTML entities decoded, shown as text.
    opentdb = {
        "response_code": 0,
        "results": [
            {
                "type": "boolean",
                "category": "Science",
                "question": "Is &lt;b&gt; a tag?",
                "correct_answer": "True",
                "incorrect_answers": ["False"],
            }
        ],
    }
    trivia = _name("Trivia")
    await page.set_input_files(
        "#import-file", {"name": "t.json", "mimeType": "application/json", "buffer": json.dumps(opentdb).encode()}
    )
    await page.fill("#import-title", trivia)
    await page.click("#import-form button[type=submit]")
    await expect(page.locator("#quiz-title")).to_have_value(trivia)
    await expect(page.locator("#questions .q-text")).to_have_text("Is <b> a tag?")
    assert _quiz(server, _open_id(page))["questions"][0]["answer"] is True


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key != "title"}


async def test_export_downloads_files_that_import_again_equal(server: Server, ui: UI, tmp_path: Any) -> None:
    body = {
        "title": _name("Export"),
        "questions": [
            {"type": "buzzer", "text": MARKUP, "answer": "Mars", "points": 10, "round_title": "One"},
            {"type": "multiple_choice", "text": "Pick", "choices": ["a", "b", "c"], "answer": 2, "points": 5},
            {"type": "true_false", "text": "Yes?", "answer": True, "points": 3, "buzz_window_ms": 4000},
            {"type": "numeric", "text": "How many?", "answer": 12.5, "points": 8, "answer_time_ms": 30000},
            {"type": "open_text", "text": "Why?", "points": 7, "penalty": 2, "media": {"url": "/x.png"}},
        ],
    }
    with server.api() as client:
        quiz_id = client.post("/api/quizzes", json=body).raise_for_status().json()["id"]
        original = client.get(f"/api/quizzes/{quiz_id}/export").raise_for_status().json()
    page = await ui.host(f"/editor?quiz={quiz_id}")
    await expect(page.locator("#questions > li")).to_have_count(5)

    for link, fmt in (("#export-json", "json"), ("#export-csv", "csv")):
        async with page.expect_download() as info:
            await page.click(link)
        download = await info.value
        path = tmp_path / f"export.{fmt}"
        await download.save_as(path)
        assert download.suggested_filename == f"quiz-{quiz_id}.{fmt}"
        await page.set_input_files("#import-file", str(path))
        await page.fill("#import-title", f"{body['title']} ({fmt})")
        await page.click("#import-form button[type=submit]")
        await expect(page).to_have_url(re.compile(rf"quiz=(?!{quiz_id}\b)\d+"))
        copy_id = _open_id(page)
        with server.api() as client:
            again = client.get(f"/api/quizzes/{copy_id}/export").raise_for_status().json()
        assert _comparable(again) == _comparable(original), fmt
        await page.goto(server.url(f"/editor?quiz={quiz_id}"))
        await expect(page.locator("#questions > li")).to_have_count(5)


async def test_a_team_and_a_visitor_without_a_session_are_sent_to_log_in(server: Server, ui: UI) -> None:
    visitor = await ui.page(path="/editor")
    await expect(visitor).to_have_url(re.compile(r"/login\?next=%2Feditor$"))

    team = await ui.team(_name("Gulls")[:20], server.new_game().join_code)
    await team.goto(server.url("/editor"))
    await expect(team).to_have_url(re.compile(r"/login\?next=%2Feditor$"))

    code = server.new_game().join_code
    with httpx.Client(base_url=server.base_url, timeout=15) as client:
        token = client.post("/api/join", json={"code": code, "name": "Terns"}).raise_for_status().json()["token"]
        refused = client.get("/api/quizzes", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403


async def test_russian_on_a_phone(server: Server, ui: UI) -> None:
    questions = [{"type": "buzzer", "text": "Один?"}, {"type": "true_false", "text": "Два?", "answer": False}]
    with server.api() as client:
        body = {"title": _name("Телефон"), "questions": questions}
        quiz_id = client.post("/api/quizzes", json=body).raise_for_status().json()["id"]
    ctx = await ui.context(PHONE, is_mobile=True, has_touch=True)
    await ui.login(ctx)
    page = await ui.page(ctx, f"/editor?quiz={quiz_id}&lang=ru")
    await expect(page.locator("h1")).to_have_text("Quizhub · редактор викторин")
    await expect(page.locator("#question-count")).to_have_text("2 вопроса")
    await page.click("#add-question")
    await page.locator("#q-type").select_option("multiple_choice")
    await expect(page.locator("#q-choices-box legend")).to_have_text("Варианты (отметьте правильный)")
    wide = await page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    assert not wide, "the editor scrolls sideways on a 375 px phone"
