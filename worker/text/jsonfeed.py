"""JSON Feed (1.0 and 1.1) bytes in, the same ParsedFeed as RSS and Atom out. Pure.

Each item becomes a feedparser-like entry (:func:`item_entry`) and goes through
:func:`worker.text.feedparse.entry_record`, so ids, titles, paragraphs and the ``entry.*``
rejections are those of RSS and Atom:

- ``id`` is the guid (a number, allowed by 1.0, becomes its decimal string); ``url`` the
  link, else ``external_url``;
- ``content_html`` (HTML), then ``content_text`` (plain text) are the content, ``summary``
  (plain text) the fallback;
- ``date_published`` / ``date_modified`` (RFC 3339; no offset means UTC) the dates;
- ``authors`` (1.1), else ``author`` (1.0), else the feed's, as the spec says; ``tags``;
- ``attachments`` and ``image`` land where feedparser puts enclosures and thumbnails, for
  :func:`worker.text.media.entry_media`.

Wrong types are treated as absent, never as a crash. The document is rejected as a whole
(``feed.not_a_feed``) when it is not JSON, not an object, has no JSON Feed ``version``, or
its ``items`` is not a list; an empty ``items`` is ``feed.empty``. An item that is not an
object is rejected alone (``entry.invalid``), and so is an item nested deeper than
:data:`MAX_DEPTH` levels (orjson refuses a document nested deeper than 1024: such a
document is read again with each too-deep value replaced by a marker).
Items past ``max_entries`` are dropped, with one ``feed.too_many_entries`` rejection.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from worker.core.errors import Reason, RejectedInput
from worker.core.models import Record
from worker.text.feedparse import (
    ParsedFeed,
    entry_or_rejection,
    first_of_each_id,
    too_many_entries,
)
from worker.text.htmltext import html_to_line

VERSION_PREFIX = "https://jsonfeed.org/version/"
VERSIONS = {"1": "json10", "1.0": "json10", "1.1": "json11"}
JSON_TYPES = ("application/feed+json", "application/json")
_SNIFF = re.compile(rb"^(?:\xef\xbb\xbf)?\s*\{")
# Nesting the document keeps: the root object, items, an item, then its values. Deeper
# values become TOO_DEEP (a noncharacter no text needs), and the item holding one is
# rejected (orjson itself stops at 1024).
MAX_DEPTH = 512
TOO_DEEP = "\ufdd0too deep"
_TOO_DEEP_JSON = orjson.dumps(TOO_DEEP)


def looks_like_json_feed(data: bytes, content_type: str | None) -> bool:
    """Whether to read the body as JSON Feed rather than XML: a JSON type, or a ``{`` start.

    XML never starts with ``{``, so the sniff also catches JSON served as text/plain; a
    JSON content type whose body starts with ``<`` is left to the XML parser.
    """
    if _SNIFF.match(data[:1024]):
        return True
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime in JSON_TYPES and data.lstrip()[:1] != b"<"


def parse_json_feed(
    data: bytes, source: str, *, max_bytes: int, max_entries: int | None = None
) -> ParsedFeed:
    """Parse JSON Feed bytes; raise RejectedInput (``feed.*``) when it is not a usable feed."""
    if len(data) > max_bytes:
        raise RejectedInput(Reason.FEED_TOO_LARGE, f"{len(data)} bytes, over the {max_bytes} cap")
    document = _load(data)
    version = _version(document.get("version"))
    items = document.get("items")
    if not isinstance(items, list):
        raise RejectedInput(Reason.FEED_NOT_A_FEED, "a JSON Feed whose items is not a list")
    if not items:
        raise RejectedInput(Reason.FEED_EMPTY, f"a {version} feed with no entries")
    title = html_to_line(_str(document.get("title")) or "") or None
    authors = _authors(document)
    kept = items if max_entries is None else items[:max_entries]
    results = [_item_result(item, n, source, title, authors) for n, item in enumerate(kept)]
    results = first_of_each_id(results)
    if len(kept) < len(items):
        results.append(too_many_entries(len(items), len(kept), source))
    return ParsedFeed(version=version, title=title, entries=results)


def _load(data: bytes) -> dict[str, Any]:
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        if not str(e).startswith("depth limit exceeded"):
            raise RejectedInput(Reason.FEED_NOT_A_FEED, f"not JSON: {e}"[:300]) from e
        document = _load_shallow(data, e)
    if not isinstance(document, dict):
        raise RejectedInput(Reason.FEED_NOT_A_FEED, "JSON, but not an object")
    return document


def _load_shallow(data: bytes, error: orjson.JSONDecodeError) -> Any:
    """The document with each value nested past :data:`MAX_DEPTH` as :data:`TOO_DEEP`.

    orjson refuses a document nested deeper than 1024; one such item must not cost its
    neighbours, so the item that holds the marker is rejected alone (deep nesting in a
    top-level field nobody reads costs nothing).
    """
    try:
        return orjson.loads(_flatten_deep(data))
    except orjson.JSONDecodeError as e:
        raise RejectedInput(Reason.FEED_NOT_A_FEED, f"not JSON: {error}"[:300]) from e


def _flatten_deep(data: bytes) -> bytes:
    """Each array or object opening past :data:`MAX_DEPTH` replaced by the marker string.

    Vectorised (numpy), since the scan must stay cheap on 10 MB of brackets: the depth is
    the running count of brackets outside strings, a string being what lies between two
    quotes not escaped by an odd run of backslashes.
    """
    import numpy as np

    raw = np.frombuffer(data, dtype=np.uint8)
    where = np.arange(raw.size, dtype=np.int64)
    quote = raw == ord('"')
    if b"\\" in data:
        last_other = np.maximum.accumulate(np.where(raw == ord("\\"), -1, where))
        run_before = where - 1 - np.concatenate(([-1], last_other[:-1]))  # backslashes
        quote &= run_before % 2 == 0
    in_string = (np.cumsum(quote) % 2 == 1) | quote
    opens = ((raw == ord("[")) | (raw == ord("{"))) & ~in_string
    closes = ((raw == ord("]")) | (raw == ord("}"))) & ~in_string
    depth = np.cumsum(opens.astype(np.int32) - closes.astype(np.int32))
    starts = np.flatnonzero(opens & (depth == MAX_DEPTH + 1))
    ends = np.flatnonzero(closes & (depth == MAX_DEPTH))
    out, copied = [], 0
    for first in starts:
        if first < copied:
            continue
        later = ends[np.searchsorted(ends, first) :]
        if not later.size:
            break  # never closed: orjson refuses the document anyway
        out += [data[copied:first], _TOO_DEEP_JSON]
        copied = int(later[0]) + 1
    return b"".join([*out, data[copied:]])


def _holds_too_deep(value: Any) -> bool:
    """Whether the marker of a too-deep value is anywhere in ``value`` (no recursion)."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif value == TOO_DEEP:
            return True
    return False


def _version(value: Any) -> str:
    if isinstance(value, str) and value.startswith(VERSION_PREFIX):
        number = value.removeprefix(VERSION_PREFIX).strip("/")
        # A later 1.x is read as 1.1: the spec promises minor versions stay compatible.
        return VERSIONS.get(number, "json11" if number.startswith("1.") else "json")
    raise RejectedInput(Reason.FEED_NOT_A_FEED, "JSON without a jsonfeed.org version")


def _item_result(
    item: Any, n: int, source: str, title: str | None, authors: list[dict[str, str]]
) -> Record | RejectedInput:
    if not isinstance(item, dict):
        detail = f"entry {n}: a {type(item).__name__}, not an object"
        return RejectedInput(Reason.ENTRY_INVALID, detail, source=source)
    if _holds_too_deep(item):
        detail = f"entry {n}: nested deeper than {MAX_DEPTH} levels"
        return RejectedInput(Reason.ENTRY_INVALID, detail, source=source)
    return entry_or_rejection(item_entry(item, authors), n, source, title)


def item_entry(
    item: Mapping[str, Any], feed_authors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A JSON Feed item as the feedparser entry :func:`entry_record` reads."""
    entry: dict[str, Any] = {
        "id": _id(item.get("id")),
        "title": _str(item.get("title")),
        "link": _str(item.get("url")) or _str(item.get("external_url")),
        "content": _content(item),
        "summary_detail": _detail("text/plain", item.get("summary")),
        "published_parsed": _struct_time(item.get("date_published")),
        "updated_parsed": _struct_time(item.get("date_modified")),
        "authors": _authors(item) or feed_authors or [],
        "tags": [{"term": t} for t in _list(item.get("tags")) if isinstance(t, str)],
        "enclosures": [
            _enclosure(a) for a in _list(item.get("attachments")) if isinstance(a, dict)
        ],
    }
    if image := _str(item.get("image")):
        entry["media_thumbnail"] = [{"url": image}]
    return entry


def _id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return _str(value)


def _content(item: Mapping[str, Any]) -> list[dict[str, str]]:
    pairs = (("text/html", item.get("content_html")), ("text/plain", item.get("content_text")))
    return [d for kind, value in pairs if (d := _detail(kind, value))]


def _detail(kind: str, value: Any) -> dict[str, str] | None:
    text = _str(value)
    return {"type": kind, "value": text} if text else None


def _authors(obj: Mapping[str, Any]) -> list[dict[str, str]]:
    """Authors of 1.1's ``authors`` list, else of 1.0's single ``author``."""
    many = obj.get("authors")
    candidates = _list(many) if many is not None else [obj.get("author")]
    names = (_str(a.get("name")) for a in candidates if isinstance(a, dict))
    return [{"name": name} for name in names if name]


def _enclosure(attachment: Mapping[str, Any]) -> dict[str, Any]:
    size = attachment.get("size_in_bytes")
    return {
        "href": attachment.get("url"),
        "type": attachment.get("mime_type"),
        "length": size if isinstance(size, int) and not isinstance(size, bool) else None,
    }


def _struct_time(value: Any) -> time.struct_time | None:
    """An RFC 3339 date as a UTC struct_time (what feedparser gives); None if unreadable."""
    text = _str(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).utctimetuple()
    except (OverflowError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
