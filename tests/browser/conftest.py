"""Shared fixtures for the browser tests: ONE real server and ONE Chromium per test session, pages per test.

How to write a browser test (see test_ui.py for a whole example)::

    pytestmark = [pytest.mark.browser, pytest.mark.slow]

    async def test_something(server: Server, ui: UI) -> None:
        host = await ui.host()                      # a logged-in host console at "/" (admin, own context)
        team = await ui.team("Owls")                # a team page joined by code to the demo game
        screen = await ui.screen()                  # the big screen on a display token (no session)
        await expect(team.locator("#conn")).to_have_text("live")

- ``server`` (session): a real ``quizhub serve --demo`` (embedded broker, hub, web; the demo game with 4 teams and 8
  simulated buzzers) on free ports with a temporary data dir and an admin account. Tests share it, so a test that
  needs a game of its own makes one with ``server.new_game()``; ``server.api()`` is an admin HTTP client.
- ``ui`` (per test): opens browser contexts and pages on that server, collects script errors from every page it
  opened and fails the test at teardown if any page logged one; closes its contexts afterwards.
- ``buzzers(server, "hw", …)`` (an async context manager): simulated hardware buzzers, unpaired, on the broker.
- Every async test in this directory runs in the session's event loop (the browser lives there); nothing to mark.
- Wait with Playwright's ``expect(...)`` or :func:`wait_text`, never with sleeps.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import expect
from pytest_asyncio import is_async_test

from hub.mqttclient import BrokerAddress
from hub.simrun import device_passwords
from hub.simulator import VirtualBuzzer, run_fleet
from tests.services import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from playwright.async_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("QUIZHUB_SCREENSHOTS") or Path(tempfile.gettempdir()) / "quizhub-screenshots")
"""Where the tests save page screenshots: a temp dir, so a test run leaves the checkout clean. To refresh the ones
the README and docs/ui.md show: ``QUIZHUB_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/browser``."""
ADMIN, PASSWORD = "host", "correct-horse-battery-staple"
TIMEOUT_MS = 15_000
"""How long a wait for the page may take before the test fails (a busy 2-core CI box is slow, never this slow)."""
LIVE = re.compile(r"\blive\b")
"""The class every page's ``#conn`` badge has while its socket is live (the text is translated)."""
CONSOLE = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 800}
SCREEN = {"width": 1600, "height": 900}

expect.set_options(timeout=TIMEOUT_MS)

_ADD_ADMIN = (
    "import asyncio, sys; from hub.settings import Settings; from web.auth.users import add_user; "
    "asyncio.run(add_user(Settings(), sys.argv[1], 'admin', sys.argv[2]))"
)
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this directory's async tests in the session loop, where the shared browser lives."""
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item) and _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(session_loop, append=False)


@dataclass(frozen=True)
class Game:
    """A game the test made (``server.new_game()``), in the lobby."""

    id: str
    join_code: str


@dataclass
class Server:
    """The running ``quizhub serve --demo``: its URL, the demo game, its broker and data dir, an admin account."""

    base_url: str
    join_code: str
    """The demo game's join code."""
    game_id: str
    """The demo game's id (4 teams: owls, quizards, brains, pints; buzzers demo-01 … demo-08, two per team)."""
    mqtt_port: int
    data_dir: Path
    log: Path
    admin: str = ADMIN
    password: str = PASSWORD
    setup_url: str = ""
    """The first-run setup link (``/setup#token=…``) of a server started without an admin (``serve(admin=False)``)."""

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    @contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """``with server.api() as client:`` an HTTP client logged in as the admin (session cookie, CSRF header)."""
        with httpx.Client(base_url=self.base_url, timeout=15) as client:
            doc = client.post("/api/auth/login", json={"name": self.admin, "password": self.password})
            doc.raise_for_status()
            client.headers["X-CSRF-Token"] = doc.json()["csrf_token"]
            yield client

    def new_game(self, settings: dict[str, Any] | None = None) -> Game:
        """A fresh game of the demo quiz (in the lobby, no teams), so a test does not depend on the demo game."""
        with self.api() as client:
            quizzes = client.get("/api/quizzes").raise_for_status().json()
            quiz = next(q for q in quizzes if "demo" in q["title"].lower()) if quizzes else None
            assert quiz is not None, f"no demo quiz among {quizzes!r}"
            body = {"quiz_id": quiz["id"], "settings": settings or {}}
            doc = client.post("/api/games", json=body).raise_for_status().json()
        return Game(doc["id"], doc["join_code"])

    def add_user(self, name: str, role: str = "quizmaster") -> str:
        """Create a local account (``admin`` or ``quizmaster``) and return its password."""
        password = f"pw-{name}-0123456789"
        with self.api() as client:
            client.post("/api/users", json={"name": name, "role": role, "password": password}).raise_for_status()
        return password

    def buzzer_login(self, device: str) -> BrokerAddress:
        """The broker address with a device login for a simulated buzzer ``device`` (created on first use), for
        ``hub.simulator.VirtualBuzzer(device, server.buzzer_login(device), root="quizhub")``."""
        password = device_passwords(self.data_dir, [device])[device]
        return BrokerAddress("127.0.0.1", self.mqtt_port).with_login(device, password)


def _quizhub() -> list[str]:
    script = Path(sys.executable).parent / "quizhub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "web.cli"]


def _server_env(data: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "QUIZHUB_DATA_DIR": str(data), "QUIZHUB_LOG_LEVEL": "WARNING"}
    for key in ("QUIZHUB_DB_URL", "QUIZHUB_BROKER_URL", "QUIZHUB_FANOUT_URL", "QUIZHUB_PUBLIC_URL"):
        env.pop(key, None)
    # Every test logs in and joins from 127.0.0.1; the limits are tested in tests/web, not here.
    env["QUIZHUB_LOGIN_RATE_PER_MINUTE"] = "10000"
    env["QUIZHUB_JOIN_RATE_PER_MINUTE"] = "10000"
    return {**env, **extra}


def _wait_for_line(proc: subprocess.Popen[bytes], log: Path, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while True:
        text = log.read_text(errors="replace")
        found = re.search(pattern, text)
        if found:
            return found
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"quizhub serve did not start:\n{text[-4000:]}")
        time.sleep(0.2)  # polling a child's log file: there is no event to wait on


def _wait_for_web(base: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{base}/api/health", timeout=5).raise_for_status()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the web app answers a moment after the banner
        else:
            return


def _demo_game_id(base: str) -> str:
    with httpx.Client(base_url=base, timeout=10) as client:
        client.post("/api/auth/login", json={"name": ADMIN, "password": PASSWORD}).raise_for_status()
        return str(client.get("/api/games").raise_for_status().json()[-1]["id"])  # newest first: the only one


@contextmanager
def serve(
    root: Path,
    *,
    demo: bool = True,
    admin: bool = True,
    http_port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Run ``quizhub serve`` in ``root`` until the block ends, for a test that needs a server of its own.

    ``demo``: with ``--demo`` (else ``join_code`` and ``game_id`` are empty); ``admin``: with the admin account (else
    ``setup_url`` is the first-run link the server printed); ``env``: other settings, e.g. ``QUIZHUB_OIDC_ISSUER``."""
    data = root / "data"
    data.mkdir()
    environ = _server_env(data, env or {})
    if admin:  # in the server's own database before it starts, as `quizhub user add` would
        subprocess.run([sys.executable, "-c", _ADD_ADMIN, ADMIN, PASSWORD], env=environ, check=True, timeout=60)
    http_port, mqtt_port = http_port or free_port(), free_port()
    log = root / "serve.log"
    args = ["serve", *(["--demo"] if demo else []), "--host", "127.0.0.1", "--http-port", str(http_port)]
    args += ["--mqtt-port", str(mqtt_port), "--mqtt-ws-port", "0"]
    with log.open("wb") as out:
        proc = subprocess.Popen([*_quizhub(), *args], env=environ, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{http_port}"
        ready = _wait_for_line(proc, log, r"Demo game: join code (\d{6})" if demo else r"Quizhub is running")
        setup = "" if admin else _wait_for_line(proc, log, r"First run: create the admin account at (\S+)").group(1)
        _wait_for_web(base)
        code, game_id = (ready.group(1), _demo_game_id(base)) if demo else ("", "")
        yield Server(base, code, game_id, mqtt_port, data, log, setup_url=setup)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``quizhub serve --demo`` for the whole test session (see :class:`Server`)."""
    with serve(tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Debian Chromium for the session (never `playwright install`)."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `apt-get install -y chromium` (scripts/install does it).")
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only browser tests need it

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class UI:
    """Pages on the shared server for one test. Every page opened here is watched for script errors."""

    server: Server
    browser: Browser
    errors: list[str] = field(default_factory=list)
    """Script errors and console errors of every page opened through this object (checked at teardown)."""
    contexts: list[BrowserContext] = field(default_factory=list)

    async def context(self, viewport: dict[str, int] | None = None, **kwargs: Any) -> BrowserContext:
        """A fresh browser context (own cookies and storage), 1280x800 unless told; closed after the test."""
        ctx = await self.browser.new_context(viewport=viewport or CONSOLE, **kwargs)  # type: ignore[arg-type]
        ctx.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(ctx)
        return ctx

    async def page(self, ctx: BrowserContext | None = None, path: str | None = None) -> Page:
        """A watched page in ``ctx`` (a new context if None), opened at ``path`` if given."""
        page = await (ctx or await self.context()).new_page()
        watch(page, self.errors)
        if path is not None:
            await page.goto(self.server.url(path))
        return page

    async def login(self, ctx: BrowserContext, name: str = ADMIN, password: str = PASSWORD) -> None:
        """Log ``ctx`` in through the API (sets the session cookie; the pages read the CSRF token from /me)."""
        response = await ctx.request.post(
            self.server.url("/api/auth/login"),
            data={"name": name, "password": password},
            headers={"Origin": self.server.base_url},
        )
        assert response.ok, await response.text()

    async def host(self, path: str = "/", *, name: str = ADMIN, password: str = PASSWORD) -> Page:
        """A host page at ``path`` ("/", "/devices", "/editor", "/?game=<id>" …), already logged in, 1280x800."""
        ctx = await self.context()
        await self.login(ctx, name, password)
        return await self.page(ctx, path)

    async def team(self, name: str, code: str | None = None, *, phone: bool = True) -> Page:
        """A team page that joined ``code`` (the demo game's by default) as ``name``, live on its socket."""
        ctx = await self.context(PHONE, is_mobile=True, has_touch=True) if phone else await self.context()
        page = await self.page(ctx, f"/join?code={code or self.server.join_code}")
        await page.fill("#join-name", name)
        await page.click("#join-form button[type=submit]")
        await expect(page.locator("#conn")).to_have_class(LIVE, timeout=TIMEOUT_MS)
        return page

    async def screen(self, game_id: str | None = None) -> Page:
        """The big screen of ``game_id`` (the demo game's by default) on a fresh display token, in its own context
        with no session, 1600x900."""
        game = game_id or self.server.game_id
        with self.server.api() as client:
            doc = client.post(f"/api/games/{game}/display-tokens", json={"name": "screen"}).raise_for_status()
        ctx = await self.context(SCREEN)
        return await self.page(ctx, f"/screen#token={doc.json()['token']}")


@pytest_asyncio.fixture(loop_scope="session")
async def ui(server: Server, browser: Browser) -> AsyncIterator[UI]:
    """Pages for this test (see :class:`UI`); fails the test if any of its pages logged a script error."""
    pages = UI(server, browser)
    yield pages
    for ctx in pages.contexts:
        with suppress(Exception):  # a context the test closed itself
            await ctx.close()
    assert pages.errors == [], "a page logged a script error"


def watch(page: Page, errors: list[str]) -> None:
    """Collect ``page``'s uncaught script errors and console errors into ``errors``."""
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


@asynccontextmanager
async def buzzers(server: Server, *prefixes: str) -> AsyncIterator[list[VirtualBuzzer]]:
    """``async with buzzers(server, "hw") as [hw]:`` simulated hardware buzzers, connected to the server's broker as
    unpaired devices with fresh unique ids (``hw-1a2b3c``) and their own logins; they press only when told
    (``await hw.press()``) and are switched off when the block ends."""
    fleet = []
    for prefix in prefixes:
        device = f"{prefix}-{uuid.uuid4().hex[:6]}"
        fleet.append(VirtualBuzzer(device, server.buzzer_login(device), root="quizhub"))
    task = asyncio.create_task(run_fleet(fleet), name="test-buzzers")
    try:
        async with asyncio.timeout(TIMEOUT_MS / 1000):
            for buzzer in fleet:
                await buzzer.connected.wait()
        yield fleet
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def text(page: Page, selector: str) -> str:
    """The element's text, stripped."""
    return (await page.locator(selector).first.text_content() or "").strip()


async def wait_text(page: Page, selector: str, pattern: str) -> str:
    """Wait until the (first) element matching ``selector`` has text matching the regex ``pattern``; return it."""
    await page.wait_for_function(
        "([sel, pat]) => { const n = document.querySelector(sel); return !!n && new RegExp(pat).test(n.textContent); }",
        arg=[selector, pattern],
        timeout=TIMEOUT_MS,
    )
    return await text(page, selector)
