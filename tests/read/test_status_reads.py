"""The status page's reads on a real Redis: activity counted once per input, bounded keys."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tests.support.helpers import reads
from worker.core.models import Accepted, NotModified, Record, Refused, Rejection
from worker.core.settings import Settings
from worker.pipeline.enrich import enrich
from worker.storage.heartbeat import beat
from worker.storage.store import Store
from worker.text.normalise import content_hash


def record(record_id: str, source: str, title: str) -> Record:
    text = f"{title}: a paragraph of body text long enough to be a story of its own."
    return Record.model_validate(
        {
            "id": record_id,
            "kind": "seed",
            "source": source,
            "title": title,
            "published": datetime(2024, 3, 5, tzinfo=UTC),
            "paragraphs": [text],
            "text": text,
            "word_count": len(text.split()),
            "content_hash": content_hash(title, text),
            "ingested_at": datetime(2024, 3, 6, tzinfo=UTC),
            "version": 1,
        }
    )


def refused(input_id: str, reason: str) -> Refused:
    rejection = Rejection(
        source="bad.txt",
        reason=reason,
        detail="no date line",
        rejected_at=datetime.now(UTC),
        input_id=input_id,
        kind="seed",
    )
    return Refused(input_id, rejection)


def test_each_outcome_is_counted_once_in_its_minute(store: Store, settings: Settings) -> None:
    created = enrich(Accepted("in-1", record("seed-1", "a.txt", "One")), settings)
    items = [created, refused("in-2", "seed.bad_date"), NotModified("in-3", "http://f/")]
    store.commit(items)
    store.commit(items)  # a redelivery: its outcomes are found, nothing counted again
    activity = reads(store).activity()
    counted: dict[str, int] = {}
    for counts in activity.minutes.values():  # one minute, or two if a minute turned
        for outcome, n in counts.items():
            counted[outcome] = counted.get(outcome, 0) + n
    assert counted == {"created": 1, "rejected": 1, "duplicate": 1}
    assert all(m <= activity.now // 60 for m in activity.minutes)
    assert dict(activity.reasons) == {"seed.bad_date": 1}
    assert dict(activity.sources) == {"a.txt": 1}


def test_activity_hashes_expire_after_a_day_and_more(store: Store, settings: Settings) -> None:
    store.commit([refused("in-1", "seed.bad_date")])
    hour = int(store.client.time()[0]) // 3600
    ttl = store.client.ttl(store.keys.activity(hour))
    assert 24 * 3600 < ttl <= 26 * 3600


def test_feed_and_host_states_are_read_for_the_urls_asked(store: Store, settings: Settings) -> None:
    store.feeds.failed("http://a.example/feed", "feed.http_error", "HTTP 500", now=time.time())
    store.feeds.succeeded("http://b.example/feed", "ok")
    store.hosts.block("a.example", 60)
    client = reads(store)
    states = client.feed_states(["http://a.example/feed", "http://b.example/feed", "http://c/"])
    assert [s["failures"] for s in states] == [1, 0, None]
    assert states[0]["last_status"] == "feed.http_error"
    hosts = client.host_states(["a.example", "b.example"])
    assert hosts["a.example"].blocked_until_ms is not None
    assert hosts["b.example"].blocked_until_ms is None


def test_store_size_recent_records_and_workers(store: Store, settings: Settings) -> None:
    for n in range(3):
        store.commit([enrich(Accepted(f"in-{n}", record(f"seed-{n}", "a.txt", f"T{n}")), settings)])
    beat(store.client, store.keys, "celery@host-1")
    client = reads(store)
    size = client.store_size()
    assert size.records == 3
    assert size.used_memory > 0
    assert size.oldest_published == datetime(2024, 3, 5, tzinfo=UTC).timestamp()
    recent = client.recent_records(limit=2)
    # The three differ by one word: one near-duplicate cluster of three.
    assert [(r.id, n) for r, n in recent] == [("seed-2", 3), ("seed-1", 3)]
    assert [name for name, _ in client.workers_seen(60)] == ["celery@host-1"]


def test_latest_rejections_of_one_reason(store: Store) -> None:
    store.commit([refused(f"in-{n}", ("seed.bad_date", "seed.empty")[n % 2]) for n in range(6)])
    found = reads(store).latest_rejections("seed.empty", limit=2)
    assert [r.reason for r in found] == ["seed.empty", "seed.empty"]
