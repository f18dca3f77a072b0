"""The whole flow, without Celery: envelope -> parse -> normalise -> validate -> full text
-> enrich -> store.

``process_batch`` is what the Celery task calls. Each envelope is prepared on its own, so
one bad input (or one bug) never fails its neighbours; then short feed entries get the text
of their article page (:mod:`worker.pipeline.fulltext`), every record gets its fields for
search and NLP (:mod:`worker.pipeline.enrich`), and all outcomes of the batch are written in
one round trip of atomic script calls.

Poison inputs: an input whose processing kills the worker process is redelivered (late
acks). Each started delivery is counted in Redis and the count is dropped when the
input's outcome is stored (or the delivery fails and is retried). A batch that finds a
count left over was lost with its worker: it is processed one input at a time, each
committed on its own, so the neighbours of a poison input are stored, and an input lost
more than ``INGEST_MAX_DELIVERIES`` times becomes a ``worker.lost_repeatedly`` rejection
without being processed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from worker.core.errors import Reason, RejectedInput, StoreUnavailable, TransientError
from worker.core.models import (
    Accepted,
    Envelope,
    InputKind,
    Outcome,
    Prepared,
    Refused,
    Rejection,
)
from worker.core.protocol import BYTES_KINDS
from worker.core.settings import Settings
from worker.pipeline.enrich import enrich, enrich_all
from worker.pipeline.feedentries import FeedFetcher, feed_items
from worker.pipeline.fulltext import FullText
from worker.storage.store import Store
from worker.text.seed import seed_record

log = logging.getLogger(__name__)
# Inputs rejected for these reasons are not kept for replay: their bytes are the problem.
NO_PAYLOAD = frozenset(
    {Reason.SEED_TOO_LARGE.value, Reason.SEED_BINARY.value, Reason.FEED_TOO_LARGE.value}
)


Timeouts = tuple[type[BaseException], ...]


def process_batch(
    messages: Sequence[Mapping[str, Any]],
    store: Store,
    settings: Settings,
    *,
    timeouts: Timeouts = (),
) -> list[Outcome]:
    """Prepare every message of a batch, then store all outcomes; returns them in order.

    A batch that was lost with its worker before is processed one input at a time.
    ``timeouts`` are the exceptions a caller's time limit raises (Celery's soft limit): the
    input being prepared when one is raised is rejected as ``worker.timeout``, and the
    others of the batch go on.
    """
    input_ids = [message_id(m) for m in messages]
    if max(store.claim(input_ids), default=1) > 1:
        store.release(input_ids)
        return [o for m in messages for o in process_alone(m, store, settings, timeouts)]
    with released_on_error(store, input_ids):
        outcomes: list[Outcome] = []
        for reply_to, group in _by_reply(messages):
            fetcher = FeedFetcher(store, settings)
            prepared = [(i, prepare_message(m, settings, fetcher, timeouts)) for i, m in group]
            outcomes += _commit(store, settings, reply_to, prepared, fetcher, timeouts)
        return outcomes


def process_alone(
    message: Mapping[str, Any], store: Store, settings: Settings, timeouts: Timeouts = ()
) -> list[Outcome]:
    """Process and commit one input of a redelivered batch; reject it if lost too often."""
    input_id = message_id(message)
    [deliveries] = store.claim([input_id])
    with released_on_error(store, [input_id]):
        fetcher = FeedFetcher(store, settings)
        if deliveries > settings.max_deliveries:
            items = lost_repeatedly(message, deliveries - 1, settings)
        else:
            items = prepare_message(message, settings, fetcher, timeouts)
        reply = message.get("reply_to")
        reply_to = reply if isinstance(reply, str) else None
        return _commit(store, settings, reply_to, [(input_id, items)], fetcher, timeouts)


def lost_repeatedly(message: Mapping[str, Any], lost: int, settings: Settings) -> list[Prepared]:
    """The rejection of an input whose processing died with its worker ``lost`` times."""
    try:
        envelope = Envelope.model_validate(message)
    except ValidationError:
        return prepare_message(message, settings)  # validation alone cannot kill a worker
    log.error("input %s from %s lost its worker %d times", envelope.input_id, envelope.source, lost)
    detail = f"its processing was lost with the worker {lost} times; not processed again"
    return [refuse(envelope, Reason.WORKER_LOST_REPEATEDLY, detail)]


@contextlib.contextmanager
def released_on_error(store: Store, input_ids: Sequence[str]) -> Iterator[None]:
    """Release the claims of a delivery that fails (to be retried) rather than dies."""
    try:
        yield
    except Exception:
        with contextlib.suppress(StoreUnavailable):
            store.release(input_ids)
        raise


def _commit(
    store: Store,
    settings: Settings,
    reply_to: str | None,
    prepared: Sequence[tuple[str, list[Prepared]]],
    fetcher: FeedFetcher,
    timeouts: Timeouts = (),
) -> list[Outcome]:
    """Store the prepared items of some inputs, settle their claims, tell a waiting run."""
    # A feed became one item per entry: count the extra inputs before their outcomes.
    store.expand({i: len(group) for i, group in prepared if len(group) != 1})
    items = FullText(store, settings, timeouts).complete([p for _, g in prepared for p in g])
    items = enriched_all(items, settings)
    settled = [input_id for input_id, _ in prepared]
    outcomes = store.commit(items, reply_to=reply_to, settled=settled)
    fetcher.settle()
    if reply_to:
        store.replies.mark_done(reply_to, [(input_id, len(group)) for input_id, group in prepared])
    return outcomes


def enriched_all(items: Sequence[Prepared], settings: Settings) -> list[Prepared]:
    """The items enriched together; one at a time if that fails (a bug), to find which."""
    try:
        return enrich_all(items, settings)
    except Exception:
        return [enriched(item, settings) for item in items]


def enriched(item: Prepared, settings: Settings) -> Prepared:
    """The item enriched (see worker.pipeline.enrich); as it was if that fails (a bug)."""
    try:
        return enrich(item, settings)
    except Exception:
        log.exception("enriching item %s failed; stored without NLP fields", item.item_id)
        return item


def prepare_message(
    message: Mapping[str, Any],
    settings: Settings,
    fetcher: FeedFetcher | None = None,
    timeouts: Timeouts = (),
) -> list[Prepared]:
    """Validate a queue message and prepare it; a malformed message is refused."""
    try:
        envelope = Envelope.model_validate(message)
    except ValidationError as e:
        rejection = Rejection(
            source=str(message.get("source") or "<malformed message>")[:2048],
            reason=Reason.INPUT_MALFORMED,
            detail=f"malformed queue message: {e}"[:2000],
            rejected_at=datetime.now(UTC),
            input_id=message_id(message),
            kind=InputKind.SEED,
        )
        return [Refused(rejection.input_id, rejection)]
    if "data" in message and message["data"] is None and envelope.kind in BYTES_KINDS:
        # ``data: null`` marks bytes parked in Redis (worker.pipeline.parked) that were not found.
        return [refuse(envelope, Reason.INPUT_EXPIRED, "its parked bytes expired before use")]
    return prepare(envelope, settings, fetcher, timeouts)


def message_id(message: Mapping[str, Any]) -> str:
    """The input id of a message, or a stable one derived from its content."""
    input_id = message.get("input_id")
    if isinstance(input_id, str) and 0 < len(input_id) <= 200:
        return input_id
    try:
        raw = orjson.dumps(message, default=str)
    except TypeError:  # e.g. an integer beyond 64 bits, which JSON allows
        raw = repr(message).encode()
    return "malformed-" + hashlib.sha256(raw).hexdigest()[:24]


def prepare(
    envelope: Envelope,
    settings: Settings,
    fetcher: FeedFetcher | None = None,
    timeouts: Timeouts = (),
) -> list[Prepared]:
    """Turn one envelope into records and rejections. Never raises for bad input.

    Feed URLs need a ``fetcher`` (the network and the feed's state in Redis); a transient
    fault (Redis down) propagates, so the task is retried rather than the input rejected.
    """
    try:
        if envelope.kind is InputKind.SEED:
            data, limit = envelope.data or b"", settings.max_document_bytes
            return [Accepted(envelope.input_id, seed_record(data, envelope.source, limit))]
        if envelope.kind is InputKind.FEED:
            return feed_items(envelope, envelope.data or b"", settings)
        if envelope.kind is InputKind.FEED_URL and fetcher is not None:
            return fetcher.items(envelope)
        raise RejectedInput(Reason.INPUT_MALFORMED, f"unsupported input kind {envelope.kind}")
    except RejectedInput as e:
        return [refuse(envelope, e.reason, e.detail)]
    except TransientError:
        raise
    except timeouts:
        log.error("input %s from %s ran out of time", envelope.input_id, envelope.source)
        allowed = f"{settings.task_soft_time_limit:g} s (INGEST_TASK_SOFT_TIME_LIMIT)"
        return [refuse(envelope, Reason.WORKER_TIMEOUT, f"its task ran past {allowed}")]
    except Exception as e:
        log.exception("internal error on input %s from %s", envelope.input_id, envelope.source)
        return [refuse(envelope, Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}")]


def refuse(envelope: Envelope, reason: str, detail: str, *, item_id: str | None = None) -> Refused:
    """A rejection of an envelope (or one item of it), keeping the envelope for replay."""
    rejection = Rejection(
        source=envelope.source,
        reason=str(reason),
        detail=detail[:2000],
        rejected_at=datetime.now(UTC),
        input_id=item_id or envelope.input_id,
        kind=envelope.kind,
    )
    keep = str(reason) not in NO_PAYLOAD and (envelope.data is not None or bool(envelope.url))
    payload = envelope.model_dump_json(exclude={"reply_to"}).encode() if keep else None
    return Refused(item_id or envelope.input_id, rejection, payload)


def _by_reply(
    messages: Iterable[Mapping[str, Any]],
) -> list[tuple[str | None, list[tuple[str, Mapping[str, Any]]]]]:
    groups: dict[str | None, list[tuple[str, Mapping[str, Any]]]] = {}
    for m in messages:
        reply = m.get("reply_to") if isinstance(m.get("reply_to"), str) else None
        groups.setdefault(reply, []).append((message_id(m), m))
    return list(groups.items())
