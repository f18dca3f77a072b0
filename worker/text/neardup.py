"""Near-duplicate detection: one-permutation MinHash over word shingles, banded for LSH.

The flow for one text::

    text -> words -> k-word shingles -> 64-bit shingle hashes -> 64 bins, 16-bit minima
         -> signature (128 bytes) -> bands (the first rows of it, read in Redis)

**Words.** NFKC, casefolded, in UTF-8: a word is a run of ASCII letters and digits and
non-ASCII characters, cut at everything else and at the common non-ASCII punctuation
(U+00A0-U+00BF, U+2000-U+206F, U+3000-U+303F); each Kana/Han character (U+3040-U+9FFF)
is a word of its own (those scripts do not separate words by spaces). Done on the bytes
with numpy: a regular expression over the text cost more than all the rest together.

**Shingles.** Every run of ``shingle`` consecutive words. A text with fewer words than
that is one shingle; a text without words has no shingles and gets the sentinel signature
(every slot ``0xFFFF``), so all empty texts are near-duplicates of one another: do not
index texts for which :func:`has_words` is false (:func:`packed` gives ``b""`` for them).

**Hashes.** A word's hash is a polynomial of its bytes modulo ``2**64`` plus a multiple
of its length, computed for all words of a text at once (:func:`word_hashes`): stable
across processes and machines, unlike ``hash()``. A shingle's hash combines its words'
hashes with fixed odd 64-bit multipliers and is mixed by the SplitMix64 finaliser.

**One-permutation MinHash** (Li, Owen and Zhang, 2012). The top 6 bits of a shingle's
hash pick one of ``slots`` = 64 bins; slot ``i`` of the signature is the low 16 bits of
the smallest hash in bin ``i``. One hash per shingle replaces one per shingle and
permutation: the 128-permutation MinHash this replaces cost 0.27 ms per 2 KB text with
numpy, this one (words included) about 0.06 ms. A bin no shingle fell in (a short text)
takes the minimum of the first non-empty bin in a fixed pseudo-random order of its own
("optimal densification", Shrivastava 2017), rehashed with its own number so that a
short text's slots are not copies of one another. Two texts share a slot with
probability about the Jaccard similarity ``J`` of their shingle sets (plus ``2**-16``
for two unrelated 16-bit values), so the fraction of equal slots estimates ``J``, with
standard error about ``sqrt(J(1 - J) / 64)``, 0.063 at ``J = 0.5``.

**LSH banding.** Band ``i`` is slots ``i*r .. i*r + r - 1`` of the signature: its key is the
band number (one byte) and those ``2r`` bytes, read straight from the packed signature,
so the Redis script needs no hashing and can find the bands of a stored entry again.
Two texts share at least one of ``b`` bands with probability ``P(J) = 1 - (1 - J**r)**b``,
an S-curve whose steepest point is near ``t = (1 / b) ** (1 / r)``. A band match only makes
a *candidate*, accepted when :func:`similarity` reaches the threshold. Defaults: 3-word
shingles, threshold 0.5, 12 bands of 3 rows (``t = 0.44``; ``P(0.5) = 0.80``,
``P(0.6) = 0.93``, ``P(0.7) = 0.99``, ``P(0.2) = 0.09``). Twelve bands, not more,
because every band is one bucket entry per record and one Redis call per look-up and per
write: the index must stay small and quick beside the record (docs/scaling.md). On synthetic news
(``benchmarks/neardup_quality.py``) that flags every rewritten headline, dropped
paragraph, added boilerplate and 5% word substitution, most 10% substitutions, no 20%
substitution (a rewrite, not a copy) and no same-topic article.

**Compiled.** :func:`packed_many` runs the compiled kernel where the install built it
(:mod:`worker.text.kernels`): the same words, hashes and slots, rule for rule, at a
fraction of the cost; ``compiled=False`` keeps it on the numpy code here.

**Packing.** :func:`pack` writes the slots as little-endian ``uint16`` (128 bytes). The
estimated Jaccard of two packed signatures is the fraction of equal 2-byte slots, which
the Lua script counts from ``string.byte``.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from worker.text import bandspec, kernels
from worker.text.casefolds import COMPATIBLE

if TYPE_CHECKING:
    from worker.text._kernels import MinHasher

Signature = npt.NDArray[np.uint16]

SEED = 14
# Texts whose words are found and hashed together (packed_many): 16 texts of 3 KB keep
# the chunk's 64-bit arrays within a core's L2 cache (32 cost 15-25 % more per text).
CHUNK = 16
EMPTY_SLOT = 0xFFFF
SLOT_BYTES = bandspec.SLOT_BYTES
# Odd 64-bit constants (digits of pi and e) weighting each word's position in a shingle.
_POSITION = np.array(
    [0x243F6A8885A308D3, 0x13198A2E03707345, 0xA4093822299F31D1, 0x082EFA98EC4E6C89,
     0x452821E638D01377, 0xBE5466CF34E90C6D, 0xC0AC29B7C97C50DD, 0x3F84D5B5B5470917],
    dtype=np.uint64,
)  # fmt: skip
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NO_HASH = np.uint64(2**64 - 1)  # above every hash: an empty bin's minimum


@dataclass(frozen=True, slots=True)
class NearDupConfig:
    """Parameters of signatures and bands; every record compared must share them."""

    threshold: float = 0.5
    slots: int = bandspec.SLOTS
    shingle: int = 3
    bands: int = bandspec.BANDS
    rows: int = bandspec.ROWS
    seed: int = SEED

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.slots:
            raise ValueError("bands * rows must not exceed slots")
        if self.slots & (self.slots - 1) or not 2 <= self.slots <= 256:
            raise ValueError("slots must be a power of two from 2 to 256")
        if not 1 <= self.shingle <= len(_POSITION):
            raise ValueError(f"shingle must be between 1 and {len(_POSITION)}")


DEFAULT = NearDupConfig()


def words(text: str) -> list[str]:
    """The words :func:`signature` sees, as strings (for tests and for reading)."""
    data, starts, ends = _spans(text)
    raw = data.tobytes()
    return [raw[a:b].decode() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def has_words(text: str) -> bool:
    """Tell whether the text has at least one word, i.e. a meaningful signature."""
    return _spans(text)[1].size > 0


def word_hashes(text: str) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of every word of the text, in order (stable across processes).

    A word's bytes ``c_0 .. c_n`` give ``sum(c_k * K**k) mod 2**64``, computed for all words
    at once from the prefix sums of ``c_k * K**k`` (``K`` odd, so ``K**-s`` exists mod
    ``2**64`` and shifts a word starting at byte ``s`` back to 0), plus its length times a constant.
    """
    return _hashes_of(*_spans(text))


def _hashes_of(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp]
) -> npt.NDArray[np.uint64]:
    """:func:`word_hashes` of the words at ``starts``/``ends`` of ``data``."""
    if starts.size == 0:
        return np.empty(0, dtype=np.uint64)
    powers, inverses = _powers(data.size + 1)
    prefix = np.empty(data.size + 1, dtype=np.uint64)
    prefix[0] = 0
    np.multiply(data, powers[: data.size], out=prefix[1:])  # the bytes widened as they go
    np.cumsum(prefix[1:], out=prefix[1:])
    values = (prefix[ends] - prefix[starts]) * inverses[starts]
    return values + (ends - starts).astype(np.uint64) * _GOLDEN


def signature(text: str, config: NearDupConfig = DEFAULT) -> Signature:
    """One-permutation MinHash of the text's word shingles: ``config.slots`` uint16 slots."""
    return _minhash(word_hashes(text), config)


def packed(text: str, config: NearDupConfig = DEFAULT) -> bytes:
    """The packed signature of a text, or ``b""`` when it has no words (not to be indexed)."""
    words_of = word_hashes(text)
    return pack(_minhash(words_of, config)) if words_of.size else b""


def packed_many(
    texts: Sequence[str], config: NearDupConfig = DEFAULT, *, compiled: bool = True
) -> list[bytes]:
    """:func:`packed` of each text, by the compiled kernel where the install built it.

    ``compiled=False``: by numpy, always (the kernel's tests compare the two). The kernel
    (:mod:`worker.text.kernels`) is given the texts in NFKC and folds, finds words and
    hashes as below, rule for rule, at about a tenth of the cost.
    """
    hasher = minhasher(config) if compiled else None
    if hasher is None:
        return _packed_many_numpy(texts, config)
    found = hasher.packed(list(texts), True)
    later = [i for i, signature in enumerate(found) if signature is None]
    if later:  # texts that need NFKC: normalised here, then given as they are
        again = hasher.packed([_nfkc(texts[i]) for i in later], False)
        for i, signature in zip(later, again, strict=True):
            found[i] = signature
    return [signature or b"" for signature in found]


@functools.cache
def minhasher(config: NearDupConfig = DEFAULT) -> MinHasher | None:
    """The compiled MinHash of ``config``'s signatures (made once), or None without it."""
    return kernels.minhasher(positions(config.shingle), donors(config.slots, config.seed))


def positions(shingle: int) -> npt.NDArray[np.uint64]:
    """The odd multipliers of each word's place in a shingle of ``shingle`` words."""
    return _POSITION[:shingle].copy()


def donors(slots: int, seed: int) -> npt.NDArray[np.intp]:
    """Row ``i``: the bins an empty bin ``i`` borrows its minimum from, in order."""
    return _donors(slots, seed)


def _packed_many_numpy(texts: Sequence[str], config: NearDupConfig) -> list[bytes]:
    """:func:`packed` of each text; words found and hashed for :data:`CHUNK` texts at once.

    The texts of a chunk are joined by a space (no word spans two), so one pass of the
    byte scan and the prefix sums serves them all; a word's hash does not depend on where
    it starts, so each text's words hash as they do alone.
    """
    out: list[bytes] = []
    for first in range(0, len(texts), CHUNK):
        folded = [_folded_utf8(t) for t in texts[first : first + CHUNK]]
        data, starts, ends = _byte_spans(b" ".join(folded))
        hashes = _hashes_of(data, starts, ends)
        bounds = np.cumsum([len(f) + 1 for f in folded])  # each text's end, and its space
        text_of = np.searchsorted(bounds, starts, side="right")
        out += _packed_of_texts(hashes, text_of, len(folded), config)
    return out


def _packed_of_texts(
    hashes: npt.NDArray[np.uint64],
    text_of: npt.NDArray[np.intp],
    texts: int,
    config: NearDupConfig,
) -> list[bytes]:
    """Packed signatures of texts whose words' hashes lie end to end (``text_of``: whose).

    :func:`_minhash` for all of them at once: the shingles that do not straddle two texts,
    then each (text, bin)'s minimum; a text with empty bins or fewer words than a shingle
    goes through :func:`_minhash` alone.
    """
    counts = np.bincount(text_of, minlength=texts)
    width, slots = config.shingle, config.slots
    minima = np.full(texts * slots, _NO_HASH, dtype=np.uint64)
    filled = np.zeros(texts * slots, dtype=bool)
    if hashes.size >= width:
        n = hashes.size - width + 1
        combined = hashes[:n] * _POSITION[0]
        for offset in range(1, width):
            combined += hashes[offset : offset + n] * _POSITION[offset]
        within = text_of[:n] == text_of[width - 1 :]
        shingles = _mix64(combined[within])
        _, _, shift = _bins(slots)
        keys = text_of[:n][within] * slots + (shingles >> shift).astype(np.intp)
        np.minimum.at(minima, keys, shingles)
        filled[keys] = True
    low = (minima & np.uint64(0xFFFF)).astype("<u2").reshape(texts, slots)
    every_bin = np.asarray(filled.reshape(texts, slots).all(axis=1), dtype=bool).tolist()
    starts = np.cumsum(counts) - counts
    out = []
    for t in range(texts):
        if counts[t] == 0:
            out.append(b"")
        elif counts[t] >= width and every_bin[t]:
            out.append(low[t].tobytes())
        else:  # a short text: densified bins, or one shingle of all its words
            out.append(pack(_minhash(hashes[starts[t] : starts[t] + counts[t]], config)))
    return out


def _minhash(word_hashes_of: npt.NDArray[np.uint64], config: NearDupConfig) -> Signature:
    hashes = shingle_hashes(word_hashes_of, config.shingle)
    if hashes.size == 0:
        return np.full(config.slots, EMPTY_SLOT, dtype=np.uint16)
    starts, numbers, shift = _bins(config.slots)
    # Sorted, the hashes come bin by bin (the top bits); the first at or after a bin's
    # start is its minimum, if it is still in that bin.
    keys = np.sort(hashes)
    minima = keys[np.minimum(np.searchsorted(keys, starts), keys.size - 1)]
    filled = (minima >> shift) == numbers
    if not filled.all():
        empty = np.flatnonzero(~filled)
        order = _donors(config.slots, config.seed)[empty]  # each empty bin's donor order
        donor = order[np.arange(empty.size), filled[order].argmax(axis=1)]
        # The donor's minimum, rehashed with the bin number: a short text's slots differ
        # from one another, so two short texts agree by chance on each slot apart.
        minima[empty] = _mix64(minima[donor] + (empty.astype(np.uint64) + 1) * _GOLDEN)
    return (minima & np.uint64(0xFFFF)).astype(np.uint16)


def shingle_hashes(hashes: npt.NDArray[np.uint64], size: int) -> npt.NDArray[np.uint64]:
    """The 64-bit hash of every run of ``size`` words (repeats kept), from word hashes."""
    if hashes.size == 0:
        return np.empty(0, dtype=np.uint64)
    width = min(size, hashes.size)
    count = hashes.size - width + 1
    combined = hashes[:count] * _POSITION[0]
    for offset in range(1, width):
        combined += hashes[offset : offset + count] * _POSITION[offset]
    return _mix64(combined)


def bands(sig: Signature | bytes, config: NearDupConfig = DEFAULT) -> list[bytes]:
    """The band keys: band number (one byte), then that band's ``rows`` packed slots.

    upsert.lua and prune.lua cut the same keys out of a packed signature.
    """
    raw = sig if isinstance(sig, bytes) else pack(sig)
    width = SLOT_BYTES * config.rows
    return [bytes([i]) + raw[i * width : (i + 1) * width] for i in range(config.bands)]


def similarity(a: Signature | bytes, b: Signature | bytes) -> float:
    """Estimated Jaccard similarity: the fraction of equal slots."""
    left, right = _as_signature(a), _as_signature(b)
    if left.shape != right.shape:
        raise ValueError("signatures of different lengths are not comparable")
    if left.size == 0:
        return 1.0
    return float(np.count_nonzero(left == right)) / left.size


def pack(sig: Signature) -> bytes:
    """Serialise a signature as little-endian uint16 slots."""
    return sig.astype("<u2").tobytes()


def unpack(data: bytes) -> Signature:
    """Inverse of :func:`pack`."""
    if len(data) % SLOT_BYTES:
        raise ValueError("packed signature length must be a multiple of 2")
    return np.frombuffer(data, dtype="<u2").astype(np.uint16)


def _as_signature(value: Signature | bytes) -> Signature:
    return unpack(value) if isinstance(value, bytes) else value


def _mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser: spreads every input bit over the output (wrapping uint64)."""
    x = x ^ (x >> np.uint64(30))  # a new array: the caller's is left alone
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _spans(text: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The text's UTF-8 bytes (NFKC, casefolded) and the start and end of each word in them.

    A word is a run of word bytes: ASCII letters and digits, and the bytes of non-ASCII
    characters other than the separators (U+00A0-U+00BF: no-break space, guillemets,
    inverted marks; U+2000-U+206F: general punctuation, quotes, dashes; U+3000-U+303F: CJK
    punctuation). A character from U+3040 to U+9FFF (Kana, Han) is a word of its own.
    """
    return _byte_spans(_folded_utf8(text))


def _byte_spans(
    raw: bytes,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """:func:`_spans` of text already folded and encoded."""
    data = np.frombuffer(raw, dtype=np.uint8)
    marks = raw.translate(_WORD_TABLE)  # 1 for a word byte, 0 for another
    if raw.isascii():  # most news: no multi-byte separator, no Kana or Han
        padded = np.frombuffer(b"\0" + marks + b"\0", dtype=np.int8)
        step = padded[1:] - padded[:-1]
        return data, np.flatnonzero(step == 1), np.flatnonzero(step == -1)
    word = np.frombuffer(marks, dtype=bool).copy()
    lead = np.flatnonzero((data == 0xC2) | (data == 0xE2) | (data == 0xE3))
    if lead.size:
        follow = data[np.minimum(lead + 1, data.size - 1)]
        two = lead[(data[lead] == 0xC2) & (follow >= 0xA0)]
        three = lead[
            ((data[lead] == 0xE2) & ((follow == 0x80) | (follow == 0x81)))
            | ((data[lead] == 0xE3) & (follow == 0x80))
        ]
        for width, at in ((2, two), (3, three)):
            for k in range(width):
                word[np.minimum(at + k, data.size - 1)] = False
    edge = np.zeros(data.size + 1, dtype=bool)  # a word starts or ends before byte i
    edge[:-1] = word
    edge[1:] ^= word
    cjk = np.flatnonzero((data >= 0xE3) & (data <= 0xE9) & word)
    if cjk.size:  # each such character is a word: cut before and after its three bytes
        edge[cjk] = True
        edge[np.minimum(cjk + 3, data.size)] = True
    starts = np.flatnonzero(edge[:-1] & word)
    ends = np.flatnonzero(edge[1:] & word) + 1
    return data, starts, ends


def _folded(text: str) -> str:
    """NFKC, casefolded."""
    return _nfkc(text).casefold()


def _nfkc(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):
        for char, plain in COMPATIBLE:
            if char in text:
                text = text.replace(char, plain)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    return text


_ASCII = bytes(range(0x80))


def _folded_utf8(text: str) -> bytes:
    """:func:`_folded` in UTF-8, mostly without ``str.casefold`` (a quarter of a signature).

    Case folding maps each character on its own, and is ``lower`` on ASCII. A text in a
    Latin script has few other characters (they are the bytes left once the ASCII ones are
    deleted) and fewer that fold to another (``É``, ``ß``): the bytes with ASCII lower case
    and those few replaced are the folded text (UTF-8 finds a character's bytes only where
    it is). Other texts, or a folding that folds again, go through ``casefold``. The
    characters seen to fold to themselves (most of a text's: quotes, dashes, accented small
    letters) are remembered and not looked at again.
    """
    text = _nfkc(text)
    data = text.encode()
    if data.isascii():
        return data.lower()
    others = data.translate(None, _ASCII)
    if len(others) * 4 > len(data):
        return text.casefold().encode()
    data = data.lower()
    replaced = 0
    for char in set(others.decode()) - _SELF_FOLDING:
        folded = char.casefold()
        if folded == char:
            if len(_SELF_FOLDING) < _MAX_REMEMBERED:
                _SELF_FOLDING.add(char)
            continue
        replaced += 1
        if replaced > _MAX_REPLACED or folded.casefold() != folded:
            return text.casefold().encode()
        data = data.replace(char.encode(), folded.encode())
    return data


_MAX_REPLACED = 8  # characters that fold to another, replaced in the bytes one by one
_SELF_FOLDING: set[str] = set()  # non-ASCII characters whose case folding is themselves
_MAX_REMEMBERED = 1 << 16


def _word_table() -> bytes:
    """A ``bytes.translate`` table: 1 for ASCII letters and digits and non-ASCII bytes."""
    word = set(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") | set(
        range(0x80, 0x100)
    )
    return bytes(1 if b in word else 0 for b in range(256))


_WORD_TABLE = _word_table()
_POWER_BASE = 0x9E3779B97F4A7C15 | 1


def _power_table(size: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """``K**i`` and ``K**-i`` mod ``2**64`` for ``i < size`` (a power of 2), by doubling:
    the second half of a table is its first half times ``K**n`` (numpy's uint64 wraps)."""
    powers = np.ones(size, dtype=np.uint64)
    inverses = np.ones(size, dtype=np.uint64)
    inverse_base = pow(_POWER_BASE, -1, 1 << 64)
    n = 1
    while n < size:
        step, back = pow(_POWER_BASE, n, 1 << 64), pow(inverse_base, n, 1 << 64)
        powers[n : 2 * n] = powers[:n] * np.uint64(step)
        inverses[n : 2 * n] = inverses[:n] * np.uint64(back)
        n *= 2
    return powers, inverses


_TABLES: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]] = []


def _powers(size: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """``K**i`` and ``K**-i`` mod ``2**64`` for ``i < size``: the largest table made so far
    (grown in powers of 2, from 2**16), so a chunk and a lone text share one."""
    if not _TABLES or _TABLES[0][0].size < size:
        _TABLES[:] = [_power_table(max(1 << 16, 1 << (size - 1).bit_length()))]
    return _TABLES[0]


@functools.lru_cache(maxsize=8)
def _bins(slots: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], np.uint64]:
    """Each bin's smallest hash, each bin's number, and the shift from a hash to its bin."""
    shift = np.uint64(64 - slots.bit_length() + 1)
    numbers = np.arange(slots, dtype=np.uint64)
    return numbers << shift, numbers, shift


@functools.lru_cache(maxsize=8)
def _donors(slots: int, seed: int) -> npt.NDArray[np.intp]:
    """Row ``i``: the bins an empty bin ``i`` borrows from, in order.

    Each row is the bins sorted by a hash of (seed, row, bin): fixed by this code alone,
    not by an RNG whose stream a numpy release could change.
    """
    rows = np.arange(slots, dtype=np.uint64)[:, None] << np.uint64(16)
    cells = np.arange(slots, dtype=np.uint64)[None, :]
    keys = _mix64((np.uint64(seed) << np.uint64(32)) | rows | cells)
    return np.argsort(keys, axis=1, kind="stable").astype(np.intp)
