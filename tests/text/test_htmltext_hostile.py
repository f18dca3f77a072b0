"""HTML to plain text against hostile markup: no attribute value, no tag, no control survives.

The property test builds HTML from a small grammar in which every attribute value and
the content of every raw-text element is a recognisable marker, and checks that no marker
and no tag reaches the text, and that the ordinary text (entities decoded exactly once)
all does.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.text.htmltext import DROPPED_CONTENT_TAGS, html_to_line, html_to_paragraphs

ATTR_MARK = "ATTRV"
RAW_MARK = "RAWTXT"


def test_attribute_values_never_reach_the_text() -> None:
    title = """<h1 title='"><img src=x onerror=alert(1)>' lang="x<y">Headline</h1>"""
    assert html_to_line(title) == "Headline"


@pytest.mark.parametrize("tag", sorted(DROPPED_CONTENT_TAGS - {"plaintext"}))
def test_raw_text_elements_lose_their_content(tag: str) -> None:
    fragment = f"<p>before</p><{tag}><img src=x onerror=alert(1)><b>x</b></{tag}><p>after</p>"
    assert html_to_paragraphs(fragment) == ["before", "after"]


def test_plaintext_drops_everything_after_it() -> None:
    assert html_to_paragraphs("<p>kept</p><plaintext><p>gone</p>") == ["kept"]


def test_textarea_content_is_not_read_as_markup() -> None:
    assert html_to_paragraphs("<textarea><script>alert(1)</script></textarea>") == []


def test_escaped_markup_stays_literal_text_decoded_once() -> None:
    fragment = "<p>An article about &lt;script&gt; and &amp;lt;b&amp;gt;</p>"
    assert html_to_paragraphs(fragment) == ["An article about <script> and &lt;b&gt;"]


def test_control_characters_are_removed() -> None:
    fragment = "<p>red\x1b[31m alert\x07 &#x1b;x</p><p>\x1b\x07</p>"
    assert html_to_paragraphs(fragment) == ["red[31m alert x"]


# -- property ------------------------------------------------------------------------------

BLOCK = ["p", "div", "h1", "h3", "blockquote", "li", "ul", "pre", "section"]
# No svg or math: inside them "iframe" or "textarea" is a foreign element, not raw text.
INLINE = ["b", "i", "em", "span", "a", "font", "x-widget", "img"]
RAW = sorted(DROPPED_CONTENT_TAGS - {"plaintext"})
ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&nbsp;", "&eacute;", "&#x263A;",
            "&amp;lt;", "&lt;ESC&gt;"]  # fmt: skip
# Text is upper case and digits, so a "<" followed by a lower-case letter can only come
# from a tag; attribute values are markers wrapped in markup-looking noise.
WORDS = st.text(alphabet="ABCDEFGHXYZ0123456789 ", min_size=1, max_size=8)
ATTR_VALUE = st.builds(
    lambda n, noise: f"{noise}{ATTR_MARK}{n}{noise}",
    st.integers(0, 999),
    st.sampled_from(["", '"><img src=x onerror=alert(1)>', "<b>", "&quot;&gt;", "'"]),
)
ATTRS = st.lists(
    st.tuples(st.sampled_from(["title", "lang", "alt", "href", "data-x", "onclick", "style"]),
              ATTR_VALUE),
    max_size=3,
)  # fmt: skip


def _attrs(pairs: list[tuple[str, str]]) -> str:
    return "".join(f' {name}="{html.escape(value)}"' for name, value in pairs)


def _text_piece() -> st.SearchStrategy[tuple[str, str]]:
    """(source HTML, the text it stands for)."""
    entity = st.sampled_from(ENTITIES).map(lambda e: (e, html.unescape(e)))
    return st.one_of(WORDS.map(lambda w: (w, w)), entity)


def _raw(tag: str, attrs: list[tuple[str, str]], n: int) -> tuple[str, str]:
    inner = f'<b title="{ATTR_MARK}">{RAW_MARK}{n}</b> {RAW_MARK}'
    return f"<{tag}{_attrs(attrs)}>{inner}</{tag}>", " "


def _element(
    children: st.SearchStrategy[list[tuple[str, str]]],
) -> st.SearchStrategy[tuple[str, str]]:
    def build(
        tag: str, attrs: list[tuple[str, str]], kids: list[tuple[str, str]]
    ) -> tuple[str, str]:
        if tag in ("img", "br"):
            return f"<{tag}{_attrs(attrs)}>", ""
        body = "".join(k[0] for k in kids)
        text = "".join(k[1] for k in kids)
        pad = " " if tag in BLOCK else ""
        return f"<{tag}{_attrs(attrs)}>{body}</{tag}>", pad + text + pad

    return st.builds(build, st.sampled_from(BLOCK + INLINE), ATTRS, children)


NODES = st.recursive(
    _text_piece(),
    lambda inner: st.one_of(
        _element(st.lists(inner, max_size=4)),
        st.builds(_raw, st.sampled_from(RAW), ATTRS, st.integers(0, 99)),
    ),
    max_leaves=20,
)


def _squeeze(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=300, deadline=None)
@given(st.lists(NODES, min_size=1, max_size=6))
def test_no_markup_survives_and_all_text_does(nodes: list[tuple[str, str]]) -> None:
    fragment = "".join(n[0] for n in nodes)
    expected = "".join(n[1] for n in nodes)
    paragraphs = html_to_paragraphs(fragment)
    line = html_to_line(fragment)
    for text in [*paragraphs, line]:
        assert ATTR_MARK not in text, fragment
        assert RAW_MARK not in text, fragment
        assert not re.search(r"<[a-z/!?]", text), fragment
        assert text.isprintable(), fragment
    assert _squeeze(" ".join(paragraphs)) == _squeeze(expected), fragment
