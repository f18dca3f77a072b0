"""fetch_feed against a real HTTP(S) server on loopback: every limit, every reason code."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.sources.feedserver import FeedServer, Handler
from worker.core.errors import FeedFetchError, FeedHttpError, RejectedInput
from worker.sources.fetch import USER_AGENT, RequestOptions, fetch_feed, tls_context
from worker.sources.limits import FetchLimits

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
RSS = "application/rss+xml; charset=utf-8"
MakeSettings = Callable[..., FetchLimits]


def rejection(url: str, settings: FetchLimits, **kw: str) -> FeedFetchError:
    with pytest.raises(FeedFetchError) as caught:
        fetch_feed(url, settings, **kw)
    assert isinstance(caught.value, RejectedInput)
    assert caught.value.source == url
    return caught.value


# --- success and conditional GET ------------------------------------------------------


def test_fetches_a_feed(feed_server: FeedServer, fetch_settings: MakeSettings) -> None:
    feed_server.route("/feed")(lambda h: h.reply(200, FEED, Content_Type=RSS))
    url = feed_server.url("/feed?x=1#frag")
    result = fetch_feed(url, fetch_settings())
    assert (result.status, result.body, result.content_type) == (200, FEED, RSS)
    assert (result.url, result.final_url) == (url, feed_server.url("/feed?x=1"))
    assert (result.etag, result.last_modified) == (None, None)
    [seen] = feed_server.seen
    assert seen.path == "/feed?x=1"
    assert seen.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("news-ingest-worker/")
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in seen.headers
    assert "if-modified-since" not in seen.headers


ETAG = '"v1-abc"'
MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


def conditional(h: Handler) -> None:
    if h.headers.get("If-None-Match") == ETAG or h.headers.get("If-Modified-Since") == MODIFIED:
        h.reply(304, ETag=ETAG)
    else:
        h.reply(200, FEED, ETag=ETAG, Last_Modified=MODIFIED)


def test_conditional_get_by_etag(feed_server: FeedServer, fetch_settings: MakeSettings) -> None:
    feed_server.route("/feed")(conditional)
    first = fetch_feed(feed_server.url(), fetch_settings())
    assert (first.status, first.body, first.etag, first.last_modified) == (
        200,
        FEED,
        ETAG,
        MODIFIED,
    )
    again = fetch_feed(
        feed_server.url(), fetch_settings(), etag=first.etag, last_modified=first.last_modified
    )
    assert (again.status, again.body) == (304, None)
    # The server repeated only the ETag; the Last-Modified that was sent is kept.
    assert (again.etag, again.last_modified) == (ETAG, MODIFIED)
    assert feed_server.seen[1].headers["if-none-match"] == ETAG
    assert feed_server.seen[1].headers["if-modified-since"] == MODIFIED


def test_conditional_get_by_last_modified(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    feed_server.route("/feed")(conditional)
    result = fetch_feed(feed_server.url(), fetch_settings(), last_modified=MODIFIED)
    assert (result.status, result.body, result.etag, result.last_modified) == (
        304,
        None,
        ETAG,
        MODIFIED,
    )
    assert "if-none-match" not in feed_server.seen[0].headers


def test_a_validator_that_would_break_the_headers_is_not_sent(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    feed_server.route("/feed")(conditional)
    result = fetch_feed(feed_server.url(), fetch_settings(), etag='"x"\r\nX-Injected: 1')
    assert result.status == 200
    assert "if-none-match" not in feed_server.seen[0].headers
    assert "x-injected" not in feed_server.seen[0].headers


def test_a_304_nobody_asked_for_is_an_error(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(304))
    assert rejection(feed_server.url(), fetch_settings()).reason == "feed.http_304"


# --- compression and size -------------------------------------------------------------


def raw_deflate(data: bytes) -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return squeeze.compress(data) + squeeze.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the standard says
        ("deflate", raw_deflate),  # raw, as many servers send it
        ("gzip", lambda b: gzip.compress(b[:40]) + gzip.compress(b[40:])),  # two members
        ("identity", lambda b: b),
    ],
)
def test_compressed_bodies_are_decoded(
    feed_server: FeedServer,
    fetch_settings: MakeSettings,
    coding: str,
    encode: Callable[[bytes], bytes],
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(200, encode(FEED), Content_Encoding=coding))
    assert fetch_feed(feed_server.url(), fetch_settings()).body == FEED


def test_chunked_gzip_body(feed_server: FeedServer, fetch_settings: MakeSettings) -> None:
    def chunked(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Content-Encoding", "gzip")
        h.end_headers()
        data = gzip.compress(FEED * 50)
        for i in range(0, len(data), 7):
            piece = data[i : i + 7]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")

    feed_server.route("/feed")(chunked)
    assert fetch_feed(feed_server.url(), fetch_settings()).body == FEED * 50


@pytest.mark.parametrize(
    ("coding", "body", "why"),
    [
        ("br", b"whatever", "unsupported"),
        ("gzip", b"this is not gzip at all", "corrupt"),
        ("gzip", gzip.compress(FEED)[:-12], "truncated"),
        ("deflate", b"\x78\x9c" + b"\xff" * 20, "corrupt"),
        ("gzip, br", gzip.compress(FEED), "unsupported"),
    ],
)
def test_bad_content_encoding(
    feed_server: FeedServer, fetch_settings: MakeSettings, coding: str, body: bytes, why: str
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(200, body, Content_Encoding=coding))
    error = rejection(feed_server.url(), fetch_settings())
    assert error.reason == "feed.bad_content_encoding"
    assert why in error.detail


BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)


def test_a_gzip_bomb_is_stopped_at_the_cap(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    assert len(BOMB) < 100_000  # small on the wire, 64 MiB once inflated
    feed_server.route("/feed")(lambda h: h.reply(200, BOMB, Content_Encoding="gzip"))
    error = rejection(feed_server.url(), fetch_settings(feed_max_bytes=1_000_000))
    assert error.reason == "feed.too_large"
    assert "decompressed" in error.detail


def test_the_cap_counts_decompressed_bytes(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    body = b"<rss>" + b"a" * 5000 + b"</rss>"
    feed_server.route("/feed")(lambda h: h.reply(200, gzip.compress(body), Content_Encoding="gzip"))
    assert fetch_feed(feed_server.url(), fetch_settings(feed_max_bytes=len(body))).body == body
    error = rejection(feed_server.url(), fetch_settings(feed_max_bytes=len(body) - 1))
    assert error.reason == "feed.too_large"


def test_a_huge_body_without_length_is_cut_off(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Connection", "close")  # body runs until the connection closes
        h.end_headers()
        block = b"x" * 65536
        while not h.server.feeds.stop.is_set():
            h.wfile.write(block)

    feed_server.route("/feed")(endless)
    error = rejection(feed_server.url(), fetch_settings(feed_max_bytes=1_000_000))
    assert error.reason == "feed.too_large"


def test_a_content_length_over_the_cap_is_refused_before_reading(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    def announce(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(10**12))
        h.end_headers()
        h.wfile.flush()
        h.server.feeds.stop.wait(30)  # never sends the body

    feed_server.route("/feed")(announce)
    started = time.monotonic()
    error = rejection(feed_server.url(), fetch_settings(feed_timeout=20.0))
    assert error.reason == "feed.too_large"
    assert "Content-Length" in error.detail
    assert time.monotonic() - started < 10  # not waiting for the 20 s deadline


# --- timeouts -------------------------------------------------------------------------


def drip(h: Handler, data: bytes) -> None:
    for byte in data:
        if h.server.feeds.stop.wait(0.5):
            return
        h.wfile.write(bytes([byte]))
        h.wfile.flush()


def slow_body(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(len(FEED)))
    h.end_headers()
    h.wfile.flush()
    drip(h, FEED)


def slow_headers(h: Handler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    h.wfile.flush()
    drip(h, b"X-Padding: " + b"." * 200 + b"\r\n\r\n")


def silent(h: Handler) -> None:
    h.server.feeds.stop.wait(30)


@pytest.mark.parametrize("route", [slow_body, slow_headers, silent])
def test_the_total_deadline_cuts_off_slow_servers(
    feed_server: FeedServer, fetch_settings: MakeSettings, route: Callable[[Handler], None]
) -> None:
    feed_server.route("/feed")(route)
    started = time.monotonic()
    # Each byte arrives within the 5 s connect timeout: only the total deadline can stop it.
    error = rejection(feed_server.url(), fetch_settings(feed_timeout=1.5))
    elapsed = time.monotonic() - started
    assert error.reason == "feed.timeout"
    assert error.retryable
    assert 1.4 < elapsed < 8, elapsed


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connect hangs."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    yield port
    filler.close()
    listener.close()


def test_connect_timeout(full_backlog: int, fetch_settings: MakeSettings) -> None:
    started = time.monotonic()
    settings = fetch_settings(feed_connect_timeout=0.5, feed_timeout=20.0)
    error = rejection(f"http://127.0.0.1:{full_backlog}/feed", settings)
    assert error.reason == "feed.timeout"
    assert time.monotonic() - started < 10


def test_connection_refused(fetch_settings: MakeSettings) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    error = rejection(f"http://127.0.0.1:{port}/feed", fetch_settings())
    assert (error.reason, error.retryable) == ("feed.connection_failed", True)


def test_garbage_instead_of_http(feed_server: FeedServer, fetch_settings: MakeSettings) -> None:
    def garbage(h: Handler) -> None:
        h.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    feed_server.route("/feed")(garbage)
    assert rejection(feed_server.url(), fetch_settings()).reason == "feed.bad_response"


# --- redirects ------------------------------------------------------------------------


def redirect(status: int, location: str) -> Callable[[Handler], None]:
    return lambda h: h.reply(status, Location=location)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_chains_are_followed(
    feed_server: FeedServer, fetch_settings: MakeSettings, status: int
) -> None:
    feed_server.route("/a/start")(redirect(status, "next?step=2"))  # relative to /a/
    feed_server.route("/a/next")(redirect(status, "/b/abs"))  # absolute path
    feed_server.route("/b/abs")(redirect(status, feed_server.url("/feed")))  # absolute URL
    feed_server.route("/feed")(lambda h: h.reply(200, FEED))
    result = fetch_feed(feed_server.url("/a/start"), fetch_settings())
    assert (result.status, result.body) == (200, FEED)
    assert result.url == feed_server.url("/a/start")
    assert result.final_url == feed_server.url("/feed")
    assert feed_server.paths == ["/a/start", "/a/next?step=2", "/b/abs", "/feed"]


@pytest.mark.parametrize("limit", [0, 2, 5])
def test_too_many_redirects(
    feed_server: FeedServer, fetch_settings: MakeSettings, limit: int
) -> None:
    feed_server.route("/loop")(redirect(302, "/loop"))
    error = rejection(feed_server.url("/loop"), fetch_settings(feed_max_redirects=limit))
    assert error.reason == "feed.too_many_redirects"
    assert len(feed_server.seen) == limit + 1


def test_redirects_up_to_the_limit_are_fine(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    for i in range(3):
        feed_server.route(f"/r{i}")(redirect(302, f"/r{i + 1}"))
    feed_server.route("/r3")(lambda h: h.reply(200, FEED))
    assert fetch_feed(feed_server.url("/r0"), fetch_settings(feed_max_redirects=3)).body == FEED


SECRETS = {"Authorization": "Bearer s3cret", "X-Api-Key": "k3y", "Cookie": "session=c00kie"}


@pytest.mark.parametrize("hops", [1, 2])
def test_a_redirect_off_the_origin_carries_no_configured_secret(
    feed_server: FeedServer, fetch_settings: MakeSettings, hops: int
) -> None:
    """Only the harmless headers (User-Agent, Accept*) follow a feed to another origin,
    and not back: once the chain has left, its next hops are strangers too."""
    other = feed_server.url("/away", host="localhost")  # same server, another origin
    feed_server.route("/feed")(redirect(302, other))
    back = feed_server.url("/home")
    feed_server.route("/away")(redirect(302, back) if hops == 2 else lambda h: h.reply(200, FEED))
    feed_server.route("/home")(lambda h: h.reply(200, FEED))
    headers = {**SECRETS, "User-Agent": "mine/1", "Accept-Language": "fr"}
    result = fetch_feed(feed_server.url(), fetch_settings(), options=RequestOptions(headers))
    assert result.body == FEED
    first, *later = feed_server.seen
    assert {k.lower(): v for k, v in headers.items()}.items() <= first.headers.items()
    assert len(later) == hops
    for seen in later:
        assert not {k.lower() for k in SECRETS} & set(seen.headers), seen.path
        assert (seen.headers["user-agent"], seen.headers["accept-language"]) == ("mine/1", "fr")


# Every target is on this machine, so even a broken guard would send nothing out; the
# guard's verdicts on private, link-local and other networks are unit-tested in test_netguard.
@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{port}/feed",
        "http://2130706434:{port}/feed",  # 127.0.0.2 written as one number
        "http://[::ffff:127.0.0.2]:{port}/feed",
        "http://0.0.0.0:{port}/feed",
        "http://[::1]:{port}/feed",
    ],
)
def test_a_redirect_into_a_blocked_network_is_refused(
    feed_server: FeedServer, fetch_settings: MakeSettings, location: str
) -> None:
    feed_server.route("/feed")(redirect(302, location.format(port=feed_server.port)))
    settings = fetch_settings(feed_allowed_networks=("127.0.0.1/32",))
    error = rejection(feed_server.url(), settings)
    assert error.reason == "feed.blocked_address"
    assert feed_server.paths == ["/feed"]  # refused before connecting to the target


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("ftp://127.0.0.1/feed", "feed.bad_url"),
        ("file:///etc/passwd", "feed.bad_url"),
        ("http://user:secret@127.0.0.1/feed", "feed.bad_url"),
        ("", "feed.http_302"),  # a redirect that says nowhere
    ],
)
def test_bad_redirect_targets(
    feed_server: FeedServer, fetch_settings: MakeSettings, location: str, reason: str
) -> None:
    route = redirect(302, location) if location else (lambda h: h.reply(302))
    feed_server.route("/feed")(route)
    assert rejection(feed_server.url(), fetch_settings()).reason == reason


# --- error statuses -------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (410, False), (500, True)])
def test_error_statuses(
    feed_server: FeedServer, fetch_settings: MakeSettings, status: int, retryable: bool
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(status, b"nope", Retry_After="60"))
    error = rejection(feed_server.url(), fetch_settings())
    assert isinstance(error, FeedHttpError)
    assert (error.reason, error.status, error.retryable) == (
        f"feed.http_{status}",
        status,
        retryable,
    )
    assert error.retry_after is None  # Retry-After is honoured for 429 and 503 only


def test_an_unknown_path_is_a_404(feed_server: FeedServer, fetch_settings: MakeSettings) -> None:
    assert rejection(feed_server.url("/nothing"), fetch_settings()).reason == "feed.http_404"


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        (lambda: "120", 120, 120),
        (lambda: "0", 0, 0),
        (lambda: http_date(90), 60, 91),  # an HTTP date: seconds from now
        (lambda: http_date(-3600), 0, 0),  # already past: retry at once
    ],
)
def test_retry_after_is_honoured(
    feed_server: FeedServer,
    fetch_settings: MakeSettings,
    status: int,
    header: Callable[[], str],
    low: float,
    high: float,
) -> None:
    value = header()
    feed_server.route("/feed")(lambda h: h.reply(status, Retry_After=value))
    error = rejection(feed_server.url(), fetch_settings())
    assert isinstance(error, FeedHttpError)
    assert (error.reason, error.retryable) == (f"feed.http_{status}", True)
    assert error.retry_after is not None
    assert low <= error.retry_after <= high


@pytest.mark.parametrize("header", [None, "soon", "-5", "1.5e3"])
def test_a_missing_or_bad_retry_after_is_none(
    feed_server: FeedServer, fetch_settings: MakeSettings, header: str | None
) -> None:
    headers = {} if header is None else {"Retry_After": header}
    feed_server.route("/feed")(lambda h: h.reply(503, **headers))
    error = rejection(feed_server.url(), fetch_settings())
    assert isinstance(error, FeedHttpError)
    assert error.retry_after is None


# --- the address guard and the environment --------------------------------------------


def test_loopback_is_refused_unless_allowed(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(200, FEED))
    for host in ("127.0.0.1", "localhost", "127.1", "2130706433"):
        error = rejection(feed_server.url(host=host), fetch_settings(feed_allowed_networks=()))
        assert error.reason == "feed.blocked_address", host
    assert feed_server.seen == []  # refused before connecting: the server saw nothing
    assert fetch_feed(feed_server.url(), fetch_settings()).body == FEED


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/feed",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://user:pass@127.0.0.1/feed",
        "http://user@127.0.0.1/feed",
        "http://",
        "http:///feed",
        "http://127.0.0.1:99999/feed",
        "http://127.0.0.1/fe ed",
        "http://127.0.0.1/feed\r\nX-Injected: 1",
        "not a url",
        "",
    ],
)
def test_bad_urls(fetch_settings: MakeSettings, url: str) -> None:
    assert rejection(url, fetch_settings()).reason == "feed.bad_url"


@pytest.mark.parametrize("name", ["http_proxy", "https_proxy", "HTTP_PROXY", "ALL_PROXY"])
def test_environment_proxies_are_ignored(
    feed_server: FeedServer,
    fetch_settings: MakeSettings,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: a dead proxy
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    feed_server.route("/feed")(lambda h: h.reply(200, FEED))
    assert fetch_feed(feed_server.url(), fetch_settings()).body == FEED
    assert "proxy-authorization" not in feed_server.seen[0].headers


# --- HTTPS ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_tls_context() -> Iterator[None]:
    """The TLS context is cached per process; rebuild it around tests that change trust."""
    tls_context.cache_clear()
    yield
    tls_context.cache_clear()


def test_https_verifies_the_certificate(
    https_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    https_server.route("/feed")(lambda h: h.reply(200, FEED))
    error = rejection(https_server.url(host="localhost"), fetch_settings())
    assert error.reason == "feed.tls_error"
    assert https_server.seen == []


def test_https_with_a_trusted_certificate_sends_sni(
    https_server: FeedServer,
    fetch_settings: MakeSettings,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test certificate
    https_server.route("/feed")(lambda h: h.reply(200, FEED, ETag=ETAG))
    result = fetch_feed(https_server.url(host="localhost"), fetch_settings())
    assert (result.status, result.body, result.etag) == (200, FEED, ETAG)
    assert "localhost" in https_server.server_names
    # The same trusted certificate does not cover the name 127.0.0.1.
    error = rejection(https_server.url(host="127.0.0.1"), fetch_settings())
    assert error.reason == "feed.tls_error"
    assert "match" in error.detail or "mismatch" in error.detail
