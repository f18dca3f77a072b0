"""The banding S-curve of near-duplicate detection: how bands and rows were chosen.

Only the tests read it: the package uses the bands and rows fixed in
:mod:`worker.text.bandspec`, and these say why they are what they are.
"""

from __future__ import annotations

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
