"""The banding S-curve of near-duplicate detection: how bands and rows were chosen.

Only the tests read it: the package uses the bands and rows fixed in
:mod:`worker.text.bandspec`, and these say why they are what they are; the shard rule
below is lsh.lua's, for the tests to hold the stored buckets to.
"""

from __future__ import annotations

from worker.text import bandspec
from worker.text.neardup import DEFAULT, NearDupConfig


def lsh_threshold(config: NearDupConfig) -> float:
    """Jaccard similarity at the steepest point of the banding S-curve."""
    return float((1 / config.bands) ** (1 / config.rows))


def choose_bands(slots: int, threshold: float) -> tuple[int, int]:
    """The ``(bands, rows)`` with ``b * r <= slots`` whose S-curve midpoint is the highest
    one not above ``threshold`` (ties: more rows, a steeper curve)."""
    options = [(b, r) for r in range(1, slots + 1) for b in [slots // r] if b >= 1]
    below = [(b, r) for b, r in options if (1 / b) ** (1 / r) <= threshold]
    if not below:
        return slots, 1
    return max(below, key=lambda br: ((1 / br[0]) ** (1 / br[1]), br[1]))


def candidate_probability(jaccard: float, config: NearDupConfig = DEFAULT) -> float:
    """Probability that two texts with this Jaccard similarity share at least one band."""
    return float(1 - (1 - jaccard**config.rows) ** config.bands)


def shard_count(count: int) -> int:
    """The shards of each band once ``count`` records were indexed (lsh.lua's ``shards``)."""
    return max(1, count // bandspec.SHARD_FIELDS)


def shard_address(value: bytes, shards: int) -> int:
    """The shard, of ``shards``, that holds band value ``value`` (lsh.lua's ``address``):
    its first 24 bits modulo 2**k (2**k <= shards < 2**(k + 1)), or modulo 2**(k + 1)
    where that shard was split already."""
    low = 1 << (shards.bit_length() - 1)
    value_hash = int.from_bytes(value[:3], "big")
    address = value_hash % low
    return value_hash % (2 * low) if address < shards - low else address
