"""OPML subscription lists in and out: what feed readers import and export. Pure.

Reading (:func:`parse_opml`) uses the stdlib ElementTree only on a defused document: it
is first made ASCII-compatible, refused outright if it declares an entity
(``<!ENTITY``: billion laughs, external entities), and its DOCTYPE internal subset is
removed by :func:`worker.text.xmlsafe.neutralise_dtd`, so an entity reference can only be
undefined: an error, or, when the DOCTYPE names an external DTD (which expat never
fetches), a reference expat skips.

- Every ``<outline>`` with an ``xmlUrl`` is a feed; its title is the ``title``
  attribute, else ``text`` (a ``text`` that merely repeats the URL is no title).
- Outlines without ``xmlUrl`` are folders: their titles, outermost first and joined with
  ``/``, are the feed's ``category``. A feed outside any folder takes the first path of
  its OPML 2.0 ``category`` attribute, if any.
- Outlines nested more than ``MAX_DEPTH`` (100) levels deep refuse the whole document.
- Only absolute http(s) URLs are kept (:func:`worker.text.weburl.web_url`); a URL seen
  before is skipped, the first outline wins. Titles are normalised (single spaces).
- A URL with credentials (``user:pass@``) refuses the whole document, in one line that
  shows it without them: nothing is imported.

Writing (:func:`export_opml`) produces OPML 2.0 with one folder outline per category
level; :func:`parse_opml` reads it back to the same feeds, grouped by folder.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

from worker.core.errors import OpmlError
from worker.core.textsafe import redact_userinfo
from worker.text.normalise import normalise_inline
from worker.text.weburl import has_credentials, web_url
from worker.text.xmlsafe import ascii_compatible, neutralise_dtd

MAX_OPML_BYTES = 10 * 1024 * 1024
MAX_FEEDS = 10_000
MAX_DEPTH = 100  # outline levels; folder trees of real readers are a few levels deep
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One subscription of an OPML file: its URL, title, and folder path (``a/b``)."""

    url: str
    title: str | None = None
    category: str | None = None


def parse_opml(data: bytes, *, max_bytes: int = MAX_OPML_BYTES) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order; OpmlError if it is not OPML."""
    body = _body(_root(data, max_bytes))
    found: dict[str, OpmlFeed] = {}
    for outline, path in _outlines(body):
        feed = _feed(outline, path)
        if feed is not None:
            found.setdefault(feed.url, feed)
            if len(found) > MAX_FEEDS:
                raise OpmlError(f"OPML: more than {MAX_FEEDS} feeds")
    return list(found.values())


def _root(data: bytes, max_bytes: int) -> ET.Element:
    if len(data) > max_bytes:
        raise OpmlError(f"OPML: {len(data)} bytes, over the {max_bytes} cap")
    data = ascii_compatible(data)
    if _ENTITY_DECL.search(data):
        raise OpmlError("OPML: entity declarations are not allowed")
    try:
        return ET.fromstring(neutralise_dtd(data))
    except ET.ParseError as e:
        raise OpmlError(f"OPML: not well-formed XML: {e}") from e


def _body(root: ET.Element) -> ET.Element:
    if root.tag != "opml":
        raise OpmlError(f"not OPML: the root element is <{root.tag[:80]}>, not <opml>")
    body = root.find("body")
    if body is None:
        raise OpmlError("not OPML: no <body>")
    return body


def _outlines(body: ET.Element) -> Iterator[tuple[ET.Element, tuple[str, ...]]]:
    """Every outline with its folder path, in document order (no recursion).

    Outlines nested deeper than MAX_DEPTH are refused: each level's path is a copy of its
    parent's, so depth would cost its square in time.
    """
    stack: list[tuple[ET.Element, tuple[str, ...], int]] = [(c, (), 1) for c in reversed(body)]
    while stack:
        outline, path, depth = stack.pop()
        if outline.tag != "outline":
            continue
        if depth > MAX_DEPTH:
            raise OpmlError(f"OPML: outlines nested deeper than {MAX_DEPTH} levels")
        yield outline, path
        attrs = _attributes(outline)
        inner = path if "xmlurl" in attrs else (*path, *_names(_title(attrs)))
        stack.extend((child, inner, depth + 1) for child in reversed(outline))


def _feed(outline: ET.Element, path: tuple[str, ...]) -> OpmlFeed | None:
    attrs = _attributes(outline)
    url = web_url(attrs.get("xmlurl"))
    if url is None:
        return None
    if has_credentials(url):
        shown = redact_userinfo(url)
        raise OpmlError(f"OPML: {shown}: credentials in a feed URL are not accepted; remove them")
    title = _title(attrs)
    category = "/".join(path) or _category_attribute(attrs.get("category"))
    return OpmlFeed(url, title if title != url else None, category)


def _attributes(outline: ET.Element) -> dict[str, str]:
    # Exporters disagree on case (xmlUrl, xmlurl, XMLURL).
    return {k.lower(): v for k, v in outline.attrib.items()}


def _title(attrs: dict[str, str]) -> str | None:
    for name in ("title", "text"):
        title = normalise_inline(attrs.get(name) or "")
        if title:
            return title
    return None


def _category_attribute(value: str | None) -> str | None:
    first = (value or "").split(",", 1)[0]
    return "/".join(_names(first)) or None


def _names(path: str | None) -> list[str]:
    return [n for part in (path or "").split("/") if (n := normalise_inline(part))]


@dataclass
class _Folder:
    """A folder of the export tree: feeds and subfolders in order of first appearance."""

    items: list[OpmlFeed | str] = field(default_factory=list)
    folders: dict[str, _Folder] = field(default_factory=dict)

    def folder(self, name: str) -> _Folder:
        if name not in self.folders:
            self.folders[name] = _Folder()
            self.items.append(name)
        return self.folders[name]


def export_opml(feeds: list[OpmlFeed], title: str) -> bytes:
    """OPML 2.0 for the feeds, one nested folder outline per category level."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = _xml_text(title)
    tree = _Folder()
    for feed in feeds:
        folder = tree
        for name in _names(feed.category):
            folder = folder.folder(name)
        folder.items.append(feed)
    _write(ET.SubElement(root, "body"), tree)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _write(parent: ET.Element, folder: _Folder) -> None:
    for item in folder.items:
        if isinstance(item, str):
            name = _xml_text(item)
            _write(ET.SubElement(parent, "outline", text=name, title=name), folder.folders[item])
        else:
            ET.SubElement(parent, "outline", _feed_attributes(item))


def _feed_attributes(feed: OpmlFeed) -> dict[str, str]:
    title = _xml_text(feed.title or "")
    attrs = {"type": "rss", "text": title or feed.url}
    if title:
        attrs["title"] = title
    return attrs | {"xmlUrl": _xml_text(feed.url)}


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)
