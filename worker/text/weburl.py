"""Absolute http(s) URLs from untrusted text: the one check media, OPML and feeds share.

A URL is kept only when it is absolute ``http://`` or ``https://`` with a host, at most
:data:`MAX_URL_LENGTH` characters, and free of whitespace and control characters once
its surrounding whitespace is stripped (a URL with a line break or a NUL in it is a
header-injection or log-forging attempt, never a typo worth repairing). Relative URLs,
``javascript:``, ``data:`` and every other scheme are refused.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
# C0 and C1 controls, DEL and every Unicode space or line/paragraph separator.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\s\u2028\u2029]")


def web_url(value: object, *, max_length: int = MAX_URL_LENGTH) -> str | None:
    """``value`` as an absolute http(s) URL, or None when it is not one (see module doc)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > max_length or _FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def has_credentials(url: str) -> bool:
    """Whether the URL carries ``user[:password]@`` before its host."""
    return "@" in urlsplit(url).netloc
