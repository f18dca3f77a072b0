"""An RSS author as a name: ``email (Name)`` or ``Name <email>`` is the name, else the email.

feedparser splits such a string with an e-mail pattern that cuts top-level domains longer
than four letters: ``desk@gazette.example (City Desk)`` became the name ``ple (City Desk``.
The raw element is read here instead.
"""

from __future__ import annotations

import re

_EMAIL = r"[^\s@<>()]+@[^\s@<>()]+"
_FORMS = (
    re.compile(rf"(?P<email>{_EMAIL})\s*\((?P<name>[^()]*)\)"),  # email (Name): RSS 2.0
    re.compile(rf"(?P<name>[^<>]*?)\s*<(?P<email>{_EMAIL})>"),  # Name <email>
    re.compile(rf"(?P<name>[^()]*?)\s*\((?P<email>{_EMAIL})\)"),  # Name (email): Atom's, joined
    re.compile(rf"(?P<email>{_EMAIL})"),
)


def author_name(raw: str) -> str:
    """The name in an author string, else its e-mail address, else the string as given."""
    text = raw.strip()
    for form in _FORMS:
        found = form.fullmatch(text)
        if found:
            return (found.groupdict().get("name") or "").strip() or found["email"]
    return text
