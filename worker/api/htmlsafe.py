"""Text from feeds made safe to put in a page: escaped markup, visible bidi, checked links.

Everything a feed wrote (titles, sources, URLs, rejection details) goes through
:func:`text` or :func:`link` before it reaches the HTML. Markup is escaped; control and
format characters (Unicode Cc, Cf, Zl, Zp: the bidi overrides ``\\u202e`` among them) are
shown as ``\\uXXXX`` so no string can reorder or hide the text around it; only ``http`` and
``https`` URLs become links, any other is shown as text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import quote, urlsplit

_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))
_KEEP = "\n\t"
LINK_SCHEMES = ("http", "https")


def visible(value: str) -> str:
    """``value`` with every control or format character written as ``\\uXXXX``."""
    if value.isprintable():
        return value
    return "".join(
        f"\\u{ord(c):04x}" if c not in _KEEP and unicodedata.category(c) in _HIDDEN else c
        for c in value
    )


def text(value: object) -> str:
    """Any value as HTML text: invisible characters shown, markup escaped."""
    return html.escape(visible(str(value)), quote=True)


def link(url: str, label: str | None = None) -> str:
    """An ``<a>`` to an http(s) URL, or the URL as plain text when it is anything else."""
    shown = text(url if label is None else label)
    if not is_web_url(url):
        return shown
    return f'<a href="{text(url)}" rel="noopener noreferrer nofollow">{shown}</a>'


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host and nothing invisible or blank in it."""
    if visible(url) != url or re.search(r"\s", url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in LINK_SCHEMES and bool(parts.hostname)


def path_part(value: str) -> str:
    """``value`` quoted for a URL path segment."""
    return quote(value, safe="")
