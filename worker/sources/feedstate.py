"""Conditional-GET validators remembered per feed, in the feed's state hash.

They live in ``Keys.feed_state(url)`` as the fields ``etag`` and ``last_modified``; the
poller keeps its own fields (last success, failures, next poll) in the same hash, so these
functions touch only their two fields.
"""

from __future__ import annotations

import redis

from worker.keys import Keys
from worker.sources.fetch import FetchResult

FIELDS = ("etag", "last_modified")


def _text(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or None


def load_validators(client: redis.Redis, keys: Keys, url: str) -> tuple[str | None, str | None]:
    """The ``(etag, last_modified)`` remembered for ``url``; ``(None, None)`` if none."""
    etag, last_modified = client.hmget(keys.feed_state(url), list(FIELDS))
    return _text(etag), _text(last_modified)


def save_validators(client: redis.Redis, keys: Keys, url: str, result: FetchResult) -> None:
    """Remember the validators of ``result``; a validator the server stopped sending is dropped.

    A 304 result carries the validators that were sent when the server repeats none, so
    saving it keeps them.
    """
    values = dict(zip(FIELDS, (result.etag, result.last_modified), strict=True))
    present = {name: value for name, value in values.items() if value}
    gone = [name for name, value in values.items() if not value]
    pipe = client.pipeline()
    if present:
        pipe.hset(keys.feed_state(url), mapping=present)  # type: ignore[arg-type]
    if gone:
        pipe.hdel(keys.feed_state(url), *gone)
    pipe.execute()
