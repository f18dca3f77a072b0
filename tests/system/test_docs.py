"""The README stays a front page, and what the docs list matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.helpers import ROOT
from worker.core.errors import Reason
from worker.core.settings import Settings

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_fits_on_a_front_page() -> None:
    assert len(README.read_text()) < 15_000


def test_readme_keeps_a_short_section_for_each_feature() -> None:
    text = README.read_text()
    for title in ("Feeds", "HTTP API", "Records for search and NLP"):
        heading = f"\n## {title}\n"
        assert heading in text, title
        body = text.split(heading, 1)[1].split("\n## ", 1)[0].splitlines()
        assert 3 <= len([line for line in body if line.strip()]) <= 8, title


def reason_codes(text: str) -> set[str]:
    """Codes in the first column of the tables and in backticks after them."""
    return set(re.findall(r"`((?:seed|feed|entry|input|worker)\.[a-z_]+)`", text))


def test_every_reason_code_is_documented_and_every_documented_code_exists() -> None:
    documented = reason_codes((ROOT / "docs" / "reasons.md").read_text())
    assert {r.value for r in Reason} - documented == set(), "codes missing from docs/reasons.md"
    assert documented - {r.value for r in Reason} == set(), "docs/reasons.md lists unknown codes"
    assert "`feed.http_<status>`" in (ROOT / "docs" / "reasons.md").read_text()


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "commands.md").read_text()
    missing = [f for f in Settings.model_fields if f"`INGEST_{f.upper()}`" not in text]
    assert missing == [], "settings missing from docs/commands.md"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name}: {target}"
