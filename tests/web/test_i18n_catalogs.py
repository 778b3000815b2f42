"""The pages' translation catalogs: every language has every key, and every key the pages use exists.

A missing key would show the raw key to an Italian or Russian player, so this is checked on the files, not in a
browser; the browser tests then check that the switch really changes the page."""

from __future__ import annotations

import json
import re

import pytest

from web.routes.pages import STATIC_DIR

LOCALES = STATIC_DIR / "locales"
LANGS = ("en", "it", "ru")
PLURAL_FORMS = {"zero", "one", "two", "few", "many", "other"}

_HTML_KEY = re.compile(r'data-i18n(?:-[a-z-]+)?="([^"]+)"')
_JS_KEY = re.compile(r"""\bt\(\s*["']([^"']+)["']""")


def _catalog(name: str, lang: str) -> dict[str, object]:
    path = LOCALES / f"{name}.{lang}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path.name} must be one JSON object of key → text"
    return doc


def _catalog_names() -> list[str]:
    return sorted({path.name.split(".")[0] for path in LOCALES.glob("*.json")})


def _localized_pages() -> list[str]:
    """Pages (by file stem) whose HTML or JS use the translation helpers."""
    pages = set()
    for path in [*STATIC_DIR.glob("*.html"), *STATIC_DIR.glob("*.js")]:
        text = path.read_text(encoding="utf-8")
        if path.name != "i18n.js" and ("data-i18n" in text or "i18n.js" in text):
            pages.add(path.stem)
    return sorted(pages)


@pytest.mark.parametrize("name", _catalog_names())
def test_every_language_has_the_same_keys(name: str) -> None:
    english = _catalog(name, "en")
    for lang in LANGS[1:]:
        other = _catalog(name, lang)
        assert sorted(set(english) - set(other)) == [], f"{name}.{lang}.json lacks these keys"
        assert sorted(set(other) - set(english)) == [], f"{name}.{lang}.json has keys English does not"
        for key, value in other.items():
            assert isinstance(value, str) or (isinstance(value, dict) and set(value) <= PLURAL_FORMS), (
                f"{name}.{lang}.json: {key!r} must be text or a plural object"
            )
            assert value, f"{name}.{lang}.json: {key!r} is empty"


@pytest.mark.parametrize("page", _localized_pages())
def test_every_key_a_page_uses_is_translated(page: str) -> None:
    known = set(_catalog("common", "en"))
    if (LOCALES / f"{page}.en.json").exists():
        known |= set(_catalog(page, "en"))
    used: set[str] = set()
    for suffix in (".html", ".js"):
        path = STATIC_DIR / f"{page}{suffix}"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            used |= set(_HTML_KEY.findall(text)) | set(_JS_KEY.findall(text))
    assert sorted(used - known) == [], f"{page}: keys used but not in common.en.json or {page}.en.json"


def test_the_catalogs_exist_for_common_text() -> None:
    assert {"common"} <= set(_catalog_names())
    assert _catalog("common", "ru")["language"] == "Язык"
