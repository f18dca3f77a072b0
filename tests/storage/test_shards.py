"""The sharded store (issue 21): every script call in one slot, readers seeing one store.

Run on one server with 16 shards (the cluster's layout, where a cross-slot script would
not fail) and on the suite's 3-primary cluster, where it would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from tests.support.helpers import seed_bytes
from tests.text import banding
from worker.core.errors import ConfigError
from worker.core.keys import Keys
from worker.core.models import Envelope, InputKind, OutcomeKind
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.read.client import IngestClient
from worker.storage.retention import prune
from worker.storage.scriptcalls import ScriptCall
from worker.storage.scripts import Scripts
from worker.storage.store import Store
from worker.text import bandspec
from worker.text.normalise import origin_key

SHARDS = 16


class SlotCheckingScripts(Scripts):
    """Runs each script as usual, and keeps the KEYS of every call."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.calls: list[tuple[str, list[str]]] = []

    def run(self, call: ScriptCall, pipe: Any = None) -> Any:
        self.calls.append((call.script, [k for k in call.keys_and_args()[0] if k]))
        return super().run(call, pipe)


@pytest.fixture(params=["one-server", "cluster"])
def sharded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("redis_url" if request.param == "one-server" else "cluster_url")
    settings = Settings(
        redis_url=url, namespace="test", data_dir=tmp_path / "d", store_shards=SHARDS
    )
    store = Store.from_url(url, settings)
    yield store
    store.close()


def message(data: bytes, source: str = "a.txt", kind: InputKind = InputKind.SEED) -> dict[str, Any]:
    env = Envelope(input_id=uuid.uuid4().hex, kind=kind, source=source, data=data)
    return env.model_dump(mode="json", exclude_none=True)


def docs(n: int) -> list[bytes]:
    return [
        seed_bytes(
            f"Story {i}",
            f"Paragraph about topic {i} with words w{i}x and y{i}z.",
            day=f"2024-03-{1 + i % 28:02d}",
        )
        for i in range(n)
    ]


def test_every_script_call_touches_one_slot(sharded: Store) -> None:
    store, settings = sharded, sharded.settings
    spy = store.scripts = SlotCheckingScripts(store.client)
    store.hosts.scripts = spy
    batch = [message(d) for d in docs(40)]
    pipeline.process_batch(batch, store, settings)
    pipeline.process_batch(batch, store, settings)  # delivered twice
    updated = seed_bytes("Story 3", "A changed paragraph about topic 3.", day="2024-03-04")
    pipeline.process_batch([message(updated), message(b"")], store, settings)
    store.expand({"feed-1": 3})
    store.hosts.acquire("example.org", "t1", concurrency=1, delay=0, lease=5, max_wait=1)
    store.hosts.block("example.org", 1)
    scripts_run = {name for name, _ in store.scripts.calls}
    assert {"decide.lua", "upsert.lua", "reject.lua", "expand.lua", "host_slot.lua"} <= scripts_run
    for name, keys in spy.calls:
        assert len({key_slot(k.encode()) for k in keys}) == 1, (name, keys)


def test_records_spread_and_read_as_one_store(sharded: Store) -> None:
    store, settings = sharded, sharded.settings
    outcomes = pipeline.process_batch([message(d) for d in docs(60)], store, settings)
    assert {o.outcome for o in outcomes} == {OutcomeKind.CREATED}
    again = pipeline.process_batch(
        [message(d, source="b.txt") for d in docs(60)[:5]], store, settings
    )
    assert {o.outcome for o in again} == {OutcomeKind.DUPLICATE}
    keys = store.keys
    per_shard = [int(store.client.zcard(k.by_published)) for k in keys.every_shard()]
    assert sum(per_shard) == 60
    assert sum(1 for n in per_shard if n) > SHARDS // 2
    client = IngestClient(store.client, "test")
    listed = list(client.records())
    assert len(listed) == 60
    scores = [(r.published, r.id) for r in listed]
    assert scores == sorted(scores, reverse=True)
    paged, after = [], None
    while True:
        page, after = client.record_page(limit=7, after=after)
        paged += [r.id for r in page]
        if after is None:
            break
    assert paged == [r.id for r in listed]
    assert client.get(listed[10].id) == listed[10]
    stats = store.stats()
    assert (stats["records"], stats["duplicates"], stats["record_events"]) == (60, 5, 60)
    one = outcomes[7]
    found = client.outcomes(one.input_id)
    assert found is not None
    assert found[0].id == one.id


def test_same_content_across_shards_is_a_duplicate(sharded: Store) -> None:
    store, settings = sharded, sharded.settings
    doc = seed_bytes("Budget passes", "The vote was close and the budget passed in the end.")
    ids = set()
    for n in range(12):  # seeds of other sources: other ids, the same content
        [o] = pipeline.process_batch([message(doc, source=f"s{n}.txt")], store, settings)
        ids.add(o.id)
    assert len(ids) == 1
    assert store.stats()["records"] == 1


def test_a_seed_copied_under_other_paths_is_a_duplicate_across_shards(sharded: Store) -> None:
    store, settings = sharded, sharded.settings
    doc = seed_bytes("Budget passes", "The vote was close and the budget passed in the end.")
    outcomes = []
    for n in range(12):  # twelve files: twelve ids, spread over the shards, one content
        env = Envelope(
            input_id=uuid.uuid4().hex,
            kind=InputKind.SEED,
            source=f"s{n}.txt",
            origin=origin_key("file", f"/data/copies/{n}/s{n}.txt".encode()),
            data=doc,
        )
        [o] = pipeline.process_batch(
            [env.model_dump(mode="json", exclude_none=True)], store, settings
        )
        outcomes.append(o)
    first, rest = outcomes[0], outcomes[1:]
    assert first.outcome is OutcomeKind.CREATED
    assert {(o.outcome, o.id, o.reason) for o in rest} == {
        (OutcomeKind.DUPLICATE, first.id, "record.same_content")
    }
    assert store.stats()["records"] == 1


def test_near_duplicates_cluster_across_shards(sharded: Store) -> None:
    store, settings = sharded, sharded.settings
    base = " ".join(f"word{i}" for i in range(120))
    variants = [seed_bytes(f"Wire story {n}", base + f" tail{n}") for n in range(8)]
    outcomes = pipeline.process_batch(
        [message(v, source=f"v{n}.txt") for n, v in enumerate(variants)], store, settings
    )
    client = IngestClient(store.client, "test")
    records = [client.get(o.id or "") for o in outcomes]
    clusters = {r.cluster for r in records if r is not None}
    assert len({store.keys.shard_of(o.id or "") for o in outcomes}) > 1
    assert len(clusters) == 1
    [cluster] = clusters
    assert {r.id for r in client.records(cluster=cluster)} == {o.id for o in outcomes}


def test_band_shards_split_and_prune_on_a_sharded_store(
    sharded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decide.lua splits a shard of every band at every record here, forget.lua finds the
    pruned records' values wherever they moved: all in the store-wide slot."""
    monkeypatch.setattr(bandspec, "SHARD_FIELDS", 1)
    store = Store(sharded.client, sharded.settings.model_copy(update={"record_retention_days": 30}))
    spy = store.scripts = SlotCheckingScripts(store.client)
    old = [
        seed_bytes(f"Old {n}", " ".join(f"old{n}word{i}" for i in range(60)), day="2024-01-02")
        for n in range(10)
    ]
    base = " ".join(f"word{i}" for i in range(120))
    wire = [seed_bytes(f"Wire {n}", base + f" tail{n}", day="2024-03-01") for n in range(6)]
    inputs = [message(d, source=f"s{n}.txt") for n, d in enumerate(old + wire)]
    outcomes = pipeline.process_batch(inputs, store, store.settings)
    client = IngestClient(store.client, "test")
    assert len({r.cluster for o in outcomes[10:] if (r := client.get(o.id or ""))}) == 1
    assert prune(store, now=datetime(2024, 3, 10, tzinfo=UTC)).records == 10

    prefix, shards = store.keys.neardup_shard_prefix, banding.shard_count(len(inputs))
    filed: set[bytes] = set()
    for key in store.client.scan_iter(match=prefix + "*"):
        band, shard = map(int, key.decode().removeprefix(prefix).split(":"))
        assert 0 <= band < bandspec.BANDS
        for value, seqs in store.client.hgetall(key).items():
            assert banding.shard_address(value, shards) == shard
            filed.update(seqs.split())
    assert filed == set(store.client.hvals(store.keys.neardup_ids))  # the kept records' seqs
    assert len(filed) == len(wire)
    for name, keys in spy.calls:
        assert len({key_slot(k.encode()) for k in keys}) == 1, (name, keys)


def test_a_store_refuses_another_shard_count(sharded: Store, tmp_path: Path) -> None:
    store = sharded
    pipeline.process_batch([message(docs(1)[0])], store, store.settings)
    other = Store(store.client, store.settings.model_copy(update={"store_shards": 4}))
    with pytest.raises(ConfigError, match="INGEST_STORE_SHARDS=16"):
        pipeline.process_batch([message(docs(2)[1])], other, other.settings)


def test_shard_tags_fall_in_their_own_run_of_slots() -> None:
    for shards in (2, 16, 64):
        keys = Keys("ns", shards=shards)
        for k in keys.every_shard():
            slot = key_slot(k.record("x").encode())
            assert k.index * 16384 // shards <= slot < (k.index + 1) * 16384 // shards


def test_one_shard_keeps_the_single_server_layout() -> None:
    assert Keys("ns").record("x") == "ns:record:x"
    assert Keys("ns", shards=16).of("x").record("x").startswith("ns:{s")
    assert Keys("ns", shards=16).by_content_hash == "ns:{g}:idx:content_hash"


def test_streams_read_as_one_with_a_resumable_cursor(sharded: Store) -> None:
    store, settings = sharded, sharded.settings
    outcomes = pipeline.process_batch([message(d) for d in docs(40)], store, settings)
    client = IngestClient(store.client, "test")
    first = client.events_after("records", "0", count=15)
    assert len(first) == 15
    rest = client.events_after("records", first[-1].stream_id, count=500)
    seen = [e.record_id for e in first + rest]
    assert sorted(seen) == sorted(o.id for o in outcomes)  # each event once
    assert client.events_after("records", rest[-1].stream_id) == []
    assert client.events_after("records", client.last_event_id("records")) == []


def test_one_consumer_group_over_every_shard(sharded: Store) -> None:
    store, settings = sharded, sharded.settings
    outcomes = pipeline.process_batch([message(d) for d in docs(30)], store, settings)
    client = IngestClient(store.client, "test")
    handled: list[str] = []
    failing = {outcomes[3].id}

    def handle(event: Any) -> None:
        if event.record_id in failing:
            raise RuntimeError("poison")
        handled.append(event.record_id)

    consumer = client.consumer(
        "g", "c1", handle, min_idle=0.01, claim_interval=0.01, max_deliveries=2, block=0.05
    )
    stats = consumer.run(limit=30)
    assert stats.handled == 29
    assert stats.dead_lettered == 1
    assert sorted(handled) == sorted(o.id for o in outcomes if o.id not in failing)
    [group] = client.groups("records")
    assert (group.pending, group.lag, group.dead_letters) == (0, 0, 1)
    again = client.consumer("g", "c2", handle, block=0.05)
    more = pipeline.process_batch([message(d) for d in docs(33)[30:]], store, settings)
    assert again.run(limit=3).handled == 3
    assert sorted(handled[-3:]) == sorted(o.id for o in more)


def test_retention_prunes_every_shard(sharded: Store) -> None:
    kept = sharded.settings.model_copy(update={"record_retention_days": 30})
    store = Store(sharded.client, kept)
    spy = store.scripts = SlotCheckingScripts(store.client)
    old = [seed_bytes(f"Old {n}", f"Long ago {n}.", day="2024-01-02") for n in range(20)]
    recent = [seed_bytes(f"New {n}", f"Lately {n}.", day="2024-03-01") for n in range(5)]
    outcomes = pipeline.process_batch([message(d) for d in old + recent], store, kept)
    report = prune(store, now=datetime(2024, 3, 10, tzinfo=UTC))
    assert report.records == 20
    client = IngestClient(store.client, "test")
    assert {r.id for r in client.records()} == {o.id for o in outcomes[20:]}
    assert store.client.hlen(store.keys.by_content_hash) == 5
    assert store.stats()["pruned"] == 20
    assert prune(store, now=datetime(2024, 3, 10, tzinfo=UTC)).records == 0
    for name, keys in spy.calls:
        assert len({key_slot(k.encode()) for k in keys}) == 1, (name, keys)
    assert {"forget.lua", "prune.lua"} <= {name for name, _ in spy.calls}


STORY = "<title>Bridge opens</title><description>Traffic flows from Monday.</description>"


def story_feed(guid: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<item><guid>{guid}</guid><link>https://news.example/{guid}</link>{STORY}"
        "<pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


def test_one_record_per_story_across_shards(sharded: Store) -> None:
    store = sharded
    settings = store.settings.model_copy(update={"record_retention_days": 30})
    guids = [f"g-{n}" for n in range(12)]
    outcomes = [
        pipeline.process_batch(
            [message(story_feed(g), f"https://f{n}/", InputKind.FEED)], store, settings
        )[0]
        for n, g in enumerate(guids)
    ]
    first, rest = outcomes[0], outcomes[1:]
    assert first.outcome is OutcomeKind.CREATED
    assert {(o.outcome, o.id, o.reason) for o in rest} == {
        (OutcomeKind.DUPLICATE, first.id, "record.same_content")
    }
    client = IngestClient(store.client, "test")
    record = client.get(first.id or "")
    assert record is not None
    assert len(record.seen_in or []) == 12
    assert store.stats()["records"] == 1
    assert prune(Store(store.client, settings)).records == 1  # published in 2024
    [again] = pipeline.process_batch(
        [message(story_feed("g-new"), "https://other/", InputKind.FEED)], store, settings
    )
    assert (again.outcome, again.reason) == (OutcomeKind.DUPLICATE, "record.deleted")
    assert list(client.records()) == []


def test_one_shard_on_a_cluster_is_refused_in_one_line(cluster_url: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=cluster_url, data_dir=tmp_path / "d", store_shards=1)
    with pytest.raises(ConfigError, match="INGEST_STORE_SHARDS=1 cannot run on a Redis Cluster"):
        Store.from_url(cluster_url, settings)
