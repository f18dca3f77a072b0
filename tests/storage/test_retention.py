"""Retention against a real Redis: bounded streams, trimming by age, record retention."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from tests.read.test_consumer import make_records
from tests.storage.test_store import message
from tests.support.helpers import ingest, reads, seed_bytes
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage.retention import prune
from worker.storage.store import Store

# Approximate trimming drops whole stream nodes (stream-node-max-entries, 100 by default).
NODE = 100


def test_streams_stay_bounded_while_writing(settings: Settings, redis_url: str) -> None:
    small = settings.model_copy(update={"stream_maxlen": 50})
    store = Store.from_url(redis_url, small)
    for start in range(0, 2000, 200):
        ids = make_records(store, small, 200, start=start)
        bad = [message(b"", source=f"{start + i}.txt") for i in range(200)]
        pipeline.process_batch(bad, store, small)
        assert store.client.xlen(store.keys.record_events) <= 50 + NODE
        assert store.client.xlen(store.keys.rejection_events) <= 50 + NODE
    assert store.stats()["records"] == 2000  # records themselves are kept
    [(_, newest)] = store.client.xrevrange(store.keys.record_events, count=1)
    assert newest[b"id"].decode() == ids[-1]  # trimming drops the oldest events


def test_prune_trims_old_events_and_lowered_caps(settings: Settings, store: Store) -> None:
    key = store.keys.record_events
    hour_ago_ms = int((time.time() - 3600) * 1000)
    for n in range(1000):  # old entries, in many nodes
        store.client.xadd(key, {"event": "created", "id": f"old-{n}"}, id=f"{hour_ago_ms + n}-0")
    recent = make_records(store, settings, 20)
    aged = settings.model_copy(update={"stream_max_age": 60})
    report = prune(Store.from_url(store.settings.redis_url or "", aged))
    left = [f[b"id"].decode() for _, f in store.client.xrange(key)]
    assert left[-20:] == recent  # nothing recent lost
    assert len(left) <= 20 + NODE
    assert report.events[key] == 1020 - len(left)
    capped = settings.model_copy(update={"stream_maxlen": 5})
    prune(Store.from_url(store.settings.redis_url or "", capped))
    assert store.client.xlen(key) <= 5 + NODE


def test_record_retention_deletes_old_records_and_their_index_entries(
    settings: Settings, redis_url: str
) -> None:
    kept = settings.model_copy(update={"record_retention_days": 30})
    store = Store.from_url(redis_url, kept)
    old = seed_bytes("Old news", "Long ago.", day="2024-01-01")
    batch = [
        message(old, source="old.txt"),
        message(seed_bytes("Also old", "Shared source.", day="2024-01-02"), source="mixed.txt"),
        message(seed_bytes("Recent", "Shared source.", day="2024-03-01"), source="mixed.txt"),
    ]
    [gone, also_gone, recent] = [o.id for o in pipeline.process_batch(batch, store, kept)]
    report = prune(store, now=datetime(2024, 3, 10, tzinfo=UTC))
    assert report.records == 2
    assert reads(store).get(gone or "") is None
    assert reads(store).get(also_gone or "") is None
    assert [r.id for r in reads(store).records()] == [recent]
    assert [r.id for r in reads(store).records(source="mixed.txt")] == [recent]
    assert store.client.smembers(store.keys.sources) == {b"mixed.txt"}
    assert store.client.hlen(store.keys.by_content_hash) == 1
    assert store.stats()["pruned"] == 2
    [again] = pipeline.process_batch([message(old, source="old.txt")], store, kept)
    assert again.outcome.value == "created"  # pruned content comes back as a new record
    assert reads(store).get(again.id or "").version == 1  # type: ignore[union-attr]


def test_prune_command_reports_json(settings: Settings, store: Store, redis_url: str) -> None:
    make_records(store, settings, 3)
    result = ingest(
        "prune",
        "--json",
        url=redis_url,
        INGEST_RECORD_RETENTION_DAYS="1",
        INGEST_STREAM_MAX_AGE="1",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["records"] == 3  # published 2024-03-05: older than a day
    assert set(report["events"]) == {"test:stream:records", "test:stream:rejections"}
    assert store.stats()["pruned"] == 3


def test_rejected_payloads_expire_stay_under_their_cap_and_are_counted(
    settings: Settings, redis_url: str
) -> None:
    capped = settings.model_copy(update={"payload_ttl": 3600, "payload_max_bytes": 20_000})
    store = Store.from_url(redis_url, capped)
    ids = []
    for n in range(10):  # one batch each: each kept later than the one before
        bad = message(b"no header\n\n" + b"x" * 3000 + str(n).encode(), source=f"{n}.txt")
        [outcome] = pipeline.process_batch([bad], store, capped)
        assert outcome.reason == "seed.no_header"
        ids.append(outcome.input_id)
    sizes = [store.client.strlen(store.keys.payload(i)) for i in ids]
    kept = [i for i, size in zip(ids, sizes, strict=True) if size]
    assert 3 <= len(kept) < 10
    assert kept == ids[-len(kept) :]  # the oldest went first
    total = sum(sizes)
    assert total <= 20_000
    assert all(3000 < store.client.ttl(store.keys.payload(i)) <= 3600 for i in kept)
    assert len(list(reads(store).rejections())) == 10  # the rejections themselves stay
    shown = ingest("stats", "--json", url=redis_url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["payload_bytes"] == total

    time.sleep(1.5)  # older than the lowered TTL below
    pruned = ingest("prune", "--json", url=redis_url, INGEST_PAYLOAD_TTL="1")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["payloads"] == len(kept)
    assert not store.client.exists(*(store.keys.payload(i) for i in kept))
    assert store.stats()["payload_bytes"] == 0
    assert store.client.zcard(store.keys.payloads) == 0
