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

from dataclasses import dataclass, field
from datetime import UTC, datetime

from worker.core.errors import FeedFetchError, Reason, RejectedInput
from worker.core.models import (
    Accepted,
    Envelope,
    NotModified,
    Prepared,
    Record,
    Refused,
    Rejection,
)
from worker.core.settings import Settings
from worker.sources.fetch import FetchResult, fetch_feed
from worker.storage.store import Store
from worker.text.feedparse import parse_feed


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
        max_entries=settings.feed_max_entries,
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


@dataclass
class FeedFetcher:
    """Fetches the feed URLs of one batch and, once their entries are stored, remembers them.

    The validators (ETag, Last-Modified) are saved only after the commit: saved before, a
    worker lost between the two would be redelivered, get a 304, and the entries would
    never be stored. The polling state records every success and failure.
    """

    store: Store
    settings: Settings
    fetched: list[FetchResult] = field(default_factory=list)

    def items(self, envelope: Envelope) -> list[Prepared]:
        """Fetch the envelope's URL and parse it: entries, a 304 outcome, or RejectedInput."""
        url = envelope.url or envelope.source
        try:
            result = self._fetch(url, self.store.seen(envelope.input_id))
            if result.status == 304:
                items: list[Prepared] = [NotModified(envelope.input_id, envelope.source)]
            else:
                items = feed_items(
                    envelope,
                    result.body or b"",
                    self.settings,
                    base_url=result.final_url,
                    content_type=result.content_type,
                )
        except RejectedInput as e:
            if e.reason != Reason.FEED_BAD_URL:  # never fetchable: no schedule to keep
                retry_after = e.retry_after if isinstance(e, FeedFetchError) else None
                self.store.feeds.failed(url, e.reason, e.detail, retry_after=retry_after)
            raise
        self.fetched.append(result)
        return items

    def _fetch(self, url: str, unconditional: bool) -> FetchResult:
        # A redelivered input fetches unconditionally: its first delivery may have saved
        # the validators, and a 304 now would give it a second, different outcome.
        etag, last_modified = None, None
        if not unconditional:
            etag, last_modified = self.store.feeds.validators(url)
        return fetch_feed(url, self.settings, etag=etag, last_modified=last_modified)

    def settle(self) -> None:
        """After the commit: save validators and mark each fetched feed as polled."""
        for result in self.fetched:
            self.store.feeds.save_validators(result.url, result.etag, result.last_modified)
            self.store.feeds.succeeded(result.url, "not_modified" if result.status == 304 else "ok")
        self.fetched.clear()
