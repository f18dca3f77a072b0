"""The near-duplicate signature's size and band layout, shared without numpy.

The signature code (:mod:`worker.text.neardup`) and the store's scripts (upsert.lua, which
reads band keys out of a packed signature, and prune.lua, which finds them again to drop a
record from the index) must agree on these; the store imports this module, not the numpy
one, so that reading and producing never load numpy.
"""

from __future__ import annotations

import math

SLOTS = 64  # signature slots (one-permutation MinHash bins); upsert.lua compares a
SLOT_BYTES = 2  # signature 8 bytes at a time: SLOTS * SLOT_BYTES is a multiple of 8
BANDS = 12  # LSH bands, each one field of a Redis hash per record
ROWS = 3  # slots per band: a band key is its number (1 byte) and 2 * ROWS bytes


def min_equal_slots(threshold: float, slots: int = SLOTS) -> int:
    """How many equal slots make two signatures of ``slots`` slots near-duplicates."""
    return max(1, math.ceil(threshold * slots - 1e-9))


# LSH buckets live in small hashes, "shards", each named by a level, a band and the top
# bits of the band's value, so that Redis keeps each one as a listpack (about 13 bytes a
# field, against about 60 in one big hash). A record is filed under the level of its seq:
# the first 25,000 records in 12 x 2**8 shards, the next 375,000 in 12 x 2**12, and so on,
# so that a full level holds about 100 fields per shard (under Redis 7's default listpack
# limit of 128 entries; the embedded server and config/redis.conf allow 512). A look-up
# reads the band's shard at every level so far.
LEVELS: tuple[tuple[int, int], ...] = ((25_000, 8), (400_000, 12), (6_400_000, 16), (0, 20))


def levels_arg() -> str:
    """The levels as the scripts read them: ``last_seq:bits`` pairs (0: no last seq)."""
    return " ".join(f"{last}:{bits}" for last, bits in LEVELS)
