"""Feed inputs in the pipeline: one feed envelope becomes one item per entry.

Each entry's item id is ``{input_id}#{n}`` (n counts from 0 in document order), so
``ingest run`` prints one line per entry in feed order, and the store's atomic upsert
decides per entry: ``created``, ``duplicate`` (same id, same content) or ``updated``
(same id, changed content: ``version`` + 1 and an ``updated`` event).

The body is read as JSON Feed when it looks like one (a JSON content type, or a ``{``
first), else as RSS/Atom: both give the same record fields. A subscribed feed's
``keep``/``block`` rules turn each entry they drop into an ``entry.filtered`` rejection
whose detail names the rule; nothing is dropped silently.

Fetching a URL applies its subscription's options (:func:`worker.pipeline.feedplan.
plan_for`) and per-host politeness (:mod:`worker.pipeline.politeness`).

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
from worker.core.textsafe import redact_query_secrets
from worker.pipeline.feedplan import FeedPlan, plan_for
from worker.pipeline.fetchlimits import fetch_limits
from worker.pipeline.politeness import host_slot
from worker.sources.fetch import FetchResult, fetch_feed
from worker.storage.store import Store
from worker.text.feedparse import ParsedFeed, parse_feed
from worker.text.filters import Rules
from worker.text.jsonfeed import looks_like_json_feed, parse_json_feed


def feed_items(
    envelope: Envelope,
    data: bytes,
    settings: Settings,
    *,
    base_url: str | None = None,
    content_type: str | None = None,
    rules: Rules | None = None,
) -> list[Prepared]:
    """Parse a feed's bytes into one prepared item per entry; RejectedInput if not a feed."""
    parsed = parse_any(data, envelope.source, settings, base_url, content_type)
    return [
        _item(envelope, f"{envelope.input_id}#{n}", entry, rules or Rules())
        for n, entry in enumerate(parsed.entries)
    ]


def parse_any(
    data: bytes,
    source: str,
    settings: Settings,
    base_url: str | None = None,
    content_type: str | None = None,
) -> ParsedFeed:
    """JSON Feed or RSS/Atom, by the content type and the first bytes."""
    if looks_like_json_feed(data, content_type):
        return parse_json_feed(
            data,
            source,
            max_bytes=settings.feed_max_bytes,
            max_entries=settings.feed_max_entries,
        )
    return parse_feed(
        data,
        source,
        max_bytes=settings.feed_max_bytes,
        max_entries=settings.feed_max_entries,
        base_url=base_url,
        content_type=content_type,
    )


def _item(
    envelope: Envelope, item_id: str, entry: Record | RejectedInput, rules: Rules
) -> Prepared:
    if isinstance(entry, Record):
        dropped = rules.verdict(entry.title, entry.text)
        if dropped is None:
            return Accepted(item_id, entry)
        detail = f"{dropped} ({entry.guid or entry.url or entry.title})"[:2000]
        entry = RejectedInput(Reason.ENTRY_FILTERED, detail, source=entry.source)
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
            plan = plan_for(self.settings, url)
            with host_slot(self.store, self.settings, url, envelope.input_id, plan.host):
                result = self._fetch(url, self.store.seen(envelope.input_id), plan)
            if result.status == 304:
                items: list[Prepared] = [NotModified(envelope.input_id, envelope.source)]
            else:
                items = feed_items(
                    envelope,
                    result.body or b"",
                    self.settings,
                    base_url=result.final_url,
                    content_type=result.content_type,
                    rules=plan.rules,
                )
        except RejectedInput as e:
            if e.reason != Reason.FEED_BAD_URL:  # never fetchable: no schedule to keep
                retry_after = e.retry_after if isinstance(e, FeedFetchError) else None
                detail = redact_query_secrets(e.detail)  # `ingest feeds` lists it
                self.store.feeds.failed(url, e.reason, detail, retry_after=retry_after)
            raise
        self.fetched.append(result)
        return items

    def _fetch(self, url: str, unconditional: bool, plan: FeedPlan) -> FetchResult:
        # A redelivered input fetches unconditionally: its first delivery may have saved
        # the validators, and a 304 now would give it a second, different outcome.
        etag, last_modified = None, None
        if not unconditional:
            etag, last_modified = self.store.feeds.validators(url)
        return fetch_feed(
            url,
            fetch_limits(self.settings),
            etag=etag,
            last_modified=last_modified,
            options=plan.options,
        )

    def settle(self) -> None:
        """After the commit: save validators and mark each fetched feed as polled."""
        for result in self.fetched:
            self.store.feeds.save_validators(result.url, result.etag, result.last_modified)
            self.store.feeds.succeeded(result.url, "not_modified" if result.status == 304 else "ok")
        self.fetched.clear()
