"""How a record is held in Redis: schema version 2 stores its text once, compressed.

A stored record (``ns:record:{id}``) is, since schema version 2::

    {meta JSON} \\n {zlib stream}

* ``meta``: the record's fields except ``paragraphs`` and ``text``, one line of JSON
  (compact JSON never holds a raw newline byte, so the first ``\\n`` ends it);
* the zlib stream (RFC 1950, what every language's zlib inflates) holds the JSON array of
  the paragraphs. ``text`` is not stored: it is the paragraphs joined by blank lines.

Schema version 2 is the first stored format (see CHANGELOG.md). Measured on 3 KB
news-like documents, it takes about 1x the text's bytes in Redis per record with the
record's own indexes (the near-duplicate index comes on top: see docs/scaling.md).
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from worker.core.models import OPTIONAL_RECORD_FIELDS, Record

SEPARATOR = b"\n"
# Level 1: on short news text it gives nearly what level 6 gives, at a fraction of the CPU.
LEVEL = 1
# Added by the store's script when it writes the record.
STORE_FIELDS = frozenset({"ingested_at", "version", "seen_in", "cluster"})


def encode(record: Record) -> tuple[bytes, bytes]:
    """The stored parts of a record: meta JSON (no store fields) and packed paragraphs.

    The store's script appends ``cluster``, ``ingested_at``, ``version`` (and ``seen_in``
    once a story was seen in more than one place) to the meta JSON, then the separator and
    the packed paragraphs.
    """
    meta = record.model_dump(mode="json", exclude={"paragraphs", "text", *STORE_FIELDS})
    for name in OPTIONAL_RECORD_FIELDS:
        if meta.get(name) is None:
            meta.pop(name, None)
    if meta.get("media"):
        meta["media"] = [{k: v for k, v in m.items() if v is not None} for m in meta["media"]]
    return orjson.dumps(meta), pack(record.paragraphs)


def pack(paragraphs: list[str]) -> bytes:
    """The paragraphs as a zlib stream of their JSON array."""
    return zlib.compress(orjson.dumps(paragraphs), LEVEL)


def stored(meta: bytes, packed: bytes) -> bytes:
    """The stored value from its parts (what the store's script writes, for tests)."""
    return meta + SEPARATOR + packed


def decode(raw: bytes | str) -> dict[str, Any]:
    """Every field of a stored record, ``text`` and ``paragraphs`` included.

    Raises ValueError (zlib.error and orjson's errors are ValueErrors too) for a value
    that is not meta JSON, the separator and packed paragraphs.
    """
    if isinstance(raw, str):  # a client that decodes replies
        raw = raw.encode()
    meta, separator, packed = raw.partition(SEPARATOR)
    if not separator:
        raise ValueError("a stored record without its packed paragraphs")
    data: dict[str, Any] = orjson.loads(meta)
    paragraphs = orjson.loads(zlib.decompress(packed))
    if not isinstance(paragraphs, list):
        raise ValueError("stored paragraphs are not a list")
    data["paragraphs"] = paragraphs
    data["text"] = "\n\n".join(str(p) for p in paragraphs)
    return _seen(data)


def _seen(data: dict[str, Any]) -> dict[str, Any]:
    """A feed record seen in one place only is stored without ``seen_in``: fill it in."""
    if data.get("kind") == "feed" and not data.get("seen_in"):
        data["seen_in"] = [{"source": data.get("source"), "url": data.get("url")}]
    return data


def to_record(raw: bytes | str) -> Record:
    """The Record a stored value holds."""
    return Record.model_validate(decode(raw))
