"""Media of a feed entry: enclosures, Media RSS content and thumbnails. Pure.

:func:`entry_media` reads a feedparser entry (or a JSON Feed item made into one by
:func:`worker.text.jsonfeed.item_entry`), in this order:

1. ``enclosures``: RSS ``<enclosure>``, Atom ``<link rel="enclosure">``, JSON Feed
   ``attachments``;
2. ``links`` with ``rel="enclosure"`` (feedparser lists enclosures there too);
3. ``media_content``: Media RSS ``<media:content>``, also inside ``<media:group>``;
4. ``media_thumbnail``: ``<media:thumbnail>``, JSON Feed ``image``.

Each medium is a dict with ``url`` and, only when known and well-formed, ``type`` (a
lowercase ``type/subtype`` without parameters), ``length`` (bytes, an int >= 0) and
``medium`` (Media RSS's ``image``, ``audio``, ``video``, ``document`` or ``executable``;
thumbnails are ``image``). Only absolute http(s) URLs without whitespace or control
characters are kept (:func:`worker.text.weburl.web_url`): ``javascript:``, ``data:`` and
relative URLs are dropped. A URL seen twice is one medium, the later mention filling in
what the first lacked. At most :data:`MAX_MEDIA` media are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from worker.text.weburl import web_url

MAX_MEDIA = 20
MAX_LENGTH_DIGITS = 15  # a petabyte: larger claims are noise, not sizes
MEDIUMS = frozenset({"image", "audio", "video", "document", "executable"})
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")

Medium = dict[str, Any]


def entry_media(entry: Mapping[str, Any]) -> list[Medium]:
    """The entry's media, deduplicated by URL, at most :data:`MAX_MEDIA` (see module doc)."""
    found: dict[str, Medium] = {}
    for medium in _candidates(entry):
        if medium["url"] in found:
            found[medium["url"]] = medium | found[medium["url"]]
        elif len(found) < MAX_MEDIA:
            found[medium["url"]] = medium
    return list(found.values())


def first_image(media: list[Medium]) -> str | None:
    """The URL of the first medium with an ``image/*`` type or the ``image`` medium."""
    for medium in media:
        if str(medium.get("type", "")).startswith("image/") or medium.get("medium") == "image":
            return str(medium["url"])
    return None


def _candidates(entry: Mapping[str, Any]) -> Iterator[Medium]:
    enclosures = _dicts(entry.get("enclosures"))
    links = (d for d in _dicts(entry.get("links")) if d.get("rel") == "enclosure")
    for raw in (*enclosures, *links):
        if medium := _medium(raw.get("href"), raw.get("type"), raw.get("length"), None):
            yield medium
    for raw in _dicts(entry.get("media_content")):
        fields = raw.get("type"), raw.get("filesize"), raw.get("medium")
        if medium := _medium(raw.get("url"), *fields):
            yield medium
    for raw in _dicts(entry.get("media_thumbnail")):
        if medium := _medium(raw.get("url"), None, None, "image"):
            yield medium


def _medium(url: Any, mime: Any, length: Any, medium: Any) -> Medium | None:
    """One medium from raw values; None without a usable URL. Bad fields are left out."""
    checked = web_url(url)
    if checked is None:
        return None
    fields = {"type": _mime(mime), "length": _length(length), "medium": _kind(medium)}
    return {"url": checked} | {k: v for k, v in fields.items() if v is not None}


def _mime(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    mime = value.split(";", 1)[0].strip().lower()
    return mime if _MIME.match(mime) else None


def _length(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**MAX_LENGTH_DIGITS else None
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_LENGTH_DIGITS:
        return int(text)
    return None


def _kind(value: Any) -> str | None:
    kind = value.strip().lower() if isinstance(value, str) else None
    return kind if kind in MEDIUMS else None


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
