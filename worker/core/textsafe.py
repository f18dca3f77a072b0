"""Hostile strings made harmless: control characters, undecodable names, URL credentials.

Pure functions shared by every layer:

- :func:`strip_controls` removes the C0 and C1 control characters (ESC, BEL, NUL, ...)
  that are not whitespace, so no stored text can drive a terminal. Whitespace controls
  (tab, line breaks) are left to the normalisers, which turn them into spaces or breaks.
- :func:`escape_controls` writes every control character as a visible backslash escape
  (``\\x1b``): for printing text that may predate the stripping.
- :func:`printable_name` turns a file name as the OS gives it (undecodable bytes as
  surrogate escapes) into printable text: ``bad\\xff.txt``.
- :func:`redact_userinfo` replaces the user info of every URL in a text (``user:pass@``,
  ``token@``) with ``***``; :func:`redact_query_secrets` the value of a ``?password=``
  (or ``token``, ``secret``) query parameter.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_plus

# Control characters (category Cc) that are not whitespace: ESC, BEL, NUL, DEL, C1 but NEL.
_CONTROLS = "".join(
    chr(c) for c in range(0xA0) if unicodedata.category(chr(c)) == "Cc" and not chr(c).isspace()
)
_DELETE = dict.fromkeys(map(ord, _CONTROLS))
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_KEPT = "\n\t"
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/?#@\s]*@", re.IGNORECASE)
# A URL query parameter; its name counts as percent-decoded (``pass%77ord`` is ``password``).
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s]*)=([^&;#\s]*)")
# Names of a secret passed as a URL query parameter (redis-py reads ?password=).
SECRET_PARAMS = frozenset({"password", "passwd", "pass", "secret", "token"})


def strip_controls(text: str) -> str:
    """``text`` without the control characters that are not whitespace."""
    if text.isprintable():  # the common case, and much cheaper than translate
        return text
    return text.translate(_DELETE)


def escape_controls(text: str, *, keep: str = _KEPT) -> str:
    """``text`` with every C0/C1 control but those in ``keep`` written as ``\\xNN``."""
    return _ANY_CONTROL.sub(lambda m: _escape(m.group(), keep), text)


def _escape(char: str, keep: str) -> str:
    return char if char in keep else f"\\x{ord(char):02x}"


def printable_name(name: str) -> str:
    """A file name as printable text: undecodable bytes and controls as ``\\xNN`` escapes.

    ``os`` gives undecodable bytes of a name as lone surrogates (``surrogateescape``),
    which no JSON encoder accepts; a name that is valid UTF-8 without controls is
    returned as it is.
    """
    if name.isprintable():
        return name
    raw = name.encode("utf-8", "surrogateescape")
    return escape_controls(raw.decode("utf-8", "backslashreplace"), keep="")


def redact_userinfo(text: str) -> str:
    """``text`` with the user info of each ``scheme://user:password@host`` URL as ``***``."""
    if "@" not in text:
        return text
    return _USERINFO.sub(r"\1***@", text)


def _secret_name(name: str) -> bool:
    return unquote_plus(name).strip().lower() in SECRET_PARAMS


def _masked_param(match: re.Match[str]) -> str:
    sep, name, _ = match.groups()
    return f"{sep}{name}=***" if _secret_name(name) else match.group()


def redact_query_secrets(text: str) -> str:
    """``text`` with the value of every ``password=`` (``token=``, ...) URL parameter as ``***``.

    A name is read as a URL parser reads it: ``pass%77ord=`` is a password too.
    """
    if "=" not in text:
        return text
    return _QUERY_PARAM.sub(_masked_param, text)


def has_query_secret(url: str) -> bool:
    """True when ``url`` carries a password (or token) as a query parameter, however spelt."""
    return any(_secret_name(m.group(2)) for m in _QUERY_PARAM.finditer(url))
