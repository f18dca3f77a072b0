"""Reads the HTTP API adds to IngestClient: an input's outcomes and keyset pages."""

from __future__ import annotations

import uuid

from tests.support.helpers import reads, rss_bytes, seed_bytes
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage.store import Store


def message(kind: InputKind, data: bytes, source: str = "a.txt") -> dict[str, object]:
    env = Envelope(input_id=uuid.uuid4().hex, kind=kind, source=source, data=data)
    return env.model_dump(mode="json", exclude_none=True)


def test_outcomes_of_a_seed_a_feed_a_one_entry_feed_and_a_failed_feed(
    store: Store, settings: Settings
) -> None:
    seed = message(InputKind.SEED, seed_bytes("One", "Body."))
    feed = message(
        InputKind.FEED, rss_bytes(("g1", "T1", "B1"), ("g2", "", "B2"), ("g3", "T3", "B3"))
    )
    single = message(InputKind.FEED, rss_bytes(("s1", "Alone", "Body")))
    broken = message(InputKind.FEED, b"not a feed at all")
    unknown = uuid.uuid4().hex
    assert reads(store).outcomes(seed["input_id"]) is None  # type: ignore[arg-type]
    pipeline.process_batch([seed, feed, single, broken], store, settings)

    [one] = reads(store).outcomes(seed["input_id"]) or []  # type: ignore[arg-type]
    assert (one.outcome, one.input_id) == ("created", seed["input_id"])
    entries = reads(store).outcomes(feed["input_id"]) or []  # type: ignore[arg-type]
    assert [o.outcome for o in entries] == ["created", "rejected", "created"]
    assert [o.input_id for o in entries] == [f"{feed['input_id']}#{n}" for n in range(3)]
    assert entries[1].reason == "entry.no_title"
    [alone] = reads(store).outcomes(single["input_id"]) or []  # type: ignore[arg-type]
    assert (alone.outcome, alone.input_id) == ("created", f"{single['input_id']}#0")
    [failed] = reads(store).outcomes(broken["input_id"]) or []  # type: ignore[arg-type]
    assert (failed.outcome, failed.reason) == ("rejected", "feed.not_a_feed")
    assert reads(store).outcomes(unknown) is None

    # An entry whose outcome is not stored yet: the feed has no complete answer.
    for k in store.keys.every_shard():  # on shards, the outcome is with its record
        store.client.delete(k.outcome(f"{feed['input_id']}#2"))
    assert reads(store).outcomes(feed["input_id"]) is None  # type: ignore[arg-type]


def test_pages_resume_inside_a_run_of_equal_scores(store: Store, settings: Settings) -> None:
    days = ["2024-01-02"] * 5 + ["2024-01-01"] * 3 + ["2024-01-03"]
    docs = [
        message(InputKind.SEED, seed_bytes(f"Doc {n}", f"Body {n}.", day=d), source=f"{n % 2}.txt")
        for n, d in enumerate(days)
    ]
    pipeline.process_batch(docs, store, settings)
    for limit in (1, 2, 3, 4, 9, 10):
        pages, after = [], None
        while True:
            page, after = reads(store).record_page(limit=limit, after=after)
            pages.append(page)
            if after is None:
                break
        assert all(len(p) <= limit for p in pages)
        assert [r.id for p in pages for r in p] == [r.id for r in reads(store).records(limit=None)]
    page, after = reads(store).record_page(source="1.txt", limit=2)
    rest, end = reads(store).record_page(source="1.txt", limit=10, after=after)
    assert [r.id for r in page + rest] == [r.id for r in reads(store).records(source="1.txt")]
    assert end is None
    assert reads(store).record_page(kind="feed")[0] == []


def test_rejection_pages_filter_by_reason_and_source(store: Store, settings: Settings) -> None:
    bad = [message(InputKind.SEED, b"no header\n\nbody\n", source=f"{n}.txt") for n in range(5)]
    bad.append(message(InputKind.SEED, b"", source="empty.txt"))
    pipeline.process_batch(bad, store, settings)
    page, after = reads(store).rejection_page(reason="seed.no_header", limit=3)
    rest, end = reads(store).rejection_page(reason="seed.no_header", limit=3, after=after)
    assert len(page) == 3
    assert len(rest) == 2
    assert end is None
    assert {r.reason for r in page + rest} == {"seed.no_header"}
    [empty], _ = reads(store).rejection_page(source="empty.txt")
    assert empty.reason == "seed.empty"
