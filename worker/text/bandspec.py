"""The near-duplicate signature's size and band layout, shared without numpy.

The signature code (:mod:`worker.text.neardup`) and the store's scripts (upsert.lua, which
reads band keys out of a packed signature, and prune.lua, which finds them again to drop a
record from the index) must agree on these; the store imports this module, not the numpy
one, so that reading and producing never load numpy.
"""

from __future__ import annotations

SLOTS = 64  # signature slots (one-permutation MinHash bins)
SLOT_BYTES = 2  # each slot packed as a little-endian uint16
BANDS = 12  # LSH bands, each one field of a Redis hash per record
ROWS = 3  # slots per band: a band key is its number (1 byte) and 2 * ROWS bytes


def min_equal_slots(threshold: float, slots: int = SLOTS) -> int:
    """How many equal slots make two signatures of ``slots`` slots near-duplicates."""
    exact = threshold * slots
    whole = int(exact)
    return max(1, whole + (exact - whole > 1e-9))
