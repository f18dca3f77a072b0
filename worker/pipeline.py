"""The whole flow, without Celery: envelope -> parse -> normalise -> validate -> store.

``process_batch`` is what the Celery task calls. Each envelope is prepared on its own, so
one bad input (or one bug) never fails its neighbours; then all outcomes of the batch are
written in one round trip of atomic script calls.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any

import orjson
from pydantic import ValidationError

from worker.errors import Reason, RejectedInput, TransientError
from worker.feeds import FeedFetcher, feed_items
from worker.models import (
    Accepted,
    Envelope,
    InputKind,
    Outcome,
    Prepared,
    Record,
    Refused,
    Rejection,
)
from worker.normalise import content_hash, record_id, word_count
from worker.parse import ParsedSeed, parse_seed
from worker.settings import Settings
from worker.store import Store

log = logging.getLogger(__name__)
# Inputs rejected for these reasons are not kept for replay: their bytes are the problem.
NO_PAYLOAD = frozenset(
    {Reason.SEED_TOO_LARGE.value, Reason.SEED_BINARY.value, Reason.FEED_TOO_LARGE.value}
)


def process_batch(
    messages: Sequence[Mapping[str, Any]], store: Store, settings: Settings
) -> list[Outcome]:
    """Prepare every message of a batch, then store all outcomes; returns them in order."""
    outcomes: list[Outcome] = []
    for reply_to, group in _by_reply(messages):
        fetcher = FeedFetcher(store, settings)
        prepared = [(input_id, prepare_message(m, settings, fetcher)) for input_id, m in group]
        # A feed became one item per entry: count the extra inputs before their outcomes.
        store.expand({i: len(items) for i, items in prepared if len(items) != 1})
        outcomes += store.commit([p for _, items in prepared for p in items], reply_to=reply_to)
        fetcher.settle()
        if reply_to:
            for input_id, items in prepared:
                store.mark_done(reply_to, input_id, len(items))
    return outcomes


def prepare_message(
    message: Mapping[str, Any], settings: Settings, fetcher: FeedFetcher | None = None
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
    return prepare(envelope, settings, fetcher)


def message_id(message: Mapping[str, Any]) -> str:
    """The input id of a message, or a stable one derived from its content."""
    input_id = message.get("input_id")
    if isinstance(input_id, str) and 0 < len(input_id) <= 200:
        return input_id
    return "malformed-" + hashlib.sha256(orjson.dumps(message, default=str)).hexdigest()[:24]


def prepare(
    envelope: Envelope, settings: Settings, fetcher: FeedFetcher | None = None
) -> list[Prepared]:
    """Turn one envelope into records and rejections. Never raises for bad input.

    Feed URLs need a ``fetcher`` (the network and the feed's state in Redis); a transient
    fault (Redis down) propagates, so the task is retried rather than the input rejected.
    """
    try:
        if envelope.kind is InputKind.SEED:
            return [Accepted(envelope.input_id, seed_record(envelope, settings))]
        if envelope.kind is InputKind.FEED:
            return feed_items(envelope, envelope.data or b"", settings)
        if envelope.kind is InputKind.FEED_URL and fetcher is not None:
            return fetcher.items(envelope)
        raise RejectedInput(Reason.INPUT_MALFORMED, f"unsupported input kind {envelope.kind}")
    except RejectedInput as e:
        return [refuse(envelope, e.reason, e.detail)]
    except TransientError:
        raise
    except Exception as e:
        log.exception("internal error on input %s from %s", envelope.input_id, envelope.source)
        return [refuse(envelope, Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}")]


def seed_record(envelope: Envelope, settings: Settings) -> Record:
    """Parse and normalise a seed document into a validated Record."""
    parsed = parse_seed(envelope.data or b"", max_bytes=settings.max_document_bytes)
    return build_seed_record(parsed, envelope.source)


def build_seed_record(parsed: ParsedSeed, source: str) -> Record:
    """The Record of a parsed seed; its id depends only on the normalised content."""
    text = parsed.text
    try:
        return Record(
            id=record_id("seed", parsed.published.isoformat(), parsed.title, text),
            kind="seed",
            source=source,
            title=parsed.title,
            published=datetime.combine(parsed.published, dtime(0), UTC),
            paragraphs=parsed.paragraphs,
            text=text,
            word_count=word_count(text),
            content_hash=content_hash(parsed.title, text),
            ingested_at=datetime.now(UTC),
            version=1,
        )
    except ValidationError as e:
        raise RejectedInput(Reason.SEED_INVALID, str(e.errors()[0]["msg"])) from e


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
