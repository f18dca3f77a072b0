"""Bad input catalogue: every kind of broken seed or message, through a real worker.

All bad inputs travel in one batch with a good document: each must end as a rejection
with its exact reason code, the good one as a record, and the worker must keep going.
Fuzz tests then feed random bytes and random messages to the pipeline's entry points.
"""

from __future__ import annotations

import codecs
import gzip
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.helpers import ROOT, WorkerProcess, outcome_of, seed_bytes, wait_until
from worker.core.errors import Reason
from worker.core.models import Accepted, Envelope, InputKind, Record, Refused
from worker.core.protocol import TASK_PROCESS_BATCH
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.pipeline.feedentries import parse_any
from worker.queue.app import make_app
from worker.storage.store import Store

MAX_BYTES = 65536
GOOD = seed_bytes("The good one", "It sits among the bad ones and is stored.")
HEADER = b"date 2024-03-05 A headline\n\n"

SEEDS: dict[str, tuple[bytes, Reason]] = {
    "empty": (b"", Reason.SEED_EMPTY),
    "whitespace only": (b" \r\n\n\t \n\n", Reason.SEED_EMPTY),
    "utf-8 bom only": (codecs.BOM_UTF8, Reason.SEED_EMPTY),
    "zero-width only": ("\u200b\ufeff\u200d".encode(), Reason.SEED_EMPTY),
    "too large": (HEADER + b"word " * (MAX_BYTES // 5), Reason.SEED_TOO_LARGE),
    "nul byte": (HEADER + b"Body \x00 text.", Reason.SEED_BINARY),
    "png image": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", Reason.SEED_BINARY),
    "gzip of a seed": (gzip.compress(GOOD), Reason.SEED_BINARY),
    "terminal escapes": (HEADER + b"Body \x1b[31mred\x1b[0m.", Reason.SEED_BINARY),
    "utf-16 without bom": (GOOD.decode().encode("utf-16-le"), Reason.SEED_BINARY),
    "utf-16 lone surrogate": (codecs.BOM_UTF16_LE + b"d\x00\x00\xd8", Reason.SEED_BAD_ENCODING),
    "utf-32 beyond unicode": (codecs.BOM_UTF32_LE + b"\xff\xff\xff\x7f", Reason.SEED_BAD_ENCODING),
    "utf-8 bom then garbage": (codecs.BOM_UTF8 + b"date \xff\xfe", Reason.SEED_BAD_ENCODING),
    "latin-1 letters": (b"date 2024-03-05 Caf\xe9 cr\xe8me\n\nBody.", Reason.SEED_BAD_ENCODING),
    "overlong utf-8": (HEADER + b"Body \xc0\xaf.", Reason.SEED_BAD_ENCODING),
    "c1 control": ((HEADER.decode() + "Body \u0085.").encode(), Reason.SEED_BAD_ENCODING),
    "no header": (b"Just a paragraph.\n\nAnother one.", Reason.SEED_NO_HEADER),
    "misspelt header": (b"dat 2024-03-05 Title\n\nBody.", Reason.SEED_NO_HEADER),
    "html document": (b"<html><body><p>date 2024-03-05 T</p></body></html>", Reason.SEED_NO_HEADER),
    "feed xml as seed": (b'<?xml version="1.0"?><rss><channel/></rss>', Reason.SEED_NO_HEADER),
    "impossible date": (b"date 2021-02-30 Title\n\nBody.", Reason.SEED_BAD_DATE),
    "month 13": (b"date 2021-13-01 Title\n\nBody.", Reason.SEED_BAD_DATE),
    "year zero": (b"date 0000-01-01 Title\n\nBody.", Reason.SEED_BAD_DATE),
    "us date": (b"date 03/05/2024 Title\n\nBody.", Reason.SEED_BAD_DATE),
    "arabic digits": ("date ٢٠٢٤-٠٣-٠٥ Title\n\nBody.".encode(), Reason.SEED_BAD_DATE),
    "date word only": (b"date\n\nBody.", Reason.SEED_BAD_DATE),
    "no title": (b"date 2024-03-05\n\nBody.", Reason.SEED_NO_TITLE),
    "invisible title": ("date 2024-03-05 \u00a0\u200b\n\nBody.".encode(), Reason.SEED_NO_TITLE),
    "no body": (b"date 2024-03-05 Title only\n", Reason.SEED_NO_BODY),
    "blank body": (b"date 2024-03-05 Title\n\n  \n\n\t\n\n", Reason.SEED_NO_BODY),
}

VALID = {"input_id": "x", "kind": "seed", "source": "m.txt", "data": "ZGF0ZQ=="}
MALFORMED = Reason.INPUT_MALFORMED
MESSAGES: dict[str, tuple[Any, Reason]] = {
    "not an object": ("just a string", MALFORMED),
    "no input id": ({k: v for k, v in VALID.items() if k != "input_id"}, MALFORMED),
    "unknown kind": ({**VALID, "kind": "video"}, MALFORMED),
    "bad base64": ({**VALID, "data": "not base64!"}, MALFORMED),
    "unknown field": ({**VALID, "extra": 1}, MALFORMED),
    "empty source": ({**VALID, "source": ""}, MALFORMED),
    "number as input id": ({**VALID, "input_id": 500}, MALFORMED),
    "too long input id": ({**VALID, "input_id": "i" * 500}, MALFORMED),
    "number as data": ({**VALID, "data": 12}, MALFORMED),
    "integer beyond 64 bits": ({**VALID, "input_id": 2**70}, MALFORMED),
    "seed without data": ({k: v for k, v in VALID.items() if k != "data"}, Reason.SEED_EMPTY),
}


def seed_message(name: str, data: bytes) -> dict[str, Any]:
    env = Envelope(input_id=uuid.uuid4().hex, kind=InputKind.SEED, source=name, data=data)
    return env.model_dump(mode="json", exclude_none=True)


def unique(name: str, message: Any) -> Any:
    """The message with an input id of its own, when it has a usable one to replace."""
    input_id = message.get("input_id") if isinstance(message, dict) else None
    if isinstance(input_id, str) and 0 < len(input_id) <= 200:
        return {**message, "input_id": f"{name}-{uuid.uuid4().hex}"}
    return message


def outcome_id(message: Any) -> str:
    if not isinstance(message, Mapping):
        message = {"source": repr(message)[:200]}  # as the task wraps it
    return pipeline.message_id(message)


@pytest.mark.slow
def test_catalogue_through_a_real_worker(redis_url: str, store: Store, tmp_path: Path) -> None:
    sent = {name: seed_message(name, data) for name, (data, _) in SEEDS.items()}
    sent |= {name: unique(name, message) for name, (message, _) in MESSAGES.items()}
    sent["good"] = seed_message("good.txt", GOOD)
    batch = list(sent.values())
    settings_ = Settings(redis_url=redis_url, namespace="test")
    app = make_app(settings_, redis_url)
    worker = WorkerProcess(redis_url, INGEST_MAX_DOCUMENT_BYTES=str(MAX_BYTES)).start()
    try:
        app.send_task(TASK_PROCESS_BATCH, args=[batch], queue="ingest")
        wait_until(
            lambda: store.stats()["rejections"] + store.stats()["records"] == len(batch),
            timeout=60,
            what="every bad input decided",
            alive=worker.alive,
        )
        # the worker keeps going
        app.send_task(TASK_PROCESS_BATCH, args=[[seed_message("next.txt", seed_bytes("Next"))]])
        wait_until(lambda: store.stats()["records"] == 2, timeout=60, what="the next document")
        assert worker.alive()
    finally:
        worker.stop()
        app.close()
    got = {name: outcome_of(store, outcome_id(message)) for name, message in sent.items()}
    expected = {name: reason.value for name, (_, reason) in (SEEDS | MESSAGES).items()}
    assert {name: got[name]["reason"] for name in expected} == expected
    assert got["good"]["outcome"] == "created"
    assert store.stats()["rejections"] == len(expected)


FEED_FIXTURES = ROOT / "tests" / "fixtures" / "feeds"
FEED_MAX_BYTES = 100_000
FEEDS: dict[str, tuple[bytes, Reason]] = {
    "empty feed": (b"", Reason.FEED_NOT_A_FEED),
    "binary feed": (b"\x00\x01\x02\xff", Reason.FEED_NOT_A_FEED),
    "gzip feed": (gzip.compress(b"<rss><channel/></rss>"), Reason.FEED_NOT_A_FEED),
    "json feed": (b'{"items": []}', Reason.FEED_NOT_A_FEED),
    "seed as feed": (GOOD, Reason.FEED_NOT_A_FEED),
    "utf-16 junk feed": (b"\xff\xfe\x00\xd8", Reason.FEED_NOT_A_FEED),
    "huge feed": (b"<rss>" + b"x" * FEED_MAX_BYTES + b"</rss>", Reason.FEED_TOO_LARGE),
    # found by the fuzz test below: feedparser itself raised KeyError 'tags'
    "feedparser crash": (b"<ITEM><CATEGORY><</ITEM></CATEGORY><", Reason.FEED_NOT_A_FEED),
}
# Hostile feed URLs are refused before any connection is made.
URLS: dict[str, Reason] = {
    "file:///etc/passwd": Reason.FEED_BAD_URL,
    "javascript:alert(1)": Reason.FEED_BAD_URL,
    "ftp://example.com/feed": Reason.FEED_BAD_URL,
    "not a url": Reason.FEED_BAD_URL,
    "http://user:secret@127.0.0.1/feed": Reason.FEED_BAD_URL,
    "http://" + "a" * 300 + ".com/": Reason.FEED_BAD_URL,
    "http://127.0.0.1:1/feed": Reason.FEED_BLOCKED_ADDRESS,
    "http://localhost/feed": Reason.FEED_BLOCKED_ADDRESS,
    "http://[::1]/feed": Reason.FEED_BLOCKED_ADDRESS,
    "http://169.254.169.254/latest/meta-data": Reason.FEED_BLOCKED_ADDRESS,
    "http://10.0.0.1/feed": Reason.FEED_BLOCKED_ADDRESS,
    "http://0.0.0.0/feed": Reason.FEED_BLOCKED_ADDRESS,
    "http://2130706433/feed": Reason.FEED_BLOCKED_ADDRESS,
}


def feed_message(name: str, data: bytes) -> dict[str, Any]:
    env = Envelope(input_id=uuid.uuid4().hex, kind=InputKind.FEED, source=name, data=data)
    return env.model_dump(mode="json", exclude_none=True)


def url_message(url: str) -> dict[str, Any]:
    env = Envelope(input_id=uuid.uuid4().hex, kind=InputKind.FEED_URL, source=url, url=url)
    return env.model_dump(mode="json", exclude_none=True)


def fixture_expectations() -> dict[str, tuple[bytes, list[str | None] | str]]:
    """Each fixture feed: its bytes, and its rejection reason or each entry's (None: a record)."""
    found: dict[str, tuple[bytes, list[str | None] | str]] = {}
    for path in sorted(FEED_FIXTURES.glob("*.xml")):
        expected = orjson.loads(path.with_suffix(".expected.json").read_bytes())
        if "rejected" in expected:
            found[path.name] = (path.read_bytes(), expected["rejected"])
        else:
            found[path.name] = (path.read_bytes(), [e.get("rejected") for e in expected["entries"]])
    return found


def same_stories(
    fixtures: dict[str, tuple[bytes, list[str | None] | str]],
    sent: dict[str, dict[str, Any]],
    expected: dict[str, str | None],
) -> dict[str, str]:
    """Entries whose story (content hash) an earlier fixture entry already stored."""
    settings = Settings(feed_max_bytes=FEED_MAX_BYTES)
    first: set[str] = set()
    later: dict[str, str] = {}
    for name, (data, entries) in fixtures.items():  # in the order they are sent
        if isinstance(entries, str):
            continue
        for n, entry in enumerate(parse_any(data, name, settings).entries):
            item = f"{sent[name]['input_id']}#{n}"
            if isinstance(entry, Record) and expected.get(item) is None:
                if entry.content_hash in first:
                    later[item] = "record.same_content"
                first.add(entry.content_hash)
    return later


@pytest.mark.slow
def test_feed_catalogue_through_a_real_worker(redis_url: str, store: Store) -> None:
    """Hostile XML (entity bombs, external entities), not-feeds, bad entries, hostile URLs."""
    fixtures = fixture_expectations()
    sent = {name: feed_message(name, data) for name, (data, _) in FEEDS.items()}
    sent |= {name: feed_message(name, data) for name, (data, _) in fixtures.items()}
    sent |= {url: url_message(url) for url in URLS}
    whole = {name: reason.value for name, (_, reason) in FEEDS.items()}
    whole |= {url: reason.value for url, reason in URLS.items()}
    whole |= {name: exp for name, (_, exp) in fixtures.items() if isinstance(exp, str)}
    expected = {sent[name]["input_id"]: reason for name, reason in whole.items()}
    for name, (_, entries) in fixtures.items():
        if not isinstance(entries, str):
            input_id = sent[name]["input_id"]
            expected |= {f"{input_id}#{n}": reason for n, reason in enumerate(entries)}
    expected |= same_stories(fixtures, sent, expected)
    nxt = seed_message("next.txt", seed_bytes("Next"))
    app = make_app(Settings(redis_url=redis_url, namespace="test"), redis_url)
    worker = WorkerProcess(redis_url, INGEST_FEED_MAX_BYTES=str(FEED_MAX_BYTES)).start()
    try:
        app.send_task(TASK_PROCESS_BATCH, args=[list(sent.values())], queue="ingest")
        wait_until(lambda: decided(store, expected), timeout=90, what="every feed")
        app.send_task(TASK_PROCESS_BATCH, args=[[nxt]], queue="ingest")
        wait_until(lambda: decided(store, [nxt["input_id"]]), timeout=60, what="next document")
        assert worker.alive()
    finally:
        worker.stop()
        app.close()
    got = {i: outcome_of(store, i) for i in expected}
    assert {i: o.get("reason") for i, o in got.items() if o} == expected
    assert outcome_of(store, nxt["input_id"])["outcome"] == "created"


def decided(store: Store, input_ids: Iterable[str]) -> bool:
    """Every one of these inputs (or feed items) has an outcome."""
    keys = [store.keys.outcome(i) for i in input_ids]
    return all(raw is not None for raw in store.client.mget(keys))


SEED_REASONS = {r.value for r in Reason if r.value.startswith("seed.")}


def checked(result: list[Any], *, allowed: set[str]) -> None:
    """One prepared item, a record or a rejection with an allowed reason; never a crash."""
    [item] = result
    assert isinstance(item, Accepted | Refused)
    if isinstance(item, Refused):
        assert item.rejection.reason in allowed, item.rejection


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_through_prepare_are_a_record_or_a_rejection(data: bytes) -> None:
    env = Envelope(input_id="fuzz", kind=InputKind.SEED, source="fuzz.txt", data=data)
    checked(pipeline.prepare(env, Settings(max_document_bytes=2048)), allowed=SEED_REASONS)


FIELDS = st.sampled_from(["input_id", "kind", "source", "data", "url", "reply_to", "other"])
VALUES = st.one_of(
    st.none(),
    st.text(max_size=50),
    st.integers(),
    st.sampled_from(["seed", "feed", "ZGF0ZSAyMDI0LTAxLTAxIFQKCkIK"]),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, VALUES, max_size=7))
def test_random_messages_through_prepare_message_never_raise(message: dict[str, Any]) -> None:
    result = pipeline.prepare_message(message, Settings())
    allowed = SEED_REASONS | {Reason.INPUT_MALFORMED.value}
    if message.get("kind") == "feed":  # feed inputs belong to the feeds stage
        allowed |= {r.value for r in Reason if r.value.startswith(("feed.", "entry."))}
    if "data" in message and message["data"] is None:  # parked bytes that were not found
        allowed |= {Reason.INPUT_EXPIRED.value}
    checked(result, allowed=allowed)


TAGS = ["rss", "channel", "item", "title", "link", "description", "guid", "pubDate", "feed"]
TAGS += ["entry", "content", "summary", "id", "updated", "author", "category", "rdf:RDF"]
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            *("&amp;", "&lt;b&gt;x&lt;/b&gt;", "&nbsp;", "&unknown;", "<![CDATA[<p>x</p>]]>"),
            *("<script>alert(1)</script>", "2024-02-30T25:61:00Z", "http://127.0.0.1/", "]]>"),
        ]
    ),
)


def xml_element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda tag, parts: f"<{tag}>{''.join(parts)}</{tag}>",
        st.sampled_from(TAGS),
        st.lists(children, max_size=4),
    )


RANDOM_XML = st.builds(
    lambda prolog, body: prolog + body,
    st.sampled_from(["", '<?xml version="1.0"?>', '<?xml version="1.0" encoding="latin-1"?>']),
    st.recursive(TEXT, xml_element, max_leaves=30),
)


@settings(max_examples=200, deadline=None)
@given(RANDOM_XML)
def test_random_xml_through_the_feed_parser_is_records_or_rejections(xml: str) -> None:
    env = Envelope(input_id="fuzz", kind=InputKind.FEED, source="fuzz.xml", data=xml.encode())
    items = pipeline.prepare(env, Settings())
    allowed = {r.value for r in Reason if r.value.startswith(("feed.", "entry."))}
    for item in items:
        assert isinstance(item, Accepted | Refused)
        if isinstance(item, Refused):
            assert item.rejection.reason in allowed, item.rejection
