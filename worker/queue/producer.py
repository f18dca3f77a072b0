"""Producer: batch the inputs :mod:`worker.queue.inputs` read, park each batch, publish it.

Workers get the document bytes, never a path, so producers and workers may run on
different hosts: the bytes of a batch are parked in Redis and its message names them
(see :mod:`worker.pipeline.parked`). Parking and publishing retry per :data:`RETRY_POLICY`.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from celery import Celery
from kombu.exceptions import OperationalError

from worker.core import signals
from worker.core.errors import QueueUnavailable, StoreFull, StoreUnavailable
from worker.core.models import Envelope, InputKind
from worker.core.protocol import TASK_PROCESS_BATCH, is_amqp
from worker.core.settings import Settings
from worker.pipeline import parked
from worker.queue.brokerprobe import describe, refused
from worker.queue.inputs import EnqueueReport, InputRef, message_for
from worker.queue.pacing import Pacer
from worker.storage.connection import FULL, out_of_memory
from worker.storage.store import Store

# Room left below Redis's maxmemory beyond a batch's own bytes (indexes, other writers).
MARGIN = 256 * 1024


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a publish (kombu's ``retry_policy``) and a park retry a broker that does not answer."""

    max_retries: int = 5
    interval_start: float = 0.5  # seconds before the first retry
    interval_step: float = 1.0  # added to the wait after each retry
    interval_max: float = 4.0  # cap on one wait

    def waits(self) -> Iterator[float]:
        """The seconds to wait before each retry, in order."""
        delay = self.interval_start
        for _ in range(self.max_retries):
            yield min(delay, self.interval_max)
            delay += self.interval_step

    def for_kombu(self) -> dict[str, Any]:
        """The policy as kombu's ``retry_policy`` mapping."""
        return {
            "max_retries": self.max_retries,
            "interval_start": self.interval_start,
            "interval_step": self.interval_step,
            "interval_max": self.interval_max,
        }


RETRY_POLICY = RetryPolicy()


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
    retries = RETRY_POLICY.max_retries
    for wait in [*RETRY_POLICY.waits(), None]:
        try:
            store.ledger.park(batch_id, data, messages, count)
            return
        except StoreFull:
            raise
        except StoreUnavailable as e:
            if wait is None:
                raise QueueUnavailable(f"broker unavailable after {retries} retries: {e}") from e
            time.sleep(wait)


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
            retry_policy=RETRY_POLICY.for_kombu(),
        )
    except Exception as e:
        if out_of_memory(e):
            raise StoreFull(FULL) from e
        if not isinstance(e, faults):
            raise
        retries = RETRY_POLICY.max_retries
        if refused(e):
            raise QueueUnavailable(describe(e)) from e
        raise QueueUnavailable(f"broker unavailable after {retries} retries: {describe(e)}") from e
