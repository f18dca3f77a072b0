"""Python's NFKC and case folding as a table, for the compiled MinHash (:mod:`worker.text.kernels`).

A signature's words are those of ``casefold(NFKC(text))`` (:mod:`worker.text.neardup`).
Both come from this table, for every code point below :data:`LIMIT`:

* **Case folding.** ``str.casefold`` maps each character on its own (full case folding has
  no context), so the characters it changes, each with its folding, fold a text as it does.
* **NFKC.** A text all of whose characters are in NFKC on their own, of combining class 0
  and no second character of a canonical composition is in NFKC as it is: no character
  decomposes, none is reordered and none composes with the one before it (this is
  Unicode's NFKC quick check answering yes). So are the four compatibility characters of
  :data:`COMPATIBLE`, each replaced by its NFKC (plain ASCII). Any other
  character is flagged: a text holding one goes through ``unicodedata.normalize`` first.
* **NFC**, by the same rule: a text without a flagged character is in NFC as it is (the
  paragraph hashes' check, :func:`worker.text.changes.text_paragraph_hashes`).

Above :data:`LIMIT` no character folds or is a composition's second; the table flags every
such character (tests/text/test_kernels.py checks all of them).
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import numpy.typing as npt

LIMIT = 0x20000  # past the last character that folds (U+1E921, ADLAM SMALL LETTER SHA)
NEEDS_NFKC = 0x8000_0000  # an entry's flag: a text holding this character needs NFKC
NOT_NFC = 0x4000_0000  # another: NFC may change a text holding this character
# Compatibility characters common in news, each with its NFKC form (pure ASCII, so the
# replacement leaves the text's NFKC unchanged): once they are replaced, most texts pass
# the NFKC quick check and skip the normalisation (two thirds of a signature's string work).
COMPATIBLE = (("\u2026", "..."), ("\u00a0", " "), ("\u2009", " "), ("\u202f", " "))
# Hangul vowel and trailing consonant jamo: seconds of the algorithmic syllable compositions.
_HANGUL_SECONDS = (range(0x1161, 0x1176), range(0x11A8, 0x11C3))


@functools.cache
def fold_tables() -> tuple[npt.NDArray[np.uint32], bytes, int]:
    """``(index, pool, longest)``: what each code point below :data:`LIMIT` becomes.

    ``index[c]``: ``offset << 8 | length`` of the UTF-8 bytes of ``c``'s folding in
    ``pool`` (0 for a character that folds to itself), with :data:`NEEDS_NFKC` set for a
    character that NFKC may change and :data:`NOT_NFC` for one that NFC may change (the
    same rule with NFC); ``longest``: the longest folding in bytes. ASCII is left to the
    kernel (lowered, always in both forms). About 60 ms, once per process.
    """
    points = np.arange(0x80, LIMIT, dtype=np.uint32)
    points = points[(points < 0xD800) | (points > 0xDFFF)]
    spaced = np.zeros(points.size * 2, dtype=np.uint32)  # each character, then a NUL
    spaced[0::2] = points
    text = spaced.tobytes().decode("utf-32-le")[:-1]
    # Each character's transform, from one call over all of them: none of these changes a
    # NUL or reaches over one (a NUL is a starter that composes with nothing).
    chars = text.split("\0")
    folds = text.casefold().split("\0")
    nfkd = unicodedata.normalize("NFKD", text).split("\0")
    nfd = unicodedata.normalize("NFD", text).split("\0")
    combining = unicodedata.combining
    composing = _composition_seconds(
        [ch for ch, full in zip(chars, nfd, strict=True) if full != ch]
    )
    changing = [  # what folds, decomposes or combines: all else is 0 in the table
        ch
        for ch, fold, full in zip(chars, folds, nfkd, strict=True)
        if fold != ch or full != ch or combining(ch)
    ]
    compatible = dict(COMPATIBLE)
    index = np.zeros(LIMIT, dtype=np.uint32)
    pool = bytearray()
    longest = 0
    for char in sorted(set(changing) | {chr(c) for c in composing}):
        fold = char.casefold()
        starter = not combining(char) and ord(char) not in composing
        flag = 0 if starter and unicodedata.normalize("NFC", char) == char else NOT_NFC
        if char in compatible:
            fold = compatible[char].casefold()
        elif not (starter and unicodedata.normalize("NFKC", char) == char):
            flag |= NEEDS_NFKC
        if fold != char:
            data = fold.encode()
            index[ord(char)] = len(pool) << 8 | len(data)
            longest = max(longest, len(data))
            pool += data
        index[ord(char)] |= flag
    return index, bytes(pool), longest


def _composition_seconds(decomposing: list[str]) -> set[int]:
    """Code points that are the second of a canonical composition (of one of the
    ``decomposing`` characters, or of a Hangul syllable): NFKC's quick check answers
    "maybe" for them, as one may compose with the character before it."""
    seconds = {c for span in _HANGUL_SECONDS for c in span}
    for char in decomposing:
        mapping = unicodedata.decomposition(char)
        if not mapping or mapping.startswith("<"):
            continue
        parts = [chr(int(h, 16)) for h in mapping.split()]
        if len(parts) == 2 and unicodedata.normalize("NFC", "".join(parts)) == char:
            seconds.add(ord(parts[1]))
    return seconds
