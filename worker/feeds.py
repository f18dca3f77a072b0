"""Feed inputs in the pipeline: one feed envelope becomes one item per entry.

Each entry's item id is ``{input_id}#{n}`` (n counts from 0 in document order), so
``ingest run`` prints one line per entry in feed order, and the store's atomic upsert
decides per entry: ``created``, ``duplicate`` (same id, same content) or ``updated``
(same id, changed content: ``version`` + 1 and an ``updated`` event).

A feed that fails as a whole (not a feed, too large, fetch failed) is one rejection with
the envelope's own id. A feed URL answered by ``304 Not Modified`` is one ``duplicate``
outcome with reason ``feed.not_modified`` and no record: every input, feed or entry,
still ends as exactly one outcome, and the counts add up.
"""

from __future__ import annotations

from datetime import UTC, datetime

from worker.errors import RejectedInput
from worker.feedparse import parse_feed
from worker.models import Accepted, Envelope, Prepared, Record, Refused, Rejection
from worker.settings import Settings


def feed_items(
    envelope: Envelope,
    data: bytes,
    settings: Settings,
    *,
    base_url: str | None = None,
    content_type: str | None = None,
) -> list[Prepared]:
    """Parse a feed's bytes into one prepared item per entry; RejectedInput if not a feed."""
    parsed = parse_feed(
        data,
        envelope.source,
        max_bytes=settings.feed_max_bytes,
        base_url=base_url,
        content_type=content_type,
    )
    return [
        _item(envelope, f"{envelope.input_id}#{n}", entry) for n, entry in enumerate(parsed.entries)
    ]


def _item(envelope: Envelope, item_id: str, entry: Record | RejectedInput) -> Prepared:
    if isinstance(entry, Record):
        return Accepted(item_id, entry)
    # No payload: the feed is replayed from its source, and a copy of a large feed per
    # bad entry would cost more than it is worth. The detail names the entry.
    rejection = Rejection(
        source=envelope.source,
        reason=entry.reason,
        detail=entry.detail[:2000],
        rejected_at=datetime.now(UTC),
        input_id=item_id,
        kind=envelope.kind,
    )
    return Refused(item_id, rejection)
