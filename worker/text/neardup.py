"""Near-duplicate detection: MinHash over word shingles, banded for LSH look-ups.

The flow for one text::

    text -> words -> k-word shingles -> 32-bit shingle hashes -> MinHash signature
         -> bands (hex strings, the Redis look-up keys)

**Words.** NFKC, casefolded; a word is a run of letters/digits, except that each
Han/Kana character is a word of its own (those scripts do not separate words by spaces).

**Shingles.** Every run of ``shingle`` consecutive words. A text with fewer words than
that is one shingle; a text without words has no shingles and gets the sentinel signature
(every slot ``0xFFFFFFFF``), so all empty texts are near-duplicates of one another: do
not look up texts for which :func:`has_words` is false.

**Hashes.** Each distinct word is hashed once with BLAKE2b (64 bits, stable across
processes and machines, unlike ``hash()``); a shingle's hash combines its words' hashes
with fixed odd multipliers, is mixed (the SplitMix64 finaliser) and keeps its top 31 bits.

**MinHash.** Permutation ``i`` is the universal hash ``h_i(x) = (a_i * x + b_i) mod p``
with the Mersenne prime ``p = 2**31 - 1``, ``1 <= a_i < p`` and ``0 <= b_i < p`` derived
from BLAKE2b of ``(seed, i)`` (not from an RNG whose stream could change). Everything is
below ``2**31``, so ``a_i * x + b_i < 2**62`` fits uint64. (numpy's ``%`` measured faster
here than Mersenne folds ``(v & p) + (v >> 31)``.) (A 61-bit prime with 32-bit ``a_i`` was
tried first: the product then wraps ``p`` only a few times, the "permutations" all order
shingles nearly alike, and the estimate was off by 0.3.) Slot ``i`` of the signature is
``min_x h_i(x)``. Two texts
share a slot with probability about their Jaccard similarity ``J`` of shingle sets, so
the fraction of equal slots estimates ``J`` (standard error ``sqrt(J(1 - J) / perm)``,
0.044 at ``J = 0.5`` with 128 permutations).

**LSH banding.** The signature is cut into ``b`` bands of ``r`` rows (``b * r <= perm``);
each band is hashed to a hex string. Two texts share at least one band with probability
``P(J) = 1 - (1 - J**r)**b``, an S-curve whose steepest point is near
``t = (1 / b) ** (1 / r)``. :func:`choose_bands` picks ``b, r`` with ``t`` just below the
Jaccard threshold: a band match only makes a *candidate*, which is then accepted only when
:func:`similarity` reaches the threshold, so a low ``t`` costs a few extra comparisons and
buys recall. Defaults: 128 permutations, 3-word shingles, threshold 0.5, 32 bands of 4 rows
(``t = 0.42``; ``P(0.5) = 0.88``, ``P(0.6) = 0.99``, ``P(0.3) = 0.23``, ``P(0.1) = 0.003``).
On synthetic news (``benchmarks/neardup_quality.py``) that flags every rewritten headline,
dropped paragraph, added boilerplate and 5% word substitution, 94% of 10% substitutions,
no 20% substitution (a rewrite, not a copy) and no same-topic article (estimates up to 0.28).
A higher threshold loses light edits; a lower one buys little and risks merging stories.

**Packing.** :func:`pack` writes the slots as little-endian ``uint32`` (512 bytes for 128
permutations). The estimated Jaccard of two packed signatures is the fraction of equal
4-byte slots, which a Lua script can count with ``string.sub`` alone.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Signature = npt.NDArray[np.uint32]

PRIME = (1 << 31) - 1
SEED = 14
EMPTY_SLOT = 0xFFFFFFFF
_P = np.uint64(PRIME)
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|[^\W_\u3040-\u30ff\u3400-\u9fff]+")
# Odd 64-bit constants (digits of pi and e) weighting each word's position in a shingle.
_POSITION = np.array(
    [0x243F6A8885A308D3, 0x13198A2E03707345, 0xA4093822299F31D1, 0x082EFA98EC4E6C89,
     0x452821E638D01377, 0xBE5466CF34E90C6D, 0xC0AC29B7C97C50DD, 0x3F84D5B5B5470917],
    dtype=np.uint64,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NearDupConfig:
    """Parameters of signatures and bands; every record compared must share them."""

    threshold: float = 0.5
    perm: int = 128
    shingle: int = 3
    bands: int = 32
    rows: int = 4
    seed: int = SEED

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.perm:
            raise ValueError("bands * rows must not exceed perm")
        if not 1 <= self.shingle <= len(_POSITION):
            raise ValueError(f"shingle must be between 1 and {len(_POSITION)}")

    @property
    def lsh_threshold(self) -> float:
        """Jaccard similarity at the steepest point of the banding S-curve."""
        return float((1 / self.bands) ** (1 / self.rows))


DEFAULT = NearDupConfig()


def words(text: str) -> list[str]:
    """Split text into casefolded words (each Han/Kana character is a word)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def has_words(text: str) -> bool:
    """Tell whether the text has at least one word, i.e. a meaningful signature."""
    return _WORD.search(text) is not None


def signature(text: str, config: NearDupConfig = DEFAULT) -> Signature:
    """MinHash signature of the text's word shingles: ``config.perm`` uint32 slots."""
    hashes = shingle_hashes(words(text), config.shingle)
    if hashes.size == 0:
        return np.full(config.perm, EMPTY_SLOT, dtype=np.uint32)
    a, b = _permutations(config.perm, config.seed)
    table: npt.NDArray[np.uint64] = np.multiply.outer(a, hashes)
    table += b[:, None]
    table %= _P
    minima: Signature = table.min(axis=1).astype(np.uint32)
    return minima


def shingle_hashes(tokens: list[str], size: int) -> npt.NDArray[np.uint64]:
    """Distinct 31-bit hashes (held in uint64) of every run of ``size`` tokens."""
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    index: dict[str, int] = {}
    positions = [index.setdefault(t, len(index)) for t in tokens]
    digests = b"".join([hashlib.blake2b(t.encode(), digest_size=8).digest() for t in index])
    per_token = np.frombuffer(digests, dtype="<u8").astype(np.uint64)[positions]
    width = min(size, len(tokens))
    count = len(tokens) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        combined += per_token[offset : offset + count] * _POSITION[offset]
    return np.unique(_mix64(combined) >> np.uint64(33))


def bands(sig: Signature, config: NearDupConfig = DEFAULT) -> list[str]:
    """One 16-hex-digit key per band; band ``i``'s key also depends on ``i``."""
    raw = sig.astype("<u4").tobytes()
    width = 4 * config.rows
    return [
        hashlib.blake2b(raw[i * width : (i + 1) * width], digest_size=8, salt=_salt(i)).hexdigest()
        for i in range(config.bands)
    ]


def similarity(a: Signature | bytes, b: Signature | bytes) -> float:
    """Estimated Jaccard similarity: the fraction of equal slots."""
    left, right = _as_signature(a), _as_signature(b)
    if left.shape != right.shape:
        raise ValueError("signatures of different lengths are not comparable")
    if left.size == 0:
        return 1.0
    return float(np.count_nonzero(left == right)) / left.size


def pack(sig: Signature) -> bytes:
    """Serialise a signature as little-endian uint32 slots."""
    return sig.astype("<u4").tobytes()


def unpack(data: bytes) -> Signature:
    """Inverse of :func:`pack`."""
    if len(data) % 4:
        raise ValueError("packed signature length must be a multiple of 4")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def choose_bands(perm: int, threshold: float) -> tuple[int, int]:
    """The ``(bands, rows)`` with ``b * r <= perm`` whose S-curve midpoint is the highest
    one not above ``threshold`` (ties: more rows, a steeper curve)."""
    options = [(b, r) for r in range(1, perm + 1) for b in [perm // r] if b >= 1]
    below = [(b, r) for b, r in options if (1 / b) ** (1 / r) <= threshold]
    if not below:
        return perm, 1
    return max(below, key=lambda br: ((1 / br[0]) ** (1 / br[1]), br[1]))


def candidate_probability(jaccard: float, config: NearDupConfig = DEFAULT) -> float:
    """Probability that two texts with this Jaccard similarity share at least one band."""
    return float(1 - (1 - jaccard**config.rows) ** config.bands)


def _as_signature(value: Signature | bytes) -> Signature:
    return unpack(value) if isinstance(value, bytes) else value


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser: spreads every input bit over the output (wrapping uint64)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@functools.lru_cache(maxsize=8)
def _permutations(perm: int, seed: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """The ``a_i`` and ``b_i`` of each permutation, derived from BLAKE2b, not an RNG."""
    a = [_hash64(f"{seed}:{i}:a".encode()) % (PRIME - 1) + 1 for i in range(perm)]
    b = [_hash64(f"{seed}:{i}:b".encode()) % PRIME for i in range(perm)]
    return np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64)


@functools.lru_cache(maxsize=256)
def _salt(band: int) -> bytes:
    return band.to_bytes(16, "little")
