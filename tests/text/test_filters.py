"""Keep and block rules: semantics, verdicts, and patterns refused at load time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.helpers import rss_bytes
from worker.core.errors import ConfigError, RuleError
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline.feedentries import feed_items
from worker.text.filters import (
    MAX_PATTERN_LENGTH,
    MAX_RULES,
    MAX_TEXT_CHARS,
    NO_KEEP_MATCHED,
    Rules,
    compile_rules,
)


def verdict(keep: list[str], block: list[str], title: str, text: str = "") -> str | None:
    return compile_rules(keep, block).verdict(title, text)


@pytest.mark.parametrize(
    ("keep", "block", "title", "text", "expected"),
    [
        ([], [], "anything", "", None),
        ([], ["sponsored"], "A SPONSORED post", "", 'block: "sponsored"'),
        ([], ["sponsored"], "Plain", "this is Sponsored content", 'block: "sponsored"'),
        ([], ["sponsored"], "Plain", "nothing to see", None),
        (["python", "rust"], [], "Rust 2.0", "", None),
        (["python", "rust"], [], "Go 2.0", "", NO_KEEP_MATCHED),
        (["python"], ["snake"], "Python snake", "", 'block: "snake"'),
        (["python"], ["zzz", "snake"], "Python snake", "", 'block: "snake"'),
        ([], [r"(?-i:NASA)"], "nasa news", "", None),
        ([], [r"(?-i:NASA)"], "NASA news", "", 'block: "(?-i:NASA)"'),
        ([], [r'"hi"\s'], 'they say "hi" there', "", r'block: "\"hi\"\\s"'),
        ([r"^breaking:"], [], "Breaking: news", "", None),
        ([], ["é"], "CAFÉ", "", 'block: "é"'),
        ([], [r"caf\pL"], "CAFÉ", "", r'block: "caf\\pL"'),  # \pL: any letter
        ([], [r"caf\w"], "CAFÉ", "", None),  # RE2's \w is ASCII, as the doc says
    ],
)
def test_verdict(
    keep: list[str], block: list[str], title: str, text: str, expected: str | None
) -> None:
    assert verdict(keep, block, title, text) == expected


def test_only_the_start_of_the_text_is_searched() -> None:
    text = "x" * (MAX_TEXT_CHARS - 3) + "needle"
    assert verdict([], ["needle"], "t", text) is None
    assert verdict([], ["nee"], "t", text) == 'block: "nee"'


def test_no_rules_keep_everything() -> None:
    assert Rules().verdict("t", "x") is None


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(unclosed", r'^keep rule "\(unclosed": not a valid RE2 regular expression: missing \)'),
        ("*x", r'^keep rule "\*x": not a valid RE2 regular expression: no argument for'),
        ("(a)\\1", "invalid escape sequence"),  # back-references need backtracking
        ("x(?=y)", "invalid perl operator"),  # and so does look-around
        ("(?:a{1,50}){1,50}b", "invalid repetition size"),  # over RE2's 1000
        ("", "must be a non-empty string"),
        ("   ", "must be a non-empty string"),
        (3, "keep rule 3: must be a non-empty string"),
        ("a" * (MAX_PATTERN_LENGTH + 1), f"longer than {MAX_PATTERN_LENGTH}"),
    ],
)
def test_bad_patterns_are_named_at_load(pattern: Any, message: str) -> None:
    with pytest.raises(RuleError, match=message) as info:
        compile_rules([pattern], [])
    assert isinstance(info.value, ConfigError)


def test_error_says_which_list() -> None:
    with pytest.raises(RuleError, match=r'^block rule "\[": '):
        compile_rules(["fine"], ["["])


@pytest.mark.parametrize("value", ["sponsored", None, {"a": 1}])
def test_rules_must_be_a_list(value: Any) -> None:
    with pytest.raises(RuleError, match="block: must be a list of patterns"):
        compile_rules([], value)


def test_rule_count_is_capped() -> None:
    with pytest.raises(RuleError, match=f"more than {MAX_RULES}"):
        compile_rules(["x"] * (MAX_RULES + 1), [])


# Each backtracked for more than 20 s in Python's re on a title a few dozen characters long.
HOSTILE = {
    r"\w*,?\w*,?\w*,?\w*!": "a" * 25,
    r"(a|aa)*b": "a" * 40,
    r"(a+)+b": "a" * 30 + "!",
    r"\w+ing": "x" * 30_000,
}


@pytest.mark.parametrize(("pattern", "title"), HOSTILE.items())
def test_patterns_that_backtrack_elsewhere_run_in_linear_time(pattern: str, title: str) -> None:
    rules = compile_rules([], [pattern])
    start = time.perf_counter()
    for size in (len(title), 3_000, 300_000):  # up to a title of 300 KB
        long = title * (size // len(title))
        assert rules.verdict(long, long) is None
    assert time.perf_counter() - start < 0.5


def test_a_pattern_re2_cannot_bound_is_refused_in_one_line() -> None:
    start = time.perf_counter()
    with pytest.raises(RuleError) as info:
        compile_rules([], ["fine", "(?:a{1,50}){1,50}b"])
    assert time.perf_counter() - start < 0.5
    assert str(info.value).startswith('block rule "(?:a{1,50}){1,50}b": not a valid RE2')
    assert "\n" not in str(info.value)


def test_only_the_start_of_the_title_is_searched() -> None:
    title = "x" * (MAX_TEXT_CHARS - 3) + "needle"
    assert verdict([], ["needle"], title) is None
    assert verdict([], ["nee"], title) == 'block: "nee"'


def test_a_300_kb_title_does_not_hold_up_its_feed() -> None:
    """Fifty hostile rules against a feed of 300 KB titles: the feed is through in a blink."""
    huge = "a" * 300_000
    data = rss_bytes(*((str(n), huge, huge) for n in range(3)), ("ok", "Rust news", "body"))
    settings = Settings(feed_max_bytes=10_000_000)
    envelope = Envelope(input_id="f", kind=InputKind.FEED_URL, source="f.xml", url="http://f/")
    rules = compile_rules([], [*HOSTILE, *(f"(a|aa)*{n}" for n in range(MAX_RULES - 4))])
    start = time.perf_counter()
    items = feed_items(envelope, data, settings, rules=rules)
    assert time.perf_counter() - start < 5
    assert len(items) == 4
