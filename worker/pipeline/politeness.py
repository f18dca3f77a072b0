"""Per-host politeness around one feed fetch: wait a little, defer, or give up for now.

:func:`host_slot` asks the shared gate (:class:`worker.storage.hosts.HostGate`) for a slot
on the feed's host before the fetch and gives it back after:

- a slot within ``INGEST_FEED_HOST_WAIT`` seconds is waited for here;
- a slot further away is reserved for the input and :class:`~worker.core.errors.HostBusy`
  raised: the task is deferred to that moment (a Celery retry with a countdown), so the
  worker process serves other hosts meanwhile;
- a host not free for more than ``INGEST_FEED_MAX_DEFER`` seconds (its Retry-After, or a
  queue that long) fails the fetch as ``feed.host_backoff``; beat polls it again then.

A feed's 429 or 503 answer with Retry-After blocks the whole host for that long (capped
by ``INGEST_FEED_MAX_BACKOFF``), so every feed and page on it waits, not only the one that
asked.
Politeness is per host of the subscribed URL, however it is spelt (``127.1`` and
``2130706433`` are ``127.0.0.1``; names in lower-case IDNA, no trailing dot); a redirect
elsewhere is not counted.

:func:`host_slot` with ``defer=False`` does the same for an article page fetched for its
full text, on the page's host under the same rules (the feeds file's per-host concurrency
and delay), except that a page is never deferred: a slot within ``INGEST_FEED_HOST_WAIT``
is waited for, and a host not free by then fails the page as ``feed.host_backoff`` (the
record keeps the feed's text, with ``page.host_backoff``; the page is tried again when the
feed is). A page's own 429 or 503 with Retry-After holds back the host's pages only, for
at most ``INGEST_FULL_TEXT_MAX_BACKOFF`` seconds: one article must not stop its host's
feeds for hours.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from worker.core.errors import FeedFetchError, FeedHttpError, HostBusy, Reason
from worker.core.settings import Settings
from worker.pipeline.feedplan import HostRules
from worker.sources.netguard import canonical_host
from worker.storage.hosts import Gate
from worker.storage.store import Store

LEASE_MARGIN = 5.0  # seconds a lease outlives the fetch deadline


def host_of(url: str) -> str | None:
    """The canonical host of a URL (:func:`~worker.sources.netguard.canonical_host`: one
    spelling per address or name), or None when it has none (the fetch rejects it)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return canonical_host(host) if host else None


@contextmanager
def host_slot(
    store: Store,
    settings: Settings,
    url: str,
    token: str,
    rules: HostRules,
    *,
    defer: bool = True,
) -> Iterator[None]:
    """Hold a fetch slot on the URL's host for the time of the block (see module doc).

    ``defer`` False (an article page): a slot further than ``INGEST_FEED_HOST_WAIT`` away
    fails the fetch as ``feed.host_backoff`` instead of deferring the task.
    """
    host = host_of(url)
    if host is None:
        yield
        return
    if not defer:
        _pages_free(store, settings, url, host)
    _acquire(store, settings, url, host, token, rules, defer)
    try:
        yield
    except FeedHttpError as e:
        if e.status in (429, 503) and e.retry_after and defer:
            store.hosts.block(host, min(e.retry_after, settings.feed_max_backoff))
        elif e.status in (429, 503) and e.retry_after:
            store.hosts.block_pages(host, min(e.retry_after, settings.full_text_max_backoff))
        raise
    finally:
        store.hosts.release(host, token)


def _pages_free(store: Store, settings: Settings, url: str, host: str) -> None:
    """Wait out a page's Retry-After on the host if it ends soon; else fail the page."""
    seconds = store.hosts.pages_blocked(host)
    if seconds > settings.feed_host_wait:
        detail = f"pages of host {host} are held back for another {seconds:.0f} s (a page's "
        detail += "Retry-After); the page is fetched again with the feed"
        raise FeedFetchError(Reason.FEED_HOST_BACKOFF, detail, source=url)
    time.sleep(seconds)


def _acquire(
    store: Store,
    settings: Settings,
    url: str,
    host: str,
    token: str,
    rules: HostRules,
    defer: bool,
) -> None:
    deadline = time.monotonic() + settings.feed_host_wait
    while True:
        left = deadline - time.monotonic()
        slot = store.hosts.acquire(
            host,
            token,
            concurrency=rules.concurrency,
            delay=rules.delay,
            lease=settings.feed_timeout + LEASE_MARGIN,
            max_wait=settings.feed_max_defer if defer else max(left, 0.0),
        )
        if slot.gate is Gate.GO:
            return
        if slot.gate is Gate.BLOCKED:
            detail = f"host {host} is not free for another {slot.seconds:.0f} s "
            if not defer:
                detail += "; the page is fetched again with the feed"
                raise FeedFetchError(Reason.FEED_HOST_BACKOFF, detail, source=url)
            detail += "(its Retry-After, or that many feeds ahead); polled again then"
            raise FeedFetchError(
                Reason.FEED_HOST_BACKOFF,
                detail,
                source=url,
                retryable=True,
                retry_after=slot.seconds,
            )
        if defer and slot.seconds > left:
            raise HostBusy(host, slot.seconds)
        time.sleep(slot.seconds)
