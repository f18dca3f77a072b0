"""worker.text.article: main text of hand-written pages, boilerplate left out.

Each ``fixtures/pages/NAME.html`` has ``NAME.expected.json`` beside it: snippets that must
be ``present`` in the result and ``absent`` from it, or ``{"none": true}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from worker.text.article import extract_article
from worker.text.htmltext import DROPPED_CONTENT_TAGS, html_to_paragraphs

PAGES = Path(__file__).parent / "fixtures" / "pages"
CASES = sorted(PAGES.glob("*.html"))


@pytest.mark.parametrize("page", CASES, ids=[p.stem for p in CASES])
def test_page(page: Path) -> None:
    expected = json.loads(page.with_suffix(".expected.json").read_text(encoding="utf-8"))
    text = extract_article(page.read_bytes(), f"https://news.example/{page.stem}")
    if expected.get("none"):
        assert text is None
        return
    assert text is not None
    for snippet in expected["present"]:
        assert snippet in text
    for snippet in expected["absent"]:
        assert snippet not in text


def test_fixtures_cover_pages_with_and_without_articles() -> None:
    assert len(CASES) >= 3


def test_paragraphs_are_separated_by_blank_lines() -> None:
    text = extract_article((PAGES / "harbour_bridge.html").read_bytes(), None)
    assert text is not None
    paragraphs = text.split("\n\n")
    assert len(paragraphs) >= 4
    assert all(p.strip() == p and "\n" not in p for p in paragraphs)


def test_str_and_bytes_give_the_same_text() -> None:
    raw = (PAGES / "glacier_de.html").read_bytes()
    assert extract_article(raw, None) == extract_article(raw.decode("utf-8"), None)


@pytest.mark.parametrize("html", ["", "   ", b"", b"<html></html>", "<p>Too short.</p>"])
def test_nothing_usable_gives_none(html: str | bytes) -> None:
    assert extract_article(html, None) is None


def test_import_loads_nothing() -> None:
    code = "import sys, worker.text.article; print('trafilatura' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("tag", sorted(DROPPED_CONTENT_TAGS - {"plaintext", "title"}))
def test_pages_drop_what_feeds_drop(tag: str) -> None:
    """One HTML policy: content a feed's HTML loses (``<template>``, ...) a page loses too."""
    hidden = f"<{tag}><p>Hidden words that a reader never sees on the page at all.</p></{tag}>"
    page = (PAGES / "harbour_bridge.html").read_text(encoding="utf-8")
    first = "<p>The harbour bridge in Millhaven"
    text = extract_article(page.replace(first, hidden + first), None)
    assert text is not None
    assert "Millhaven" in text
    assert "Hidden words" not in text
    assert "Hidden words" not in " ".join(html_to_paragraphs(hidden + first + "</p>"))
