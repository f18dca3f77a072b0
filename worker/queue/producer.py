"""Producer: turn paths (files, folders, ``-`` for stdin) into envelopes and publish batches.

Workers get the document bytes, never a path, so producers and workers may run on
different hosts: the bytes of a batch are parked in Redis and its message names them
(see :mod:`worker.pipeline.parked`). Each file is read up to the size cap plus one byte: an
oversized file is still sent (truncated) so that it ends as a ``seed.too_large``
rejection, not silence.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from celery import Celery
from kombu.exceptions import OperationalError

from worker.core import signals
from worker.core.errors import InputError, QueueUnavailable, StoreFull, StoreUnavailable
from worker.core.models import Envelope, InputKind
from worker.core.protocol import TASK_PROCESS_BATCH, is_amqp
from worker.core.settings import Settings
from worker.core.textsafe import printable_name, redact_userinfo
from worker.pipeline import parked
from worker.queue.broker import describe, refused
from worker.queue.pacing import Pacer
from worker.storage.connection import FULL, out_of_memory
from worker.storage.store import Store

STDIN = "-"
MAX_URL = 2048  # the envelope's source limit
# Room left below Redis's maxmemory beyond a batch's own bytes (indexes, other writers).
MARGIN = 256 * 1024
RETRY_POLICY = {"max_retries": 5, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 4.0}


@dataclass(frozen=True, slots=True)
class InputRef:
    """Something to enqueue: a local file (or stdin) with its kind, or a feed URL."""

    source: str
    kind: InputKind
    path: Path | None = None
    url: str | None = None


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

    URLs are not checked here beyond their length: a worker fetches them and rejects what
    it cannot fetch (``file:`` and other schemes included) with a reason code.
    """
    for raw in feeds:
        if raw == STDIN:
            yield InputRef(source="stdin", kind=InputKind.FEED)
        elif _feed_kind(raw) is InputKind.FEED:
            name = printable_name(Path(raw).name)
            yield InputRef(source=name, kind=InputKind.FEED, path=Path(raw))
        else:
            # The envelope redacts the URL's credentials: the worker refuses it by reason.
            yield InputRef(source=raw, kind=InputKind.FEED_URL, url=raw)


def _feed_kind(raw: str) -> InputKind:
    """FEED for a readable feed file, FEED_URL for a URL; InputError for anything else."""
    if Path(raw).exists():
        if not _is_regular(Path(raw)):
            raise InputError(f"{printable_name(raw)}: not a regular file")
        return InputKind.FEED
    if "://" in raw and len(raw) <= MAX_URL:
        return InputKind.FEED_URL
    raise InputError(f"{redact_userinfo(printable_name(raw))}: neither a feed file nor a feed URL")


def _walk(folder: Path, report: EnqueueReport) -> Iterator[InputRef]:
    """Files in name order, then sub-folders; scandir's entry types save a stat per file."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        report.skipped.append((printable_name(str(folder)), f"unreadable folder: {e.strerror}"))
        return
    for entry in entries:
        if entry.name.startswith(".") or _is_dir(entry):
            continue
        if not _is_file(entry):
            report.skipped.append((printable_name(entry.path), "not a regular file"))
            continue
        yield InputRef(
            source=printable_name(entry.name), kind=InputKind.SEED, path=Path(entry.path)
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


def envelope_for(ref: InputRef, settings: Settings, reply_to: str | None) -> Envelope:
    """Read the input (capped) and wrap it with a fresh input id."""
    message, data = message_for(ref, settings, reply_to)
    return Envelope.model_validate({**message, "data": data})


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
    return parked.message(input_id, kind, source, data=data, url=url, reply_to=reply_to), data


def new_envelope(
    kind: InputKind,
    source: str,
    *,
    data: bytes | None = None,
    url: str | None = None,
    reply_to: str | None = None,
) -> Envelope:
    """An envelope for bytes (or a feed URL) already in hand, with a fresh input id."""
    return Envelope(
        input_id=os.urandom(16).hex(),  # as random as uuid4().hex, in a third of the time
        kind=kind,
        source=source,
        data=data,
        url=url,
        reply_to=reply_to,
    )


def _cap(ref: InputRef, settings: Settings) -> int:
    return settings.max_document_bytes if ref.kind == InputKind.SEED else settings.feed_max_bytes


Item = tuple[dict[str, Any], bytes | None]  # a queue message and the bytes to park for it


def batches(items: Iterable[Item], settings: Settings) -> Iterator[list[Item]]:
    """Group inputs into tasks by count and size; a lone input goes at once.

    A feed URL travels alone: its fetch may take seconds, and other tasks (on other worker
    processes) should not wait behind it.
    """
    batch: list[Item] = []
    size = 0
    for item in items:
        weight = len(item[1] or b"") + 200
        if item[0]["kind"] == InputKind.FEED_URL.value:
            weight = settings.batch_bytes + 1
        if batch and (len(batch) >= settings.batch_size or size + weight > settings.batch_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += weight
    if batch:
        yield batch


def publish(
    app: Celery,
    store: Store,
    refs: Iterable[InputRef],
    settings: Settings,
    *,
    reply_to: str | None = None,
    report: EnqueueReport | None = None,
    progress: Callable[[int], None] | None = None,
    pacer: Pacer | None = None,
) -> EnqueueReport:
    """Read, batch and publish inputs; counts an input as queued only once the broker has it."""
    items = (message_for(ref, settings, reply_to) for ref in refs)
    return publish_items(app, store, items, settings, report=report, progress=progress, pacer=pacer)


def publish_envelopes(
    app: Celery,
    store: Store,
    envelopes: Iterable[Envelope],
    settings: Settings,
    *,
    report: EnqueueReport | None = None,
) -> EnqueueReport:
    """Batch and publish envelopes that are ready (replayed rejections)."""
    items = (parked.from_envelope(e) for e in envelopes)
    return publish_items(app, store, items, settings, report=report)


def publish_items(
    app: Celery,
    store: Store,
    items: Iterable[Item],
    settings: Settings,
    *,
    report: EnqueueReport | None = None,
    progress: Callable[[int], None] | None = None,
    pacer: Pacer | None = None,
) -> EnqueueReport:
    """Park each batch with its ledger entry (one round trip), then publish it.

    The ledger entry exists before the publish: a producer that dies in between leaves a
    batch the recovery sweep publishes, never one that is lost. A publish that fails
    takes the entry, the bytes and the count back. A ``pacer`` holds each batch back
    while the queue is full (:mod:`worker.queue.pacing`).

    RabbitMQ acknowledges deliveries itself and keeps what it was sent: no ledger entry,
    and the bytes travel inside the messages (:func:`worker.pipeline.parked.inline`);
    only the enqueued count goes to the store.
    """
    report = report or EnqueueReport()
    ledger = not is_amqp(str(app.conf.broker_url))
    with app.producer_or_acquire() as producer:
        for group in batches(items, settings):
            if pacer is not None:
                pacer.wait()
            batch_id = uuid.uuid4().hex
            messages: bytes | None = None
            if ledger:
                batch = [m for m, _ in group]
                data = {m["input_id"]: d for m, d in group if d is not None}
                messages = orjson.dumps(batch)
                make_room(store, 2 * (sum(map(len, data.values())) + len(messages)) + MARGIN)
            else:  # nothing of the batch but its count goes to Redis
                batch, data = [parked.inline(m, d) for m, d in group], {}
                make_room(store, MARGIN)
            # A stop signal waits until the batch is counted: the counters stay exact.
            with signals.deferred():
                park(store, batch_id, data, messages, len(batch))
                try:
                    send(app, producer, batch, settings, batch_id)
                except (QueueUnavailable, StoreFull):
                    with contextlib.suppress(StoreUnavailable):
                        store.ledger.unpark(batch_id, len(batch))  # nobody will read it
                    raise
                report.batches += 1
                for message in batch:
                    report.input_ids.append(message["input_id"])
                    report.sources[message["input_id"]] = message["source"]
            if progress is not None:
                progress(len(batch))
    return report


def make_room(store: Store, nbytes: int) -> None:
    """Stop with StoreFull before a batch that would not fit below Redis's maxmemory.

    Checked between batches, so a full store stops the producer with every batch it
    published counted. A store that does not answer is left to the retries of
    :func:`park` and :func:`send`.
    """
    try:
        store.ledger.room_for(nbytes)
    except StoreFull:
        raise
    except StoreUnavailable:
        return


def park(
    store: Store, batch_id: str, data: dict[str, bytes], messages: bytes | None, count: int
) -> None:
    """Park a batch (bytes, ledger entry, count), retrying as a publish does.

    Raises QueueUnavailable if Redis never answers.
    """
    retries = int(RETRY_POLICY.get("max_retries", 0))
    delay = RETRY_POLICY.get("interval_start", 0.0)
    for attempt in range(retries + 1):
        try:
            store.ledger.park(batch_id, data, messages, count)
            return
        except StoreFull:
            raise
        except StoreUnavailable as e:
            if attempt == retries:
                raise QueueUnavailable(f"broker unavailable after {retries} retries: {e}") from e
        time.sleep(min(delay, RETRY_POLICY.get("interval_max", delay)))
        delay += RETRY_POLICY.get("interval_step", 0.0)


def send(
    app: Celery, producer: Any, batch: list[dict[str, Any]], settings: Settings, batch_id: str
) -> None:
    """Publish one batch, retrying per RETRY_POLICY; raise QueueUnavailable if it never goes.

    The task id is the batch id of the ledger, so the worker can drop the entry when done.
    """
    # The transport's own faults (redis-py's or amqp's errors) as kombu lists them.
    conn = producer.connection
    faults = (OperationalError, OSError, *conn.connection_errors, *conn.channel_errors)
    try:
        app.send_task(
            TASK_PROCESS_BATCH,
            args=[batch],
            task_id=batch_id,
            # Celery would repr the whole batch for monitors: a summary is enough.
            argsrepr=f"[<{len(batch)} inputs>]",
            producer=producer,
            queue=settings.queue,
            retry=True,
            retry_policy=RETRY_POLICY,
        )
    except Exception as e:
        if out_of_memory(e):
            raise StoreFull(FULL) from e
        if not isinstance(e, faults):
            raise
        retries = RETRY_POLICY["max_retries"]
        if refused(e):
            raise QueueUnavailable(describe(e)) from e
        raise QueueUnavailable(f"broker unavailable after {retries} retries: {describe(e)}") from e
