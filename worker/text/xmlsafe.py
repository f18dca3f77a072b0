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

Only the prolog (what precedes the root element) is scanned: a DOCTYPE cannot appear
later. Documents in encodings where ``<`` is not the byte 0x3C (UTF-16, UTF-32, EBCDIC)
are first transcoded to UTF-8, their XML declaration rewritten to say so.
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
