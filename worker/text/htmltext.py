"""HTML to plain text: parse with nh3, keep only text and paragraph breaks, decode once.

Pure functions. Every field of a record is plain text, so markup is not sanitised here but
removed; the order matters:

1. nh3 (html5ever) parses the fragment as a browser would and serialises it back with
   every tag removed but the bare block-level ones of :data:`BLOCK_TAGS`, with *no*
   attribute (``attributes={"*": set()}``: an empty map would mean nh3's defaults, which
   keep ``title`` and ``lang``), without comments, and without the *content* of
   :data:`DROPPED_CONTENT_TAGS`: scripts, styles, and the raw-text elements whose content
   is not markup but would read as markup once decoded (``textarea``, ``xmp``, ...).
   The serialiser escapes every ``<``, ``>`` and ``&`` of the text, so each ``<`` left is
   a tag.
2. Whitespace in the source is collapsed first (newlines inside a ``<p>`` are not
   paragraph breaks in HTML), then each block tag becomes a blank line and each ``<br>``
   a line break: ``<br><br>`` separates paragraphs, a single ``<br>`` wraps a line. Any
   other tag (there should be none) is removed whole, attributes included.
3. Entities are decoded exactly once, after the tags are gone: ``&lt;b&gt;`` in the
   source stays the literal text ``<b>``. Consumers escape text before putting it in HTML.
4. The seed normaliser splits and normalises the paragraphs (NFC, single spaces, no
   control characters).
"""

from __future__ import annotations

import html
import re

from worker.text.normalise import normalise_inline, split_paragraphs

# Elements whose boundaries end a paragraph. Everything else is inline: its tags go, its
# text stays.
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
        "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "td", "th", "tr", "ul",
    }
)  # fmt: skip
# Elements whose text is not content: scripts, styles, fallbacks for disabled features,
# and the raw-text elements (HTML's "raw text" and "escapable raw text" kinds, and the
# obsolete xmp, plaintext) whose content is markup-looking text.
DROPPED_CONTENT_TAGS = frozenset(
    {
        "script", "style", "template", "noscript", "iframe", "object", "title", "textarea",
        "xmp", "noembed", "noframes", "plaintext",
    }
)  # fmt: skip
NO_ATTRIBUTES: dict[str, set[str]] = {"*": set()}
# Tags as html5ever writes them: a name, then attributes always in double quotes (none
# are expected, but a tag is removed whole whatever it holds).
_TAG = re.compile(r'<(/?)([a-zA-Z][^\s/>]*)(?:\s+[^\s=>]+(?:="[^"]*")?)*\s*/?>')


def sanitise(fragment: str) -> str:
    """The fragment as escaped text with only bare block tags, unsafe content gone."""
    import nh3  # here: seed documents never need it

    return nh3.clean(
        fragment,
        tags=set(BLOCK_TAGS),
        clean_content_tags=set(DROPPED_CONTENT_TAGS),
        attributes=NO_ATTRIBUTES,
        generic_attribute_prefixes=set(),
        strip_comments=True,
        link_rel=None,
    )


def html_to_paragraphs(fragment: str) -> list[str]:
    """Normalised paragraphs of text of an HTML fragment; ``[]`` when it holds no text."""
    clean = " ".join(sanitise(fragment).split())
    return split_paragraphs(html.unescape(_TAG.sub(_break, clean)))


def _break(tag: re.Match[str]) -> str:
    name = tag.group(2).lower()
    if name == "br":
        return "\n"
    return "\n\n" if name in BLOCK_TAGS else ""


def html_to_line(fragment: str) -> str:
    """One normalised line of text of an HTML fragment (a title): no tags, entities decoded."""
    return normalise_inline(" ".join(html_to_paragraphs(fragment)))
