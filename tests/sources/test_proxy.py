"""Fetching through a proxy: a real loopback forward proxy and real feed servers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.sources.feedserver import FeedServer
from tests.sources.proxyserver import ProxyServer
from worker.core.errors import FeedFetchError
from worker.sources.fetch import RequestOptions, fetch_feed, tls_context
from worker.sources.limits import FetchLimits

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
MakeSettings = Callable[..., FetchLimits]


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    server = ProxyServer().start()
    yield server
    server.close()


def test_http_feed_goes_through_the_proxy_in_absolute_form(
    feed_server: FeedServer, proxy: ProxyServer, fetch_settings: MakeSettings
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(200, FEED))
    options = RequestOptions({"X-Feed": "mine"}, proxy.url)
    result = fetch_feed(feed_server.url(), fetch_settings(), options=options)
    assert result.body == FEED
    assert proxy.asked == [f"GET {feed_server.url()}"]
    assert feed_server.seen[0].headers["x-feed"] == "mine"
    assert feed_server.seen[0].headers["host"] == f"127.0.0.1:{feed_server.port}"


def test_the_global_proxy_setting_applies(
    feed_server: FeedServer, proxy: ProxyServer, fetch_settings: MakeSettings
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(200, FEED))
    fetch_feed(feed_server.url(), fetch_settings(feed_proxy=proxy.url))
    assert proxy.asked == [f"GET {feed_server.url()}"]


def test_https_feed_tunnels_to_the_vetted_address(
    https_server: FeedServer,
    proxy: ProxyServer,
    fetch_settings: MakeSettings,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CONNECT names the address we vetted, TLS inside checks the feed's host name."""
    monkeypatch.setitem(os.environ, "SSL_CERT_FILE", str(certificate[0]))
    tls_context.cache_clear()
    https_server.route("/feed")(lambda h: h.reply(200, FEED))
    try:
        url = https_server.url(host="localhost")
        result = fetch_feed(url, fetch_settings(), options=RequestOptions(proxy=proxy.url))
    finally:
        tls_context.cache_clear()
    assert result.body == FEED
    assert proxy.asked in (
        [f"CONNECT 127.0.0.1:{https_server.port}"],
        [f"CONNECT [::1]:{https_server.port}"],
    )
    assert https_server.server_names == ["localhost"]


def test_the_guard_still_applies_to_the_feed_host(
    feed_server: FeedServer, proxy: ProxyServer, fetch_settings: MakeSettings
) -> None:
    """Loopback is not allowed here: the proxy is never asked for it."""
    feed_server.route("/feed")(lambda h: h.reply(200, FEED))
    settings = fetch_settings(feed_allowed_networks=())
    with pytest.raises(FeedFetchError) as caught:
        fetch_feed(feed_server.url(), settings, options=RequestOptions(proxy=proxy.url))
    assert caught.value.reason == "feed.blocked_address"
    assert proxy.asked == []
    assert feed_server.seen == []


def test_authorization_is_not_sent_to_another_origin(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    other = FeedServer().start()
    try:
        other.route("/feed")(lambda h: h.reply(200, FEED))
        feed_server.route("/feed")(lambda h: h.reply(302, Location=other.url()))
        options = RequestOptions({"Authorization": "Bearer s3cret", "X-A": "1"})
        fetch_feed(feed_server.url(), fetch_settings(), options=options)
        assert feed_server.seen[0].headers["authorization"] == "Bearer s3cret"
        assert "authorization" not in other.seen[0].headers
        assert "x-a" not in other.seen[0].headers  # a configured header may be a key too
    finally:
        other.close()
    assert "s3cret" not in repr(options)


def test_user_agent_setting_and_per_feed_override(
    feed_server: FeedServer, fetch_settings: MakeSettings
) -> None:
    feed_server.route("/feed")(lambda h: h.reply(200, FEED))
    fetch_feed(feed_server.url(), fetch_settings(feed_user_agent="fleet/2"))
    fetch_feed(
        feed_server.url(),
        fetch_settings(feed_user_agent="fleet/2"),
        options=RequestOptions({"User-Agent": "mine/1"}),
    )
    assert [s.headers["user-agent"] for s in feed_server.seen] == ["fleet/2", "mine/1"]
