"""The placeholder-secret policy: a secret left as ``.env.example`` gives it never runs.

Every secret of ``.env.example`` starts with ``change-me``; a deployment that forgot to set
a real one stops at start-up with one line saying how to make one.
"""

from __future__ import annotations

# Secrets of .env.example start with this: a deployment must never run with them.
PLACEHOLDER_PREFIX = "change-me"
GENERATE_SECRET = "set a real one (generate it with `openssl rand -hex 24`)"


def url_password(url: str) -> str:
    """The password of ``scheme://user:password@host``, or an empty string."""
    creds = url.partition("://")[2].rpartition("@")[0]
    return creds.partition(":")[2]


def is_placeholder(secret: str) -> bool:
    """True for a secret left as ``.env.example`` gives it (``change-me...``)."""
    return secret.strip().lower().startswith(PLACEHOLDER_PREFIX)
