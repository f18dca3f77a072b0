"""Per-feed keep and block rules: regular expressions over an entry's title and text. Pure.

An entry is dropped when any ``block`` rule matches, or when there are ``keep`` rules and
none matches; otherwise it is kept. :meth:`Rules.verdict` names the rule that dropped it.

Rules are Python regular expressions, searched (not anchored), case-insensitive unless
the pattern turns that off (``(?-i:...)``). They are compiled when the feeds file is
loaded, so a bad pattern fails at load, naming itself. Python's ``re`` has no time limit,
so as far as is reasonable a pattern cannot make one entry cost seconds:

- at most :data:`MAX_PATTERN_LENGTH` characters and :data:`MAX_RULES` rules of each kind;
- no unbounded repeat (``*``, ``+``, ``{n,}``, ``{n,m}`` with m over :data:`MAX_BOUND`)
  of a group that holds one (``(a+)+``, ``(\\w*x)*``: exponential backtracking), and no
  two of them in a row (``.*.*``, ``\\w+\\s+``: polynomial). Overlapping alternatives
  such as ``(a|a)*`` are not detected; a linear-time engine (RE2) would be the full fix;
- only the title and the first :data:`MAX_TEXT_CHARS` characters of the text are searched.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worker.core.errors import RuleError

MAX_PATTERN_LENGTH = 300
MAX_RULES = 50
MAX_TEXT_CHARS = 2000
NO_KEEP_MATCHED = "keep: no rule matched"
MAX_BOUND = 50  # {n,m} with a larger m backtracks like an unbounded repeat
# The upper bound is group 1 ({m}) or 2 ({n,m}; empty in {n,}); * and + have none.
_REPEAT = re.compile(r"[*+]|\{(\d+)\}|\{\d*,(\d*)\}")


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule: ``kind`` is ``keep`` or ``block``; ``pattern`` as written."""

    kind: str
    pattern: str
    regex: re.Pattern[str]

    def matches(self, title: str, text: str) -> bool:
        """Whether the pattern occurs in the title or the start of the text."""
        return bool(self.regex.search(title) or self.regex.search(text, 0, MAX_TEXT_CHARS))

    def describe(self) -> str:
        """The rule as a verdict shows it: ``block: "sponsored"``."""
        return f"{self.kind}: {json.dumps(self.pattern, ensure_ascii=False)}"


@dataclass(frozen=True, slots=True)
class Rules:
    """A feed's compiled keep and block rules."""

    keep: tuple[Rule, ...] = ()
    block: tuple[Rule, ...] = ()

    def verdict(self, title: str, text: str) -> str | None:
        """None to keep the entry, else the rule that dropped it (see module doc)."""
        for rule in self.block:
            if rule.matches(title, text):
                return rule.describe()
        if self.keep and not any(rule.matches(title, text) for rule in self.keep):
            return NO_KEEP_MATCHED
        return None


def compile_rules(keep: Sequence[Any], block: Sequence[Any]) -> Rules:
    """Compile and check the patterns; RuleError naming the first bad one."""
    return Rules(keep=_compile_all("keep", keep), block=_compile_all("block", block))


def _compile_all(kind: str, patterns: Sequence[Any]) -> tuple[Rule, ...]:
    if isinstance(patterns, str) or not isinstance(patterns, Sequence):
        raise RuleError(f"{kind}: must be a list of patterns, not {type(patterns).__name__}")
    if len(patterns) > MAX_RULES:
        raise RuleError(f"{kind}: {len(patterns)} rules, more than {MAX_RULES}")
    return tuple(compile_rule(kind, pattern) for pattern in patterns)


def compile_rule(kind: str, pattern: Any) -> Rule:
    """One rule, checked and compiled case-insensitive; RuleError naming it if unusable."""
    where = f"{kind} rule {json.dumps(pattern, ensure_ascii=False, default=repr)}"
    if not isinstance(pattern, str) or not pattern.strip():
        raise RuleError(f"{where}: must be a non-empty string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RuleError(f"{where[:80]}...: longer than {MAX_PATTERN_LENGTH} characters")
    if risk := risky_repeat(pattern):
        raise RuleError(f"{where}: {risk}, which can backtrack for minutes; bound one")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning on "[[": still a valid pattern
            regex = re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise RuleError(f"{where}: not a valid regular expression: {e}") from e
    return Rule(kind, pattern, regex)


def risky_repeat(pattern: str) -> str | None:
    """Why the pattern may backtrack catastrophically, or None (see module doc)."""
    holds = [False]  # per open group: does it hold an unbounded repeat?
    opens: list[int] = []
    atom, after_repeat, i = -1, -2, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "(":
            holds.append(False)
            opens.append(i)
            i += 1
        elif char == ")" and opens:
            atom, inner, i = opens.pop(), holds.pop(), i + 1
            if inner and _unbounded(pattern, i):
                return "a repeated group holds a repeat"
            holds[-1] = holds[-1] or inner
        elif (end := _unbounded(pattern, i)) and atom >= 0:
            if atom == after_repeat:
                return "two unbounded repeats in a row"
            holds[-1], i = True, end + (pattern[end : end + 1] in ("?", "+"))
            after_repeat = i
        else:
            atom = i
            i = _class_end(pattern, i) + 1 if char == "[" else i + (2 if char == "\\" else 1)
    return None


def _unbounded(pattern: str, i: int) -> int:
    """End of an unbounded repeat (``*``, ``+``, ``{n,}``, ``{n,m}`` with a large m) at i."""
    match = _REPEAT.match(pattern, i)
    if match is None:
        return 0
    upper = match.group(1) if match.group(1) is not None else match.group(2)
    return match.end() if not upper or int(upper) > MAX_BOUND else 0


def _class_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the character class opened at ``start``."""
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":  # a leading ] is a literal
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i
