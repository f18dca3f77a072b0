"""Read commands stay quick: they import none of the processing libraries.

A command that reads a record pays for every module it imports before it can answer;
Celery alone costs more than connecting and reading. The probe is Python's own import
log (``-X importtime``) of the real command.
"""

from __future__ import annotations

import pytest

from tests.helpers import ingest, seed_bytes
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage.store import Store

# What processing needs and reading does not.
HEAVY = {
    "celery",
    "kombu",
    "billiard",
    "feedparser",
    "nh3",
    "trafilatura",
    "numpy",
    "py3langid",
    "lxml",
    "httpx",
}


def imported(stderr: str) -> set[str]:
    """Top-level package names of every module the import log lists."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.fixture
def record_id(store: Store, settings: Settings) -> str:
    data = seed_bytes("A stored story", "Its only paragraph.")
    message = Envelope(input_id="i-1", kind=InputKind.SEED, source="a.txt", data=data)
    [outcome] = pipeline.process_batch([message.model_dump(mode="json")], store, settings)
    assert outcome.id is not None
    return outcome.id


@pytest.mark.parametrize(
    "command",
    [("records", "show", "{id}"), ("records", "list", "--json"), ("stats", "--json")],
)
def test_read_command_imports_no_processing_library(
    redis_url: str, record_id: str, command: tuple[str, ...]
) -> None:
    args = [a.format(id=record_id) for a in command]
    result = ingest(*args, url=redis_url, PYTHONPROFILEIMPORTTIME="1")
    assert result.returncode == 0, result.stderr[-2000:]
    names = imported(result.stderr)
    assert {"redis", "click", "worker"} <= names  # the probe sees the command's imports
    assert not names & HEAVY, sorted(names & HEAVY)
    if command[0] == "records":
        assert "A stored story" in result.stdout
