"""Per-feed state in Redis: conditional-GET validators and the polling schedule.

Both live in one hash per feed, ``Keys.feed_state(url)``: the fetcher's ``etag`` and
``last_modified``, and the poller's ``interval``, ``next_poll``, ``last_*`` and
``failures``. Polling rules (see :mod:`worker.queue.beat`):

- a new subscription is first due after an offset fixed by its URL, spread over
  ``min(interval, INGEST_FEED_POLL_SPREAD)`` (jitter: a thousand new feeds do not fire
  in the same second, and as each later poll follows its own fetch, they stay spread);
- success (200 or 304): ``failures`` back to 0, next poll one interval later;
- failure: ``failures`` + 1 and the next poll after ``interval * 2 ** (failures - 1)``,
  capped at ``INGEST_FEED_MAX_BACKOFF``, and never before the server's Retry-After.

Timestamps are epoch seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

from worker.core.keys import Keys
from worker.core.settings import Settings
from worker.storage.connection import Redis, as_str, guarded
from worker.storage.scriptcalls import ClaimFeedCall
from worker.storage.scripts import Scripts
from worker.text.feedsfile import Subscription

MAX_RETRY_AFTER = 7 * 24 * 3600  # a server asking for more is not taken at its word
VALIDATORS = ("etag", "last_modified")
STATE_FIELDS = (
    "interval",
    "next_poll",
    "last_claim",
    "last_attempt",
    "last_success",
    "last_status",
    "last_error",
    "failures",
    *VALIDATORS,
)
NUMBERS = frozenset({"interval", "next_poll", "last_claim", "last_attempt", "last_success"})


def backoff_delay(
    interval: float, failures: int, cap: float, retry_after: float | None = None
) -> float:
    """Seconds until the next poll after ``failures`` consecutive failures (>= 1)."""
    delay = float(min(interval * 2 ** max(failures - 1, 0), cap))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def first_poll_offset(url: str, interval: float, spread: float) -> float:
    """Seconds after it is first seen that a feed is first polled, within min(interval, spread).

    Fixed by the URL, so every beat agrees; URLs spread evenly over the window.
    """
    window = min(interval, spread)
    if window <= 0:
        return 0.0
    digest = hashlib.blake2b(url.encode(), digest_size=8).digest()
    return window * int.from_bytes(digest, "big") / 2**64


class FeedState:
    """Validators and polling state of every feed, under one namespace."""

    def __init__(self, client: Redis, keys: Keys, settings: Settings) -> None:
        self.client, self.keys, self.settings = client, keys, settings
        self.scripts = Scripts(client)

    # -- validators (the fetcher) -------------------------------------------------------

    @guarded
    def validators(self, url: str) -> tuple[str | None, str | None]:
        """The ``(etag, last_modified)`` remembered for ``url``; ``(None, None)`` if none."""
        etag, last_modified = self.client.hmget(self.keys.feed_state(url), list(VALIDATORS))
        return _opt(etag), _opt(last_modified)

    @guarded
    def save_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember a fetch's validators; one the server stopped sending is dropped.

        A 304 result carries the validators that were sent when the server repeats none,
        so saving it keeps them.
        """
        values = dict(zip(VALIDATORS, (etag, last_modified), strict=True))
        present = {name: value for name, value in values.items() if value}
        gone = [name for name, value in values.items() if not value]
        pipe = self.client.pipeline()
        if present:
            pipe.hset(self.keys.feed_state(url), mapping=present)  # type: ignore[arg-type]
            pipe.expire(self.keys.feed_state(url), self.settings.feed_state_ttl)
        if gone:
            pipe.hdel(self.keys.feed_state(url), *gone)
        pipe.execute()

    # -- schedule (the poller) ------------------------------------------------------------

    @guarded
    def claim_due(self, subs: Iterable[Subscription], now: float | None = None) -> list[str]:
        """Claim every subscription that is due at ``now``; returns the claimed URLs."""
        now = time.time() if now is None else now
        subs = list(subs)
        pipe = self.client.pipeline(transaction=False)
        for sub in subs:
            offset = first_poll_offset(sub.url, sub.interval, self.settings.feed_poll_spread)
            call = ClaimFeedCall(
                feed_state_key=self.keys.feed_state(sub.url),
                feeds_key=self.keys.feeds,
                now=now,
                lease=self.settings.visibility_timeout,
                interval=sub.interval,
                url=sub.url,
                first_poll=now + offset,
            )
            self.scripts.run(call, pipe)
        return [sub.url for sub, won in zip(subs, pipe.execute(), strict=True) if won]

    @guarded
    def succeeded(self, url: str, status: str, now: float | None = None) -> None:
        """A fetch that worked (``status``: ``ok`` or ``not_modified``): reset the backoff."""
        now = time.time() if now is None else now
        interval = self._interval(url)
        self._write(
            url,
            last_attempt=now,
            last_success=now,
            last_status=status,
            last_error="",
            failures=0,
            next_poll=now + interval,
        )

    @guarded
    def failed(
        self,
        url: str,
        reason: str,
        detail: str,
        *,
        retry_after: float | None = None,
        now: float | None = None,
    ) -> float:
        """A fetch that failed: one more failure, next poll backed off. Returns its delay."""
        now = time.time() if now is None else now
        failures = int(self.client.hincrby(self.keys.feed_state(url), "failures", 1))
        cap = self.settings.feed_max_backoff
        delay = backoff_delay(self._interval(url), failures, cap, retry_after)
        self._write(
            url,
            last_attempt=now,
            last_status=reason,
            last_error=detail[:500],
            next_poll=now + delay,
        )
        return delay

    @guarded
    def state(self, url: str) -> dict[str, Any]:
        """The feed's state: numbers as numbers, times as epoch seconds, absent as None."""
        raw = self.client.hmget(self.keys.feed_state(url), list(STATE_FIELDS))
        return {"url": url} | {
            name: parse_field(name, value) for name, value in zip(STATE_FIELDS, raw, strict=True)
        }

    @guarded
    def known(self) -> list[str]:
        """Every feed URL with state, sorted."""
        return sorted(as_str(u) for u in self.client.smembers(self.keys.feeds))

    def _interval(self, url: str) -> float:
        raw = self.client.hget(self.keys.feed_state(url), "interval")
        return float(raw) if raw else float(self.settings.feed_interval)

    def _write(self, url: str, **fields: str | float) -> None:
        """Write after a fetch; the state expires unless a later fetch writes again.

        A feed fetched once by hand leaves nothing for ever; a subscribed one is written
        at every poll, and its state outlives twice the wait until the next one.
        """
        wait = float(fields.get("next_poll", 0)) - float(fields.get("last_attempt", 0))
        ttl = max(self.settings.feed_state_ttl, int(2 * wait))
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.keys.feed_state(url), mapping=fields)  # type: ignore[arg-type]
        pipe.expire(self.keys.feed_state(url), ttl)
        pipe.sadd(self.keys.feeds, url)
        pipe.execute()

    @guarded
    def forget_expired(self) -> int:
        """Drop from the set of feeds the URLs whose state expired; how many."""
        gone = 0
        for chunk in _chunks(self.client.sscan_iter(self.keys.feeds, count=500), 500):
            pipe = self.client.pipeline(transaction=False)
            for url in chunk:
                pipe.exists(self.keys.feed_state(as_str(url)))
            expired = [u for u, there in zip(chunk, pipe.execute(), strict=True) if not there]
            if expired:
                gone += int(self.client.srem(self.keys.feeds, *expired))
        return gone


def _chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _opt(value: bytes | str | None) -> str | None:
    return as_str(value) if value else None


def parse_field(name: str, raw: bytes | str | None) -> Any:
    """One stored state field: numbers as numbers, absent as None."""
    if not raw:
        return None
    text = as_str(raw)
    if name == "failures":
        return int(text)
    if name in NUMBERS:
        return float(text)
    return text
