"""Document bytes parked in Redis by the producer and attached again by the worker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.support.helpers import seed_bytes
from worker.core.errors import QueueUnavailable
from worker.core.models import Envelope, InputKind, OutcomeKind
from worker.core.settings import Settings
from worker.pipeline import parked
from worker.pipeline import process as pipeline
from worker.queue.app import make_app
from worker.queue.inputs import InputRef
from worker.queue.producer import publish
from worker.storage.ledger import MESSAGES
from worker.storage.store import Store


def envelopes(*docs: bytes) -> list[Envelope]:
    return [
        Envelope(input_id=f"in-{i}", kind=InputKind.SEED, source=f"{i}.txt", data=doc)
        for i, doc in enumerate(docs)
    ]


def test_split_leaves_bytes_out_of_the_messages() -> None:
    url = Envelope(input_id="u", kind=InputKind.FEED_URL, source="s", url="https://x.test/f")
    messages, data = parked.split([*envelopes(b"one"), url])
    assert messages[0]["data"] is None  # the marker of parked bytes
    assert "data" not in messages[1]
    assert data == {"in-0": b"one"}
    assert messages[1]["url"] == "https://x.test/f"


def test_parked_batch_is_processed_then_dropped(store: Store, settings: Settings) -> None:
    docs = [seed_bytes("First", "Body one."), seed_bytes("Second", "Body two.")]
    messages, data = parked.split(envelopes(*docs))
    store.ledger.park("b1", data, None, 0)
    batch = parked.attach(messages, store, "b1")
    outcomes = pipeline.process_batch(batch, store, settings)
    assert [o.outcome for o in outcomes] == [OutcomeKind.CREATED, OutcomeKind.CREATED]
    assert 0 < store.client.ttl(store.keys.parked("b1")) <= settings.outcome_ttl
    store.ledger.unpark("b1", 0)
    assert not store.client.exists(store.keys.parked("b1"))


def test_redelivery_after_unpark_returns_the_first_outcomes(
    store: Store, settings: Settings
) -> None:
    messages, data = parked.split(envelopes(seed_bytes("Once", "Stored once.")))
    store.ledger.park("b2", data, None, 0)
    first = pipeline.process_batch(parked.attach(messages, store, "b2"), store, settings)
    store.ledger.unpark("b2", 0)
    again = pipeline.process_batch(parked.attach(messages, store, "b2"), store, settings)
    assert again == first
    stats = store.stats()
    assert (stats["records"], stats["rejections"], stats["record_events"]) == (1, 0, 1)


def test_missing_bytes_are_rejected_as_expired_without_failing_neighbours(
    store: Store, settings: Settings
) -> None:
    messages, data = parked.split(envelopes(seed_bytes("Kept", "Here."), seed_bytes("Lost", "x")))
    store.ledger.park("b3", {"in-0": data["in-0"]}, None, 0)  # in-1's bytes are gone
    outcomes = pipeline.process_batch(parked.attach(messages, store, "b3"), store, settings)
    assert [o.outcome for o in outcomes] == [OutcomeKind.CREATED, OutcomeKind.REJECTED]
    assert outcomes[1].reason == "input.expired"


def test_inline_data_is_used_as_it_is(store: Store, settings: Settings) -> None:
    message = envelopes(seed_bytes("Inline", "Old producer."))[0].model_dump(mode="json")
    [o] = pipeline.process_batch(parked.attach([message], store, "none"), store, settings)
    assert o.outcome is OutcomeKind.CREATED


def test_publish_parks_each_batch_under_its_task_id(
    redis_url: str, store: Store, settings: Settings, tmp_path: Path
) -> None:
    for i in range(5):
        (tmp_path / f"{i}.txt").write_bytes(seed_bytes(f"Doc {i}", "Text."))
    small = settings.model_copy(update={"batch_size": 2})
    refs = [InputRef(f"{i}.txt", InputKind.SEED, tmp_path / f"{i}.txt") for i in range(5)]
    with make_app(small, redis_url) as app:
        report = publish(app, store, refs, small)
    assert report.batches == 3
    keys = sorted(store.client.scan_iter(f"{store.keys.parked('')}*"))
    assert len(keys) == 3
    held = [store.client.hgetall(k) for k in keys]
    ledger = [orjson.loads(h.pop(MESSAGES.encode())) for h in held]  # the ledger copy
    assert sorted(len(h) for h in held) == [1, 2, 2]
    assert {i.decode() for h in held for i in h} == set(report.input_ids)
    assert sorted(m["input_id"] for batch in ledger for m in batch) == sorted(report.input_ids)
    assert all(m["data"] is None and m["kind"] == "seed" for batch in ledger for m in batch)
    assert store.client.zcard(store.keys.pending) == 3
    assert store.stats()["enqueued"] == 5


def test_bytes_of_a_batch_the_broker_never_took_are_dropped(
    redis_url: str,
    store: Store,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker.queue import producer

    monkeypatch.setattr(producer, "RETRY_POLICY", producer.RetryPolicy(max_retries=0))
    (tmp_path / "a.txt").write_bytes(seed_bytes("Never sent", "Text."))
    no_broker = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    refs = [InputRef("a.txt", InputKind.SEED, tmp_path / "a.txt")]
    with make_app(no_broker, redis_url) as app, pytest.raises(QueueUnavailable):
        publish(app, store, refs, no_broker)
    assert not list(store.client.scan_iter(f"{store.keys.parked('')}*"))
    assert store.client.zcard(store.keys.pending) == 0  # no ledger entry left to sweep
    assert store.stats()["enqueued"] == 0
