"""The band shards' linear hashing (worker.text.bandspec, tests/text/banding.py), as lsh.lua
computes it.

tests/pipeline/test_nlp_records.py holds the script to the same addresses on a real store.
"""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from tests.text import banding
from worker.text import bandspec

LISTPACK_ENTRIES = 128  # Redis 7's default hash-max-listpack-entries


def test_a_band_has_one_shard_per_shard_fields_records_and_at_least_one() -> None:
    fields = bandspec.SHARD_FIELDS
    assert [banding.shard_count(n) for n in (0, 1, fields - 1, fields, 2 * fields + 1)] == [
        1,
        1,
        1,
        1,
        2,
    ]


@given(st.binary(min_size=6, max_size=6), st.integers(min_value=1, max_value=1 << 20))
def test_a_value_moves_only_to_the_shard_a_split_makes(value: bytes, shards: int) -> None:
    # Growing from n to n + 1 shards moves a value from shard n - 2**k to shard n, or not
    # at all: the split reads one shard and writes one.
    before = banding.shard_address(value, shards)
    after = banding.shard_address(value, shards + 1)
    assert 0 <= before < shards
    assert 0 <= after <= shards
    if after != before:
        low = 1 << (shards.bit_length() - 1)
        assert (before, after) == (shards - low, shards)


def test_shards_stay_listpacks_on_a_stock_server_at_every_size() -> None:
    # Random band values (signature bytes are uniform), every size up to 200,000 records
    # sampled where the loads peak: just before a doubling, when most shards are unsplit.
    rng = random.Random(7)
    values = [rng.randbytes(6) for _ in range(200_000)]
    for count in (1_000, 2**11 * 40 - 1, 2**12 * 40 - 1, 200_000):
        shards = banding.shard_count(count)
        loads = Counter(banding.shard_address(v, shards) for v in values[:count])
        assert set(loads) <= set(range(shards))
        assert sum(loads.values()) / shards <= bandspec.SHARD_FIELDS + 1
        assert max(loads.values()) < LISTPACK_ENTRIES
