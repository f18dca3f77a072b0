"""worker.text.changes: paragraph hashes and change sets."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.text.changes import (
    ChangeSet,
    canonical,
    diff,
    paragraph_hash,
    paragraph_hashes,
    spaced_paragraph_hashes,
    split_paragraphs,
    text_paragraph_hashes,
)
from worker.text.htmltext import html_to_paragraphs
from worker.text.normalise import split_paragraphs as normalised_paragraphs

OLD = ["Intro.", "Second paragraph.", "Third paragraph.", "Fourth.", "Closing line."]


def hashes(paragraphs: list[str]) -> list[str]:
    return paragraph_hashes(paragraphs)


def test_hash_is_short_hex_and_blind_to_layout_and_unicode_form() -> None:
    value = paragraph_hash("Caf\u00e9 opens  today.")
    assert len(value) == 16
    assert int(value, 16) >= 0
    assert paragraph_hash(" Cafe\u0301 opens\ntoday. ") == value
    assert paragraph_hash("Café opens tomorrow.") != value


@given(st.text(max_size=80))
def test_canonical_form_is_the_regular_expressions(text: str) -> None:
    # The form the stored hashes were first computed on: the same hashes as before.
    expected = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()
    assert canonical(text) == expected


def test_hash_is_sha256_of_the_canonical_text() -> None:
    paragraph = "Caf\u00e9\u00a0opens\n today.\u2003"
    digest = hashlib.sha256("Café opens today.".encode()).hexdigest()
    assert paragraph_hash(paragraph) == digest[:16]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (OLD, ChangeSet()),
        (["Intro.", "Second paragraph, edited.", *OLD[2:]], ChangeSet(changed=[1])),
        ([*OLD, "Update: more."], ChangeSet(added=[5])),
        (["Breaking.", *OLD], ChangeSet(added=[0])),
        ([OLD[0], *OLD[2:]], ChangeSet(removed=[1])),
        ([OLD[0], "A.", "B.", "C.", *OLD[3:]], ChangeSet(added=[1, 2, 3], removed=[1, 2])),
        (["X.", "Y.", *OLD[2:4], "Z."], ChangeSet(changed=[0, 1, 4])),
        ([], ChangeSet(removed=[0, 1, 2, 3, 4])),
    ],
)
def test_diff(new: list[str], expected: ChangeSet) -> None:
    assert diff(hashes(OLD), hashes(new)) == expected


def test_empty_change_set_is_falsy() -> None:
    assert not diff(hashes(OLD), hashes(OLD))
    assert diff(hashes(OLD), hashes(OLD[1:]))


def test_repeated_paragraphs_are_aligned() -> None:
    old = hashes(["Ad.", "Text one.", "Ad.", "Text two.", "Ad."])
    new = hashes(["Ad.", "Text one.", "Ad.", "Text two, fixed.", "Ad."])
    assert diff(old, new) == ChangeSet(changed=[3])


def test_split_paragraphs() -> None:
    text = "First line\nsame paragraph.\n\n  \n\nSecond.\n\n\n"
    assert split_paragraphs(text) == ["First line\nsame paragraph.", "Second."]


paragraph_lists = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=12)


@given(paragraph_lists)
def test_diff_with_itself_is_empty(paragraphs: list[str]) -> None:
    assert diff(hashes(paragraphs), hashes(paragraphs)) == ChangeSet()


@given(paragraph_lists, paragraph_lists)
def test_counts_are_consistent(old: list[str], new: list[str]) -> None:
    change = diff(hashes(old), hashes(new))
    assert len(new) == len(old) + len(change.added) - len(change.removed)
    assert sorted(set(change.added) | set(change.changed)) == sorted(change.added + change.changed)
    assert all(0 <= i < len(new) for i in change.added + change.changed)
    assert all(0 <= i < len(old) for i in change.removed)
    assert change.removed == sorted(change.removed)


@given(paragraph_lists, paragraph_lists)
def test_unchanged_new_paragraphs_exist_in_old(old: list[str], new: list[str]) -> None:
    change = diff(hashes(old), hashes(new))
    touched = set(change.added) | set(change.changed)
    assert all(new[i] in old for i in range(len(new)) if i not in touched)


@given(st.text(alphabet=st.sampled_from("ab \t\n\u00a0\u2003\u00ade\u0301\u00e9"), max_size=30))
def test_canonical_form_of_whitespace_and_marks(text: str) -> None:
    expected = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()
    assert canonical(text) == expected


@given(
    st.lists(
        st.text(alphabet=st.sampled_from("ab \t\n\u00a0\u0301\u00e9\u2003\u3000"), max_size=8),
        max_size=5,
    )
)
def test_hashes_of_a_list_are_each_paragraphs(paragraphs: list[str]) -> None:
    assert paragraph_hashes(paragraphs) == [paragraph_hash(p) for p in paragraphs]


MESSY = st.text(
    alphabet=st.sampled_from(
        list("ab e\u0301\u00e9\x07\x1b \t\u00a0\u2000\u2003\u3000\u200b\u00ad\ufeff\u200e")
        + list("n\u0303\u212b\uff71\uff9e\n\r\x85\u2028\u2029\U0001f642")
    ),
    max_size=60,
)


@given(st.one_of(MESSY, st.text(max_size=200)))
def test_the_normalisers_paragraphs_hash_alike_either_way(text: str) -> None:
    # enrich hashes the normaliser's paragraphs with the NFC check alone.
    paragraphs = normalised_paragraphs(text)
    assert spaced_paragraph_hashes(paragraphs) == paragraph_hashes(paragraphs)
    html = html_to_paragraphs(f"<p>{text}</p><div>{text[::-1]}</div>")
    assert spaced_paragraph_hashes(html) == paragraph_hashes(html)


def test_spaced_hashes_normalise_a_decomposed_paragraph() -> None:
    assert spaced_paragraph_hashes(["cafe\u0301 noir"]) == paragraph_hashes(["café noir"])


# Paragraphs as the normaliser leaves them, of characters where NFC and the table bite.
PARAGRAPH_CHARS = "aZ09 .,-'ÉéßΣσЖ日本語\u1100\u1161가\u0301\u0308\u2026\u00a0\u2014😀\U00020000"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=PARAGRAPH_CHARS, max_size=40), min_size=1, max_size=8))
def test_paragraph_hashes_from_the_text_are_those_of_each_paragraph(parts: list[str]) -> None:
    paragraphs = [" ".join(p.split()) or "x" for p in parts]
    text = "\n\n".join(paragraphs)
    assert text_paragraph_hashes(text, paragraphs) == spaced_paragraph_hashes(paragraphs)


def test_paragraph_hashes_of_paragraphs_holding_line_breaks_are_each_paragraphs() -> None:
    for paragraphs in (["a\n", "b"], ["a", "\nb"], ["a\n\nb", "c"], ["é\u0301", "x"]):
        text = "\n\n".join(paragraphs)
        assert text_paragraph_hashes(text, paragraphs) == spaced_paragraph_hashes(paragraphs)
