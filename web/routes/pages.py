"""The browser pages: plain HTML and one small vanilla JS module each, served from ``web/static/`` (no build step,
no CDN; the files ship inside the package). ``install_pages(app)`` adds the page routes and the ``/static`` mount."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["PAGES", "STATIC_DIR", "install_pages", "router"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

PAGES: dict[str, str] = {
    "/": "host.html",  # host console: start a game, run it, buzz order, timers, scores, teams, buzzer health
    "/editor": "editor.html",  # quiz editor: quizzes and questions of every type, import and export
    "/devices": "devices.html",  # buzzers: unpaired ones as they connect, identify, pair, press-to-pair
    "/login": "login.html",  # local login form, and the identity provider's button when OIDC is configured
    "/screen": "screen.html",  # big screen: question, winner with the gap, scoreboard
    "/play": "play.html",  # team page: join by code, buzz button
    "/join": "play.html",  # the join link (``join_url``) that the QR code encodes
    "/setup": "setup.html",  # first-run admin setup (token in the fragment)
}

# The pages load only their own files; nothing from another origin, and nothing inline.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page_route(filename: str) -> FileResponse:
    return FileResponse(STATIC_DIR / filename, media_type="text/html; charset=utf-8", headers=_HEADERS)


def _add(path: str, filename: str) -> None:
    async def page() -> FileResponse:
        return _page_route(filename)

    page.__name__ = "page_" + (path.strip("/") or "host")
    router.add_api_route(path, page, methods=["GET"], response_class=FileResponse)


for _path, _file in PAGES.items():
    _add(_path, _file)


def install_pages(app: FastAPI) -> None:
    """Serve the pages and their assets (``/static/…``) from this app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
