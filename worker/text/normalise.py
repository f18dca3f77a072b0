"""Pure text normalisation: inline text, paragraphs, word counts, hashes and record ids.

Everything here is a pure function of its arguments, so equal input gives equal output
across processes and hosts: what makes ids and content hashes stable.
"""

from __future__ import annotations

import hashlib
import unicodedata

from worker.core.textsafe import strip_controls

# Invisible characters that drift into text and carry no content. Removing ZWJ/ZWNJ also
# flattens emoji ZWJ sequences and Persian/Indic ZWNJ spellings: the price of stable hashes.
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")


def remove_zero_width(s: str) -> str:
    """Remove the zero-width characters of :data:`ZERO_WIDTH` (and the soft hyphen)."""
    for char in ZERO_WIDTH:
        if char in s:  # the membership test is much cheaper than a no-op replace
            s = s.replace(char, "")
    return s


def normalise_inline(s: str) -> str:
    """Normalise one line of text: NFC, no zero-width or control characters, single spaces.

    Zero-width characters go *before* NFC: one between a base letter and its combining
    mark would otherwise block the composition, and decomposed input would normalise
    differently from composed input. Every Unicode space separator (NBSP, U+202F, U+2007,
    ...), tab and line break counts as whitespace, which ``str.split()`` collapses. Other
    control characters (ESC, BEL, ...) are removed: stored text never drives a terminal.
    """
    s = unicodedata.normalize("NFC", remove_zero_width(s))
    # Every whitespace character but the space is unprintable: this skips the costly
    # split/join for text that is already single-spaced, as most lines are.
    if s.isprintable() and "  " not in s and s[:1] != " " and s[-1:] != " ":
        return s
    # NFC again: a control removed from between a letter and its combining mark lets them
    # compose ("a\x1b\u0301" is "á").
    return " ".join(unicodedata.normalize("NFC", strip_controls(s)).split())


def normalise_newlines(text: str) -> str:
    """Turn every line break (CRLF, CR, VT, FF, NEL, U+2028) into ``\\n``.

    U+2029 PARAGRAPH SEPARATOR becomes a blank line, as its name says. A final line break
    is dropped.
    """
    if "\u2029" in text:
        text = text.replace("\u2029", "\n\n")
    return "\n".join(text.splitlines())


def split_paragraphs(body: str, *, prepared: bool = False) -> list[str]:
    """Split a body into normalised paragraphs, separated by blank lines.

    A line that holds only whitespace and zero-width characters is blank. The lines of a
    paragraph (hard wraps) are joined with one space; a word hyphenated across a line
    break therefore keeps a space after its hyphen. Empty paragraphs (control characters
    only, too) are dropped.
    ``prepared``: the body went through :func:`remove_zero_width` and
    :func:`normalise_newlines` already (as ``parse_seed`` does), so they are not repeated.
    """
    paragraphs: list[str] = []
    lines: list[str] = []
    text = body if prepared else normalise_newlines(remove_zero_width(body))
    for line in text.split("\n"):
        if line and not line.isspace():
            lines.append(line)
        elif lines:
            paragraphs.append(normalise_inline(" ".join(lines)))
            lines = []
    if lines:
        paragraphs.append(normalise_inline(" ".join(lines)))
    return [p for p in paragraphs if p]


def join_paragraphs(paragraphs: list[str]) -> str:
    """Join paragraphs with a blank line: the ``text`` of a record."""
    return "\n\n".join(paragraphs)


def word_count(text: str) -> int:
    """Count whitespace-separated words, as ``len(text.split())`` does."""
    return len(text.split())


def paragraph_words(paragraphs: list[str]) -> int:
    """Count the words of normalised paragraphs: ``word_count`` of their join, 6x faster.

    Only for paragraphs from :func:`split_paragraphs` or :func:`normalise_inline`: their
    only whitespace is single spaces between words, so each space separates two words.
    """
    return sum(p.count(" ") for p in paragraphs) + len(paragraphs)


def content_hash(title: str, text: str) -> str:
    """Return the SHA-256 hex digest of ``title + "\\n\\n" + text`` in UTF-8.

    Pass normalised title and text: then equal content gives an equal hash. A normalised
    title holds no line break, so the separator cannot be confused with the title's end.
    """
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()


def origin_key(scheme: str, place: bytes) -> str:
    """An input's origin: ``scheme:`` and 32 hex digits of the SHA-256 of its ``place``.

    ``file`` and its resolved absolute path: what the id of a seed file and the entry
    ids of a feed file are made of (docs/seeds.md, "Identity").
    """
    return f"{scheme}:{hashlib.sha256(place).hexdigest()[:32]}"


def record_id(kind: str, *parts: str) -> str:
    """Return a deterministic record id: ``kind-`` and 24 hex digits of SHA-256 of the parts.

    The parts are joined with U+001F UNIT SEPARATOR before hashing (e.g. ``record_id("seed",
    content_hash)`` gives ``"seed-3fa2…"``), so ``("ab", "c")`` and ``("a", "bc")`` differ.
    Parts must not themselves contain U+001F. 96 bits keep collisions out of reach for any
    realistic number of records while ids stay short.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{kind}-{digest[:24]}"
