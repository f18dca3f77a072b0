"""``server.json``: private from its first byte, and read back defensively."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.runtime import embedded
from worker.runtime.embedded import STATE_FILE, state_url, write_state


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: a file created without an explicit mode would come out 0666."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_server_json_is_0600_from_the_start(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))  # the file before it has its name
        real_replace(src, dst)

    monkeypatch.setattr(embedded.os, "replace", replace)
    write_state(tmp_path, "redis://:pw@127.0.0.1:1/0", 42)
    assert seen == [0o600]
    assert stat.S_IMODE((tmp_path / STATE_FILE).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]
    assert state_url(tmp_path) == "redis://:pw@127.0.0.1:1/0"


def test_an_older_world_readable_server_json_is_replaced(tmp_path: Path) -> None:
    old = tmp_path / STATE_FILE
    old.write_text('{"url": "redis://old"}')
    old.chmod(0o644)
    write_state(tmp_path, "redis://new", 1)
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert state_url(tmp_path) == "redis://new"


@pytest.mark.parametrize(
    "text", ["", "not json", "[]", '{"pid": 1}', '{"url": null}', '{"url": 5}']
)
def test_a_broken_server_json_names_no_server(tmp_path: Path, text: str) -> None:
    (tmp_path / STATE_FILE).write_text(text)
    assert state_url(tmp_path) is None
