"""Fields for search and NLP, added to every record just before it is stored.

* ``language`` and ``language_confidence`` (:mod:`worker.text.language`) of the title and
  the start of the text, :data:`LANGUAGE_BYTES` bytes of UTF-8 in all: the detector reads
  byte n-grams, its cost grows with the bytes and its answer stops changing long before
  (a budget in bytes, not characters: 256 bytes are about 250 Latin letters, 128 Cyrillic
  or Greek ones and 85 Chinese or Japanese characters, each of which tells more);
* ``paragraph_hashes`` (:mod:`worker.text.changes`), from which the store computes the
  change set of an update;
* ``content_source`` ``feed`` for feed records whose text the full-text step left alone;
* the MinHash signature of the title and text (:mod:`worker.text.neardup`), carried
  beside the record for the store's script, which reads its LSH bands and assigns
  ``cluster``. A text
  without words gets none (it would match every other such text) and is its own cluster.

With ``INGEST_ENRICH=false`` a record is stored as prepared: none of these fields.
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.core.models import Accepted, Prepared, Record
from worker.core.settings import Settings
from worker.text.changes import text_paragraph_hashes
from worker.text.language import detect, detect_many

LANGUAGE_BYTES = 256


def enrich(item: Prepared, settings: Settings) -> Prepared:
    """The item with its record's NLP fields set (and its signature, when clustering is on)."""
    return enrich_all([item], settings)[0]


def enrich_all(items: Sequence[Prepared], settings: Settings) -> list[Prepared]:
    """:func:`enrich` of every item; a batch's languages and signatures are made together."""
    if not settings.enrich:
        return list(items)
    records = [item.record for item in items if isinstance(item, Accepted)]
    languages = iter(detect_many([language_text(record) for record in records]))
    texts = [f"{record.title}\n\n{record.text}" for record in records]
    signatures = iter(packed_signatures(texts) if settings.neardup else [b""] * len(texts))
    out: list[Prepared] = []
    for item in items:
        if isinstance(item, Accepted):
            record = with_fields(item.record, next(languages))
            out.append(Accepted(item.item_id, record, next(signatures)))
        else:
            out.append(item)
    return out


def with_fields(record: Record, language: tuple[str | None, float] | None = None) -> Record:
    """The record with language, confidence, paragraph hashes and content source.

    ``language``: the record's, when already detected (with the batch's).
    """
    code, confidence = language or detect(language_text(record))
    update: dict[str, object] = {
        "language": code,
        "language_confidence": round(confidence, 4),
        # A record's paragraphs are the normaliser's: single spaces between words.
        "paragraph_hashes": text_paragraph_hashes(record.text, record.paragraphs),
    }
    if record.kind == "feed" and record.content_source is None:
        update["content_source"] = "feed"
    return record.model_copy(update=update)


def language_text(record: Record) -> str:
    """What the language is detected on: the title and the start of the text.

    At most :data:`LANGUAGE_BYTES` bytes of UTF-8, cut between two characters.
    """
    text = f"{record.title}\n\n{record.text[:LANGUAGE_BYTES]}"  # no fewer bytes than characters
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= LANGUAGE_BYTES:
        return text
    return data[:LANGUAGE_BYTES].decode("utf-8", "ignore")


def packed_signature(text: str) -> bytes:
    """The packed MinHash signature of a text; empty when it has no words."""
    return packed_signatures([text])[0]


def packed_signatures(texts: Sequence[str]) -> list[bytes]:
    """:func:`packed_signature` of each text, made together."""
    # Here: a producer imports this module (through the tasks) and never needs numpy.
    from worker.text import neardup

    return neardup.packed_many(texts)
