"""The status page in a real browser, on data from real workers.

A Celery worker ingests through ``ingest serve``: a feed from a loopback HTTP server, a
feed that answers 404, seeds (one with a hostile title, one without a date line). Headless
Chromium then loads ``/`` and the test reads what a person sees: a bar for each minute
that was ingested, the failing feed first with its reason, the hostile title as text.

Set ``STATUS_SCREENSHOTS=docs`` to keep the two screenshots (1280 and 390 px wide) there;
docs/http-api.md shows them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.sources.feedserver import FeedServer
from tests.support import chromium
from tests.support.api_helpers import ApiProcess
from tests.support.chromium import Page
from tests.support.helpers import ROOT, WorkerProcess, rss_bytes, seed_bytes, wait_until
from worker.api.chart import minute_label

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium.binary() is None, reason="needs chromium (.ci/run installs it)"),
]
HOSTILE = '<script>alert(1)</script> <b>bold</b> "\u202eevil\u202c" & <img src=x onerror=alert(2)>'


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer().start()
    body = rss_bytes(
        ("g1", "Harbour reopens", "The harbour reopened on Tuesday after repairs."),
        ("g2", "Ferry timetable", "The ferry runs every hour from Monday on."),
    )
    server.route("/news.xml")(lambda h: h.reply(200, body, Content_Type="application/rss+xml"))
    server.route("/gone.xml")(lambda h: h.reply(404, b"not here"))
    yield server
    server.close()


@pytest.fixture
def served(redis_url: str, feeds: FeedServer, tmp_path: Path) -> Iterator[ApiProcess]:
    """A worker and a keyless `ingest serve` (loopback) sharing one feeds file."""
    subscriptions = tmp_path / "feeds.toml"
    subscriptions.write_text(
        f'[[feed]]\nurl = "{feeds.url("/news.xml")}"\ntitle = "Local news"\n\n'
        f'[[feed]]\nurl = "{feeds.url("/gone.xml")}"\n\n'
        '[[feed]]\nurl = "https://paused.example/feed"\nenabled = false\n'
    )
    env = {
        "INGEST_FEEDS_FILE": str(subscriptions),
        "INGEST_FEED_ALLOWED_NETWORKS": "127.0.0.0/8",
        "INGEST_FEED_HOST_DELAY": "0",
    }
    worker = WorkerProcess(redis_url, **env).start()
    api = ApiProcess(redis_url, INGEST_API_KEYS="", **env).start()
    try:
        yield api
    finally:
        assert api.stop() == 0
        worker.stop()


def enqueue(api: ApiProcess, path: str, **body: object) -> str:
    if "text" in body:
        kwargs: dict[str, object] = {
            "content": body["text"],
            "headers": {"Content-Type": "text/plain"},
            "params": {"source": body["source"]},
        }
    else:
        kwargs = {"json": body}
    answer = httpx.post(f"{api.base}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 202, answer.text
    input_id: str = answer.json()["input_id"]
    return input_id


def outcomes(api: ApiProcess, input_id: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{api.base}/v1/inputs/{input_id}?wait=60", timeout=90)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["outcomes"]
    return found


def ingested_minutes(api: ApiProcess) -> set[int]:
    """The epoch minutes in which records were stored or inputs rejected."""
    records = httpx.get(f"{api.base}/v1/records", timeout=30).json()["records"]
    rejections = httpx.get(f"{api.base}/v1/rejections", timeout=30).json()["rejections"]
    stamps = [r["ingested_at"] for r in records] + [r["rejected_at"] for r in rejections]
    return {int(datetime.fromisoformat(s).timestamp()) // 60 for s in stamps}


def test_a_person_sees_throughput_failing_feeds_first_and_titles_as_text(
    served: ApiProcess, feeds: FeedServer, tmp_path: Path
) -> None:
    news = enqueue(served, "/v1/feeds", url=feeds.url("/news.xml"))
    gone = enqueue(served, "/v1/feeds", url=feeds.url("/gone.xml"))
    hostile = enqueue(served, "/v1/documents", text=seed_bytes(HOSTILE), source="hostile.txt")
    undated = enqueue(served, "/v1/documents", text=b"no header line\n", source="undated.txt")
    assert [o["outcome"] for o in outcomes(served, news)] == ["created", "created"]
    assert [o["reason"] for o in outcomes(served, gone)] == ["feed.http_404"]
    assert [o["outcome"] for o in outcomes(served, hostile)] == ["created"]
    assert [o["outcome"] for o in outcomes(served, undated)] == ["rejected"]
    wait_until(lambda: "1</b><span>workers seen" in page_html(served), timeout=30, what="a beat")

    page = Page(dom := chromium.dump_dom(f"{served.base}/?refresh=0"))

    drawn = {attrs["data-minute"] for attrs in page.tags("g") if attrs.get("data-minute")}
    for minute in ingested_minutes(served):
        # Counted on Redis's clock a moment after the record's time: the same minute, or
        # the next when a minute turned in between.
        assert {minute_label(minute, date=True), minute_label(minute + 1, date=True)} & drawn

    rows = re.findall(r'<tr data-health="([^"]+)">(.*?)</tr>', dom, flags=re.DOTALL)
    assert [health for health, _ in rows] == ["failing", "ok", "disabled"]
    first = Page(rows[0][1]).text
    assert feeds.url("/gone.xml") in first
    assert "feed.http_404" in first
    assert "404" in first
    # Sorted by entries created in the last day, the feed that worked comes first.
    by_created = httpx.get(f"{served.base}/?sort=created", timeout=30).text
    assert re.findall(r'<tr data-health="([^"]+)"', by_created) == ["ok", "failing", "disabled"]

    # Normalisation drops the bidi controls (issue 22): the rest, character for character,
    # as text. (The page's escaping of what does reach it: test_status_page.py.)
    shown = HOSTILE.replace("\u202e", "").replace("\u202c", "")
    assert shown in page.text
    assert "\u202e" not in page.text
    assert page.tags("script") == []
    assert page.tags("img") == []
    assert "alert" not in "".join(str(a) for _, a in page.elements)
    assert [a["href"] for a in page.tags("a") if "javascript" in (a.get("href") or "")] == []
    assert "seed.no_header" in page.text or "seed.bad_header" in page.text

    keep = os.environ.get("STATUS_SCREENSHOTS")
    for width, height in ((1280, 900), (390, 844)):
        shot = chromium.screenshot(
            f"{served.base}/?refresh=0", tmp_path / f"status-{width}.png", width, height
        )
        assert chromium.png_size(shot) == (width, height)
        if keep:
            shutil.copy(shot, ROOT / keep / shot.name)


def page_html(api: ApiProcess) -> str:
    return httpx.get(f"{api.base}/?refresh=0", timeout=30).text


def test_the_examples_of_a_reason_give_the_replay_command(served: ApiProcess) -> None:
    undated = enqueue(served, "/v1/documents", text=b"no header line\n", source="undated.txt")
    [rejected] = outcomes(served, undated)
    reason = str(rejected["reason"])
    page = Page(chromium.dump_dom(f"{served.base}/?refresh=0&reason={reason}"))
    links = [str(a["href"]) for a in page.tags("a")]
    assert f"/?reason={reason}&refresh=0#examples" in links  # the bar's link, query kept
    assert f"Latest {reason}" in page.text
    assert f"ingest rejections replay {undated}" in page.text
