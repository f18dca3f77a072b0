r"""Per-feed keep and block rules: regular expressions over an entry's title and text. Pure.

An entry is dropped when any ``block`` rule matches, or when there are ``keep`` rules and
none matches; otherwise it is kept. :meth:`Rules.verdict` names the rule that dropped it.

Rules are RE2 regular expressions (``google-re2``), searched (not anchored),
case-insensitive unless the pattern turns that off (``(?-i:...)``). RE2 runs in time
linear in the text, whatever the pattern: no shape can backtrack, so none has to be
guessed at. What it cannot run in linear time it does not compile (back-references,
look-around, repeats over 1000), so such a pattern fails when the feeds file is loaded,
in one line naming the rule. Its ``\w``, ``\d`` and ``\b`` are ASCII (``\pL`` is any
letter). The work per entry is bounded too:

- at most :data:`MAX_PATTERN_LENGTH` characters and :data:`MAX_RULES` rules of each kind;
- only the first :data:`MAX_TEXT_CHARS` characters of the title and of the text are
  searched (a 300 KB title costs what 2000 characters do).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2

from worker.core.errors import RuleError

MAX_PATTERN_LENGTH = 300
MAX_RULES = 50
MAX_TEXT_CHARS = 2000
NO_KEEP_MATCHED = "keep: no rule matched"


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule: ``kind`` is ``keep`` or ``block``; ``pattern`` as written."""

    kind: str
    pattern: str
    regex: Any  # a compiled re2 pattern, searched over UTF-8 bytes

    def matches(self, title: str, text: str) -> bool:
        """Whether the pattern occurs in the start of the title or of the text."""
        return any(self.regex.search(_searched(value)) for value in (title, text))

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
    try:
        regex = re2.compile(pattern.encode("utf-8", "replace"), _options())
    except re2.error as e:
        why = e.args[0].decode("utf-8", "replace") if e.args else "invalid"
        raise RuleError(f"{where}: not a valid RE2 regular expression: {why}") from e
    return Rule(kind, pattern, regex)


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error comes back as an exception, and says it all
    options.never_capture = True  # only whether it matches
    return options


def _searched(value: str) -> bytes:
    """The bounded start of a title or text, as the UTF-8 the compiled rules search."""
    return value[:MAX_TEXT_CHARS].encode("utf-8", "replace")
