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


# LSH buckets live in small hashes, "shards", so that Redis keeps each one as a listpack
# (about 13 bytes a field, against about 60 in one big hash). A band has one shard per
# SHARD_FIELDS records indexed and grows one shard at a time by linear hashing (Litwin,
# 1980): a value's address among n shards, 2**k <= n < 2**(k + 1), is its hash modulo
# 2**k, or modulo 2**(k + 1) where that shard was split already (below n - 2**k); shard n
# is made by splitting shard n - 2**k. A shard then holds SHARD_FIELDS fields on average
# and at most about twice as many just before its split: 80, under the 128 entries of
# Redis 7's default listpack limit by more than five standard deviations (the embedded
# server and config/redis.conf allow 512). A look-up reads one shard per band at any size.
SHARD_FIELDS = 40
