"""Polling: subscriptions file, due/not due, backoff growth and cap, recovery (real Redis)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.support.helpers import ingest
from worker.core.errors import ConfigError
from worker.core.protocol import TASK_POLL_FEEDS
from worker.core.settings import Settings
from worker.pipeline.feedplan import load_feeds
from worker.queue.app import celery_config, make_app
from worker.queue.beat import poll_due
from worker.storage.feedstate import FeedState, backoff_delay
from worker.storage.store import Store
from worker.text.feedsfile import Subscription

A, B = "https://a.example/feed", "https://b.example/rss"
T0 = 1_700_000_000.0


@pytest.fixture
def schedule(store: Store, settings: Settings) -> FeedState:
    update = {"feed_max_backoff": 3600, "feed_poll_spread": 0}
    return Store(store.client, settings.model_copy(update=update)).feeds


def write_feeds(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_subscriptions_file(tmp_path: Path) -> None:
    path = write_feeds(
        tmp_path / "feeds.toml",
        f'[[feed]]\nurl = "{A}"\ninterval = 60\n\n[[feed]]\nurl = "{B}"\n\n[[feed]]\nurl = "{A}"\n',
    )
    assert load_feeds(path, 900).feeds == [Subscription(A, 60), Subscription(B, 900)]
    assert load_feeds(tmp_path / "missing.toml", 900).feeds == []


@pytest.mark.parametrize(
    "text",
    [
        "[[feed]\n",
        '[[feed]]\nurl = "file:///etc/passwd"\n',
        "[[feed]]\ninterval = 60\n",
        f'[[feed]]\nurl = "{A}"\ninterval = 1\n',
        f'[[feed]]\nurl = "{A}"\ninterval = "often"\n',
    ],
)
def test_bad_subscriptions_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="feeds"):
        load_feeds(write_feeds(tmp_path / "feeds.toml", text), 900)


def test_due_feeds_are_claimed_once(schedule: FeedState) -> None:
    subs = [Subscription(A, 60), Subscription(B, 600)]
    assert schedule.claim_due(subs, now=T0) == [A, B]
    assert schedule.claim_due(subs, now=T0 + 1) == []  # fetches under way: leased
    schedule.succeeded(A, "ok", now=T0 + 2)
    schedule.succeeded(B, "not_modified", now=T0 + 2)
    assert schedule.claim_due(subs, now=T0 + 61) == []
    assert schedule.claim_due(subs, now=T0 + 62) == [A]
    assert schedule.claim_due(subs, now=T0 + 602) == [B]
    assert schedule.known() == [A, B]


def test_new_feeds_are_spread_over_the_poll_spread(store: Store, settings: Settings) -> None:
    """A thousand new subscriptions: none is due at once, at most a few in any one second."""
    spread = Store(store.client, settings.model_copy(update={"feed_poll_spread": 60})).feeds
    subs = [Subscription(f"https://h{n % 10}.example/feed/{n}", 900) for n in range(1000)]
    assert spread.claim_due(subs, now=T0) == []
    per_second = [len(spread.claim_due(subs, now=T0 + s)) for s in range(1, 61)]
    assert sum(per_second) == 1000
    assert max(per_second) <= 35  # about 1000 / 60 each second, never all at once
    assert spread.claim_due(subs, now=T0 + 61) == []  # each claimed once


def test_lost_fetch_is_polled_again_after_the_lease(
    schedule: FeedState, settings: Settings
) -> None:
    subs = [Subscription(A, 60)]
    assert schedule.claim_due(subs, now=T0) == [A]
    assert schedule.claim_due(subs, now=T0 + settings.visibility_timeout - 1) == []
    assert schedule.claim_due(subs, now=T0 + settings.visibility_timeout) == [A]


def test_backoff_grows_caps_and_recovers(schedule: FeedState) -> None:
    assert schedule.claim_due([Subscription(A, 100)], now=T0) == [A]
    delays = [schedule.failed(A, "feed.timeout", "slow", now=T0) for _ in range(8)]
    assert delays == [100, 200, 400, 800, 1600, 3200, 3600, 3600]
    state = schedule.state(A)
    assert (state["failures"], state["last_status"], state["last_error"]) == (
        8,
        "feed.timeout",
        "slow",
    )
    assert state["next_poll"] == T0 + 3600
    assert state["last_success"] is None
    schedule.succeeded(A, "ok", now=T0 + 5000)
    state = schedule.state(A)
    assert (state["failures"], state["last_status"], state["last_error"]) == (0, "ok", None)
    assert (state["next_poll"], state["last_success"]) == (T0 + 5100, T0 + 5000)


def test_retry_after_is_honoured(schedule: FeedState) -> None:
    schedule.claim_due([Subscription(A, 100)], now=T0)
    assert schedule.failed(A, "feed.http_503", "busy", retry_after=7200, now=T0) == 7200
    assert schedule.failed(A, "feed.http_429", "slow down", retry_after=5, now=T0) == 200
    assert schedule.state(A)["next_poll"] == T0 + 200


def test_backoff_delay_formula() -> None:
    assert backoff_delay(60, 1, 3600) == 60
    assert backoff_delay(60, 3, 3600) == 240
    assert backoff_delay(60, 30, 3600) == 3600
    assert backoff_delay(60, 1, 3600, retry_after=10**9) == 7 * 24 * 3600


def test_poll_due_enqueues_feed_urls(
    store: Store, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    path = write_feeds(tmp_path / "feeds.toml", f'[[feed]]\nurl = "{A}"\n[[feed]]\nurl = "{B}"\n')
    settings = settings.model_copy(update={"feeds_file": path, "feed_poll_spread": 0})
    store = Store(store.client, settings)
    app = make_app(settings, redis_url)
    assert poll_due(app, store, settings) == [A, B]
    assert poll_due(app, store, settings) == []
    assert store.stats()["enqueued"] == 2
    messages = [json.loads(m) for m in store.client.lrange(settings.queue, 0, -1)]
    assert len(messages) == 2  # one task per feed URL
    bodies = [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]
    assert sorted((b[0]["kind"], b[0]["url"]) for b in bodies) == [("feed_url", A), ("feed_url", B)]


def test_beat_schedule_polls_feeds(settings: Settings, redis_url: str) -> None:
    app = make_app(settings, redis_url)
    config = celery_config(settings.model_copy(update={"feed_poll_every": 12.5}), redis_url)
    [entry] = config["beat_schedule"].values()
    assert (entry["task"], entry["schedule"]) == (TASK_POLL_FEEDS, 12.5)
    assert TASK_POLL_FEEDS in app.tasks


def test_ingest_feeds_shows_state(redis_url: str, tmp_path: Path, store: Store) -> None:
    path = write_feeds(tmp_path / "feeds.toml", f'[[feed]]\nurl = "{A}"\ninterval = 60\n')
    settings = Settings(redis_url=redis_url, namespace="test", feeds_file=path)
    schedule = Store(store.client, settings).feeds
    schedule.claim_due([Subscription(A, 60)], now=T0)
    schedule.failed(A, "feed.http_404", "not found", now=T0)
    schedule.succeeded(B, "ok", now=T0)  # fetched once by `ingest run --feed`, not subscribed
    result = ingest("feeds", "--json", url=redis_url, INGEST_FEEDS_FILE=str(path))
    assert result.returncode == 0, result.stderr
    rows = {r["url"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows[A]["subscribed"] is True
    assert (rows[A]["failures"], rows[A]["last_status"]) == (1, "feed.http_404")
    assert rows[A]["next_poll"] == "2023-11-14T22:14:20Z"
    assert rows[B]["subscribed"] is False
    assert (rows[B]["failures"], rows[B]["last_success"]) == (0, "2023-11-14T22:13:20Z")
    table = ingest("feeds", url=redis_url, INGEST_FEEDS_FILE=str(path), COLUMNS="200")
    assert "feed.http_404" in table.stdout


def test_a_disabled_feed_is_not_polled(
    store: Store, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    text = f'[[feed]]\nurl = "{A}"\nenabled = false\n[[feed]]\nurl = "{B}"\n'
    path = write_feeds(tmp_path / "feeds.toml", text)
    settings = settings.model_copy(update={"feeds_file": path, "feed_poll_spread": 0})
    assert poll_due(make_app(settings, redis_url), Store(store.client, settings), settings) == [B]
