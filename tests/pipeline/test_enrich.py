"""worker.pipeline.enrich on single records: no Redis involved."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.core.models import Accepted, Record
from worker.core.settings import Settings
from worker.pipeline.enrich import enrich, packed_signature
from worker.text import neardup
from worker.text.changes import paragraph_hashes
from worker.text.normalise import content_hash


def record(kind: str, paragraphs: list[str]) -> Record:
    text = "\n\n".join(paragraphs)
    return Record(
        id=f"{kind}-x",
        kind=kind,  # type: ignore[arg-type]
        source="s",
        title="Le conseil municipal",
        published=None,
        paragraphs=paragraphs,
        text=text,
        word_count=len(text.split()),
        content_hash=content_hash("Le conseil municipal", text),
        ingested_at=datetime.now(UTC),
        version=1,
    )


def test_text_without_words_gets_no_signature() -> None:
    assert packed_signature("… — !! ?? ...") == b""


def test_signature_matches_the_neardup_module() -> None:
    signature = packed_signature("the council approved the harbour bridge budget")
    sig = neardup.signature("the council approved the harbour bridge budget")
    assert signature == neardup.pack(sig)
    assert len(signature) == 128


def test_enrich_sets_every_field() -> None:
    paras = ["Le conseil municipal a approuvé le budget du nouveau pont du port lundi soir."]
    item = enrich(Accepted("i", record("feed", paras)), Settings())
    assert isinstance(item, Accepted)
    assert item.record.language == "fr"
    assert item.record.paragraph_hashes == paragraph_hashes(paras)
    assert item.record.content_source == "feed"
    assert len(item.signature) == 128
    off = enrich(Accepted("i", record("seed", paras)), Settings(neardup=False))
    assert isinstance(off, Accepted)
    assert (off.signature, off.record.content_source) == (b"", None)


def test_enrich_off_stores_the_record_as_prepared() -> None:
    paras = ["Le conseil municipal a approuvé le budget du nouveau pont du port lundi soir."]
    item = Accepted("i", record("feed", paras))
    off = enrich(item, Settings(enrich=False))
    assert off is item
    assert (off.record.language, off.record.paragraph_hashes, off.signature) == (None, None, b"")
