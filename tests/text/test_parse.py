"""Tests for the seed grammar (worker.text.seed) and seed decoding (worker.text.decode).

Fixture files live in ``tests/fixtures/seeds/``, in the style of feedparser's
``tests/wellformed``: ``NAME.txt`` is checked against ``expected/NAME.json``, which holds
either the parsed seed (``published``, ``title``, ``paragraphs``) or the rejection
``reason``. A drifted copy ``NAME--DRIFT.txt`` must give the same result as ``NAME.txt``.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
import textwrap
import unicodedata
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.errors import Reason, RejectedInput
from worker.text import seed as parse
from worker.text.decode import decode_text
from worker.text.seed import ParsedSeed, parse_seed

FIXTURES = Path(__file__).parents[1] / "fixtures" / "seeds"
CAP = 1 << 20


def parsed(data: bytes, max_bytes: int = CAP) -> ParsedSeed:
    return parse_seed(data, max_bytes=max_bytes)


def rejection(data: bytes, max_bytes: int = CAP) -> str:
    with pytest.raises(RejectedInput) as info:
        parse_seed(data, max_bytes=max_bytes)
    assert info.value.detail  # every rejection tells a human why
    return info.value.reason


def as_json(seed: ParsedSeed) -> dict[str, Any]:
    return {
        "published": seed.published.isoformat(),
        "title": seed.title,
        "paragraphs": seed.paragraphs,
    }


# --- fixture files with their expected result beside them -----------------------------


def expected_for(path: Path) -> dict[str, Any]:
    name = path.stem.split("--")[0]
    result: dict[str, Any] = json.loads((FIXTURES / "expected" / f"{name}.json").read_text("utf-8"))
    return result


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.txt")), ids=lambda p: p.name)
def test_fixture(path: Path) -> None:
    expected = expected_for(path)
    data = path.read_bytes()
    if "reason" in expected:
        assert rejection(data) == expected["reason"]
    else:
        assert as_json(parsed(data)) == expected


def test_fixture_set_covers_every_drift_and_seed_reason() -> None:
    names = {p.name for p in FIXTURES.glob("*.txt")}
    assert {"base.txt", "accents.txt"} <= names
    assert sum("--" in name for name in names) >= 10
    reasons = {expected_for(FIXTURES / name).get("reason") for name in names}
    assert reasons - {None} == {
        Reason.SEED_BINARY,
        Reason.SEED_BAD_ENCODING,
        Reason.SEED_EMPTY,
        Reason.SEED_NO_HEADER,
        Reason.SEED_BAD_DATE,
        Reason.SEED_NO_TITLE,
        Reason.SEED_NO_BODY,
    }


def test_base_expectation_is_the_clean_file_read_by_hand() -> None:
    """Guards expected/base.json against being a copy of whatever the parser produced."""
    raw = (FIXTURES / "base.txt").read_text("utf-8")
    header, body = raw.split("\n\n", 1)
    assert header == " date 2021-10-19 " + BASE_TITLE
    assert expected_for(FIXTURES / "base.txt") == {
        "published": "2021-10-19",
        "title": BASE_TITLE,
        "paragraphs": [p.strip() for p in body.split("\n\n")],
    }


BASE_TITLE = "Khalilzad, the US envoy who orchestrated the Afghan exit, has resigned."


def test_base_fixture_is_the_sample_seed() -> None:
    sample = Path(__file__).parents[2] / "seeds" / "000_eeee39e0cf730240.txt"
    assert (FIXTURES / "base.txt").read_bytes() == sample.read_bytes()


# --- drifts, applied programmatically -------------------------------------------------

Drift = Callable[[str], str]


def hard_wrap(width: int) -> Drift:
    """Wrap every body paragraph at ``width`` columns, as an editor would; the header stays."""

    def drift(text: str) -> str:
        header, body = text.split("\n", 1)
        wrap = textwrap.TextWrapper(width, break_long_words=False, break_on_hyphens=False)
        paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
        return header + "\n\n" + "\n\n".join("\n".join(wrap.wrap(p)) for p in paragraphs)

    return drift


def replace(old: str, new: str) -> Drift:
    return lambda text: text.replace(old, new)


# In the order they compose: wrapping first, code points last.
TEXT_DRIFTS: dict[str, Drift] = {
    "hard-wrap-60": hard_wrap(60),
    "hard-wrap-25": hard_wrap(25),
    "extra-blank-lines": replace("\n\n", "\n\n\n\n"),
    "blank-lines-with-spaces": replace("\n\n", "\n  \t\n\u00a0\n"),
    "trailing-spaces": replace("\n", " \t \n"),
    "tabs": lambda t: t.replace("date ", "date\t", 1).replace(", ", ",\t"),
    "nbsp": lambda t: t.replace(" the ", " the\u00a0").replace(". ", ".\u00a0\u202f"),
    "double-spaces": replace(" ", "  "),
    "zero-width": lambda t: (
        t.replace("e", "e\u200b").replace("an", "a\u00adn").replace(" ", "\u2060 ")
    ),
    "leading-junk": lambda t: "\n \u200b\n\ufeff \t" + t,
    "trailing-blank-lines": lambda t: t + "\n\n \n\n",
    "nfd": lambda t: unicodedata.normalize("NFD", t),
}
NEWLINES = {"lf": "\n", "crlf": "\r\n", "cr": "\r", "u2028": "\u2028"}
ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-8": lambda t: t.encode("utf-8"),
    "utf-8-bom": lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
    "utf-16-le-bom": lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
    "utf-16-be-bom": lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
    "utf-32-le-bom": lambda t: codecs.BOM_UTF32_LE + t.encode("utf-32-le"),
    "utf-32-be-bom": lambda t: codecs.BOM_UTF32_BE + t.encode("utf-32-be"),
}
BASES = {name: (FIXTURES / f"{name}.txt").read_text("utf-8") for name in ("base", "accents")}


def drifted(base: str, drifts: list[str], newline: str = "lf", encoding: str = "utf-8") -> bytes:
    text = BASES[base]
    for name in TEXT_DRIFTS:  # canonical order, whatever order the caller lists them in
        if name in drifts:
            text = TEXT_DRIFTS[name](text)
    return ENCODINGS[encoding](text.replace("\n", NEWLINES[newline]))


def clean(base: str) -> ParsedSeed:
    return parsed((FIXTURES / f"{base}.txt").read_bytes())


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("drift", TEXT_DRIFTS)
def test_each_text_drift_parses_like_the_clean_file(base: str, drift: str) -> None:
    assert parsed(drifted(base, [drift])) == clean(base)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("newline", NEWLINES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_line_ending_and_encoding_parses_like_the_clean_file(
    base: str, newline: str, encoding: str
) -> None:
    assert parsed(drifted(base, [], newline, encoding)) == clean(base)


COMBINATIONS = [
    (["hard-wrap-60", "trailing-spaces", "extra-blank-lines"], "crlf", "utf-8-bom"),
    (["nfd", "zero-width", "nbsp"], "lf", "utf-16-le-bom"),
    (["tabs", "double-spaces", "leading-junk"], "cr", "utf-32-be-bom"),
    (list(TEXT_DRIFTS), "crlf", "utf-16-be-bom"),
    (list(TEXT_DRIFTS), "u2028", "utf-32-le-bom"),
]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(("drifts", "newline", "encoding"), COMBINATIONS)
def test_combined_drifts_parse_like_the_clean_file(
    base: str, drifts: list[str], newline: str, encoding: str
) -> None:
    assert parsed(drifted(base, drifts, newline, encoding)) == clean(base)


@settings(deadline=None)
@given(
    st.sampled_from(sorted(BASES)),
    st.sets(st.sampled_from(sorted(TEXT_DRIFTS))),
    st.sampled_from(sorted(NEWLINES)),
    st.sampled_from(sorted(ENCODINGS)),
)
def test_any_composition_of_drifts_parses_like_the_clean_file(
    base: str, drifts: set[str], newline: str, encoding: str
) -> None:
    assert parsed(drifted(base, sorted(drifts), newline, encoding)) == clean(base)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_windows_1252_punctuation_parses_like_utf8(newline: str) -> None:
    """Word's "plain text" (cp1252 quotes and dashes, NBSP) is the one legacy encoding read."""
    text = hard_wrap(60)(BASES["base"]).replace(" the ", " the\u00a0").replace("\n", newline)
    assert parsed(text.encode("cp1252")) == clean("base")


# --- header and body grammar ----------------------------------------------------------

MINIMAL = ParsedSeed(published=date(2020, 2, 29), title="Leap day", paragraphs=["Body."])


@pytest.mark.parametrize(
    "data",
    [
        b"date 2020-02-29 Leap day\n\nBody.",
        b"date 2020-02-29 Leap day\n\nBody.\n",
        b"DATE 2020-02-29 Leap day\n\nBody.",
        b"Date 2020-02-29 Leap day\n\nBody.",
        b" \t date \t 2020-02-29 \t Leap \t day \t \n\nBody. ",
        b"\n\n\ndate 2020-02-29 Leap day\n\n\n\nBody.\n\n\n",
        b"date 2020-02-29 Leap day\nBody.",  # no blank line after the header: lenient
        "\u200bdate\u00a02020-02-29\u202fLeap\u2007day\u2029Body.".encode(),
        "\ufeff\ufeffdate 2020-02-29 Le\u00adap day\u200b \n\n\u2060Body.".encode()[3:],
    ],
)
def test_header_variants(data: bytes) -> None:
    assert parsed(data) == MINIMAL


def test_body_right_after_header_is_body() -> None:
    seed = parsed(b"date 2020-02-29 Title\nfirst line\ncontinued\n\nsecond")
    assert seed.title == "Title"
    assert seed.paragraphs == ["first line continued", "second"]


def test_headline_wrapped_onto_second_line_becomes_body() -> None:
    """Documented limit: the headline is the header line, a second line is body."""
    seed = parsed(b"date 2020-02-29 A long headline\nthat wraps\n\nBody.")
    assert seed.title == "A long headline"
    assert seed.paragraphs == ["that wraps", "Body."]


def test_title_keeps_markup_like_text_as_is() -> None:
    seed = parsed(b"date 2020-02-29 <b>Bold</b> & co\n\nBody.")
    assert seed.title == "<b>Bold</b> & co"


def test_extra_date_words_belong_to_the_title() -> None:
    assert parsed(b"date 2020-02-29 2021-01-01 date\n\nBody.").title == "2021-01-01 date"


def test_parsed_seed_text_and_immutability() -> None:
    seed = parsed(b"date 2020-02-29 T\n\nOne.\n\nTwo.")
    assert seed.text == "One.\n\nTwo."
    with pytest.raises(dataclasses.FrozenInstanceError):
        seed.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2020-02-29", date(2020, 2, 29)),
        ("2000-02-29", date(2000, 2, 29)),
        ("0001-01-01", date(1, 1, 1)),
        ("9999-12-31", date(9999, 12, 31)),
        ("2021-10-19", date(2021, 10, 19)),
    ],
)
def test_valid_dates(day: str, expected: date) -> None:
    assert parsed(f"date {day} T\n\nB".encode()).published == expected


# --- one test per rejection reason ----------------------------------------------------

REJECTIONS: dict[Reason, list[bytes]] = {
    Reason.SEED_EMPTY: [
        b"",
        b"   ",
        b"\n\r\n\t\n",
        codecs.BOM_UTF8,
        codecs.BOM_UTF16_LE,
        codecs.BOM_UTF32_BE,
        codecs.BOM_UTF8 + " \u200b\u00a0\r\n\u2060\ufeff\u2029".encode(),
        codecs.BOM_UTF16_BE + "\u3000\n".encode("utf-16-be"),
    ],
    Reason.SEED_BINARY: [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"date 2021-10-19 Title\n\nBody\x00",
        b"\x00",
        "date 2021-10-19 T\n\nB".encode("utf-16-le"),  # UTF-16 without a BOM: NUL bytes
        b"date 2021-10-19 T\n\n\x1b[31mred\x1b[0m",
        b"date 2021-10-19 T\n\nbell\x07",
        b"date 2021-10-19 T\n\ndelete\x7f",
        b"PK\x03\x04\x14\x00",
        b"\x7fELF\x02\x01\x01",
        b"\xff\xd8\xff\xe0\x10JFIF",  # binary and not UTF-8: the control byte decides
        codecs.BOM_UTF16_LE + "date 2021-10-19 T\n\nB\x00".encode("utf-16-le"),
        codecs.BOM_UTF8 + b"date 2021-10-19 T\n\n\x01",
    ],
    Reason.SEED_BAD_ENCODING: [
        "date 2021-02-03 Café\n\nCrème.".encode("cp1252"),
        "date 2021-02-03 Привет\n\nМир.".encode("cp1251"),
        "date 2021-02-03 Łódź\n\nB".encode("cp1250"),
        "date 2021-02-03 Привет\n\nМир.".encode("koi8_r"),
        b"date 2021-02-03 T\n\n\xc3\x28",  # a broken two-byte sequence
        b"date 2021-02-03 T\n\n\xc0\x80",  # overlong NUL
        b"date 2021-02-03 T\n\n\xed\xa0\x80",  # encoded surrogate
        b"date 2021-02-03 T\n\n\xe2\x80\x9cmixed\x94",  # UTF-8 and cp1252 in one file
        b"date 2021-02-03 T\n\n\x81",  # undefined in cp1252
        "date 2021-02-03 Don\x92t\n\nB".encode(),  # C1 control: cp1252 read as Latin-1
        codecs.BOM_UTF16_LE + b"d\x00a\x00t",  # odd length
        codecs.BOM_UTF16_LE + b"\x00\xd8a\x00",  # lone surrogate
        codecs.BOM_UTF16_BE + b"\xdc\x00\x00a",
        codecs.BOM_UTF32_BE + b"\x00\x11\x00\x00",  # beyond U+10FFFF
        codecs.BOM_UTF32_LE + b"d\x00\x00",  # not a multiple of four
        codecs.BOM_UTF8 + b"date \xff",
        codecs.BOM_UTF16_LE + "date 2021-02-03 Don\x92t\n\nB".encode("utf-16-le"),
    ],
    Reason.SEED_NO_HEADER: [
        b"Date: 2021-10-19\nTitle: x\n\nBody.",
        b"2021-10-19 Title\n\nBody.",
        b"dated 2021-10-19 Title\n\nBody.",
        b"date2021-10-19 Title\n\nBody.",
        b"# date 2021-10-19 Title\n\nBody.",
        b"Title\n\ndate 2021-10-19 Title\n\nBody.",
        b"d ate 2021-10-19 Title\n\nBody.",
        "ｄａｔｅ 2021-10-19 Title\n\nBody.".encode(),
        b"just some text",
    ],
    Reason.SEED_BAD_DATE: [
        b"date 2021-02-30 Title\n\nBody.",
        b"date 2021-02-29 Not a leap year\n\nBody.",
        b"date 2021-13-01 Title\n\nBody.",
        b"date 2021-00-10 Title\n\nBody.",
        b"date 2021-04-31 Title\n\nBody.",
        b"date 0000-01-01 Title\n\nBody.",
        b"date 21-10-19 Title\n\nBody.",
        b"date 2021-1-9 Title\n\nBody.",
        b"date 20211019 Title\n\nBody.",
        b"date 2021-W42-2 Title\n\nBody.",
        b"date 2021/10/19 Title\n\nBody.",
        b"date 2021-10-19T10:00 Title\n\nBody.",
        b"date 2021-10-19x Title\n\nBody.",
        b"date 19.10.2021 Title\n\nBody.",
        b"date Title only\n\nBody.",
        b"date\n\nBody.",
        "date ２０２１-10-19 Title\n\nBody.".encode(),
        "date 2021\u201110\u201119 Title\n\nBody.".encode(),  # non-breaking hyphens
    ],
    Reason.SEED_NO_TITLE: [
        b"date 2021-10-19\n\nBody.",
        b"date 2021-10-19   \t \n\nBody.",
        b"date 2021-10-19\r\n\r\nBody.",
        "date 2021-10-19\u00a0\u200b\u2060\n\nBody.".encode(),
        b"date 2021-10-19\nBody right after.",
    ],
    Reason.SEED_NO_BODY: [
        b"date 2021-10-19 Title",
        b"date 2021-10-19 Title\n",
        b"date 2021-10-19 Title\n\n\n",
        b"date 2021-10-19 Title\r\n \t\r\n\r\n",
        "date 2021-10-19 Title\n\u200b\n\u00a0\u2060\n\u2029".encode(),
        codecs.BOM_UTF16_LE + "date 2021-10-19 Title\r\n\r\n".encode("utf-16-le"),
    ],
}


@pytest.mark.parametrize(
    ("reason", "data"),
    [(reason, data) for reason, examples in REJECTIONS.items() for data in examples],
)
def test_rejection_reason(reason: Reason, data: bytes) -> None:
    assert rejection(data) == reason


def test_rejection_carries_reason_code_string() -> None:
    with pytest.raises(RejectedInput) as info:
        parsed(b"date 2021-02-30 T\n\nB")
    assert info.value.reason == "seed.bad_date"
    assert "2021-02-30" in info.value.detail


def test_long_first_line_is_clipped_in_detail() -> None:
    with pytest.raises(RejectedInput) as info:
        parsed(b"x" * 10_000 + b"\n\nBody.")
    assert info.value.reason == Reason.SEED_NO_HEADER
    assert len(info.value.detail) < 200


# --- the size cap ---------------------------------------------------------------------


def test_size_cap_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(data: bytes) -> str:
        raise AssertionError("decoded an oversized document")

    monkeypatch.setattr(parse, "decode_text", must_not_decode)
    assert rejection(b"\x00\xff binary and badly encoded", max_bytes=10) == Reason.SEED_TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        b"date 2021-10-19 T\n\nB" + b"x" * 100,
        b"\x00" * 101,  # would be binary
        b"\xff" * 101,  # would be badly encoded
    ],
)
def test_size_cap_wins_over_every_other_reason(data: bytes) -> None:
    assert rejection(data, max_bytes=100) == Reason.SEED_TOO_LARGE


def test_size_cap_counts_bytes_not_characters() -> None:
    text = "date 2021-10-19 T\n\n" + "é" * 10
    data = codecs.BOM_UTF32_LE + text.encode("utf-32-le")
    assert parsed(data, max_bytes=len(data)).paragraphs == ["é" * 10]
    assert rejection(data, max_bytes=len(data) - 1) == Reason.SEED_TOO_LARGE


# --- decode_text directly -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"plain", "plain"),
        (b"\xef\xbb\xbfbom", "bom"),
        (codecs.BOM_UTF16_LE + "ü".encode("utf-16-le"), "ü"),
        (codecs.BOM_UTF16_BE + "ü".encode("utf-16-be"), "ü"),
        (codecs.BOM_UTF32_LE + "ü".encode("utf-32-le"), "ü"),
        (codecs.BOM_UTF32_BE + "ü".encode("utf-32-be"), "ü"),
        (codecs.BOM_UTF32_LE + "\U0001f4f0".encode("utf-32-le"), "\U0001f4f0"),
        (b"\x93quoted\x94 \x96 dash\x85\xa0", "“quoted” – dash…\u00a0"),
        (b"tab\tcr\rlf\nvt\x0bff\x0c", "tab\tcr\rlf\nvt\x0bff\x0c"),
    ],
)
def test_decode_text(data: bytes, expected: str) -> None:
    assert decode_text(data) == expected


def test_utf32_bom_is_checked_before_utf16() -> None:
    # FF FE 00 00 is the UTF-32 LE mark; read as UTF-16 LE it would start with a NUL.
    assert decode_text(codecs.BOM_UTF32_LE + "ab".encode("utf-32-le")) == "ab"


# --- fuzzing: any bytes end as a ParsedSeed or a RejectedInput ------------------------


SEED_REASONS = {reason.value for reason in Reason if reason.value.startswith("seed.")}


def check_outcome(data: bytes) -> None:
    """Parsing ends in a well-formed ParsedSeed or in a RejectedInput with a seed reason."""
    reason: str | None = None
    try:
        seed = parsed(data, max_bytes=4096)
    except RejectedInput as e:  # anything else escapes and fails the test
        reason = e.reason
    else:
        assert seed.title
        assert seed.paragraphs
        assert "\n" not in seed.title
        assert all(p and "\n" not in p for p in seed.paragraphs)
    assert reason is None or reason in SEED_REASONS


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=5000))
def test_random_bytes_never_crash(data: bytes) -> None:
    check_outcome(data)


HEADERISH = st.builds(
    lambda sep, day, rest: f"date{sep}{day}{sep}{rest}",
    st.sampled_from([" ", "\t", "\u00a0", "", "  "]),
    st.one_of(
        st.dates().map(date.isoformat), st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True)
    ),
    st.text(),
)


@settings(max_examples=300, deadline=None)
@given(HEADERISH, st.sampled_from(sorted(ENCODINGS)), st.sampled_from(["", "\x00", "\x1b", "\x85"]))
def test_seed_like_text_never_crashes(text: str, encoding: str, poison: str) -> None:
    """Reaches past the header checks, in every encoding, with and without control characters."""
    check_outcome(ENCODINGS[encoding](text + poison))
