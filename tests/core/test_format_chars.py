"""Bidi controls, tag characters and other invisible format characters: dropped on every
path into a record (feed, seed, API, article page), escaped in whatever the CLI prints."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sources.feedserver import FeedServer
from tests.support.api_helpers import ApiProcess, auth
from tests.support.helpers import WorkerProcess, ingest, old_record, reads, rss_bytes, seed_bytes
from worker.core.models import Accepted, InputKind, Refused, Rejection
from worker.core.settings import Settings
from worker.core.textsafe import FORMAT, escape_controls, strip_controls
from worker.pipeline.feedplan import HostRules
from worker.pipeline.fulltext import with_page
from worker.storage.store import Store

# RLO and the other overrides, embeddings, isolates, marks, ALM, tags, invisible times.
HOSTILE = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    "\U000e0001\U000e0041\U000e007f\u2062\ufff9"
)


def hides_nothing(value: Any) -> bool:
    """No hostile format character anywhere in a (JSON-like) value."""
    if isinstance(value, str):
        return not set(value) & set(HOSTILE)
    if isinstance(value, dict):
        return all(hides_nothing(v) for v in value.values())
    if isinstance(value, list):
        return all(hides_nothing(v) for v in value)
    return True


@pytest.mark.parametrize("char", HOSTILE)
def test_each_format_character_is_stripped_and_escaped(char: str) -> None:
    assert strip_controls(f"a{char}b") == "ab"
    shown = escape_controls(f"a{char}b")
    assert shown.isprintable()
    assert shown in (f"a\\u{ord(char):04x}b", f"a\\U{ord(char):08x}b")


def test_what_scripts_need_stays() -> None:
    kept = "\u0928\u094d\u200d\u0930 \u06cc\u200c\u0645 \u0600\u0661 NBSP\xa0here"
    assert strip_controls(kept) == kept
    shown = escape_controls(kept)  # a terminal still sees no format character raw
    assert shown == "\u0928\u094d\\u200d\u0930 \u06cc\\u200c\u0645 \\u0600\u0661 NBSP\xa0here"
    # Nothing visible in the list by mistake (the gaps of its ranges are unassigned).
    assert {unicodedata.category(c) for c in FORMAT} == {"Cf", "Cn"}
    assert not {"\u200c", "\u200d", "\u0600"} & set(FORMAT)


def test_a_feed_entry_loses_them_in_every_field(store: Store, tmp_path: Path) -> None:
    h = HOSTILE
    extra = f"<author>Ann{h} Lee</author><category>tech{h}</category>"
    data = rss_bytes(("g1", f"Evil{h} title", f"Body {h}text."), extra=extra)
    feed = tmp_path / "news.xml"
    feed.write_bytes(data.replace(b"<title>Local news", f"<title>Local{h} news".encode()))
    run = ingest("run", "--json", "--feed", str(feed), url=store.settings.redis_url)
    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(x) for x in run.stdout.splitlines()]
    record = reads(store).get(line["id"])
    assert record is not None
    assert hides_nothing(record.model_dump(mode="json"))
    assert (record.title, record.text, record.feed_title) == (
        "Evil title",
        "Body text.",
        "Local news",
    )
    assert (record.authors, record.tags) == (["Ann Lee"], ["tech"])


def test_a_seed_loses_them_in_title_and_text(store: Store, tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_bytes(seed_bytes(f"Seed{HOSTILE} title", f"Seed {HOSTILE}body."))
    run = ingest("run", "--json", str(tmp_path / "doc.txt"), url=store.settings.redis_url)
    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(x) for x in run.stdout.splitlines()]
    record = reads(store).get(line["id"])
    assert record is not None
    assert (record.title, record.text) == ("Seed title", "Seed body.")


@pytest.fixture
def api(redis_url: str) -> Iterator[ApiProcess]:
    proc = ApiProcess(redis_url).start()
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.mark.slow
def test_a_document_posted_to_the_api_loses_them(
    api: ApiProcess, worker_proc: WorkerProcess
) -> None:
    with httpx.Client(base_url=api.base, headers=auth(), timeout=60) as client:
        document = {"title": f"Api{HOSTILE} t", "text": f"One{HOSTILE}.", "published": "2024-04-01"}
        sent = client.post("/v1/documents", json=document)
        assert sent.status_code == 202, sent.text
        answer = client.get(f"/v1/inputs/{sent.json()['input_id']}", params={"wait": 30})
        [done] = answer.json()["outcomes"]
        record = client.get(f"/v1/records/{done['id']}").json()
    assert (record["title"], record["text"]) == ("Api t", "One.")
    assert hides_nothing(record)


def test_an_article_page_loses_them(store: Store, settings: Settings) -> None:
    words = " ".join(["The harbour bridge is open again after the repairs."] * 12)
    page = f"<html><body><article><h1>Bridge</h1><p>{words}{HOSTILE} End.</p></article>"
    page += f"<p>{words}</p></body></html>"
    server = FeedServer().start()
    try:
        server.route("/story")(lambda h: h.reply(200, page.encode(), Content_Type="text/html"))
        polite = settings.model_copy(update={"feed_allowed_networks": ("127.0.0.0/8",)})
        entry = old_record(
            "Short", "Summary.", server.url("/feed"), kind="feed", url=server.url("/story")
        )
        record = with_page(entry, None, polite, store, HostRules(1, 0.0))
    finally:
        server.close()
    assert record.content_source == "page", record.full_text_error
    assert "open again" in record.text
    assert hides_nothing(record.model_dump(mode="json"))


def test_stored_format_characters_are_escaped_by_the_cli(store: Store) -> None:
    old = old_record(f"Invoice{HOSTILE}fdp.exe", f"Body{HOSTILE}", "src\u202e.xml")
    rejection = Rejection.model_construct(  # as stored before the stripping
        source="feed\u202e.xml",
        reason="entry.invalid",
        detail=f"bad{HOSTILE}",
        rejected_at=datetime.now(UTC),
        input_id="in-\u2066x",
        kind=InputKind.FEED_URL,
    )
    store.commit([Accepted("in-1", old), Refused("in-\u2066x", rejection)])
    url = store.settings.redis_url
    printed = ""
    for args in (("records", "show", old.id), ("records", "list"), ("rejections", "list")):
        result = ingest(*args, url=url, COLUMNS="400")
        assert result.returncode == 0, result.stderr
        printed += result.stdout
    assert hides_nothing(printed)
    assert "Invoice\\u202a" in printed
    assert "\\U000e0041" in printed
    assert "in-\\u2066x" in printed
