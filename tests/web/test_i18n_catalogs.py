"""The pages' translation catalogs: every language has every key, and every key the pages use exists.

A missing key would show the raw key to an Italian or Russian player, so this is checked on the files, not in a
browser; the browser tests then check that the switch really changes the page."""

from __future__ import annotations

import json
import re

import pytest

from hub.core.transitions import Phase
from web.routes.pages import STATIC_DIR

LOCALES = STATIC_DIR / "locales"
LANGS = ("en", "it", "ru")
PLURAL_FORMS = {"zero", "one", "two", "few", "many", "other"}

_HTML_KEY = re.compile(r'data-i18n(?:-[a-z-]+)?="([^"]+)"')
_JS_KEY = re.compile(r"""\bt\(\s*["']([^"']+)["']""")
_PHASE_MAP = re.compile(r"const PHASE_KEYS = \{(.*?)\};", re.DOTALL)
_PHASE_ENTRY = re.compile(r"""(\w+):\s*["'](\w+)["']""")
# The pages that show the game's phase, each from its own catalog's phase_<phase> keys.
PHASE_PAGES = ("host", "play", "screen")


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


def test_the_phase_pages_are_the_pages_that_show_a_phase() -> None:
    """A page whose JS names a phase_ key is in PHASE_PAGES, so the test below covers it."""
    showing = sorted(path.stem for path in STATIC_DIR.glob("*.js") if "phase_" in path.read_text(encoding="utf-8"))
    assert showing == sorted(PHASE_PAGES)


@pytest.mark.parametrize("page", PHASE_PAGES)
@pytest.mark.parametrize("lang", LANGS)
def test_every_phase_the_hub_has_is_translated(page: str, lang: str) -> None:
    """Every phase of the game's state machine (the hub publishes each one) has text, never the raw phase_ key."""
    catalog = _catalog(page, lang)
    assert sorted(f"phase_{phase.value}" for phase in Phase if f"phase_{phase.value}" not in catalog) == []


@pytest.mark.parametrize("page", PHASE_PAGES)
def test_a_page_turns_every_phase_into_its_key(page: str) -> None:
    """A page either builds the key as phase_<phase>, or maps phases to keys and then maps every phase."""
    text = (STATIC_DIR / f"{page}.js").read_text(encoding="utf-8")
    found = _PHASE_MAP.search(text)
    if found is None:
        assert "t(`phase_${" in text, f"{page}.js neither has PHASE_KEYS nor builds phase_<phase>"
    else:
        assert dict(_PHASE_ENTRY.findall(found.group(1))) == {phase.value: f"phase_{phase.value}" for phase in Phase}
