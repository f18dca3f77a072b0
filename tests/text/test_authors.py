"""Authors as readers know them: the name from an RSS author string, whole."""

from __future__ import annotations

import pytest

from worker.text.feedparse import parse_feed


def rss_author(author: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Gazette</title><item>'
        f"<guid>g1</guid><title>A story</title><description>Its body.</description>"
        f"<author>{author}</author></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("author", "names"),
    [
        ("desk@gazette.example (City Desk)", ["City Desk"]),
        ("City Desk &lt;desk@gazette.example&gt;", ["City Desk"]),
        ("desk@gazette.example", ["desk@gazette.example"]),
        ("  desk@news.museum  (Night Desk)  ", ["Night Desk"]),
        ("desk@x.com (City Desk)", ["City Desk"]),
        ("Jane Doe", ["Jane Doe"]),
    ],
)
def test_rss_author_strings_give_the_name_else_the_email(author: str, names: list[str]) -> None:
    [record] = parse_feed(rss_author(author), "gazette.xml", max_bytes=100_000).entries
    assert record.authors == names


def test_atom_authors_keep_their_names() -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>e1</id>'
        b"<title>A story</title><content>Its body.</content>"
        b"<author><name>City Desk</name><email>desk@gazette.example</email></author>"
        b"</entry></feed>"
    )
    [record] = parse_feed(atom, "gazette.atom", max_bytes=100_000).entries
    assert record.authors == ["City Desk"]
