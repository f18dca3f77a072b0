"""The seed document grammar: bytes in, a :class:`ParsedSeed` out, or a RejectedInput.

::

    seed    = blank* header (blank* paragraph)+ blank*
    header  = "date" ws+ ISO-DATE ws+ headline        one line; "date" in any letter case
    ISO-DATE = YYYY-MM-DD with ASCII digits, a real calendar day

Leading whitespace, BOM and zero-width characters before ``date`` are tolerated (the
sample seed starts with a space). The headline is the rest of the header line and must
fit on it. The blank line after the header is expected but not required: lines that
follow the header directly are the start of the body. So a headline hard-wrapped onto a
second line cannot be told apart from a body, and that line becomes body text.

Checks run in this order, each with its reason code: size (before any decoding),
encoding and binary sniffing (:mod:`worker.text.decode`), empty, header word, date, headline,
body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dtime

from pydantic import ValidationError

from worker.core.errors import Reason, RejectedInput
from worker.core.models import Record
from worker.text.decode import decode_text
from worker.text.normalise import (
    content_hash,
    join_paragraphs,
    normalise_inline,
    normalise_newlines,
    paragraph_words,
    record_id,
    remove_zero_width,
    split_paragraphs,
)

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class ParsedSeed:
    """A seed document after parsing and normalisation."""

    published: date
    title: str
    paragraphs: list[str]

    @property
    def text(self) -> str:
        """The paragraphs joined by blank lines."""
        return join_paragraphs(self.paragraphs)


def parse_seed(data: bytes, *, max_bytes: int) -> ParsedSeed:
    """Parse a seed document's bytes; raise RejectedInput with a ``seed.*`` reason if it is not one.

    The size cap is checked before anything else, so an oversized file is never decoded.
    """
    if len(data) > max_bytes:
        raise RejectedInput(Reason.SEED_TOO_LARGE, f"{len(data)} bytes, over the {max_bytes} cap")
    text = normalise_newlines(remove_zero_width(decode_text(data))).lstrip()
    if not text:
        raise RejectedInput(Reason.SEED_EMPTY, "no text in the document")
    header, _, body = text.partition("\n")
    published, title = _parse_header(header)
    paragraphs = split_paragraphs(body, prepared=True)  # the whole text was prepared
    if not paragraphs:
        raise RejectedInput(Reason.SEED_NO_BODY, "no paragraph after the header line")
    return ParsedSeed(published=published, title=title, paragraphs=paragraphs)


def _parse_header(line: str) -> tuple[date, str]:
    """Split ``date <ISO date> <headline>`` into the date and the normalised headline."""
    words = line.split(maxsplit=2)
    if words[0].casefold() != "date":
        raise RejectedInput(
            Reason.SEED_NO_HEADER, f"first line does not start with 'date': {_clip(line)}"
        )
    if len(words) < 2:
        raise RejectedInput(Reason.SEED_BAD_DATE, "no date after 'date'")
    published = _parse_date(words[1])
    title = normalise_inline(words[2]) if len(words) == 3 else ""
    if not title:
        raise RejectedInput(Reason.SEED_NO_TITLE, "no headline after the date")
    return published, title


def _parse_date(word: str) -> date:
    if not _ISO_DATE.fullmatch(word):
        raise RejectedInput(Reason.SEED_BAD_DATE, f"not an ISO date (YYYY-MM-DD): {_clip(word)}")
    try:
        return date.fromisoformat(word)
    except ValueError as e:
        raise RejectedInput(Reason.SEED_BAD_DATE, f"no such day: {word}") from e


def _clip(s: str, limit: int = 60) -> str:
    """Quote a piece of input for a detail message, cut to ``limit`` characters."""
    return repr(s if len(s) <= limit else s[:limit] + "…")


def seed_record(data: bytes, source: str, max_bytes: int, origin: str | None = None) -> Record:
    """Parse and normalise a seed document into a validated Record."""
    return build_seed_record(parse_seed(data, max_bytes=max_bytes), source, origin)


def seed_id(parsed: ParsedSeed, origin: str | None) -> str:
    """A seed's record id: from its ``origin`` (where it came from), else from its content.

    The rule is in docs/seeds.md ("Identity"): an edited file enqueued again from the same
    place keeps its record; an input with no place (stdin) is known by its content.
    """
    if origin:
        return record_id("seed", "origin", origin)
    return record_id("seed", parsed.published.isoformat(), parsed.title, parsed.text)


def build_seed_record(parsed: ParsedSeed, source: str, origin: str | None = None) -> Record:
    """The Record of a parsed seed; its id from ``origin`` (see :func:`seed_id`)."""
    text = parsed.text
    try:
        return Record(
            id=seed_id(parsed, origin),
            kind="seed",
            source=source,
            title=parsed.title,
            published=datetime.combine(parsed.published, dtime(0), UTC),
            paragraphs=parsed.paragraphs,
            text=text,
            word_count=paragraph_words(parsed.paragraphs),
            content_hash=content_hash(parsed.title, text),
            ingested_at=datetime.now(UTC),
            version=1,
        )
    except ValidationError as e:
        raise RejectedInput(Reason.SEED_INVALID, str(e.errors()[0]["msg"])) from e
