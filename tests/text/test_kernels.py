"""worker/text/_kernels.c: the compiled kernels give their numpy twins' answers, exactly.

The extension is optional (built where a C compiler and Python's headers are found): without
it these tests are skipped, and :func:`test_the_kernels_are_built_where_they_can_be` says
whether they should have been.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import sysconfig
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.text import casefolds, kernels, langmodel, language, neardup
from worker.text.langmodel import encoded

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import corpus  # noqa: E402
import news_corpus  # noqa: E402

compiled = pytest.mark.skipif(not kernels.compiled(), reason="compiled kernels not built")


def test_the_kernels_are_built_where_they_can_be() -> None:
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not (headers.exists() and (shutil.which("cc") or shutil.which("gcc"))):
        pytest.skip("no C compiler or no Python headers: numpy does the work")
    assert kernels.compiled(), "a C compiler and Python.h are here: pip install -e . builds it"


# Characters where the rules bite: ASCII, Latin with accents and ß, ligatures, Greek final
# sigma, Cyrillic, Kana and Han, Hangul jamo and syllables, combining marks (alone and
# composing), the four compatibility characters, separators, emoji, a character past the
# table, Adlam (folds, outside the BMP).
ALPHABET = (
    "aZ09 .,-'\n\tÉéßẞﬁﬀİıΣσςΑΩЖжЁё日本語かなカナ。、「」"
    "\u1100\u1161\u11a8가각\u0301\u0308\u0327\u0b47\u0b3e"
    "\u2026\u00a0\u2009\u202f\u2014\u201c\u201d\u00bf\u00ab\u2070\u3000"
    "😀👍🏽\U00020000\U0001e900\U0001e922ﾊﾟ①㎏Ⅻ"
)
texts_of = st.lists(st.text(alphabet=ALPHABET, max_size=80), min_size=1, max_size=20)


@compiled
@settings(max_examples=400, deadline=None)
@given(texts_of)
def test_signatures_are_numpys(texts: list[str]) -> None:
    assert neardup.packed_many(texts) == neardup.packed_many(texts, compiled=False)


@compiled
@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=10))
def test_signatures_are_numpys_on_any_text(texts: list[str]) -> None:
    texts = [t.encode("utf-8", "replace").decode() for t in texts]  # no lone surrogate
    assert neardup.packed_many(texts) == neardup.packed_many(texts, compiled=False)


@compiled
def test_signatures_are_numpys_on_the_corpora() -> None:
    documents = [d.decode("utf-8", "replace") for d in corpus.documents(300)]
    documents += [d.decode() for _, d in news_corpus.documents(300)]
    assert neardup.packed_many(documents) == neardup.packed_many(documents, compiled=False)
    assert neardup.packed_many(documents[:1]) == [neardup.packed(documents[0])]


@compiled
def test_words_longer_than_the_power_table_hash_as_in_numpy() -> None:
    texts = [f"{'xY' * n} {'é' * n}Ab {'ß' * n}" for n in (127, 128, 129, 500)]
    texts += ["日本" + "a" * 600 + "語", "word " + "Z" * 100_000]
    assert neardup.packed_many(texts) == neardup.packed_many(texts, compiled=False)


@compiled
def test_a_lone_surrogate_fails_as_in_numpy() -> None:
    for text in ("a\ud800b", "Éa\udfff"):
        with pytest.raises(UnicodeEncodeError):
            neardup.packed_many([text], compiled=False)
        with pytest.raises(UnicodeEncodeError):
            neardup.packed_many([text])


def test_no_character_past_the_limit_folds_or_composes() -> None:
    for c in range(casefolds.LIMIT, sys.maxunicode + 1):
        char = chr(c)
        assert char.casefold() == char, hex(c)
        mapping = unicodedata.decomposition(char)
        parts = mapping.split()
        if mapping and not mapping.startswith("<") and len(parts) == 2:
            assert int(parts[1], 16) < casefolds.LIMIT, hex(c)


def test_the_table_folds_as_casefold_and_flags_what_nfkc_may_change() -> None:
    index, pool, longest = casefolds.fold_tables()
    compatible = dict(casefolds.COMPATIBLE)
    bases = ("a", "e", "\u1100", "가", "\u0b47", "\u09c7")  # firsts of compositions
    flagged = 0
    for c in range(0x80, casefolds.LIMIT):
        if 0xD800 <= c <= 0xDFFF:
            continue
        char, entry = chr(c), int(index[c])
        length, offset = entry & 0xFF, (entry >> 8) & 0x3FFFFF
        folded = pool[offset : offset + length].decode() if length else char
        expected = compatible[char] if char in compatible else char.casefold()
        assert folded == expected, hex(c)
        assert length <= longest
        if entry & casefolds.NEEDS_NFKC:
            flagged += 1
        elif char not in compatible:  # in NFKC beside anything in NFKC
            for base in bases:
                assert unicodedata.is_normalized("NFKC", base + char + base), hex(c)
        if not entry & casefolds.NOT_NFC:  # in NFC beside anything in NFC
            for base in bases:
                assert unicodedata.is_normalized("NFC", base + char + base), hex(c)
    assert flagged > 1000  # compatibility characters, combining marks, composition seconds
    assert int(index[0xE9]) & casefolds.NOT_NFC == 0  # é: NFC, so a French text is
    assert int(index[0x301]) & casefolds.NOT_NFC  # a combining acute may compose


@compiled
def test_bad_tables_are_refused_not_read() -> None:
    module = kernels.module()
    assert module is not None
    index, pool, longest = casefolds.fold_tables()
    positions = neardup.positions(3)
    donors = neardup.donors(64, neardup.SEED).astype(np.int64)
    outside = index.copy()
    outside[0x100] = (len(pool) + 1) << 8 | 4  # past the pool's end
    with pytest.raises(ValueError, match="outside"):
        module.MinHasher(outside, pool, longest, positions, donors)
    bad_donors = donors.copy()
    bad_donors[5] = 64
    with pytest.raises(ValueError, match="donors"):
        module.MinHasher(index, pool, longest, positions, bad_donors)
    with pytest.raises(ValueError, match="out of range"):
        module.MinHasher(index, pool, longest, positions, donors[:-1])
    hasher = module.MinHasher(index, pool, longest, positions, donors)
    with pytest.raises(TypeError):
        hasher.packed(["text", b"bytes"], True)  # type: ignore[list-item]

    model = language.model()
    assert isinstance(model, langmodel.Model)
    nextmove = np.array(model.nextmove, dtype=np.uint32)
    nextmove[7] = model.rowbase.size  # a state that does not exist
    with pytest.raises(ValueError, match="nextmove"):
        module.LanguageScorer(nextmove, model.rowbase, model.output, model.ptc, model.pc)
    output = np.array(model.output, dtype=np.int64)
    output[3] = model.ptc.shape[0]
    with pytest.raises(ValueError, match="outside"):
        module.LanguageScorer(model.nextmove, model.rowbase, output, model.ptc, model.pc)
    scorer = module.LanguageScorer(model.nextmove, model.rowbase, model.output, model.ptc, model.pc)
    with pytest.raises(ValueError, match="out"):
        scorer.scores([b"abc"], np.empty((2, len(model.classes)), dtype=np.float32))
    with pytest.raises(ValueError, match="out"):  # the right size in bytes, not float32
        scorer.scores([b"abc", b"de"], np.empty(len(model.classes), dtype=np.float64))
    with pytest.raises(TypeError):
        scorer.scores([b"abc", "text"], np.empty((2, len(model.classes)), dtype=np.float32))


def _numpy_model() -> langmodel.Model:
    model = language.model()
    assert isinstance(model, langmodel.Model)
    return dataclasses.replace(model, compiled=False)


@compiled
def test_language_scores_are_numpys_on_the_corpora() -> None:
    model = language.model()
    assert isinstance(model, langmodel.Model)
    assert model.kernel is not None
    texts = [d.decode() for _, d in news_corpus.documents(400)]
    datas = [encoded(t[:300]) for t in texts] + [b"", b"1234 5678", encoded(texts[0])]
    fast, slow = model.probabilities(datas), _numpy_model().probabilities(datas)
    assert np.abs(fast - slow).max() < 1e-5
    assert (fast.argmax(axis=1) == slow.argmax(axis=1)).all()


@compiled
@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=20))
def test_language_scores_are_numpys_on_any_bytes(datas: list[bytes]) -> None:
    model = language.model()
    assert isinstance(model, langmodel.Model)
    fast, slow = model.probabilities(datas), _numpy_model().probabilities(datas)
    assert np.abs(fast - slow).max() < 1e-5


@compiled
def test_in_nfc_answers_only_for_texts_in_nfc() -> None:
    assert kernels.in_nfc("Déjà vu, naïve café — “quoted” 日本語 😀")
    assert not kernels.in_nfc("e\u0301")  # NFC composes it
    assert not kernels.in_nfc("\U00020000")  # past the table: is_normalized answers
    assert not kernels.in_nfc("\u1100\u1161")  # Hangul jamo that compose
