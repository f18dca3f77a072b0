"""Polling subscribed feeds: the subscriptions file, per-feed state, capped backoff.

Subscriptions live in ``INGEST_FEEDS_FILE`` (default ``config/feeds.toml``), read afresh
at every poll so edits need no restart::

    [[feed]]
    url = "https://example.com/feed.xml"
    interval = 900            # seconds; default INGEST_FEED_INTERVAL

Celery beat runs ``ingest.poll_feeds`` every ``INGEST_FEED_POLL_EVERY`` seconds; it
claims each due feed atomically (``lua/claim_feed.lua``) and enqueues a feed-URL input
for it. The worker that fetches the feed records the result in the feed's state hash
(``Keys.feed_state(url)``, shared with the fetcher's ``etag`` / ``last_modified``):

- success (200 or 304): ``failures`` back to 0, next poll one interval later;
- failure: ``failures`` + 1 and the next poll after ``interval * 2 ** (failures - 1)``,
  capped at ``INGEST_FEED_MAX_BACKOFF``, and never before the server's Retry-After.

Timestamps in the hash are epoch seconds; ``ingest feeds`` shows them as ISO dates.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from worker.errors import ConfigError
from worker.keys import Keys
from worker.models import InputKind
from worker.settings import Settings
from worker.store import Store

MAX_RETRY_AFTER = 7 * 24 * 3600  # a server asking for more is not taken at its word
STATE_FIELDS = (
    "interval",
    "next_poll",
    "last_claim",
    "last_attempt",
    "last_success",
    "last_status",
    "last_error",
    "failures",
    "etag",
    "last_modified",
)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One feed to poll, with its interval in seconds."""

    url: str
    interval: int


def load_subscriptions(path: Path, default_interval: int) -> list[Subscription]:
    """The subscriptions of a TOML file (none when it does not exist); ConfigError if bad."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"feeds file {path}: {e}") from e
    found: dict[str, Subscription] = {}
    for n, item in enumerate(data.get("feed", [])):
        sub = _subscription(item, default_interval, f"feeds file {path}, feed {n + 1}")
        found.setdefault(sub.url, sub)
    return list(found.values())


def _subscription(item: Any, default_interval: int, where: str) -> Subscription:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        raise ConfigError(f"{where}: needs a url")
    url, interval = item["url"].strip(), item.get("interval", default_interval)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: url must start with http:// or https://: {url!r}")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 10:
        raise ConfigError(f"{where}: interval must be a whole number of seconds >= 10")
    return Subscription(url, interval)


def backoff_delay(
    interval: float, failures: int, cap: float, retry_after: float | None = None
) -> float:
    """Seconds until the next poll after ``failures`` consecutive failures (>= 1)."""
    delay = float(min(interval * 2 ** max(failures - 1, 0), cap))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def poll_due(store: Store, app: Celery, now: float | None = None) -> list[str]:
    """Enqueue a feed-URL input for every subscription due now; returns their URLs."""
    from worker.producer import InputRef, publish

    settings = store.settings
    subs = load_subscriptions(settings.feeds_file, settings.feed_interval)
    claimed = FeedSchedule(store.client, settings).claim_due(subs, now)
    refs = [InputRef(source=url, kind=InputKind.FEED_URL, url=url) for url in claimed]
    if refs:
        publish(app, store, refs, settings)
    return claimed


class FeedSchedule:
    """Per-feed polling state in Redis: claims, successes, failures, and reading it back."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.keys = Keys(settings.namespace)
        source = resources.files("worker").joinpath("lua", "claim_feed.lua").read_text()
        self._claim = client.register_script(source)

    def claim_due(self, subs: Iterable[Subscription], now: float | None = None) -> list[str]:
        """Claim every subscription that is due at ``now``; returns the claimed URLs."""
        now = time.time() if now is None else now
        subs = list(subs)
        pipe = self.client.pipeline(transaction=False)
        for sub in subs:
            self._claim(
                keys=[self.keys.feed_state(sub.url), self.keys.feeds],
                args=[now, self.settings.visibility_timeout, sub.interval, sub.url],
                client=pipe,
            )
        return [sub.url for sub, won in zip(subs, pipe.execute(), strict=True) if won]

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

    def state(self, url: str) -> dict[str, Any]:
        """The feed's state: numbers as numbers, times as epoch seconds, absent as None."""
        raw = self.client.hmget(self.keys.feed_state(url), list(STATE_FIELDS))
        return {"url": url} | {
            name: _value(name, value) for name, value in zip(STATE_FIELDS, raw, strict=True)
        }

    def known(self) -> list[str]:
        """Every feed URL with state, sorted."""
        return sorted(_text(u) for u in self.client.smembers(self.keys.feeds))

    def _interval(self, url: str) -> float:
        raw = self.client.hget(self.keys.feed_state(url), "interval")
        return float(raw) if raw else float(self.settings.feed_interval)

    def _write(self, url: str, **fields: str | float) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.keys.feed_state(url), mapping=fields)  # type: ignore[arg-type]
        pipe.sadd(self.keys.feeds, url)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _value(name: str, raw: bytes | str | None) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if name == "failures":
        return int(text)
    if name in ("interval", "next_poll", "last_claim", "last_attempt", "last_success"):
        return float(text)
    return text


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string, or None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
