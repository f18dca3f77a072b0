"""What a person sees at an 80-column terminal: whole ids, a quiet run, helpful help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.helpers import ingest, seed_bytes

pytestmark = pytest.mark.slow
LONG_TITLE = "A very long headline " * 6
ID = re.compile(r"\b(?:seed|feed)-[0-9a-f]{24}\b")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "in"
    docs.mkdir()
    (docs / ("a-rather-long-file-name-" * 3 + ".txt")).write_bytes(
        seed_bytes(LONG_TITLE.strip(), "Body.")
    )
    (docs / "bad.txt").write_bytes(b"no header here\n")
    return docs


def test_run_at_80_columns_shows_whole_ids_and_only_its_own_output(
    redis_url: str, folder: Path
) -> None:
    run = ingest("run", str(folder), url=redis_url, COLUMNS="80")
    assert run.returncode == 0, run.stderr
    assert "shutdown" not in run.stderr.lower(), run.stderr
    assert all(len(line) <= 80 for line in run.stdout.splitlines()), run.stdout
    ids = ID.findall(run.stdout)
    assert len(ids) == 1
    assert "…" in run.stdout  # the title was cut, not the id

    listed = ingest("records", "list", url=redis_url, COLUMNS="80")
    assert all(len(line) <= 80 for line in listed.stdout.splitlines()), listed.stdout
    assert ID.findall(listed.stdout) == ids
    shown = ingest("records", "show", ids[0], url=redis_url, COLUMNS="80")
    assert shown.returncode == 0, shown.stderr
    assert LONG_TITLE.strip() in " ".join(shown.stdout.split())  # whole, wrapped


def test_rejections_list_shows_the_input_id_that_replay_takes(redis_url: str, folder: Path) -> None:
    assert ingest("run", str(folder), url=redis_url).returncode == 0
    listed = ingest("rejections", "list", url=redis_url, COLUMNS="80")
    assert listed.returncode == 0, listed.stderr
    assert all(len(line) <= 80 for line in listed.stdout.splitlines()), listed.stdout
    assert "seed.no_header" in listed.stdout
    [input_id] = re.findall(r"│ [^│]+ │ (\S+) +│ seed\.no_header", listed.stdout)
    replayed = ingest("rejections", "replay", input_id, url=redis_url)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 of 1" in replayed.stderr


def test_help_texts() -> None:
    worker = ingest("worker", "--help", url=None)
    assert worker.returncode == 0
    for option in ("--concurrency", "--pool", "--hostname", "--loglevel"):
        assert option in worker.stdout
    rejections = ingest("rejections", "list", "--help", url=None, COLUMNS="200")
    assert re.search(r"--limit .*at most this many rejections", rejections.stdout)


def test_prune_without_retention_says_why_nothing_was_pruned(redis_url: str) -> None:
    result = ingest("prune", url=redis_url)
    assert result.returncode == 0, result.stderr
    assert "pruned 0 records" in result.stdout
    assert "INGEST_RECORD_RETENTION_DAYS" in result.stderr
    assert "INGEST_STREAM_MAX_AGE" in result.stderr
    configured = ingest(
        "prune", url=redis_url, INGEST_RECORD_RETENTION_DAYS="30", INGEST_STREAM_MAX_AGE="60"
    )
    assert configured.stderr == ""
