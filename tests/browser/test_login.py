"""The login page in Chromium: the server's sentence for a bad login, back to ?next= (this site's paths only), the
OIDC button only when the server has a provider, and a whole sign-in through a real OpenID Provider; the first-run
setup page in Italian."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PASSWORD, serve
from tests.services import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.browser.conftest import UI, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NODE_DIR = Path(__file__).resolve().parents[2] / "tools" / "node"
CLIENT_ID, CLIENT_SECRET = "quizhub-browser", "quizhub-browser-secret-not-for-production"


async def test_a_bad_login_shows_the_servers_sentence_then_next_brings_the_host_back(server: Server, ui: UI) -> None:
    page = await ui.page(path="/login?next=/devices")
    await expect(page.locator("#oidc-box")).to_be_hidden()  # this server has no identity provider
    await page.fill("#login-name", server.admin)
    await page.fill("#login-password", "wrong-password")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text(re.compile(r"^Wrong name or password\."))
    await expect(page).to_have_url(re.compile(r"/login\?next=/devices$"))
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page).to_have_url(server.url("/devices"))
    await expect(page.locator("h1")).to_have_text("Quizhub · devices")

    # Signed in already: the login page sends the visitor straight on.
    await page.goto(server.url("/login?next=/%3Fgame%3Dnone"))
    await expect(page).to_have_url(server.url("/?game=none"))


# Each ?next= names another site once the browser resolves it (it drops tabs and newlines and reads a backslash as a
# slash), or is not a web page at all: the login page sends the visitor to this site's start page instead.
OFF_SITE = {
    "absolute": "https://evil.example/steal",
    "scheme_relative": "//evil.example/steal",
    "backslash": "/\\evil.example",
    "backslash_encoded": "/%5Cevil.example",
    "tab": "/%09/evil.example",
    "newline": "/%0A/evil.example",
    "carriage_return": "/%0D/evil.example",
    "dot_segment": "/.//evil.example",  # same origin as a URL, but its path "//evil.example" is another site
    "javascript": "javascript:alert(1)",
}


@pytest.mark.parametrize("target", OFF_SITE.values(), ids=OFF_SITE.keys())
async def test_next_never_leaves_the_site(server: Server, ui: UI, target: str) -> None:
    page = await ui.page(path=f"/login?next={target}")
    await page.fill("#login-name", server.admin)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page).to_have_url(server.url("/"))
    await expect(page.locator("#start-form")).to_be_visible()
    # Signed in already, the login page forwards at once: through the same check.
    await page.goto(server.url(f"/login?next={target}"))
    await expect(page).to_have_url(server.url("/"))
    await expect(page.locator("#start-form")).to_be_visible()


async def test_login_page_in_russian(ui: UI) -> None:
    page = await ui.page(path="/login?lang=ru")
    await expect(page.locator("#login-form button[type=submit]")).to_have_text("Войти")
    await page.click("#login-form button[type=submit]")  # empty: the browser's own required-field check
    await expect(page).to_have_url(re.compile(r"/login\?lang=ru$"))


async def test_setup_page_in_italian_says_what_to_do_without_a_token(ui: UI) -> None:
    page = await ui.page(path="/setup?lang=it")
    await expect(page.locator("h1")).to_have_text("Quizhub · prima configurazione")
    await expect(page.locator("#setup-error")).to_have_text(re.compile("quizhub serve"))


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real OpenID Provider (tools/node) and a quizhub serve of its own that signs in through it."""
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("tools/node/node_modules/oidc-provider is missing; run npm ci --prefix tools/node")
    provider_port, http_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{provider_port}"
    env = {
        **os.environ,
        "OIDC_PORT": str(provider_port),
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_REDIRECT_URIS": f"http://127.0.0.1:{http_port}/api/auth/oidc/callback",
        "OIDC_USERS": json.dumps({"olivia": ["quizhub-quizmasters"]}),
    }
    root = tmp_path_factory.mktemp("oidc")
    with (root / "provider.log").open("w") as log:
        script = str(NODE_DIR / "oidc-provider.mjs")
        proc = subprocess.Popen(["node", script], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != f"listening {issuer}":  # printed once it accepts connections
            pytest.fail(f"the test OpenID Provider did not start: {(root / 'provider.log').read_text()}")
        settings = {
            "QUIZHUB_OIDC_ISSUER": issuer,
            "QUIZHUB_OIDC_CLIENT_ID": CLIENT_ID,
            "QUIZHUB_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "QUIZHUB_OIDC_SCOPE": "openid profile groups",
        }
        with serve(root, demo=False, http_port=http_port, env=settings) as running:
            yield running
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_sign_in_through_the_identity_provider(oidc_server: Server, ui: UI) -> None:
    page = await ui.page()
    await page.goto(oidc_server.url("/"))
    await expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    button = page.locator("#oidc")
    await expect(button).to_be_visible()
    await button.click()
    # The provider's own login form (its development form: any password, the login name picks the account).
    await page.locator("input[name=login]").fill("olivia")
    await page.locator("input[name=password]").fill("any")
    await page.locator("button[type=submit]").click()
    await expect(page).to_have_url(oidc_server.url("/"))
    await expect(page.locator("#who")).to_have_text("olivia (quizmaster)")
    await expect(page.locator("#start-form")).to_be_visible()


async def test_first_run_setup_in_italian_creates_the_admin(ui: UI, tmp_path: Path) -> None:
    with serve(tmp_path, demo=False, admin=False) as fresh:
        assert "/setup#token=" in fresh.setup_url
        origin = fresh.setup_url.split("/setup")[0]  # the link names the host as the server does (localhost)
        page = await ui.page()
        await page.goto(fresh.setup_url)
        await expect(page).to_have_url(f"{origin}/setup")  # the token left the address bar
        # Switching the language reloads the page; the token is kept for the tab.
        await page.select_option("header select.lang", "it")
        await expect(page.locator("h1")).to_have_text("Quizhub · prima configurazione")
        await page.fill("#setup-name", "root")
        await page.fill("#setup-password", "short")
        await page.evaluate("document.querySelector('#setup-password').removeAttribute('minlength')")
        await page.click("#setup-form button[type=submit]")
        await expect(page.locator("#setup-error")).to_have_text(re.compile("The setup link still works"))
        await page.fill("#setup-password", "a-long-enough-password")
        await page.click("#setup-form button[type=submit]")
        await expect(page).to_have_url(f"{origin}/")
        await expect(page.locator("#who")).to_have_text("root (admin)")
