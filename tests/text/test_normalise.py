"""Unit and property tests for worker.text.normalise: inline text, paragraphs, counts, ids."""

from __future__ import annotations

import hashlib
import re
import textwrap
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.text.normalise import (
    ZERO_WIDTH,
    content_hash,
    join_paragraphs,
    normalise_inline,
    normalise_newlines,
    paragraph_words,
    record_id,
    remove_zero_width,
    split_paragraphs,
    word_count,
)

# Characters a word may hold: anything but whitespace (as str.split sees it), zero-width
# characters, surrogates and controls.
WORD_CHARS = st.characters(
    blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs"),
    blacklist_characters="".join(ZERO_WIDTH),
)
WORDS = st.lists(st.text(WORD_CHARS, min_size=1, max_size=8), min_size=1, max_size=12)
SPACES = st.sampled_from([" ", "  ", "\t", " \t ", "\u00a0", "\u202f", "\u2007", "\u3000"])
INVISIBLE = st.sampled_from(ZERO_WIDTH)
LATIN_WORDS = st.lists(
    st.text(st.sampled_from("abcdeéèêëaǎoôöuüñçAÉÖ’—-.,"), min_size=1, max_size=10),
    min_size=1,
    max_size=30,
)


def looks_normalised(s: str) -> bool:
    return (
        s == s.strip()
        and "  " not in s
        and not any(ch in s for ch in ZERO_WIDTH)
        and not re.search(r"[^\S ]", s)  # the only whitespace left is the plain space
        and unicodedata.is_normalized("NFC", s)
    )


# --- normalise_inline: examples -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("plain", "plain"),
        ("  two   words  ", "two words"),
        ("already clean", "already clean"),
        (" leading", "leading"),
        ("trailing ", "trailing"),
        ("double  inside", "double inside"),
        ("tab\tseparated\t\twords", "tab separated words"),
        ("no\u00a0break", "no break"),
        ("narrow\u202fno-break", "narrow no-break"),
        ("figure\u2007space", "figure space"),
        ("ideographic\u3000space", "ideographic space"),
        ("en\u2000quad and em\u2001quad", "en quad and em quad"),
        ("zero\u200bwidth", "zerowidth"),
        ("non\u200cjoiner\u200djoiner", "nonjoinerjoiner"),
        ("word\u2060joiner", "wordjoiner"),
        ("\ufeffbom inside", "bom inside"),
        ("soft\u00adhyphen", "softhyphen"),
        ("cafe\u0301", "café"),
        ("Ha\u0300 No\u0323\u0302i", "Hà Nội"),
        ("e\u200b\u0301", "é"),  # zero-width between a letter and its accent
        ("\u212b", "Å"),  # ANGSTROM SIGN is canonically Å
        ("line\nbreak\r\nand\u2028separator", "line break and separator"),
        ("fullwidth ＡＢＣ stays", "fullwidth ＡＢＣ stays"),  # NFC, not NFKC
        ("ﬁ ligature stays", "ﬁ ligature stays"),
        ("\u00a0\u200b \t", ""),
    ],
)
def test_normalise_inline(raw: str, expected: str) -> None:
    assert normalise_inline(raw) == expected


def test_normalise_inline_composes_across_removed_zero_width_in_nfd_input() -> None:
    composed = "Nguyễn Thị Hương"
    decomposed = unicodedata.normalize("NFD", composed)
    noisy = "\u200b".join(decomposed)  # a zero-width between every code point
    assert normalise_inline(noisy) == composed


@pytest.mark.parametrize("char", ZERO_WIDTH)
def test_remove_zero_width_removes_each(char: str) -> None:
    assert remove_zero_width(f"a{char}b{char}{char}c") == "abc"


def test_remove_zero_width_keeps_other_text() -> None:
    assert remove_zero_width("a\u00a0b c\u2028") == "a\u00a0b c\u2028"


# --- normalise_inline: properties -----------------------------------------------------


@given(st.text())
def test_normalise_inline_is_idempotent(s: str) -> None:
    once = normalise_inline(s)
    assert normalise_inline(once) == once


@given(st.text())
def test_normalise_inline_output_is_normalised(s: str) -> None:
    assert looks_normalised(normalise_inline(s))


@given(st.text())
def test_decomposed_and_composed_input_agree(s: str) -> None:
    expected = normalise_inline(s)
    assert normalise_inline(unicodedata.normalize("NFD", s)) == expected
    assert normalise_inline(unicodedata.normalize("NFC", s)) == expected


@given(WORDS, st.data())
def test_noise_between_words_changes_nothing(words: list[str], data: st.DataObject) -> None:
    def noise() -> str:
        extra = data.draw(st.lists(st.one_of(SPACES, INVISIBLE), max_size=3))
        return data.draw(SPACES) + "".join(extra)

    noisy = noise() + "".join(word + noise() for word in words)
    assert normalise_inline(noisy) == normalise_inline(" ".join(words))


@given(WORDS, st.data())
def test_zero_width_inside_words_changes_nothing(words: list[str], data: st.DataObject) -> None:
    clean = " ".join(words)
    cut = data.draw(st.integers(0, len(clean)))
    noisy = clean[:cut] + data.draw(INVISIBLE) + clean[cut:]
    assert normalise_inline(noisy) == normalise_inline(clean)


@given(WORDS)
def test_normalise_inline_keeps_every_word(words: list[str]) -> None:
    expected = [unicodedata.normalize("NFC", word) for word in words]
    assert normalise_inline("\u00a0".join(words)).split(" ") == expected


# --- line endings and paragraphs ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\nb", "a\nb"),
        ("a\r\nb", "a\nb"),
        ("a\rb", "a\nb"),
        ("a\r\n\r\nb", "a\n\nb"),
        ("a\r\rb", "a\n\nb"),
        ("a\n\rb", "a\n\nb"),
        ("a\u2028b", "a\nb"),
        ("a\u2029b", "a\n\nb"),
        ("a\x0cb", "a\nb"),
        ("a\x0bb", "a\nb"),
        ("a\x85b", "a\nb"),
        ("a\n", "a"),
        ("", ""),
    ],
)
def test_normalise_newlines(raw: str, expected: str) -> None:
    assert normalise_newlines(raw) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", []),
        ("\n\n \n\t\n", []),
        ("one", ["one"]),
        ("one\n\ntwo", ["one", "two"]),
        ("one\n\n\n\n\ntwo\n", ["one", "two"]),
        ("\n\none\n\n", ["one"]),
        ("hard\nwrapped\nlines", ["hard wrapped lines"]),
        ("trailing  \nspaces \t\n\nnext", ["trailing spaces", "next"]),
        ("crlf\r\nwrap\r\n\r\nnext", ["crlf wrap", "next"]),
        ("cr\rwrap\r\rnext", ["cr wrap", "next"]),
        ("blank with spaces\n   \t \nnext", ["blank with spaces", "next"]),
        ("blank with nbsp\n\u00a0\u202f\nnext", ["blank with nbsp", "next"]),
        ("blank with zero-width\n\u200b\u2060\nnext", ["blank with zero-width", "next"]),
        ("blank with both\n \u200b\u00a0\ufeff\t\nnext", ["blank with both", "next"]),
        ("line\u2028separator", ["line separator"]),
        ("paragraph\u2029separator", ["paragraph", "separator"]),
        ("form\x0cfeed", ["form feed"]),
        ("  indented\n    continuation", ["indented continuation"]),
        ("cafe\u0301\ncre\u0300me", ["café crème"]),
        ("US-\nbacked", ["US- backed"]),  # a hyphen at a line break is not a soft hyphen
    ],
)
def test_split_paragraphs(body: str, expected: list[str]) -> None:
    assert split_paragraphs(body) == expected


PARAGRAPHS = st.lists(LATIN_WORDS, min_size=1, max_size=6)
BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\u2028"])


@given(PARAGRAPHS, st.integers(8, 100), st.integers(1, 4), BREAKS)
def test_split_paragraphs_ignores_wrapping(
    paragraphs: list[list[str]], width: int, blank_lines: int, newline: str
) -> None:
    """Re-wrapping the body at any width, with any line ending, gives the same paragraphs."""
    expected = [normalise_inline(" ".join(words)) for words in paragraphs]
    wrap = textwrap.TextWrapper(width, break_long_words=False, break_on_hyphens=False)
    wrapped = ("\n" * (blank_lines + 1)).join("\n".join(wrap.wrap(" ".join(w))) for w in paragraphs)
    assert split_paragraphs(wrapped.replace("\n", newline)) == expected


@given(st.text())
def test_split_paragraphs_output_is_normalised(body: str) -> None:
    paragraphs = split_paragraphs(body)
    assert all(p and looks_normalised(p) for p in paragraphs)
    assert split_paragraphs(join_paragraphs(paragraphs)) == paragraphs


@given(st.text())
def test_split_paragraphs_is_stable_under_nfd(body: str) -> None:
    assert split_paragraphs(unicodedata.normalize("NFD", body)) == split_paragraphs(body)


def test_join_paragraphs() -> None:
    assert join_paragraphs(["one", "two", "three"]) == "one\n\ntwo\n\nthree"
    assert join_paragraphs(["only"]) == "only"
    assert join_paragraphs([]) == ""


# --- word_count -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("one", 1),
        ("two words", 2),
        ("one\n\ntwo three", 3),
        ("US-backed government’s “plan”", 3),
        ("  spaced   out \t ", 2),
        ("a\u00a0b", 2),
    ],
)
def test_word_count(text: str, expected: int) -> None:
    assert word_count(text) == expected


@given(st.lists(WORDS, min_size=1, max_size=5))
def test_word_count_counts_words_of_paragraphs(paragraphs: list[list[str]]) -> None:
    text = join_paragraphs([" ".join(words) for words in paragraphs])
    assert word_count(text) == sum(len(words) for words in paragraphs)


@given(st.text())
def test_word_count_matches_split_on_normalised_text(body: str) -> None:
    text = join_paragraphs(split_paragraphs(body))
    assert word_count(text) == len(text.split())


@given(st.text())
def test_prepared_body_splits_as_the_raw_one(body: str) -> None:
    prepared = normalise_newlines(remove_zero_width(body))
    assert split_paragraphs(prepared, prepared=True) == split_paragraphs(body)


@given(st.text())
def test_paragraph_words_matches_word_count_on_normalised_paragraphs(body: str) -> None:
    paragraphs = split_paragraphs(body)
    assert paragraph_words(paragraphs) == word_count(join_paragraphs(paragraphs))


@given(st.lists(st.text(), max_size=4))
def test_paragraph_words_of_inline_normalised_lines(lines: list[str]) -> None:
    paragraphs = [p for p in map(normalise_inline, lines) if p]
    assert paragraph_words(paragraphs) == len(" ".join(paragraphs).split())


# --- content_hash and record_id -------------------------------------------------------


def test_content_hash_is_sha256_of_title_blank_line_text() -> None:
    expected = hashlib.sha256(b"Title\n\nOne.\n\nTwo.").hexdigest()
    assert content_hash("Title", "One.\n\nTwo.") == expected


def test_content_hash_is_stable_across_releases() -> None:
    # Pinned with `printf "Title\n\nBody" | sha256sum`. If this changes, every stored
    # record gets a new hash and looks updated.
    assert (
        content_hash("Title", "Body")
        == "45777c14d90fa79dc6ce71ceb6f81cced62c929c472199547cfd939a54e954c6"
    )


def test_content_hash_encodes_utf8() -> None:
    assert content_hash("Zoë", "é") == hashlib.sha256("Zoë\n\né".encode()).hexdigest()


def test_content_hash_separates_title_from_text() -> None:
    assert content_hash("a b", "c") != content_hash("a", "b c")


def test_record_id_shape_and_prefix() -> None:
    assert re.fullmatch(r"seed-[0-9a-f]{24}", record_id("seed", "abc"))
    assert re.fullmatch(r"feed-[0-9a-f]{24}", record_id("feed", "https://x/feed", "guid-1"))


def test_record_id_is_deterministic_and_pinned() -> None:
    expected = "seed-" + hashlib.sha256(b"abc").hexdigest()[:24]
    assert record_id("seed", "abc") == record_id("seed", "abc") == expected
    assert record_id("feed", "u", "g") == "feed-" + hashlib.sha256(b"u\x1fg").hexdigest()[:24]


def test_record_id_depends_on_how_parts_split() -> None:
    assert record_id("feed", "ab", "c") != record_id("feed", "a", "bc")
    assert record_id("feed", "ab") != record_id("feed", "a", "b")


def test_record_id_differs_by_kind_prefix_only() -> None:
    seed, feed = record_id("seed", "x"), record_id("feed", "x")
    assert seed.removeprefix("seed-") == feed.removeprefix("feed-")


@given(st.text(), st.text())
def test_record_id_distinguishes_parts(a: str, b: str) -> None:
    if a != b:
        assert record_id("seed", a) != record_id("seed", b)


@given(
    st.text(
        alphabet=st.sampled_from(list("ae\u0301\u0303\x07\x1b\x7f \t\u00a0\u200b\u00ad\n")),
        max_size=40,
    )
)
def test_paragraphs_are_nfc_even_where_a_control_stood_between_letter_and_mark(
    text: str,
) -> None:
    for paragraph in split_paragraphs(text):
        assert unicodedata.is_normalized("NFC", paragraph)
    assert normalise_inline("a\x1b\u0301") == "\u00e1"
