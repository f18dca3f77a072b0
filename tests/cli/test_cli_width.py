"""Narrow terminals: every table the CLI prints wraps or stacks long fields, never cuts them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.helpers import ingest

TITLE = "Khalilzad, the US envoy who orchestrated the Afghan exit, has resigned from his post."
FEED = "http://127.0.0.1:9/a/rather/long/path/to/the/feed/of/the/local/gazette.xml"


def squash(text: str) -> str:
    return re.sub(r"\s", "", text)


def readable(output: str) -> str:
    """Each table column's text top to bottom, then the lines outside tables, squashed.

    A value wrapped in a table cell reads whole down its column; stacked, down the lines.
    """
    columns: dict[int, list[str]] = {}
    rest: list[str] = []
    for line in output.splitlines():
        if line.startswith("│"):
            for n, cell in enumerate(line.strip("│").split("│")):
                columns.setdefault(n, []).append(cell)
        else:
            rest.append(line)
    return "|".join(squash("".join(cells)) for cells in [*columns.values(), rest])


@pytest.fixture
def stored(redis_url: str, tmp_path: Path) -> dict[str, str]:
    bad = tmp_path / "a-bad-file-with-a-rather-long-name-for-a-narrow-terminal.txt"
    bad.write_text("no header here\n")
    good = tmp_path / "a-seed-file-with-a-rather-long-name-too.txt"
    good.write_text(f"date 2021-10-19 {TITLE}\n\nIts body.\n")
    done = ingest("run", "--json", str(bad), str(good), "--feed", FEED, url=redis_url)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    ids = {o["source"]: o["id"] or "" for o in lines}
    return {"bad": bad.name, "good": good.name, "id": ids[good.name]}


@pytest.mark.parametrize("columns", ["80", "60"])
def test_no_table_cuts_a_field(redis_url: str, stored: dict[str, str], columns: str) -> None:
    shown = {
        args: ingest(*args, url=redis_url, COLUMNS=columns)
        for args in [("rejections", "list"), ("records", "list"), ("stats",)]
    }
    for args, done in shown.items():
        assert done.returncode == 0, (args, done.stderr)
        assert "…" not in done.stdout, (args, done.stdout)
        assert all(len(line) <= int(columns) for line in done.stdout.splitlines()), done.stdout
    rejections = readable(shown[("rejections", "list")].stdout)
    for whole in (FEED, stored["bad"], "firstlinedoesnotstartwith'date':'noheaderhere'"):
        assert squash(whole) in rejections
    records = readable(shown[("records", "list")].stdout)
    for whole in (stored["id"], stored["good"], TITLE):
        assert squash(whole) in records


@pytest.mark.parametrize("columns", ["80", "60"])
def test_a_run_cuts_no_field(redis_url: str, tmp_path: Path, columns: str) -> None:
    seed = tmp_path / "a-seed-file-with-a-rather-long-name-for-a-narrow-terminal.txt"
    seed.write_text(f"date 2021-10-19 {TITLE}\n\nIts body.\n")
    done = ingest("run", str(seed), "--feed", FEED, url=redis_url, COLUMNS=columns)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    shown = readable(done.stdout)
    for whole in (seed.name, TITLE, FEED, "feed.blocked_address"):
        assert squash(whole) in shown
    assert re.search(r"seed-[0-9a-f]{24}", done.stdout)
