"""worker.pipeline.enrich on single records: no Redis involved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.core.models import Accepted, Record
from worker.core.settings import Settings
from worker.pipeline.enrich import LANGUAGE_BYTES, enrich, language_text, packed_signature
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


def titled(title: str, paragraphs: list[str]) -> Record:
    return record("seed", paragraphs).model_copy(update={"title": title})


@pytest.mark.parametrize(
    "paragraph",
    [
        "Le conseil municipal a approuvé le budget du nouveau pont du port lundi soir. " * 6,
        "Парламент одобрил новый бюджет страны на следующий год после долгих споров. " * 6,
        "国会は来年度の予算案を長い議論の末に可決した。野党は反対した。" * 8,
        "a\u0301" * 300,  # a letter and its combining accent, cut between them at worst
        "🙂 " * 200,
    ],
)
def test_language_text_is_the_title_and_the_start_of_the_text_in_256_bytes(
    paragraph: str,
) -> None:
    rec = titled("Le conseil municipal", [paragraph.strip()])
    text = language_text(rec)
    assert len(text.encode()) <= LANGUAGE_BYTES
    assert len(text.encode()) > LANGUAGE_BYTES - 4  # only a cut character is left out
    assert f"{rec.title}\n\n{rec.text}".startswith(text)


def test_language_text_keeps_a_short_record_whole() -> None:
    rec = titled("Brief", ["Le conseil municipal a approuvé le budget."])
    assert language_text(rec) == f"{rec.title}\n\n{rec.text}"


def test_language_text_of_a_long_title_is_its_start() -> None:
    rec = titled("Парламент " * 40, ["Le conseil municipal a approuvé le budget."])
    text = language_text(rec)
    assert rec.title.startswith(text)
    assert LANGUAGE_BYTES - 2 < len(text.encode()) <= LANGUAGE_BYTES
