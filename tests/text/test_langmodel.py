"""worker.text.langmodel: the numpy scorer gives py3langid's answer, state by state."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py3langid.langid import visit_counts  # type: ignore[import-untyped]

from worker.text import langmodel, language

SAMPLES = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "language_samples.jsonl"


def texts() -> list[str]:
    rows = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]
    paragraphs = [str(row["text"]) for row in rows]
    articles = ["\n\n".join(paragraphs[i : i + 12]) for i in range(0, len(paragraphs), 20)]
    return [*paragraphs, *(p[:30] for p in paragraphs[::5]), *articles]


def fast() -> langmodel.Model:
    model = language.model()
    assert isinstance(model, langmodel.Model)  # the installed py3langid's tables fit
    return model


def test_a_changed_py3langid_falls_back_to_its_own_walk() -> None:
    class Changed:  # a release whose tables are not where the scorer reads them
        def classify(self, text: str) -> tuple[str, float]:
            return language.identifier().classify(text)  # type: ignore[no-any-return]

    walker = langmodel.scorer(Changed())
    assert isinstance(walker, langmodel.Walker)
    assert walker.classify_many(["Die Regierung hat heute ein neues Gesetz beschlossen."]) == [
        language.identifier().classify("Die Regierung hat heute ein neues Gesetz beschlossen.")
    ]


def walked(data: bytes) -> dict[int, int]:
    """py3langid's own count of each feature row, by its byte-by-byte walk."""
    identifier = language.identifier()
    rowbase = [r << 8 for r in identifier.tk_row]
    counts = visit_counts(identifier.tk_nextmove, rowbase, identifier.tk_output, data)
    return dict(counts or {})


def counted(data: bytes) -> dict[int, int]:
    found = fast().output[fast().states(data)]  # one text alone
    rows, counts = np.unique(found[found >= 0], return_counts=True)
    return dict(zip(rows.tolist(), counts.tolist(), strict=True))


def test_trie_depths_match_the_ngram_lengths() -> None:
    depth = fast().depth
    assert depth[0] == 0
    assert depth.min() == 0  # every state reached
    assert int(depth.max()) == 6  # py3langid's n-grams are 1 to 6 bytes


@pytest.mark.parametrize("text", texts()[::9])
def test_feature_counts_equal_the_automaton_walk(text: str) -> None:
    data = unicodedata.normalize("NFC", text).encode()
    assert counted(data) == walked(data)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_feature_counts_equal_the_walk_on_any_bytes(data: bytes) -> None:
    assert counted(data) == walked(data)


def test_classify_matches_py3langid_on_every_sample() -> None:
    model, identifier = fast(), language.identifier()
    for text in texts():
        code, confidence = model.classify(text)
        expected, expected_confidence = identifier.classify(text)
        assert code == expected, text[:60]
        assert confidence == pytest.approx(expected_confidence, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=200), min_size=1, max_size=5))
def test_texts_scored_together_each_match_py3langid(batch: list[str]) -> None:
    scores = fast().probabilities([langmodel.encoded(t) for t in batch])
    for row, text in zip(scores, batch, strict=True):
        expected = language.identifier()._decide(text)  # py3langid's probabilities
        assert np.allclose(row, expected, atol=1e-5)


def test_classify_many_is_classify_of_each() -> None:
    model, batch = fast(), texts()
    assert model.classify_many(batch) == [model.classify(t) for t in batch]
    assert model.classify_many([]) == []
