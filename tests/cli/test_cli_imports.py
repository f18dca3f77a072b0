"""Read commands stay quick: they import none of the processing libraries.

A command that reads a record pays for every module it imports before it can answer;
Celery alone costs more than connecting and reading. The probe is Python's own import
log (``-X importtime``) of the real command.
"""

from __future__ import annotations

import pytest

from tests.support.helpers import ingest, seed_bytes
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


def test_each_command_is_found_in_the_module_the_group_loads_for_it() -> None:
    import importlib

    from worker.cli.base import COMMAND_MODULES, main

    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(module)
    assert set(main.commands) == set(COMMAND_MODULES)
    for name, command in main.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == COMMAND_MODULES[name], name


def test_a_read_command_loads_no_other_command_module(redis_url: str) -> None:
    result = ingest("stats", "--json", url=redis_url, PYTHONPROFILEIMPORTTIME="1")
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "worker.cli.operating" in modules
    assert not modules & {"worker.cli.ingesting", "worker.cli.reading"}
