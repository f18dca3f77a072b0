"""Schema version 2 in Redis: the text stored once, compressed."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.helpers import reads, seed_bytes
from worker.core.models import Envelope, InputKind, Record
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage import recordform
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


def test_a_value_without_its_packed_paragraphs_is_refused() -> None:
    meta, _ = recordform.encode(record(["One.", "Two."]))
    with pytest.raises(ValueError, match="packed paragraphs"):
        recordform.decode(meta)


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
    rec = reads(store).get(str(outcome.id))
    assert rec is not None
    assert (rec.text, rec.paragraphs) == (body, paragraphs)
