"""Make untrusted XML safe to hand to feedparser: no DTD internal subset, no ENTITY.

feedparser removes "unsafe" entity declarations itself, but keeps those whose value is
plain text, and expat expands them: a 12 KB feed declaring one 10,000-character entity
and referring to it a thousand times becomes a 10-million-character title (the
"quadratic blowup"). So before feedparser sees a document, :func:`neutralise_dtd`

- removes the internal subset of the DOCTYPE (``[ ... ]``: every ``<!ENTITY``,
  ``<!ELEMENT``, parameter entity and external entity declaration), keeping the DOCTYPE's
  name and public id, which feedparser reads to tell RSS 0.91 Netscape from Userland;
- removes any other ``<!ENTITY`` declaration in the prolog.

References to the removed entities are then undefined: expat stops, feedparser falls back
to its loose parser, which leaves them as literal text (``&lol9;``). Nothing is expanded
and no file or URL named by an external entity is ever read.

Two more passes bound what the parser sees: :func:`neutralise_char_refs` replaces
character references to no character (``&#xD800;``), which would make feedparser drop
the whole feed, and :func:`keep_entries` cuts the entries past a cap out of the bytes.
:func:`split_entries` cuts a document into its entries, for parsing each alone.

:func:`neutralise_dtd` scans only the prolog (what precedes the root element): a
DOCTYPE cannot appear later. Documents in encodings where ``<`` is not the byte 0x3C
(UTF-16, UTF-32, EBCDIC) are first transcoded to UTF-8, their XML declaration rewritten
to say so.
"""

from __future__ import annotations

import codecs
import re

# Byte signatures of encodings that are not ASCII-compatible, BOMs first (feedparser and
# the XML spec, appendix F, detect the same ones).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # "<?xm" in EBCDIC
)
_ENCODING_DECL = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")
_NAME_START = re.compile(rb"<[A-Za-z_:]")


def neutralise_dtd(data: bytes) -> bytes:
    """``data`` without a DOCTYPE internal subset or ENTITY declarations (see module doc)."""
    data = ascii_compatible(data)
    end = _root_start(data)
    head = data[:end]
    if b"<!" not in head:
        return data
    return _clean_prolog(head) + data[end:]


def ascii_compatible(data: bytes) -> bytes:
    """UTF-16/32 and EBCDIC documents as UTF-8, with the XML declaration saying utf-8."""
    for signature, codec in _SIGNATURES:
        if data.startswith(signature):
            text = data.decode(codec, errors="replace").lstrip("\ufeff")
            return _ENCODING_DECL.sub(rb"\1\2utf-8\2", text.encode("utf-8"), count=1)
    return data


def _root_start(data: bytes) -> int:
    """Offset of the root element's start tag, skipping comments, PIs and declarations."""
    pos = 0
    while True:
        match = _NAME_START.search(data, pos)
        if match is None:
            return len(data)
        start = match.start()
        opener = _last_open(data, pos, start)
        if opener is None:
            return start
        pos = opener  # the tag sits inside a comment, PI or declaration: skip past its end


def _last_open(data: bytes, pos: int, limit: int) -> int | None:
    """End of the markup (comment, PI, declaration) still open at ``limit``, if any."""
    i = pos
    while True:
        i = data.find(b"<", i, limit)
        if i < 0:
            return None
        end = _markup_end(data, i)
        if end > limit:
            return end
        i = end


def _markup_end(data: bytes, i: int, *, in_subset: bool = False) -> int:
    """Offset just after the comment, PI, DOCTYPE or declaration starting at ``i``.

    Inside an internal subset a declaration has no subset of its own: ``[`` is then an
    ordinary character, so crafted nesting cannot drive the scanner into deep recursion.
    """
    if data.startswith(b"<!--", i):
        return _after(data, b"-->", i + 4)
    if data.startswith(b"<?", i):
        return _after(data, b"?>", i + 2)
    if data.startswith(b"<!", i):
        return _declaration_end(data, i + 2, subset=not in_subset)
    return i + 1


def _after(data: bytes, token: bytes, start: int) -> int:
    found = data.find(token, start)
    return len(data) if found < 0 else found + len(token)


def _declaration_end(data: bytes, i: int, *, subset: bool = True) -> int:
    """End of ``<!...>``, honouring quotes, and a ``[...]`` subset with its own markup."""
    while i < len(data):
        char = data[i : i + 1]
        if char in (b'"', b"'"):
            i = _after(data, char, i + 1)
        elif char == b"[" and subset:
            i = _subset_end(data, i + 1)
        elif char == b">":
            return i + 1
        else:
            i += 1
    return len(data)


def _subset_end(data: bytes, i: int) -> int:
    """Offset just after the ``]`` closing an internal subset that starts at ``i``."""
    while i < len(data):
        char = data[i : i + 1]
        if char == b"]":
            return i + 1
        if char == b"<":
            i = _markup_end(data, i, in_subset=True)
        elif char in (b'"', b"'"):
            i = _after(data, char, i + 1)
        else:
            i += 1
    return len(data)


def _clean_prolog(head: bytes) -> bytes:
    """The prolog with DOCTYPE subsets and ENTITY declarations removed."""
    out: list[bytes] = []
    i = 0
    while (j := head.find(b"<", i)) >= 0:
        end = _markup_end(head, j)
        out.append(head[i:j])
        out.append(_clean_markup(head[j:end]))
        i = end
    out.append(head[i:])
    return b"".join(out)


def _clean_markup(markup: bytes) -> bytes:
    upper = markup[:9].upper()
    if upper.startswith(b"<!ENTITY"):
        return b""
    if upper.startswith(b"<!DOCTYPE"):
        return _without_subset(markup)
    return markup


def _without_subset(doctype: bytes) -> bytes:
    """``<!DOCTYPE name PUBLIC "..." "...">`` without its ``[...]`` internal subset."""
    i = 9
    while i < len(doctype):
        char = doctype[i : i + 1]
        if char in (b'"', b"'"):
            i = _after(doctype, char, i + 1)
        elif char == b"[":
            return doctype[:i].rstrip() + b">"
        else:
            i += 1
    return doctype


# A character reference to no character (a surrogate, a code point past U+10FFFF) cannot
# be parsed at all: expat stops and feedparser's loose parser raises, losing the whole
# feed. Such a reference becomes this noncharacter, which XML allows and no text needs;
# the feed parser rejects the entry that holds it (``entry.invalid``).
BAD_REFERENCE = "\ufdd0"
_BAD_REFERENCE_XML = b"&#xFDD0;"
# References to XML's forbidden controls (NUL, ESC, ...) and U+FFFE, U+FFFF are dropped.
_FORBIDDEN = frozenset({*range(0x9), 0xB, 0xC, *range(0xE, 0x20), 0xFFFE, 0xFFFF})
# Comments and CDATA sections are skipped (a reference there is text, not a reference); an
# unclosed one runs to the end, as in XML, which also keeps the scan linear.
_CHAR_REF = re.compile(
    rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));",
    re.DOTALL,
)


def neutralise_char_refs(data: bytes) -> bytes:
    """``data`` with character references to no character replaced (see above).

    Call it on an ASCII-compatible document (after :func:`ascii_compatible`).
    """
    if b"&#" not in data:
        return data
    return _CHAR_REF.sub(_replace_reference, data)


def _replace_reference(match: re.Match[bytes]) -> bytes:
    hex_digits, digits = match.group(1), match.group(2)
    if hex_digits is None and digits is None:
        return match.group()  # a comment or CDATA section
    code = int(hex_digits, 16) if hex_digits is not None else int(digits)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return _BAD_REFERENCE_XML
    return b"" if code in _FORBIDDEN else match.group()


# The start and end tags of feed entries (RSS item, Atom entry, any namespace prefix),
# outside comments and CDATA sections.
_ENTRY_TAG = re.compile(
    rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|<(/?)(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]",
    re.DOTALL,
)


def keep_entries(data: bytes, limit: int) -> tuple[bytes, int]:
    """The document with only its first ``limit`` entries, and how many entries it had.

    Entries past the limit are cut out of the bytes (from the start tag of entry
    ``limit + 1`` to the end tag of the last entry), so the feed parser never builds
    them: a feed of 100,000 tiny entries would otherwise cost gigabytes. What follows the
    last entry (closing tags, trailing channel elements) is kept.
    """
    if data.count(b"item") + data.count(b"entry") <= limit:  # each entry tag holds one
        return data, 0
    starts, last_end = 0, -1
    cut = -1
    for match in _ENTRY_TAG.finditer(data):
        if match.group(1) is None:
            continue  # a comment or CDATA section
        if match.group(1) == b"/" or match.group().endswith(b"/"):  # an end tag or <item/>
            last_end = data.find(b">", match.start())
        if match.group(1) == b"/":
            continue
        starts += 1
        if starts == limit + 1:
            cut = match.start()
    if cut < 0:
        return data, starts
    tail = data[last_end + 1 :] if last_end > cut else b""
    return data[:cut] + tail, starts


def split_entries(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """The document around its entries (head, tail), and each entry's bytes, in order.

    An entry runs from its start tag to the first entry end tag after it (or to the next
    start tag, or the end of the document): what lies between two entries is dropped. For
    parsing each entry alone, in ``head + entry + tail``, when the whole document trips
    the parser.
    """
    spans: list[tuple[int, int]] = []
    start = -1
    for match in _ENTRY_TAG.finditer(data):
        kind = match.group(1)
        if kind is None:
            continue  # a comment or CDATA section
        end = data.find(b">", match.start()) + 1 or len(data)
        if start >= 0 and kind != b"/":
            spans.append((start, match.start()))  # an entry left open
        if kind == b"/":
            if start >= 0:
                spans.append((start, end))
            start = -1
        elif match.group().endswith(b"/"):
            spans.append((match.start(), end))
            start = -1
        else:
            start = match.start()
    if start >= 0:
        spans.append((start, len(data)))
    if not spans:
        return data, [], b""
    return data[: spans[0][0]], [data[a:b] for a, b in spans], data[spans[-1][1] :]
