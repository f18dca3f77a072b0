"""Feed bytes in, one Record (or one rejection) per entry out. Pure: no I/O.

Steps: size cap, :func:`worker.text.xmlsafe.neutralise_dtd`,
:func:`~worker.text.xmlsafe.neutralise_char_refs`, the entry cap
(:func:`~worker.text.xmlsafe.keep_entries`), ``feedparser.parse`` on a ``BytesIO``
(never on a ``str`` or ``bytes`` object, which feedparser would take for a URL or a file
name and open), then each entry is normalised on its own, so one bad entry is rejected
alone and its neighbours are kept.

A feed with more entries than ``max_entries`` keeps its first ``max_entries``; one more
item follows them, a ``feed.too_many_entries`` rejection saying how many were dropped.
An entry holding a character reference to no character (``&#xD800;``, ``&#1114112;``)
is ``entry.invalid``; references to forbidden controls (``&#27;``) are dropped.

An entry whose id (see below) repeats an earlier entry's is rejected
(``entry.duplicate_id``): feeds that list an item twice would otherwise flip the record
between the two versions at every fetch.

A document is rejected as a whole (``feed.not_a_feed``) when feedparser finds neither a
feed version nor any entry; a feed with a version and no entries is ``feed.empty``.
Ill-formed XML that feedparser recovers from (its "bozo" flag) still yields entries. When
feedparser trips on a broken element instead (it raises on some broken nesting), each
entry is parsed alone: the broken one is ``entry.invalid`` and the others are kept.

Entry fields:

- ``title``: HTML stripped and entities decoded even when declared plain text (feeds
  often double-escape titles); no title is ``entry.no_title``.
- ``paragraphs``: the first non-empty ``content`` (Atom content, RSS content:encoded),
  else the summary / description; HTML and XHTML go through :mod:`worker.text.htmltext`,
  plain text is split at blank lines. None of them is ``entry.no_content``.
- ``published``: ``published``, else ``updated``, else ``created``, converted to UTC;
  absent or unparseable is ``None``, never "now".
- ``feed_title``, ``authors``, ``tags``: HTML stripped like the title; at most
  :data:`MAX_NAMES` names of at most :data:`MAX_NAME_CHARS` characters each.
- ``url``: the entry's link when it is an absolute http(s) URL of at most
  :data:`MAX_URL_CHARS` characters, else absent. ``guid``: normalised plain text (not
  HTML: it is an identifier), cut to :data:`MAX_GUID_CHARS` characters.
- ``media`` and ``image``: enclosures, Media RSS content and thumbnails, Atom enclosure
  links (:mod:`worker.text.media`), when there are any.

Every field is plain text without control characters; see docs/consumers.md.

Record ids, in this fallback order (after miniflux): the feed's key (its URL, or the
file name of a local feed) with the entry's ``guid``, else its ``link``, else its
normalised title and text. An entry that keeps its guid therefore keeps its id when its
content changes, and the store turns the change into an ``updated`` record.
"""

from __future__ import annotations

import calendar
import io
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from worker.core.errors import Reason, RejectedInput
from worker.core.models import Record
from worker.text.htmltext import html_to_line, html_to_paragraphs
from worker.text.media import entry_media, first_image
from worker.text.normalise import (
    content_hash,
    join_paragraphs,
    normalise_inline,
    record_id,
    split_paragraphs,
    word_count,
)
from worker.text.xmlsafe import (
    BAD_REFERENCE,
    keep_entries,
    neutralise_char_refs,
    neutralise_dtd,
    split_entries,
)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
DATE_FIELDS = ("published_parsed", "updated_parsed", "created_parsed")
URL_SCHEMES = ("http", "https")
MAX_NAMES = 20  # authors, and tags, per entry
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2048
MAX_GUID_CHARS = 1024


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its version, title, and per entry a Record or the reason it is not."""

    version: str
    title: str | None
    entries: list[Record | RejectedInput]
    bozo: str | None = None


def parse_feed(
    data: bytes,
    source: str,
    *,
    max_bytes: int,
    max_entries: int | None = None,
    base_url: str | None = None,
    content_type: str | None = None,
) -> ParsedFeed:
    """Parse feed bytes; raise RejectedInput (``feed.*``) when it is not a usable feed.

    ``source`` is the feed's key (URL or file name): it goes into every record's id.
    ``base_url`` resolves relative links; a ``content_type`` with a charset informs the
    decoding, as an HTTP header would. ``max_entries`` caps the entries (see module doc).
    """
    if len(data) > max_bytes:
        raise RejectedInput(Reason.FEED_TOO_LARGE, f"{len(data)} bytes, over the {max_bytes} cap")
    if not data.strip():
        raise RejectedInput(Reason.FEED_NOT_A_FEED, "empty document")
    data = neutralise_char_refs(neutralise_dtd(data))
    found = 0
    if max_entries is not None:
        data, found = keep_entries(data, max_entries)
    headers = _headers(base_url, content_type)
    try:
        parsed = _parse(data, headers)
        entries: list[Any] = parsed.get("entries") or []
    except _PARSER_ERRORS as e:
        parsed, entries = _each_alone(data, headers, source, e)
    version = parsed.get("version") or ""
    bozo = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    if not version and not entries:
        why = f": {bozo}" if bozo else ""
        raise RejectedInput(Reason.FEED_NOT_A_FEED, f"no RSS or Atom feed found{why}")
    if not entries:
        raise RejectedInput(Reason.FEED_EMPTY, f"a {version} feed with no entries")
    title = _name(parsed.feed.get("title")) or None
    if max_entries is not None:
        entries = entries[:max_entries]  # in case the byte scan missed some
    results = [
        e if isinstance(e, RejectedInput) else entry_or_rejection(e, n, source, title)
        for n, e in enumerate(entries)
    ]
    results = first_of_each_id(results)
    if max_entries is not None and found > max_entries:
        results.append(too_many_entries(found, max_entries, source))
    return ParsedFeed(version=version, title=title, entries=results, bozo=bozo)


# feedparser's lenient parser trips on some broken nesting (found by fuzzing:
# b"<item><category><</item></category>" raises KeyError 'tags').
_PARSER_ERRORS = (KeyError, IndexError, AttributeError, TypeError, ValueError)


def _parse(data: bytes, headers: dict[str, str]) -> Any:
    import feedparser  # here: a worker that only ever sees seed documents never loads it

    return feedparser.parse(
        io.BytesIO(data),
        response_headers=headers,
        # nh3 sanitises every HTML field we keep, and no markup (so no relative URI in
        # it) survives: feedparser's own passes would cost two thirds of the parse time.
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _each_alone(
    data: bytes, headers: dict[str, str], source: str, error: Exception
) -> tuple[Any, list[Any]]:
    """The feed parsed entry by entry, after the whole document tripped the parser.

    Each entry is parsed alone, between the document's head and tail; one that trips the
    parser again is ``entry.invalid``, its neighbours are kept. The document is
    ``feed.not_a_feed`` when its head and tail alone trip it, or it has no entry.
    """
    failed = f"the feed parser failed: {type(error).__name__}: {error}"[:300]
    head, pieces, tail = split_entries(data)
    try:
        shell = _parse(head + tail, headers)
    except _PARSER_ERRORS as e:
        raise RejectedInput(Reason.FEED_NOT_A_FEED, failed) from e
    if not pieces:
        raise RejectedInput(Reason.FEED_NOT_A_FEED, failed) from error
    entries: list[Any] = []
    for n, piece in enumerate(pieces):
        try:
            found = _parse(head + piece + tail, headers).get("entries") or []
        except _PARSER_ERRORS as e:
            detail = f"entry {n}: the feed parser failed: {type(e).__name__}: {e}"[:300]
            found = [RejectedInput(Reason.ENTRY_INVALID, detail, source=source)]
        entries.extend(found[:1])
    return shell, entries


def too_many_entries(found: int, kept: int, source: str) -> RejectedInput:
    """The one rejection that stands for the entries past the cap."""
    dropped = found - kept
    detail = f"{found} entries, over the cap of {kept}: the last {dropped} dropped"
    return RejectedInput(Reason.FEED_TOO_MANY_ENTRIES, detail, source=source)


def first_of_each_id(results: list[Record | RejectedInput]) -> list[Record | RejectedInput]:
    """Reject later entries with the id of an earlier one.

    Stored, they would overwrite the first as an update at every fetch, and back again.
    """
    first: dict[str, int] = {}
    out: list[Record | RejectedInput] = []
    for n, entry in enumerate(results):
        if isinstance(entry, Record) and entry.id in first:
            detail = f"entry {n}: same id as entry {first[entry.id]} ({entry.guid or entry.url})"
            entry = RejectedInput(Reason.ENTRY_DUPLICATE_ID, detail, source=entry.source)
        elif isinstance(entry, Record):
            first[entry.id] = n
        out.append(entry)
    return out


def _headers(base_url: str | None, content_type: str | None) -> dict[str, str]:
    headers = {}
    if base_url:
        headers["content-location"] = base_url
    # Without a charset, feedparser would follow RFC 3023 and read text/xml as ASCII.
    if content_type and "charset=" in content_type.lower():
        headers["content-type"] = content_type
    return headers


def entry_or_rejection(
    entry: Mapping[str, Any], n: int, source: str, feed_title: str | None
) -> Record | RejectedInput:
    """Entry ``n`` as a Record, or its rejection naming the entry (never raises)."""
    try:
        return entry_record(entry, source, feed_title)
    except RejectedInput as e:
        return RejectedInput(e.reason, f"entry {n}: {e.detail}", source=source)


def entry_record(entry: Mapping[str, Any], source: str, feed_title: str | None) -> Record:
    """Normalise one feedparser entry into a Record; RejectedInput (``entry.*``) if it cannot."""
    title = html_to_line(str(entry.get("title") or ""))
    if not title:
        raise RejectedInput(Reason.ENTRY_NO_TITLE, f"no title ({_ident(entry)})")
    paragraphs = entry_paragraphs(entry)
    if not paragraphs:
        raise RejectedInput(Reason.ENTRY_NO_CONTENT, f"no content ({_ident(entry)}): {title!r}")
    text = join_paragraphs(paragraphs)
    guid, link = _text(entry.get("id"), MAX_GUID_CHARS), _text(entry.get("link"), MAX_URL_CHARS)
    authors = _names(_author_names(entry))
    tags = _names(t.get("term") or t.get("label") for t in entry.get("tags") or ())
    if _holds_bad_reference(title, text, guid, link, *(authors or ()), *(tags or ())):
        raise RejectedInput(
            Reason.ENTRY_INVALID, f"a character reference to no character ({_ident(entry)})"
        )
    try:
        return Record(
            id=entry_id(source, guid, link, title, text),
            kind="feed",
            source=source,
            title=title,
            published=entry_published(entry),
            paragraphs=paragraphs,
            text=text,
            word_count=word_count(text),
            content_hash=content_hash(title, text),
            ingested_at=datetime.now(UTC),
            version=1,
            url=_http_url(link),
            guid=guid,
            feed_title=feed_title,
            authors=authors,
            tags=tags,
            **_media_fields(entry),
        )
    except ValidationError as e:
        raise RejectedInput(Reason.ENTRY_INVALID, str(e.errors()[0]["msg"])) from e


def _media_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``media`` and ``image`` of the record, when the entry has any media."""
    media = entry_media(entry)
    return {"media": media, "image": first_image(media)} if media else {}


def entry_id(source: str, guid: str | None, link: str | None, title: str, text: str) -> str:
    """The entry's record id: feed key and guid, else link, else title and text."""
    if guid:
        key = "guid:" + guid
    elif link:
        key = "link:" + link
    else:
        key = "content:" + title + "\n\n" + text
    return record_id("feed", _no_separator(source), _no_separator(key))


def entry_paragraphs(entry: Mapping[str, Any]) -> list[str]:
    """Paragraphs of the first content (else the summary) that holds any text."""
    candidates = [*(entry.get("content") or ()), entry.get("summary_detail")]
    for detail in candidates:
        if not detail or not detail.get("value"):
            continue
        kind = str(detail.get("type") or "text/html").lower()
        value = str(detail["value"])
        paragraphs = html_to_paragraphs(value) if kind in HTML_TYPES else split_paragraphs(value)
        if paragraphs:
            return paragraphs
    return []


def entry_published(entry: Mapping[str, Any]) -> datetime | None:
    """The entry's date in UTC (feedparser's parsed dates are UTC), or None."""
    for name in DATE_FIELDS:
        # dict.get: FeedParserDict.get("updated_parsed") falls back to published_parsed
        # with a DeprecationWarning; the order here is explicit instead.
        value = dict.get(entry, name) if isinstance(entry, dict) else entry.get(name)
        if value is not None:
            moment = utc_datetime(value)
            if moment is not None:
                return moment
    return None


def utc_datetime(value: time.struct_time) -> datetime | None:
    """An aware UTC datetime from a UTC struct_time; None if out of range."""
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _author_names(entry: Mapping[str, Any]) -> Iterable[Any]:
    authors = entry.get("authors") or ()
    names = [a.get("name") or a.get("email") for a in authors if isinstance(a, Mapping)]
    return names or [entry.get("author")]


def _names(values: Iterable[Any]) -> list[str] | None:
    """Distinct plain-text non-empty names, in order, at most MAX_NAMES; None if none."""
    seen: dict[str, None] = {}
    for value in values:
        name = _name(value)
        if name:
            seen.setdefault(name, None)
        if len(seen) == MAX_NAMES:
            break
    return list(seen) or None


def _holds_bad_reference(*values: str | None) -> bool:
    return any(value and BAD_REFERENCE in value for value in values)


def _name(value: Any) -> str:
    """A name (author, tag, feed title) as plain text: HTML stripped, cut to MAX_NAME_CHARS."""
    return normalise_inline(html_to_line(str(value))[:MAX_NAME_CHARS]) if value else ""


def _text(value: Any, limit: int) -> str | None:
    """An identifier as normalised plain text (not HTML), at most ``limit`` characters."""
    text = normalise_inline(str(value)[: limit * 2])[:limit] if value else ""
    return text.strip() or None


def _http_url(link: str | None) -> str | None:
    """``link`` if it is an absolute http(s) URL with a host and no spaces, else None."""
    if not link or len(link) >= MAX_URL_CHARS or not link.isprintable() or " " in link:
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme.lower() in URL_SCHEMES and parts.hostname else None


def _no_separator(s: str) -> str:
    # record_id joins its parts with U+001F; a part must not contain it.
    return s.replace("\x1f", " ")


def _ident(entry: Mapping[str, Any]) -> str:
    ident = entry.get("id") or entry.get("link")
    return f"id {str(ident)[:120]!r}" if ident else "no guid or link"
