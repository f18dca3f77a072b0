"""Keep and block rules: semantics, verdicts, and patterns refused at load time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from worker.core.errors import ConfigError, RuleError
from worker.text.filters import (
    MAX_PATTERN_LENGTH,
    MAX_RULES,
    MAX_TEXT_CHARS,
    NO_KEEP_MATCHED,
    Rules,
    compile_rules,
    risky_repeat,
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
        ("(unclosed", r'keep rule "\(unclosed": not a valid regular expression'),
        ("*x", 'keep rule "\\*x": not a valid regular expression: nothing to repeat'),
        ("", "must be a non-empty string"),
        ("   ", "must be a non-empty string"),
        (3, "keep rule 3: must be a non-empty string"),
        ("a" * (MAX_PATTERN_LENGTH + 1), f"longer than {MAX_PATTERN_LENGTH}"),
        ("(a+)+$", "a repeated group holds a repeat"),
        (".*.*x", "two unbounded repeats in a row"),
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


@pytest.mark.parametrize(
    ("pattern", "risk"),
    [
        ("(a+)+", "a repeated group holds a repeat"),
        ("(a*)*", "a repeated group holds a repeat"),
        ("(\\w*x)*", "a repeated group holds a repeat"),
        ("(?:a|b+){2,}", "a repeated group holds a repeat"),
        ("((ab)+c)+", "a repeated group holds a repeat"),
        ("(x+)+?y", "a repeated group holds a repeat"),
        ("(.*,)*", "a repeated group holds a repeat"),
        ("(a{1,99}){1,99}", "a repeated group holds a repeat"),
        (".*.*x", "two unbounded repeats in a row"),
        ("a*a*a*a*b", "two unbounded repeats in a row"),
        ("\\w+\\s+\\w+", "two unbounded repeats in a row"),
        ("a+?[ab]{3,}", "two unbounded repeats in a row"),
        ("a++(b)+", "two unbounded repeats in a row"),
    ],
)
def test_risky_repeats_are_detected(pattern: str, risk: str) -> None:
    assert risky_repeat(pattern) == risk


@pytest.mark.parametrize(
    "pattern",
    [
        "(?i)sponsored",
        "(a+)b+",
        "(ab){2,5}",
        "(a+)?",
        "(a{1,9})+",
        "[(+)]+",
        "[]+)]*x",
        r"\(a+b\)+",
        "(a[+]*)",
        "(?:foo|bar)+",
        "a{2}",
        "{}+",
        "foo.*bar.*baz",
        r"\w+\s{0,3}\w+",
        "sponsored( by)?:",
    ],
)
def test_safe_patterns_pass(pattern: str) -> None:
    assert risky_repeat(pattern) is None
    compile_rules([pattern], [])


def test_a_hostile_long_text_stays_fast() -> None:
    """A quadratic pattern that passes the check is bounded by the searched length."""
    rules = compile_rules([], ["a*b"])
    start = time.perf_counter()
    assert rules.verdict("t", "a" * 1_000_000) is None
    assert time.perf_counter() - start < 2
