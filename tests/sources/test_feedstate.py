"""Conditional-GET validators in the feed's state hash, on the private test Redis."""

from __future__ import annotations

import redis

from worker.core.keys import Keys
from worker.core.settings import Settings
from worker.sources.fetch import FetchResult
from worker.storage.feedstate import FeedState
from worker.storage.store import Store

URL = "https://news.example/feed.xml"


def result(status: int, etag: str | None, last_modified: str | None) -> FetchResult:
    body = b"<rss/>" if status == 200 else None
    return FetchResult(URL, URL, status, body, etag, last_modified, None)


def save(feeds: FeedState, fetched: FetchResult) -> None:
    feeds.save_validators(URL, fetched.etag, fetched.last_modified)


def test_validators_round_trip(redis_url: str, settings: Settings) -> None:
    client, keys = redis.Redis.from_url(redis_url), Keys(settings.namespace)
    feeds = Store(client, settings).feeds
    assert feeds.validators(URL) == (None, None)
    save(feeds, result(200, 'W/"é1"', "Wed, 21 Oct 2015 07:28:00 GMT"))
    assert feeds.validators(URL) == ('W/"é1"', "Wed, 21 Oct 2015 07:28:00 GMT")
    assert client.hgetall(keys.feed_state(URL)) == {
        b"etag": 'W/"é1"'.encode(),
        b"last_modified": b"Wed, 21 Oct 2015 07:28:00 GMT",
    }


def test_other_fields_of_the_hash_are_left_alone(redis_url: str, settings: Settings) -> None:
    client, keys = redis.Redis.from_url(redis_url, decode_responses=True), Keys(settings.namespace)
    feeds = Store(client, settings).feeds
    client.hset(keys.feed_state(URL), mapping={"failures": "2", "next_poll": "1700000000"})
    save(feeds, result(200, '"a"', None))
    save(feeds, result(304, '"a"', None))
    assert client.hgetall(keys.feed_state(URL)) == {
        "failures": "2",
        "next_poll": "1700000000",
        "etag": '"a"',
    }
    assert feeds.validators(URL) == ('"a"', None)


def test_a_validator_the_server_stopped_sending_is_dropped(
    redis_url: str, settings: Settings
) -> None:
    client, keys = redis.Redis.from_url(redis_url), Keys(settings.namespace)
    feeds = Store(client, settings).feeds
    save(feeds, result(200, '"a"', "Wed, 21 Oct 2015 07:28:00 GMT"))
    save(feeds, result(200, None, "Thu, 22 Oct 2015 07:28:00 GMT"))
    assert feeds.validators(URL) == (None, "Thu, 22 Oct 2015 07:28:00 GMT")
    save(feeds, result(200, None, None))
    assert feeds.validators(URL) == (None, None)
    assert not client.exists(keys.feed_state(URL))
