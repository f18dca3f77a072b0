"""worker.text.neardup: similarity estimates, bands, determinism, packing."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from worker.text import neardup

WORDS = [
    "council",
    "budget",
    "schools",
    "roads",
    "river",
    "storm",
    "bank",
    "rates",
    "market",
    "wages",
    "coach",
    "match",
    "league",
    "fans",
    "harbour",
    "farms",
    "crops",
    "bridge",
    "minister",
    "election",
    "vote",
    "police",
    "court",
]
# First 16 bytes of the packed signature of the pinned sentence, as first released.
PINNED_PREFIX = "5dc7a012fcf3b90729140a10b7752d07"


def story(seed: int, length: int = 250) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(length))


def substitute(text: str, share: float, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = text.split()
    for i in rng.sample(range(len(words)), round(share * len(words))):
        words[i] = "replaced"
    return " ".join(words)


def test_identical_texts_have_similarity_one() -> None:
    text = story(1)
    assert neardup.similarity(neardup.signature(text), neardup.signature(text)) == 1.0


def test_layout_and_case_do_not_matter() -> None:
    text = story(2)
    reflowed = text.upper().replace(" ", "\n  ")
    assert neardup.similarity(neardup.signature(text), neardup.signature(reflowed)) == 1.0


def test_small_edit_stays_above_threshold_and_shares_a_band() -> None:
    text = story(3)
    edited = substitute(text, 0.03)
    a, b = neardup.signature(text), neardup.signature(edited)
    assert neardup.similarity(a, b) >= neardup.DEFAULT.threshold
    assert set(neardup.bands(a)) & set(neardup.bands(b))


def test_unrelated_texts_on_same_vocabulary_stay_below_threshold() -> None:
    a, b = neardup.signature(story(4)), neardup.signature(story(5))
    assert neardup.similarity(a, b) < 0.1


def test_estimate_tracks_true_jaccard() -> None:
    text = story(6)
    edited = substitute(text, 0.10)
    config = neardup.DEFAULT
    left = set(neardup.shingle_hashes(neardup.words(text), config.shingle).tolist())
    right = set(neardup.shingle_hashes(neardup.words(edited), config.shingle).tolist())
    true = len(left & right) / len(left | right)
    estimate = neardup.similarity(neardup.signature(text), neardup.signature(edited))
    assert abs(estimate - true) < 0.15  # more than three standard errors at perm=128


def test_signature_is_the_same_in_a_fresh_process() -> None:
    text = story(7)
    code = (
        "import sys; from worker.text import neardup;"
        "s = neardup.signature(sys.stdin.read());"
        "print(neardup.pack(s).hex()); print(','.join(neardup.bands(s)))"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], input=text, capture_output=True, text=True, env=env
    )
    sig = neardup.signature(text)
    assert result.stdout.split() == [neardup.pack(sig).hex(), ",".join(neardup.bands(sig))]


def test_signature_is_pinned() -> None:
    """Stored band keys outlive a release: the hashing must never change silently."""
    sig = neardup.signature("The council approved the budget on Tuesday evening.")
    assert neardup.pack(sig)[:16].hex() == PINNED_PREFIX


def test_pack_round_trip() -> None:
    sig = neardup.signature(story(8))
    packed = neardup.pack(sig)
    assert len(packed) == 4 * neardup.DEFAULT.perm
    assert np.array_equal(neardup.unpack(packed), sig)
    assert neardup.similarity(packed, sig) == 1.0


def test_bands_are_short_hex_and_depend_on_position() -> None:
    keys = neardup.bands(neardup.signature(""))  # every slot equal: only the index differs
    assert len(keys) == neardup.DEFAULT.bands == len(set(keys))
    assert all(len(k) == 16 and int(k, 16) >= 0 for k in keys)


def test_empty_text_gives_the_sentinel() -> None:
    assert not neardup.has_words(" ,;- ")
    assert set(neardup.signature(" ,;- ").tolist()) == {neardup.EMPTY_SLOT}


def test_short_text_is_one_shingle() -> None:
    assert neardup.shingle_hashes(["two", "words"], 3).size == 1


def test_cjk_characters_are_words() -> None:
    assert neardup.words("東京で会議 Hello") == ["東", "京", "で", "会", "議", "hello"]


def test_choose_bands_puts_the_curve_just_below_threshold() -> None:
    bands, rows = neardup.choose_bands(128, 0.5)
    assert (bands, rows) == (neardup.DEFAULT.bands, neardup.DEFAULT.rows)
    assert 0.35 < (1 / bands) ** (1 / rows) <= 0.5
    assert neardup.candidate_probability(0.6) > 0.98
    assert neardup.candidate_probability(0.1) < 0.01


@given(st.text(max_size=200), st.text(max_size=200))
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    sig_a, sig_b = neardup.signature(a), neardup.signature(b)
    value = neardup.similarity(sig_a, sig_b)
    assert value == neardup.similarity(sig_b, sig_a)
    assert 0.0 <= value <= 1.0


@given(st.text(max_size=300))
def test_pack_round_trip_for_any_text(text: str) -> None:
    sig = neardup.signature(text)
    assert np.array_equal(neardup.unpack(neardup.pack(sig)), sig)
