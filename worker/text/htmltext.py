"""HTML to plain text: sanitise with nh3, split at block boundaries, decode entities.

Pure functions. The order matters:

1. nh3 removes every tag but the block-level ones of :data:`BLOCK_TAGS`, drops the
   *content* of :data:`DROPPED_CONTENT_TAGS` (script, style, ...), and strips comments and
   every attribute. Its output is escaped text plus bare block tags, so the next steps may
   read it with simple patterns.
2. Whitespace in the source is collapsed first (newlines inside a ``<p>`` are not
   paragraph breaks in HTML), then each block tag becomes a blank line and each ``<br>``
   a line break: ``<br><br>`` separates paragraphs, a single ``<br>`` wraps a line.
3. Entities are decoded only after the tags are gone, so ``&lt;b&gt;`` in the source
   stays the text ``<b>`` and never becomes markup.
4. The seed normaliser splits and normalises the paragraphs (NFC, single spaces).
"""

from __future__ import annotations

import html
import re

import nh3

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
# Elements whose text is not content: scripts, styles and fallbacks for disabled features.
DROPPED_CONTENT_TAGS = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "title"}
)
_BREAK = re.compile(r"<br\s*/?>")
_BLOCK = re.compile(r"</?[a-z0-9]+\s*/?>")  # nh3 leaves bare tags: no attributes


def sanitise(fragment: str) -> str:
    """The fragment with only bare block tags left, text escaped, unsafe content gone."""
    return nh3.clean(
        fragment,
        tags=set(BLOCK_TAGS),
        clean_content_tags=set(DROPPED_CONTENT_TAGS),
        attributes={},
        strip_comments=True,
        link_rel=None,
    )


def html_to_paragraphs(fragment: str) -> list[str]:
    """Normalised paragraphs of text of an HTML fragment; ``[]`` when it holds no text."""
    clean = " ".join(sanitise(fragment).split())
    text = _BLOCK.sub("\n\n", _BREAK.sub("\n", clean))
    return split_paragraphs(html.unescape(text))


def html_to_line(fragment: str) -> str:
    """One normalised line of text of an HTML fragment (a title): no tags, entities decoded."""
    return normalise_inline(" ".join(html_to_paragraphs(fragment)))
