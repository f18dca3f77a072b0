"""The store and the pipeline against a real Redis (no Celery)."""

from __future__ import annotations

import threading
import uuid
import zlib
from datetime import UTC, datetime

import orjson
import pytest

from tests.support.helpers import reads, seed_bytes
from worker.core.models import Envelope, InputKind, OutcomeKind
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage import scripts
from worker.storage.store import Store


def message(
    data: bytes, source: str = "a.txt", input_id: str | None = None, reply_to: str | None = None
) -> dict[str, object]:
    env = Envelope(
        input_id=input_id or uuid.uuid4().hex,
        kind=InputKind.SEED,
        source=source,
        data=data,
        reply_to=reply_to,
    )
    return env.model_dump(mode="json", exclude_none=True)


def events(store: Store) -> list[dict[str, str]]:
    raw = [e for k in store.keys.every_shard() for e in store.client.xrange(k.record_events)]
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]


def test_created_then_duplicate(store: Store, settings: Settings) -> None:
    doc = seed_bytes("Budget passes", "The vote was close.")
    [first] = pipeline.process_batch([message(doc)], store, settings)
    [second] = pipeline.process_batch([message(doc, source="b.txt")], store, settings)
    assert first.outcome is OutcomeKind.CREATED
    assert second.outcome is OutcomeKind.DUPLICATE
    assert first.id == second.id
    assert [e["event"] for e in events(store)] == ["created"]
    assert store.stats()["records"] == 1
    assert store.stats()["duplicates"] == 1


def test_record_round_trips_with_store_fields(store: Store, settings: Settings) -> None:
    [o] = pipeline.process_batch([message(seed_bytes("Title", "One two three."))], store, settings)
    assert o.id is not None
    rec = reads(store).get(o.id)
    assert rec is not None
    assert rec.version == 1
    assert rec.word_count == 3
    assert rec.published == datetime(2024, 3, 5, tzinfo=UTC)
    assert (datetime.now(UTC) - rec.ingested_at).total_seconds() < 60
    meta, _, packed = store.client.get(store.keys.of(o.id).record(o.id)).partition(b"\n")
    raw = orjson.loads(meta)
    assert "url" not in raw  # optional feed fields are absent on seeds
    assert "text" not in raw  # schema 2: the text once, packed with the paragraphs
    assert "paragraphs" not in raw
    assert raw["published"] == "2024-03-05T00:00:00Z"
    assert orjson.loads(zlib.decompress(packed)) == ["One two three."]


def test_redelivered_input_changes_nothing(store: Store, settings: Settings) -> None:
    msg = message(seed_bytes("Same input twice", "Body."), input_id="fixed-id")
    first = pipeline.process_batch([msg], store, settings)
    again = pipeline.process_batch([msg], store, settings)
    assert first == again
    assert len(events(store)) == 1
    stats = store.stats()
    assert (stats["records"], stats["duplicates"]) == (1, 0)


def test_rejection_is_stored_once_with_payload(store: Store, settings: Settings) -> None:
    msg = message(b"no header here\n\nbody", input_id="bad-1")
    [o] = pipeline.process_batch([msg], store, settings)
    pipeline.process_batch([msg], store, settings)
    assert o.outcome is OutcomeKind.REJECTED
    assert o.reason == "seed.no_header"
    [rej] = reads(store).rejections()
    assert rej.reason == "seed.no_header"
    assert rej.source == "a.txt"
    payload = Envelope.model_validate_json(
        store.client.get(store.keys.of("bad-1").payload("bad-1"))
    )
    assert payload.data == b"no header here\n\nbody"
    assert store.stats()["rejections"] == 1
    assert store.client.xlen(store.keys.of("bad-1").rejection_events) == 1


def test_malformed_message_is_rejected(store: Store, settings: Settings) -> None:
    outcomes = pipeline.process_batch(
        [{"input_id": "m1", "kind": "nonsense", "source": "x"}, {"garbage": True}], store, settings
    )
    assert [o.reason for o in outcomes] == ["input.malformed", "input.malformed"]


def test_one_bad_document_does_not_sink_the_batch(store: Store, settings: Settings) -> None:
    batch = [message(seed_bytes(f"Story {i}", f"Body {i}."), source=f"{i}.txt") for i in range(5)]
    batch.insert(2, message(b"date 2021-02-30 Impossible\n\nBody", source="bad.txt"))
    outcomes = pipeline.process_batch(batch, store, settings)
    assert [o.outcome.value for o in outcomes] == ["created"] * 2 + ["rejected"] + ["created"] * 3
    assert outcomes[2].reason == "seed.bad_date"


def test_fifty_concurrent_copies_make_one_record(store: Store, settings: Settings) -> None:
    doc = seed_bytes("Concurrent", "Fifty producers, one record.")
    barrier = threading.Barrier(50)
    results: list[str] = []

    def one() -> None:
        own = Store.from_url(settings.redis_url or "", settings)
        barrier.wait()
        [o] = pipeline.process_batch([message(doc)], own, settings)
        results.append(o.outcome.value)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["created"] + ["duplicate"] * 49
    assert [e["event"] for e in events(store)] == ["created"]
    assert sum(store.client.zcard(k.by_published) for k in store.keys.every_shard()) == 1


def test_reply_list_gets_outcomes_and_done_markers(store: Store, settings: Settings) -> None:
    pipeline.process_batch(
        [message(seed_bytes("T", "B."), input_id="i1", reply_to="run1")], store, settings
    )
    items = [orjson.loads(x) for x in store.client.lrange(store.keys.reply("run1"), 0, -1)]
    assert items[0]["outcome"] == "created"
    assert items[1] == {"done": "i1", "items": 1}


@pytest.fixture
def dated(store: Store, settings: Settings) -> Store:
    docs = [
        message(
            seed_bytes(f"Day {d}", f"Body {d}.", day=f"2024-01-{d:02d}"),
            source="even.txt" if d % 2 == 0 else "odd.txt",
        )
        for d in range(1, 11)
    ]
    pipeline.process_batch(docs, store, settings)
    return store


def titles(records: object) -> list[str]:
    return [r.title for r in records]  # type: ignore[attr-defined]


def test_records_newest_first(dated: Store) -> None:
    assert titles(reads(dated).records()) == [f"Day {d}" for d in range(10, 0, -1)]


def test_records_filters(dated: Store) -> None:
    since = datetime(2024, 1, 3, tzinfo=UTC)
    until = datetime(2024, 1, 6, 23, 59, tzinfo=UTC)
    reader = reads(dated)
    assert titles(reader.records(since=since, until=until)) == ["Day 6", "Day 5", "Day 4", "Day 3"]
    assert titles(reader.records(source="even.txt", limit=2)) == ["Day 10", "Day 8"]
    assert titles(reader.records(source="nope.txt")) == []


def test_records_paging_reads_everything(dated: Store) -> None:
    assert len(list(reads(dated).records(limit=None, page=3))) == 10
    assert len(list(reads(dated).records(limit=7, page=3))) == 7


def test_scripts_splice_their_includes() -> None:
    """upsert.lua and prune.lua share lsh.lua: each gets its text in place of the marker."""
    shared = scripts.source("lsh.lua")
    for name in ("upsert.lua", "prune.lua"):
        text = scripts.source(name)
        assert not scripts.INCLUDE.search(text)
        assert shared in text
