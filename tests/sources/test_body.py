"""Body decoding under a cap, fed in awkward pieces; URL checks; Retry-After parsing."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from worker.core.errors import FeedFetchError
from worker.sources.body import Inflater
from worker.sources.fetch import parse_url, retry_after_seconds

TEXT = b"<rss>" + bytes(range(256)) * 40 + b"</rss>"


def raw_deflate(data: bytes) -> bytes:
    squeeze = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return squeeze.compress(data) + squeeze.flush()


def inflate(coding: str, data: bytes, piece: int, limit: int = 1 << 20) -> bytes:
    inflater = Inflater(coding, limit)
    for i in range(0, len(data), piece):
        inflater.feed(data[i : i + piece])
    return inflater.finish()


@pytest.mark.parametrize("piece", [1, 2, 3, 1000, 1 << 20])
@pytest.mark.parametrize(
    ("coding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate)],
)
def test_streams_decode_whatever_the_pieces(
    coding: str, encode: Callable[[bytes], bytes], piece: int
) -> None:
    assert inflate(coding, encode(TEXT), piece) == TEXT


@pytest.mark.parametrize("coding", ["gzip", "deflate", None])
def test_an_empty_body_stays_empty(coding: str | None) -> None:
    assert Inflater(coding, 10).finish() == b""


@pytest.mark.parametrize("limit", [len(TEXT) - 1, 100, 1])
def test_output_never_grows_past_the_cap(limit: int) -> None:
    inflater = Inflater("gzip", limit)
    with pytest.raises(FeedFetchError, match="too_large"):
        inflater.feed(gzip.compress(TEXT))
    assert len(inflater.out) <= limit + 1  # stopped one byte over, not at the full size


def test_exactly_the_cap_is_fine() -> None:
    assert inflate("gzip", gzip.compress(TEXT), 7, limit=len(TEXT)) == TEXT


def test_trailing_bytes_after_deflate_are_ignored() -> None:
    assert inflate("deflate", zlib.compress(TEXT) + b"junk", 5) == TEXT


def test_nul_padding_after_gzip_is_ignored() -> None:
    assert inflate("gzip", gzip.compress(TEXT) + b"\0" * 8, 5) == TEXT


@pytest.mark.parametrize(
    ("url", "host", "port", "path", "https"),
    [
        ("http://Example.COM/feed", "example.com", 80, "/feed", False),
        ("HTTPS://example.com", "example.com", 443, "/", True),
        ("https://example.com:8443/a?b=c#frag", "example.com", 8443, "/a?b=c", True),
        ("http://bücher.example/ß?q=ü", "xn--bcher-kva.example", 80, "/%C3%9F?q=%C3%BC", False),
        ("http://[2606:4700::1]:8080/x", "2606:4700::1", 8080, "/x", False),
        ("http://example.com/a%20b", "example.com", 80, "/a%20b", False),
    ],
)  # fmt: skip
def test_parse_url(url: str, host: str, port: int, path: str, https: bool) -> None:
    target = parse_url(url)
    assert (target.host, target.port, target.path, target.https) == (host, port, path, https)
    assert "#" not in target.url


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("", None),
        (None, None),
        ("-1", None),
        ("１２", None),  # full-width digits are not delta-seconds
        ("tomorrow", None),
    ],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now) == seconds
