"""Schema version 2 in Redis: the text stored once; version 1 records still readable."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.support.helpers import ingest, seed_bytes
from worker.core.models import Accepted, Envelope, InputKind, Record
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage import recordform
from worker.storage.retention import prune_records
from worker.storage.store import Store

PARAGRAPHS = st.lists(st.text(min_size=1).filter(lambda p: p.strip() != ""), min_size=1)


def record(paragraphs: list[str], **changes: object) -> Record:
    fields: dict[str, object] = {
        "id": "seed-0123456789abcdef01234567",
        "kind": "seed",
        "source": "a.txt",
        "title": "A title",
        "published": datetime(2024, 3, 5, tzinfo=UTC),
        "paragraphs": paragraphs,
        "text": "\n\n".join(paragraphs),
        "word_count": 3,
        "content_hash": "c" * 64,
        "ingested_at": datetime(2024, 3, 6, tzinfo=UTC),
        "version": 1,
    }
    fields.update(changes)
    return Record.model_validate(fields)


def v1_value(rec: Record) -> bytes:
    """A record as schema version 1 stored it: one JSON object, text and paragraphs."""
    data = rec.model_dump(mode="json", exclude_none=True)
    return orjson.dumps(data)


@given(PARAGRAPHS)
def test_encoded_record_decodes_to_the_same_record(paragraphs: list[str]) -> None:
    rec = record(paragraphs)
    meta, packed = recordform.encode(rec)
    stored = meta[:-1] + b',"ingested_at":"2024-03-06T00:00:00Z","version":1}'
    assert b"\n" not in stored  # the first newline ends the meta JSON
    assert recordform.to_record(recordform.stored(stored, packed)) == rec


def test_stored_form_holds_the_text_once_and_packed() -> None:
    paragraphs = ["Word " * 200, "Other words " * 100]
    meta, packed = recordform.encode(record(paragraphs))
    fields = orjson.loads(meta)
    assert "text" not in fields
    assert "paragraphs" not in fields
    assert orjson.loads(zlib.decompress(packed)) == paragraphs
    assert len(meta) + len(packed) < len("\n\n".join(paragraphs))


def test_v1_value_is_read_as_it_is() -> None:
    rec = record(["One.", "Two."])
    assert recordform.to_record(v1_value(rec)) == rec


def test_store_writes_v2_that_a_plain_zlib_reader_understands(
    store: Store, settings: Settings
) -> None:
    body = "A paragraph with words.\n\nAnother paragraph here."
    envelope = Envelope(
        input_id="i1", kind=InputKind.SEED, source="a.txt", data=seed_bytes("Title", body)
    )
    [outcome] = pipeline.process_batch([envelope.model_dump(mode="json")], store, settings)
    raw = store.client.get(store.keys.record(str(outcome.id)))
    meta, _, packed = raw.partition(b"\n")
    # What docs/consumers.md tells a consumer in another language to do, with stdlib json.
    fields = json.loads(meta)
    paragraphs = json.loads(zlib.decompress(packed))
    assert paragraphs == body.split("\n\n")
    assert (fields["version"], fields["title"]) == (1, "Title")
    rec = store.get(str(outcome.id))
    assert rec is not None
    assert (rec.text, rec.paragraphs) == (body, paragraphs)


def test_v1_records_stay_readable_updatable_and_prunable(
    store: Store, settings: Settings, redis_url: str
) -> None:
    old = record(["Stored by version one."], published=datetime(2001, 1, 1, tzinfo=UTC))
    store.client.set(store.keys.record(old.id), v1_value(old))
    store.client.zadd(store.keys.by_published, {old.id: old.published.timestamp()})  # type: ignore[union-attr]
    store.client.zadd(store.keys.by_source(old.source), {old.id: 1.0})
    assert store.get(old.id) == old
    assert list(store.records()) == [old]
    shown = ingest("records", "show", old.id, "--json", url=redis_url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["text"] == "Stored by version one."
    listed = ingest("records", "list", "--json", url=redis_url)
    assert [json.loads(line)["paragraphs"] for line in listed.stdout.splitlines()] == [
        ["Stored by version one."]
    ]
    # A new version of a v1 record: the script reads the v1 value, writes v2.
    new = record(["Changed in version two."], content_hash="d" * 64)
    [outcome] = store.commit([Accepted("in-2", new)])
    assert (outcome.outcome, store.get(old.id).version) == ("updated", 2)  # type: ignore[union-attr]
    assert b"\n" in store.client.get(store.keys.record(old.id))
    assert store.get(old.id).ingested_at == old.ingested_at  # type: ignore[union-attr]


def test_v1_record_is_pruned_with_its_indexes(store: Store) -> None:
    old = record(["Old news."], published=datetime(2001, 1, 1, tzinfo=UTC))
    store.client.set(store.keys.record(old.id), v1_value(old))
    store.client.zadd(store.keys.by_published, {old.id: old.published.timestamp()})  # type: ignore[union-attr]
    store.client.zadd(store.keys.by_source(old.source), {old.id: 1.0})
    store.client.sadd(store.keys.sources, old.source)
    cutoff = datetime(2020, 1, 1, tzinfo=UTC)
    assert prune_records(store, cutoff, batch=10, now=datetime.now(UTC)) == 1
    assert not store.client.exists(store.keys.record(old.id), store.keys.by_source(old.source))
    assert not store.client.sismember(store.keys.sources, old.source)
