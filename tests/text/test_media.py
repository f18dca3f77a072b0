"""Entry media from real feed XML parsed by feedparser, and from JSON Feed items."""

from __future__ import annotations

import io
from typing import Any

import feedparser
import pytest

from worker.text.jsonfeed import item_entry
from worker.text.media import MAX_MEDIA, entry_media, first_image

MRSS = 'xmlns:media="http://search.yahoo.com/mrss/"'


def entries(xml: str) -> list[Any]:
    """Entries as parse_feed's feedparser call makes them."""
    parsed = feedparser.parse(
        io.BytesIO(xml.encode()), sanitize_html=False, resolve_relative_uris=False
    )
    return list(parsed.entries)


def rss_item(body: str) -> Any:
    [entry] = entries(
        f'<?xml version="1.0"?><rss version="2.0" {MRSS}><channel><title>T</title>'
        f"<item><title>A</title><description>d</description>{body}</item></channel></rss>"
    )
    return entry


def atom_entry(links: str) -> Any:
    [entry] = entries(
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><entry><title>a</title>'
        f'<id>i</id><link rel="alternate" href="https://a.example/"/>{links}'
        "<summary>s</summary></entry></feed>"
    )
    return entry


def test_rss_enclosure_is_listed_once() -> None:
    entry = rss_item('<enclosure url="https://e.example/a.mp3" length="123" type="audio/mpeg"/>')
    assert entry_media(entry) == [
        {"url": "https://e.example/a.mp3", "type": "audio/mpeg", "length": 123}
    ]


def test_media_rss_content_group_and_thumbnail() -> None:
    entry = rss_item(
        '<media:content url="https://e.example/v.mp4" type="video/mp4" medium="video"'
        ' fileSize="99"/><media:group><media:content url="https://e.example/g.jpg"'
        ' medium="image"/></media:group>'
        '<media:thumbnail url="https://e.example/t.jpg" width="10" height="10"/>'
    )
    assert entry_media(entry) == [
        {"url": "https://e.example/v.mp4", "type": "video/mp4", "length": 99, "medium": "video"},
        {"url": "https://e.example/g.jpg", "medium": "image"},
        {"url": "https://e.example/t.jpg", "medium": "image"},
    ]
    assert first_image(entry_media(entry)) == "https://e.example/g.jpg"


def test_atom_enclosure_links() -> None:
    entry = atom_entry(
        '<link rel="enclosure" href="https://a.example/x.ogg" type="audio/ogg" length="5"/>'
        '<link rel="enclosure" href="https://a.example/p.png" type="Image/PNG; q=1"/>'
    )
    media = entry_media(entry)
    assert media == [
        {"url": "https://a.example/x.ogg", "type": "audio/ogg", "length": 5},
        {"url": "https://a.example/p.png", "type": "image/png"},
    ]
    assert first_image(media) == "https://a.example/p.png"


def test_duplicate_url_fills_in_what_the_first_mention_lacked() -> None:
    entry = rss_item(
        '<enclosure url="https://e.example/a.jpg" length="" type=""/>'
        '<media:content url="https://e.example/a.jpg" type="image/jpeg" fileSize="7"/>'
    )
    assert entry_media(entry) == [
        {"url": "https://e.example/a.jpg", "type": "image/jpeg", "length": 7}
    ]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "/relative/a.mp3",
        "a.mp3",
        "//scheme-relative.example/a.mp3",
        "ftp://e.example/a.mp3",
        "file:///etc/passwd",
        "https://e.example/a b.mp3",
        "https://e.example/a&#10;b.mp3",
        "https://e.example/a&#x7f;.mp3",
        "https://e.example:99999/a.mp3",
        "https:///no-host.mp3",
        "https://e.example/" + "a" * 3000,
    ],
)
def test_hostile_urls_are_dropped(url: str) -> None:
    entry = rss_item(
        f'<enclosure url="{url}" type="audio/mpeg"/><media:content url="{url}"/>'
        f'<media:thumbnail url="{url}"/>'
    )
    assert entry_media(entry) == []


def test_surrounding_whitespace_is_stripped() -> None:
    entry = rss_item('<enclosure url="  https://e.example/a.mp3&#10;" type="audio/mpeg"/>')
    assert entry_media(entry) == [{"url": "https://e.example/a.mp3", "type": "audio/mpeg"}]


@pytest.mark.parametrize(
    ("length", "mime", "expected"),
    [
        ("0", "audio/mpeg", {"type": "audio/mpeg", "length": 0}),
        ("-5", "audio", {}),
        ("1e3", "audio/mpeg\r\nX: y", {}),
        ("9" * 16, "<b>/x", {}),
        ("٣", "text/html", {"type": "text/html"}),
        (" 12 ", "AUDIO/MPEG", {"type": "audio/mpeg", "length": 12}),
    ],
)
def test_bad_type_and_length_are_left_out(length: str, mime: str, expected: dict[str, Any]) -> None:
    entry = {"enclosures": [{"href": "https://e.example/a", "type": mime, "length": length}]}
    assert entry_media(entry) == [{"url": "https://e.example/a"} | expected]


def test_count_is_bounded() -> None:
    items = "".join(f'<enclosure url="https://e.example/{n}.mp3"/>' for n in range(50))
    media = entry_media(rss_item(items))
    assert [m["url"] for m in media] == [f"https://e.example/{n}.mp3" for n in range(MAX_MEDIA)]


def test_wrong_shapes_are_ignored() -> None:
    entry = {
        "enclosures": "https://e.example/a.mp3",
        "links": [None, 3, {"rel": "alternate", "href": "https://e.example/page"}],
        "media_content": [
            {"url": ["https://e.example/x"]},
            {"url": "https://e.example/m", "medium": 3},
        ],
        "media_thumbnail": {"url": "https://e.example/t.jpg"},
    }
    assert entry_media(entry) == [{"url": "https://e.example/m"}]


def test_json_feed_attachments_and_image() -> None:
    item = {
        "image": "https://j.example/cover.jpg",
        "attachments": [
            {"url": "https://j.example/ep.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 42},
            {"url": "javascript:x", "mime_type": "image/png"},
        ],
    }
    media = entry_media(item_entry(item))
    assert media == [
        {"url": "https://j.example/ep.mp3", "type": "audio/mpeg", "length": 42},
        {"url": "https://j.example/cover.jpg", "medium": "image"},
    ]
    assert first_image(media) == "https://j.example/cover.jpg"


def test_no_image() -> None:
    assert first_image([]) is None
    assert first_image([{"url": "https://e.example/a.mp3", "type": "audio/mpeg"}]) is None
