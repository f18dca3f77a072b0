"""Main text of an article page: paragraphs only, no navigation, comments or footer.

trafilatura finds the main content (its own rules, then readability and jusText as
fallbacks); it is imported on the first call, since importing it reads its settings file
and pulls in lxml, jusText, htmldate and courlan (0.1 to 0.3 s).

Options, and why:

* ``include_comments=False``, ``include_tables=False``, ``include_images=False``,
  ``include_links=False``: the record wants prose; tables read badly as text.
* ``favor_precision=True``: drop doubtful blocks (teasers, "related" lists) rather than
  keep them; a missing paragraph costs less than boilerplate in every record.
* ``deduplicate=False``: trafilatura's dedup cache is process-wide state; the same page
  must give the same text in every process.
* ``with_metadata=False``: dates, authors and titles come from the feed or seed record.

Before trafilatura sees the page, the elements whose content a feed's HTML loses
(:data:`worker.text.htmltext.DROPPED_CONTENT_TAGS`: ``template``, ``script``,
``textarea``, ...) are removed with their content: one policy for feeds and pages.

The body trafilatura returns (an XML tree of ``p``, ``head``, ``list``, ``quote``...) is
turned into plain paragraphs: each block's text with inner whitespace collapsed, list
items as paragraphs of their own, blocks joined by one blank line. ``None`` when nothing
usable is left: no main content found, or less than :data:`MIN_CHARS` characters of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from worker.text.htmltext import DROPPED_CONTENT_TAGS

MIN_CHARS = 100
_SPACE = re.compile(r"\s+")
# Block elements of trafilatura's output tree that hold a paragraph of text each.
_BLOCKS = frozenset({"p", "head", "item", "quote", "code", "cell"})


def extract_article(html: bytes | str, url: str | None = None) -> str | None:
    """The page's main text as paragraphs separated by blank lines, or None."""
    if not html or not html.strip():
        return None
    body = _main_body(html, url)
    if body is None:
        return None
    text = "\n\n".join(_paragraphs(body))
    return text if len(text) >= MIN_CHARS else None


def _main_body(html: bytes | str, url: str | None) -> Any:
    """trafilatura's tree of the main content, or None."""
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return None
    for element in list(tree.iter(*DROPPED_CONTENT_TAGS)):
        element.drop_tree()  # its content goes, the text after it stays
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        favor_precision=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=False,
    )
    return None if document is None else getattr(document, "body", None)


def _paragraphs(body: Any) -> Iterator[str]:
    """Text of each block of the tree, in document order, without empty ones."""
    for element in body.iter():
        if element.tag not in _BLOCKS or _has_block_child(element):
            continue
        text = _SPACE.sub(" ", "".join(element.itertext())).strip()
        if text:
            yield text


def _has_block_child(element: Any) -> bool:
    return any(child.tag in _BLOCKS for child in element)
