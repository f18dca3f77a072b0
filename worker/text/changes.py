"""Paragraph hashes and the change set between two versions of an article.

A paragraph's hash is the first 16 hex digits of SHA-256 over its UTF-8 text after NFC
normalisation, stripping and collapsing every whitespace run to one space: re-flowed or
re-encoded paragraphs keep their hash, any change of a word changes it.

:func:`diff` aligns the two hash lists with :class:`difflib.SequenceMatcher` (longest
matching blocks, ``autojunk`` off so repeated paragraphs are not discarded) and reads its
opcodes:

* ``equal``: nothing;
* ``replace`` of ``n`` old paragraphs by ``n`` new ones: ``changed``, at the new indexes
  (paragraph ``k`` of the block was edited in place);
* ``replace`` of blocks of different lengths: the old ones ``removed``, the new ones
  ``added`` (no guess at which paragraph became which);
* ``delete``: ``removed``; ``insert``: ``added``.

``added`` and ``changed`` are indexes into the new list, ``removed`` into the old one,
each ascending. Hence ``len(new) == len(old) + len(added) - len(removed)``.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.text import kernels

HASH_HEX = 16
_BLANK_LINES = re.compile(r"\n\s*\n")


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Paragraph indexes that differ between an old and a new version."""

    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def split_paragraphs(text: str) -> list[str]:
    """Split text on blank lines, dropping empty paragraphs."""
    return [p.strip() for p in _BLANK_LINES.split(text) if p.strip()]


def paragraph_hash(paragraph: str) -> str:
    """Short hash of one paragraph, blind to Unicode form and whitespace layout."""
    return hashlib.sha256(canonical(paragraph).encode()).hexdigest()[:HASH_HEX]


def paragraph_hashes(paragraphs: Sequence[str]) -> list[str]:
    """:func:`paragraph_hash` of each paragraph, in order.

    :func:`canonical`'s quick checks inline, with the functions bound once: a record's
    paragraphs all pass them, and a dozen calls per record were a third of the cost.
    """
    sha256, is_normalized = hashlib.sha256, unicodedata.is_normalized
    out = []
    for paragraph in paragraphs:
        if not (
            paragraph.isprintable()
            and "  " not in paragraph
            and paragraph.strip(" ") == paragraph
            and is_normalized("NFC", paragraph)
        ):
            paragraph = canonical(paragraph)
        out.append(sha256(paragraph.encode()).hexdigest()[:HASH_HEX])
    return out


def spaced_paragraph_hashes(paragraphs: Sequence[str]) -> list[str]:
    """:func:`paragraph_hashes` of paragraphs whose whitespace is single spaces already.

    The normaliser's paragraphs (:func:`worker.text.normalise.split_paragraphs`): words
    joined by one space, none at either end. :func:`canonical` of such a paragraph is its
    NFC (its unprintable characters, if any, are not whitespace, which ``split`` keeps), so
    only NFC is checked: 40 % of the cost of :func:`paragraph_hashes` goes.
    """
    sha256, is_normalized, normalize = (
        hashlib.sha256,
        unicodedata.is_normalized,
        unicodedata.normalize,
    )
    return [
        sha256((p if is_normalized("NFC", p) else normalize("NFC", p)).encode()).hexdigest()[
            :HASH_HEX
        ]
        for p in paragraphs
    ]


def text_paragraph_hashes(text: str, paragraphs: Sequence[str]) -> list[str]:
    """:func:`spaced_paragraph_hashes` of a record's paragraphs, read from its text.

    ``text`` is ``"\\n\\n".join(paragraphs)`` (a record's). When no paragraph holds a line
    break, the paragraphs' UTF-8 is the text's (encoded once, often cached in the ``str``)
    cut at the blank lines, and one check tells they are all in NFC: a line break composes
    with nothing, so the text is in NFC when each paragraph is. The check is the compiled
    kernels' character table where built (:func:`worker.text.kernels.in_nfc`), a third of
    ``unicodedata.is_normalized``'s cost, which answers when the table cannot.
    """
    data = text.encode()
    if data.count(b"\n") != 2 * (len(paragraphs) - 1):
        return spaced_paragraph_hashes(paragraphs)
    if not (kernels.in_nfc(text) or unicodedata.is_normalized("NFC", text)):
        return spaced_paragraph_hashes(paragraphs)
    sha256 = hashlib.sha256
    return [sha256(p).hexdigest()[:HASH_HEX] for p in data.split(b"\n\n")]


def canonical(paragraph: str) -> str:
    """NFC, every whitespace run one space, stripped: what a paragraph's hash is of.

    ``str.split()`` cuts at the characters ``\\s`` matches in a ``str`` pattern (both ask
    ``str.isspace``), at a fifth of the regular expression's cost. A paragraph of the
    normaliser is already canonical, which two quick checks in C tell: NFC, and printable
    (every whitespace character but the space is not) with no double, leading or trailing
    space.
    """
    if not unicodedata.is_normalized("NFC", paragraph):
        paragraph = unicodedata.normalize("NFC", paragraph)
    if paragraph.isprintable() and "  " not in paragraph and paragraph.strip(" ") == paragraph:
        return paragraph
    return " ".join(paragraph.split())


def diff(old: Sequence[str], new: Sequence[str]) -> ChangeSet:
    """Change set from the old to the new list of paragraph hashes (see the module doc)."""
    added: list[int] = []
    removed: list[int] = []
    changed: list[int] = []
    matcher = difflib.SequenceMatcher(None, list(old), list(new), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            changed.extend(range(j1, j2))
        elif tag != "equal":
            removed.extend(range(i1, i2))
            added.extend(range(j1, j2))
    return ChangeSet(added=added, removed=removed, changed=changed)
