"""worker.text.neardup: similarity estimates, bands, determinism, packing."""

from __future__ import annotations

import random
import subprocess
import sys
import unicodedata

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.text import banding
from worker.text import bandspec, neardup

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
# First 16 bytes of the packed signature of the pinned sentence (one-permutation, 64 slots).
PINNED_PREFIX = "66b34a1f270aff3b7b46969c3294480f"


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


def true_jaccard(a: str, b: str) -> float:
    config = neardup.DEFAULT
    left = set(neardup.shingle_hashes(neardup.word_hashes(a), config.shingle).tolist())
    right = set(neardup.shingle_hashes(neardup.word_hashes(b), config.shingle).tolist())
    return len(left & right) / len(left | right)


def test_estimate_tracks_true_jaccard() -> None:
    text = story(6)
    edited = substitute(text, 0.10)
    estimate = neardup.similarity(neardup.signature(text), neardup.signature(edited))
    assert abs(estimate - true_jaccard(text, edited)) < 0.2  # three standard errors, 64 slots


def test_estimates_are_unbiased_over_many_pairs() -> None:
    """Over 40 pairs the mean error is a small fraction of one pair's standard error."""
    errors = []
    for seed in range(40):
        text = story(100 + seed)
        edited = substitute(text, 0.05 + 0.01 * (seed % 10), seed)
        estimate = neardup.similarity(neardup.signature(text), neardup.signature(edited))
        errors.append(estimate - true_jaccard(text, edited))
    assert abs(sum(errors) / len(errors)) < 0.03


def test_signature_is_the_same_in_a_fresh_process() -> None:
    text = story(7)
    code = (
        "import sys; from worker.text import neardup;"
        "s = neardup.signature(sys.stdin.read());"
        "print(neardup.pack(s).hex()); print(','.join(b.hex() for b in neardup.bands(s)))"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], input=text, capture_output=True, text=True, env=env
    )
    sig = neardup.signature(text)
    expected = [neardup.pack(sig).hex(), ",".join(b.hex() for b in neardup.bands(sig))]
    assert result.stdout.split() == expected


def test_signature_is_pinned() -> None:
    """Stored signatures outlive a release: the hashing must never change silently."""
    sig = neardup.signature("The council approved the budget on Tuesday evening.")
    assert neardup.pack(sig)[:16].hex() == PINNED_PREFIX


def test_pack_round_trip() -> None:
    sig = neardup.signature(story(8))
    packed = neardup.pack(sig)
    assert len(packed) == neardup.SLOT_BYTES * neardup.DEFAULT.slots == 128
    assert np.array_equal(neardup.unpack(packed), sig)
    assert neardup.similarity(packed, sig) == 1.0
    assert neardup.packed(story(8)) == packed


def test_bands_are_cut_from_the_packed_signature() -> None:
    """upsert.lua and prune.lua read the same keys out of the packed bytes."""
    packed = neardup.pack(neardup.signature(story(9)))
    keys = neardup.bands(packed)
    width = neardup.SLOT_BYTES * neardup.DEFAULT.rows
    assert len(keys) == neardup.DEFAULT.bands
    assert keys == [bytes([i]) + packed[i * width : (i + 1) * width] for i in range(len(keys))]
    assert neardup.bands(neardup.unpack(packed)) == keys


def test_bands_depend_on_position() -> None:
    keys = neardup.bands(neardup.signature(""))  # every slot equal: only the number differs
    assert len(set(keys)) == neardup.DEFAULT.bands


def test_empty_text_gives_the_sentinel() -> None:
    assert not neardup.has_words(" ,;- … — « »")
    assert set(neardup.signature(" ,;- ").tolist()) == {neardup.EMPTY_SLOT}
    assert neardup.packed(" ,;- “ ” ") == b""


def test_short_text_is_one_shingle() -> None:
    assert neardup.shingle_hashes(neardup.word_hashes("two words"), 3).size == 1


def test_short_unrelated_texts_do_not_match() -> None:
    """A one-shingle text fills its empty bins with values rehashed per bin, not copies:
    two such texts agree on each slot by chance alone, and share no band."""
    signatures = [neardup.signature(f"headline number {n}") for n in range(2000)]
    assert len({tuple(s.tolist()) for s in signatures}) == 2000
    assert all(len(set(s.tolist())) > 50 for s in signatures[:50])
    seen: set[bytes] = set()
    for sig in signatures:
        keys = set(neardup.bands(sig))
        assert not keys & seen
        seen |= keys


def test_cjk_characters_are_words() -> None:
    assert neardup.words("東京で会議 Hello") == ["東", "京", "で", "会", "議", "hello"]


def test_punctuation_separates_words_ascii_or_not() -> None:
    text = "Hello, “World” — naïve café! x_y «oui» 42。東京"
    assert neardup.words(text) == [
        "hello", "world", "naïve", "café", "x", "y", "oui", "42", "東", "京",
    ]  # fmt: skip


def test_words_are_casefolded_and_nfkc_normalised() -> None:
    assert neardup.words("ＨＥＬＬＯ Straße") == ["hello", "strasse"]


def test_default_bands_put_the_curve_below_threshold() -> None:
    config = neardup.DEFAULT
    assert config.bands * config.rows <= config.slots
    assert 0.35 < banding.lsh_threshold(config) < config.threshold
    assert banding.candidate_probability(0.7) > 0.98
    assert banding.candidate_probability(0.1) < 0.02


def test_choose_bands_puts_the_curve_just_below_threshold() -> None:
    bands, rows = banding.choose_bands(64, 0.5)
    assert (1 / bands) ** (1 / rows) <= 0.5
    assert bands * rows <= 64


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


def reference_words(text: str) -> list[str]:
    """The documented word rule, one character at a time (slow, plain Python)."""
    found, current = [], ""
    for ch in unicodedata.normalize("NFKC", text).casefold():
        code = ord(ch)
        separator = 0xA0 <= code <= 0xBF or 0x2000 <= code <= 0x206F or 0x3000 <= code <= 0x303F
        if 0x3040 <= code <= 0x9FFF:
            found += [current, ch] if current else [ch]
            current = ""
        elif (ch.isascii() and ch.isalnum()) or (code >= 0x80 and not separator):
            current += ch
        elif current:
            found.append(current)
            current = ""
    return [*found, current] if current else found


MIXED = "ab Z9_-.,\n\t“”—«»é東京です。 \u00a0\u2026\U0001f600ß"


@given(st.text(alphabet=st.sampled_from(MIXED), max_size=60))
def test_words_follow_the_documented_rule(text: str) -> None:
    assert neardup.words(text) == reference_words(text)
    assert neardup.has_words(text) == bool(reference_words(text))


@given(st.text(max_size=80))
def test_words_follow_the_documented_rule_for_any_text(text: str) -> None:
    assert neardup.words(text) == reference_words(text)


def test_packed_signatures_are_whole_8_byte_chunks() -> None:
    """upsert.lua compares signatures 8 bytes at a time."""
    assert (bandspec.SLOTS * bandspec.SLOT_BYTES) % 8 == 0
    assert len(neardup.packed("any text at all")) % 8 == 0


@given(
    st.text(
        alphabet=st.sampled_from("ab …\u00a0\u2009\u202f\uff0c\ufb01\u00e9e\u0301"), max_size=40
    )
)
def test_folding_is_nfkc_casefolded(text: str) -> None:
    # The shortcut for common compatibility characters gives what NFKC gives.
    assert neardup._folded(text) == unicodedata.normalize("NFKC", text).casefold()


@given(
    st.text(
        alphabet=st.sampled_from("aZ 1.’“—éÉßΣςİẞﬁЖж"),
        max_size=40,
    )
    | st.text(max_size=20)
)
def test_folded_bytes_are_the_folded_text_in_utf8(text: str) -> None:
    # ASCII lower case stands for casefold only when the other characters fold to themselves.
    text = "ascii words to make the others few " + text
    assert neardup._folded_utf8(text) == neardup._folded(text).encode()
    assert neardup._folded_utf8(text[35:]) == neardup._folded(text[35:]).encode()


def test_power_tables_are_the_powers_mod_2_64() -> None:
    powers, inverses = neardup._power_table(1 << 10)
    base, mask = neardup._POWER_BASE, (1 << 64) - 1
    for i in (0, 1, 2, 3, 511, 512, 1023):
        assert int(powers[i]) == pow(base, i, 1 << 64)
        assert int(powers[i]) * int(inverses[i]) & mask == 1


@given(
    st.lists(
        st.text(alphabet=st.sampled_from("ab 1.“”—é…\u00a0漢字かな\u3001\u00bb"), max_size=30),
        max_size=neardup.CHUNK + 3,
    )
)
def test_packed_many_is_packed_of_each(texts: list[str]) -> None:
    assert neardup.packed_many(texts) == [neardup.packed(t) for t in texts]


def test_packed_many_on_news() -> None:
    # Short texts (densified bins) and long ones (every bin filled), and one without words.
    lengths = [60, 800, 2, 400]
    texts = [" ".join(random.Random(i).choices(WORDS, k=lengths[i % 4])) for i in range(70)]
    texts[5] = "… — !!"  # no words
    assert neardup.packed_many(texts) == [neardup.packed(t) for t in texts]
    assert neardup.packed_many(texts)[5] == b""
