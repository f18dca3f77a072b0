"""The status page's pieces (escaping, feed states, the chart) and its route on a real server.

What a person sees in a real browser is tests/test_status_browser.py.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_helpers import READ_KEY, WRITE_KEY, ApiProcess, auth
from worker.api import chart
from worker.api.htmlsafe import is_web_url, link, text, visible
from worker.api.statusdata import FeedHealth, health, http_status
from worker.storage.store import Store
from worker.text.feedsfile import Subscription


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a \"quoted\" & 'single'", "a &quot;quoted&quot; &amp; &#x27;single&#x27;"),
        ("abc\u202edef\u202c", "abc\\u202edef\\u202c"),  # right-to-left override, shown
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("bell\x07", "bell\\u0007"),
        ("line\u2028sep", "line\\u2028sep"),
        ("Grüße, 東京", "Grüße, 東京"),  # printable text is left alone
    ],
)
def test_text_escapes_markup_and_shows_invisible_characters(raw: str, shown: str) -> None:
    assert text(raw) == shown


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "vbscript:msgbox",
        "//evil.example/x",
        "/relative",
        "https://exa\u202emple.com/",
        "https://example.com/a b",
        "http://",
    ],
)
def test_only_http_urls_become_links(url: str) -> None:
    assert not is_web_url(url)
    assert "<a" not in link(url)
    assert link(url) == text(url)


def test_a_web_url_is_a_link_with_its_text_escaped() -> None:
    url = 'https://example.com/?q="><script>&x=1'
    html = link(url)
    assert html.startswith('<a href="https://example.com/?q=&quot;&gt;&lt;script&gt;&amp;x=1"')
    assert "<script" not in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_visible_keeps_tabs_and_newlines() -> None:
    assert visible("a\tb\nc") == "a\tb\nc"


SUB = Subscription(url="https://a.example/feed", interval=900)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, FeedHealth.NEW),
        ({"failures": 0, "last_attempt": 100.0, "next_poll": 1000.0}, FeedHealth.OK),
        ({"failures": 1, "last_attempt": 100.0, "next_poll": 1000.0}, FeedHealth.FAILING),
        ({"failures": 2, "last_attempt": 100.0, "next_poll": 1900.0}, FeedHealth.BACKING_OFF),
    ],
)
def test_a_feed_state_is_read_from_failures_and_the_next_poll(
    state: dict[str, float], expected: FeedHealth
) -> None:
    assert health(SUB, state) is expected


def test_a_disabled_subscription_is_disabled_whatever_its_state() -> None:
    disabled = Subscription(url=SUB.url, interval=900, enabled=False)
    assert health(disabled, {"failures": 3}) is FeedHealth.DISABLED


def test_http_status_from_the_last_status() -> None:
    assert [http_status(s) for s in ("ok", "not_modified", "feed.http_503", "feed.timeout")] == [
        "200",
        "304",
        "503",
        None,
    ]


def test_the_chart_has_a_bar_per_minute_with_outcomes_and_no_other() -> None:
    last = 29_000_000
    minutes = {
        last - 2: Counter(created=3, rejected=1),
        last: Counter(updated=2),
        last - 500: Counter(created=9),
    }
    svg = chart.throughput(minutes, last, 180)
    drawn = re.findall(r'data-minute="([^"]+)"', svg)
    assert drawn == [chart.minute_label(last - 2, date=True), chart.minute_label(last, date=True)]
    assert "3 created, 1 rejected" in svg
    assert svg.count('class="s-created"') == 1  # the minute 500 ago is outside the chart
    assert 'text-anchor="end">4</text>' in svg  # the tallest bar in the chart labels the axis


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[ApiProcess]:
    feeds = tmp_path / "feeds.toml"
    # 51 subscriptions: two pages of 50.
    feeds.write_text("".join(f'[[feed]]\nurl = "https://a.example/feed{n}"\n' for n in range(51)))
    proc = ApiProcess(redis_url, INGEST_FEEDS_FILE=str(feeds)).start()
    yield proc
    assert proc.stop() == 0


@pytest.mark.slow
def test_the_page_needs_a_key_like_every_read(api: ApiProcess) -> None:
    refused = httpx.get(f"{api.base}/", timeout=30)
    assert refused.status_code == 401
    assert refused.json()["error"]["reason"] == "auth.missing"
    wrong = httpx.get(f"{api.base}/", headers=auth("not-a-key-0123456789abcdef"), timeout=30)
    assert wrong.status_code == 401
    for key in (READ_KEY, WRITE_KEY):
        page = httpx.get(f"{api.base}/", headers=auth(key), timeout=30)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "https://a.example/feed0" in page.text


@pytest.mark.slow
def test_the_page_changes_nothing_and_runs_no_script(api: ApiProcess, redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    before = sorted(client.keys("*"))
    page = httpx.get(f"{api.base}/?sort=url&reason=seed.bad_date", headers=auth(READ_KEY))
    assert page.status_code == 200
    assert sorted(client.keys("*")) == before  # a read: no key written
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # falls back to default-src 'none': no script at all
    assert "<script" not in page.text
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = httpx.request(method, f"{api.base}/", headers=auth(WRITE_KEY), timeout=30)
        assert answer.status_code == 405, method


@pytest.mark.slow
def test_a_bad_query_is_refused_with_its_reason(api: ApiProcess) -> None:
    for query in ("sort=evil", "page=0", "reason=<b>", "refresh=-1"):
        answer = httpx.get(f"{api.base}/?{query}", headers=auth(READ_KEY), timeout=30)
        assert answer.status_code == 400, query
        assert answer.json()["error"]["reason"] == "query.invalid", query


@pytest.mark.slow
def test_feeds_come_fifty_a_page(api: ApiProcess) -> None:
    first = httpx.get(f"{api.base}/?sort=url", headers=auth(READ_KEY), timeout=30).text
    second = httpx.get(f"{api.base}/?sort=url&page=2", headers=auth(READ_KEY), timeout=30).text
    assert first.count("<tr data-health=") == 50
    assert "page 1 of 2" in first
    assert 'href="/?sort=url&amp;page=2#feeds"' in first
    assert second.count("<tr data-health=") == 1
    assert "https://a.example/feed9<" in second  # the last by URL: feed9 sorts after feed50


@pytest.mark.slow
def test_a_blocked_host_and_a_failing_feed_show_on_their_rows(
    api: ApiProcess, store: Store
) -> None:
    store.feeds.failed("https://a.example/feed7", "feed.http_429", "answered 429", now=time.time())
    store.hosts.block("a.example", 600)  # its Retry-After
    page = httpx.get(f"{api.base}/", headers=auth(READ_KEY), timeout=30).text
    rows = re.findall(r'<tr data-health="([^"]+)">(.*?)</tr>', page, flags=re.DOTALL)
    health, first = rows[0]
    assert health == "failing"
    assert "https://a.example/feed7<" in first
    assert "feed.http_429" in first
    assert ">429<" in first  # the HTTP status column
    assert "blocked until" in first
    assert "in 10 min" in first
    assert "records</dt><dd>0 (0 undated)" in page
