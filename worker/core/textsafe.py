"""Hostile strings made harmless: control characters, undecodable names, URL credentials.

Pure functions shared by every layer:

- :func:`strip_controls` removes the C0 and C1 control characters (ESC, BEL, NUL, ...)
  that are not whitespace, so no stored text can drive a terminal, and the invisible
  format characters that steer how text is shown (:data:`FORMAT`): bidi embeddings,
  overrides, isolates and marks (U+202A-202E, U+2066-2069, U+200E/200F, U+061C), tag
  characters (U+E0000-E007F), word joiners and invisible operators. ZWJ and ZWNJ (U+200C,
  U+200D) stay: scripts need them (the normaliser's own rule decides on them), and so do
  the visible format marks (Arabic number signs, Egyptian hieroglyph joiners, ...).
  Whitespace controls (tab, line breaks) are left to the normalisers, which turn them
  into spaces or breaks.
- :func:`escape_controls` writes every unprintable character (controls, format
  characters, line and paragraph separators, private use, unassigned, lone surrogates) as
  a visible backslash escape (``\\x1b``, ``\\u202e``): for printing text that may
  predate the stripping.
- :func:`printable_name` turns a file name as the OS gives it (undecodable bytes as
  surrogate escapes) into printable text: ``bad\\xff.txt``.
- :func:`redact_userinfo` replaces the user info of every URL in a text (``user:pass@``,
  ``token@``) with ``***``; :func:`redact_query_secrets` the value of a ``?password=``
  (or ``token``, ``api_key``, ``sig``, ...) query parameter.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_plus

# Control characters (category Cc) that are not whitespace: ESC, BEL, NUL, DEL, C1 but NEL.
_CONTROLS = "".join(
    chr(c) for c in range(0xA0) if unicodedata.category(chr(c)) == "Cc" and not chr(c).isspace()
)
# Invisible format characters (category Cf) that reorder or hide text: bidi controls and
# marks, zero-width space and joiners (but ZWJ/ZWNJ), invisible operators, the BOM,
# interlinear annotations and the whole tag block.
_FORMAT_RANGES = (
    (0x061C, 0x061C), (0x180E, 0x180E), (0x200B, 0x200B), (0x200E, 0x200F),
    (0x202A, 0x202E), (0x2060, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
    (0xE0000, 0xE007F),
)  # fmt: skip
FORMAT = "".join(chr(c) for first, last in _FORMAT_RANGES for c in range(first, last + 1))
_DELETE = dict.fromkeys(map(ord, _CONTROLS + FORMAT))
_KEPT = "\n\t"
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/?#@\s]*@", re.IGNORECASE)
# A URL query parameter (its name and value), and the names that hold a secret: a
# password (redis-py reads ?password=), a token, a key, a signature, ... alone or as the
# last word of a longer name (api_key, access_token, X-Amz-Signature). A name counts as
# a URL parser reads it: percent-decoded (``pass%77ord`` is ``password``), ``;`` a
# separator like ``&``.
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s]*)=([^&;#\s]*)")
_SECRET_NAME = re.compile(
    r"(?:.*[_.-])?(?:password|passwd|pass|pwd|secret|token|key|apikey|sig|signature|auth"
    r"|authorization|credentials?)",
    re.I,
)


def strip_controls(text: str) -> str:
    """``text`` without the controls that are not whitespace, nor the :data:`FORMAT` ones."""
    if text.isprintable():  # the common case, and much cheaper than translate
        return text
    return text.translate(_DELETE)


def escape_controls(text: str, *, keep: str = _KEPT) -> str:
    """``text`` with every unprintable character but spaces and those in ``keep`` escaped.

    ``\\xNN`` below U+0100, ``\\uNNNN`` and ``\\UNNNNNNNN`` above; space separators (NBSP
    and the like) are shown as they are.
    """
    if text.isprintable():
        return text
    return "".join(_escape(char, keep) for char in text)


def _escape(char: str, keep: str) -> str:
    if char.isprintable() or char in keep or unicodedata.category(char) == "Zs":
        return char
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


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


def redact_query_secrets(text: str) -> str:
    """``text`` with the value of every secret-looking URL parameter (``password=``,
    ``token=``, ``api_key=``, ``sig=``, ...) as ``***``.

    A name is read as a URL parser reads it: ``pass%77ord=`` is a password too.
    """
    if "=" not in text:
        return text
    return _QUERY_PARAM.sub(_mask_secret, text)


def _mask_secret(param: re.Match[str]) -> str:
    return f"{param[1]}{param[2]}=***" if _is_secret_name(param[2]) else param[0]


def _is_secret_name(name: str) -> bool:
    return _SECRET_NAME.fullmatch(unquote_plus(name).strip()) is not None


def has_query_secret(url: str) -> bool:
    """True when ``url`` carries a password (or token, key, ...) as a query parameter,
    however spelt."""
    return any(_is_secret_name(m[2]) for m in _QUERY_PARAM.finditer(url))
