"""Full text from the article page, for feed entries that carry only a summary.

A feed record gets its page fetched when all of these hold:

* full text is on for its feed: the feed's ``full_text`` in the subscriptions file
  (``INGEST_FEEDS_FILE``, matched on the record's source, the feed URL), else
  ``INGEST_FULL_TEXT`` (default off);
* its text has fewer than ``INGEST_FULL_TEXT_MIN_WORDS`` words;
* its link is http(s).

The page goes through the feed fetcher (:func:`worker.sources.fetch.fetch_page`: address
guard, size and time caps, redirects; not the feed's own headers or credentials) under
the per-host politeness of feeds (:func:`worker.pipeline.politeness.host_slot`: the page's
host gets no more fetches at once, nor closer together, than a feed's; a feed's 429/503
with Retry-After blocks it for feeds and pages alike, a page's for pages only, capped by
``INGEST_FULL_TEXT_MAX_BACKOFF``), and trafilatura
(:func:`worker.text.article.extract_article`).
On success the record's paragraphs, text, word count and content hash are the page's,
``content_source`` is ``page`` and ``summary`` keeps the feed's text. On failure the record
keeps the feed's text, ``content_source`` is ``feed`` and ``full_text_error`` is a reason
code: ``page.<what>`` for each ``feed.<what>`` code of the fetcher (``page.http_404``,
``page.timeout``, ``page.blocked_address``...), ``page.not_html`` for another content
type, ``page.no_text`` when no main text was found, ``page.host_backoff`` when the page's
host was not free within ``INGEST_FEED_HOST_WAIT``, ``page.timeout`` for a page that timed
out and for every page left when the task's soft time limit struck during the full-text
step (the batch is stored with the feeds' text), ``page.over_budget`` for a page cut off
or not asked for because the step had spent ``INGEST_FULL_TEXT_BUDGET`` seconds (each
fetch and host wait is cut to what is left of it). The entry itself is never rejected.

An entry stored before with text from its page and the same feed text is not fetched
again: it keeps the stored page text. A failed fetch is tried again whenever the feed is
parsed again (not after a 304).
"""

from __future__ import annotations

import logging
import time

from worker.core.errors import ConfigError, FeedFetchError
from worker.core.models import Accepted, Prepared, Record
from worker.core.settings import Settings
from worker.core.textsafe import redact_query_secrets
from worker.pipeline.feedplan import HostRules, host_rules, settings_feeds
from worker.pipeline.fetchlimits import fetch_limits
from worker.pipeline.politeness import host_slot
from worker.sources.fetch import fetch_page
from worker.sources.limits import FetchLimits
from worker.storage.read_records import RecordReads
from worker.storage.store import Store
from worker.text.article import extract_article
from worker.text.normalise import content_hash, join_paragraphs, split_paragraphs, word_count

log = logging.getLogger(__name__)
URL_SCHEMES = ("http://", "https://")
HTML_TYPES = ("text/html", "application/xhtml+xml")
# A record's full_text_error codes of its own (not rejections, so not in errors.Reason).
PAGE_NOT_HTML = "page.not_html"
PAGE_NO_TEXT = "page.no_text"
PAGE_TIMEOUT = "page.timeout"  # also the fetcher's feed.timeout, as page_reason maps it
PAGE_OVER_BUDGET = "page.over_budget"


class FullText:
    """The full-text step of one batch: which feeds want it, and the pages fetched."""

    def __init__(
        self, store: Store, settings: Settings, timeouts: tuple[type[BaseException], ...] = ()
    ) -> None:
        self.store = store
        self.settings = settings
        self.timeouts = timeouts  # the task's soft time limit: no page is worth the batch
        self._feeds: dict[str, bool | None] | None = None
        self._host = HostRules(settings.feed_host_concurrency, settings.feed_host_delay)

    def complete(self, items: list[Prepared]) -> list[Prepared]:
        """The items, with the page's text in each record that wants it."""
        wanted = [n for n, item in enumerate(items) if self.wants(item)]
        if not wanted:
            return items
        ids = [items[n].record.id for n in wanted]  # type: ignore[union-attr]
        stored = RecordReads(self.store.client, self.store.keys).get_many(ids)
        done = list(items)
        out_of_time = False
        budget_end = time.monotonic() + self.settings.full_text_budget
        for n in wanted:
            item = items[n]
            assert isinstance(item, Accepted)
            record = None
            if not out_of_time:
                try:
                    old = stored.get(item.record.id)
                    record = self._within(budget_end, item.record, old)
                except self.timeouts:
                    log.warning("time limit reached while fetching pages; the rest keep feed text")
                    out_of_time = True
            done[n] = Accepted(item.item_id, record or without_page(item.record, PAGE_TIMEOUT))
        return done

    def _within(self, budget_end: float, record: Record, stored: Record | None) -> Record:
        """:func:`with_page` with no more time than is left of the step's budget: its fetch
        and its wait for the host are cut to it, and past it the page is not asked for."""
        left = budget_end - time.monotonic()
        if left <= 0:
            return without_page(record, PAGE_OVER_BUDGET)
        limits = {
            "feed_timeout": min(self.settings.feed_timeout, left),
            "feed_host_wait": min(self.settings.feed_host_wait, left),
        }
        settings = self.settings.model_copy(update=limits)
        done = with_page(record, stored, settings, self.store, self._host)
        if done.full_text_error == PAGE_TIMEOUT and time.monotonic() >= budget_end:
            return without_page(record, PAGE_OVER_BUDGET)
        return done

    def wants(self, item: Prepared) -> bool:
        """Whether the item is a short feed record with an http(s) link of a full-text feed."""
        if not isinstance(item, Accepted) or item.record.kind != "feed":
            return False
        record = item.record
        if not (record.url or "").startswith(URL_SCHEMES):
            return False
        return record.word_count < self.settings.full_text_min_words and self.enabled(record.source)

    def enabled(self, feed: str) -> bool:
        """Full text for this feed: its own ``full_text``, else the global setting."""
        if self._feeds is None:
            self._feeds = self._load()
        own = self._feeds.get(feed)
        return self.settings.full_text if own is None else own

    def _load(self) -> dict[str, bool | None]:
        """Each feed's ``full_text``; the file's per-host rules, kept for the page fetches."""
        try:
            config = settings_feeds(self.settings)
        except ConfigError as e:  # the worker goes on; beat and `ingest feeds` name the fix
            log.warning("full text: feeds file unreadable, using INGEST_FULL_TEXT: %s", e)
            return {}
        self._host = host_rules(self.settings, config.defaults)
        # Keyed as records name their feed: secret query values masked.
        return {redact_query_secrets(s.url): s.full_text for s in config.feeds}


def with_page(
    record: Record, stored: Record | None, settings: Settings, store: Store, rules: HostRules
) -> Record:
    """The record with its page's text, the stored page text, or the reason there is none.

    The fetch waits for a slot on the page's host under ``rules`` (see the module doc).
    """
    if stored is not None and stored.content_source == "page" and stored.summary == record.text:
        return from_page(record, stored.paragraphs)
    url = record.url or ""
    try:
        with host_slot(store, settings, url, f"page:{record.id}", rules, defer=False):
            paragraphs = page_paragraphs(url, fetch_limits(settings))
    except FeedFetchError as e:
        return without_page(record, page_reason(e.reason))
    return from_page(record, paragraphs)


def without_page(record: Record, reason: str) -> Record:
    """The record with the feed's text and the reason it has no page text."""
    return record.model_copy(update={"content_source": "feed", "full_text_error": reason})


def from_page(record: Record, paragraphs: list[str]) -> Record:
    """The record with the page's paragraphs, the feed's text kept as ``summary``."""
    text = join_paragraphs(paragraphs)
    return record.model_copy(
        update={
            "paragraphs": paragraphs,
            "text": text,
            "word_count": word_count(text),
            "content_hash": content_hash(record.title, text),
            "content_source": "page",
            "summary": record.text,
            "full_text_error": None,
        }
    )


def page_paragraphs(url: str, limits: FetchLimits) -> list[str]:
    """The normalised paragraphs of the page's main text; FeedFetchError when there are none."""
    result = fetch_page(url, limits)
    kind = (result.content_type or "text/html").split(";")[0].strip().lower()
    if kind not in HTML_TYPES:
        raise FeedFetchError(PAGE_NOT_HTML, f"{url} is {kind}", source=url)
    try:
        text = extract_article(result.body or b"", result.final_url)
    except Exception:  # a parser bug on a hostile page must not cost the entry
        log.exception("article extraction failed on %s", url)
        text = None
    paragraphs = split_paragraphs(text) if text else []
    if not paragraphs:
        raise FeedFetchError(PAGE_NO_TEXT, f"no main text found in {url}", source=url)
    return paragraphs


def page_reason(reason: str) -> str:
    """The ``page.*`` code of a fetcher's ``feed.*`` code (page codes pass through)."""
    family, _, what = reason.partition(".")
    return f"page.{what}" if family == "feed" and what else reason
