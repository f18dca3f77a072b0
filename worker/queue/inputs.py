"""Inputs to enqueue: paths (files, folders, ``-`` for stdin) and feeds, walked and read.

Folders are walked in name order (hidden names skipped, symlinks to folders not followed);
what cannot be read is reported as skipped, never raised mid-walk. Each file is read up to
the size cap plus one byte: an oversized file is still sent (truncated) so that it ends as
a ``seed.too_large`` rejection, not silence. :mod:`worker.queue.producer` batches, parks and
publishes what this reads.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from worker.core.errors import InputError
from worker.core.models import InputKind
from worker.core.settings import Settings
from worker.core.textsafe import printable_name, redact_userinfo
from worker.pipeline import parked
from worker.text.normalise import origin_key
from worker.text.weburl import has_credentials

STDIN = "-"
MAX_URL = 2048  # the envelope's source limit


@dataclass(frozen=True, slots=True)
class InputRef:
    """Something to enqueue: a local file (or stdin) with its kind, or a feed URL."""

    source: str
    kind: InputKind
    path: Path | None = None
    url: str | None = None
    # The path resolved (symlinks followed), when the folder walk knows it: its folder's,
    # resolved once, and its name (:func:`file_origin` resolves it otherwise).
    resolved: Path | None = None


@dataclass(slots=True)
class EnqueueReport:
    """What the producer did: inputs queued (in order) and paths it skipped."""

    input_ids: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    batches: int = 0


def expand(paths: Sequence[str], report: EnqueueReport) -> Iterator[InputRef]:
    """Seed inputs for the given paths: folders recursively (sorted, hidden names skipped)."""
    for raw in paths:
        if raw == STDIN:
            yield InputRef(source="stdin", kind=InputKind.SEED)
            continue
        path = Path(raw)
        if _check_seed_path(raw):
            yield from _walk(path, report)
        else:
            yield InputRef(source=printable_name(path.name), kind=InputKind.SEED, path=path)


def check_paths(paths: Sequence[str], feeds: Sequence[str]) -> None:
    """Raise InputError naming the first path or feed that cannot be read, before any publish."""
    for raw in paths:
        if raw != STDIN:
            _check_seed_path(raw)
    for raw in feeds:
        if raw != STDIN:
            _feed_kind(raw)


def _check_seed_path(raw: str) -> bool:
    """True for a folder, False for a regular file; InputError for anything else."""
    path = Path(raw)
    if path.is_dir():
        return True
    if not path.exists():
        raise InputError(f"{printable_name(raw)}: no such file or folder")
    if not _is_regular(path):
        raise InputError(f"{printable_name(raw)}: not a regular file")
    return False


def expand_feeds(feeds: Sequence[str]) -> Iterator[InputRef]:
    """Feed inputs: a local file (or ``-``) is read here, anything else with ``://`` is a URL.

    URLs are not checked here beyond their length and credentials (``user:pass@``, refused
    in :func:`check_paths`): a worker fetches them and rejects what it cannot fetch
    (``file:`` and other schemes included) with a reason code.
    """
    for raw in feeds:
        if raw == STDIN:
            yield InputRef(source="stdin", kind=InputKind.FEED)
        elif _feed_kind(raw) is InputKind.FEED:
            name = printable_name(Path(raw).name)
            yield InputRef(source=name, kind=InputKind.FEED, path=Path(raw))
        else:
            yield InputRef(source=raw, kind=InputKind.FEED_URL, url=raw)


def _feed_kind(raw: str) -> InputKind:
    """FEED for a readable feed file, FEED_URL for a URL; InputError for anything else."""
    if Path(raw).exists():
        if not _is_regular(Path(raw)):
            raise InputError(f"{printable_name(raw)}: not a regular file")
        return InputKind.FEED
    if "://" not in raw:
        raise InputError(f"{printable_name(raw)}: no such file (a feed URL has a scheme://)")
    if len(raw) > MAX_URL:
        raise InputError(
            f"{redact_userinfo(printable_name(raw))[:80]}…: a URL over {MAX_URL} characters"
        )
    if has_credentials(raw):
        shown = redact_userinfo(printable_name(raw))
        raise InputError(f"{shown}: credentials in a feed URL are not accepted; use auth")
    return InputKind.FEED_URL


def _walk(folder: Path, report: EnqueueReport) -> Iterator[InputRef]:
    """Files in name order, then sub-folders; scandir's entry types save a stat per file.

    The folder is resolved once: a file in it that is no symlink resolves to that and its
    name (``Path.resolve`` per file reads every folder of the path again, a fifth of the
    producer's time on a folder of 20,000 files).
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        report.skipped.append((printable_name(str(folder)), f"unreadable folder: {e.strerror}"))
        return
    try:
        base: Path | None = folder.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        base = None
    for entry in entries:
        if entry.name.startswith(".") or _is_dir(entry):
            continue
        if not _is_file(entry):
            report.skipped.append((printable_name(entry.path), "not a regular file"))
            continue
        resolved = base / entry.name if base is not None and not _is_link(entry) else None
        yield InputRef(
            source=printable_name(entry.name),
            kind=InputKind.SEED,
            path=Path(entry.path),
            resolved=resolved,
        )
    for entry in entries:
        if not entry.name.startswith(".") and _is_dir(entry):
            yield from _walk(Path(entry.path), report)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    # Like os.walk: symlinks to folders are not followed (no cycles).
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return True  # not known: resolved on its own


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()  # follows a symlink, as stat() does
    except OSError:
        return False


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def read_capped(stream: BinaryIO, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes: enough to know a document is too large."""
    return stream.read(max_bytes + 1)


def message_for(
    ref: InputRef, settings: Settings, reply_to: str | None
) -> tuple[dict[str, Any], bytes | None]:
    """Read the input (capped): its queue message under a fresh input id, and its bytes."""
    data: bytes | None = None
    if ref.path is not None:
        with open(ref.path, "rb") as f:
            data = read_capped(f, _cap(ref, settings))
    elif ref.url is None:
        data = read_capped(sys.stdin.buffer, _cap(ref, settings))
    input_id = os.urandom(16).hex()  # as random as uuid4().hex, in a third of the time
    kind, source, url = ref.kind, ref.source, ref.url
    origin = file_origin(ref.path, ref.resolved) if ref.path is not None else None
    message = parked.message(
        input_id, kind, source, data=data, url=url, reply_to=reply_to, origin=origin
    )
    return message, data


def file_origin(path: Path, resolved: Path | None = None) -> str:
    """A file's origin, its identity: its resolved absolute path (docs/seeds.md, "Identity").

    ``resolved``: that path, when the folder walk knows it already (not resolved again).
    """
    return origin_key("file", os.fsencode(resolved or path.resolve()))


def _cap(ref: InputRef, settings: Settings) -> int:
    return settings.max_document_bytes if ref.kind == InputKind.SEED else settings.feed_max_bytes
