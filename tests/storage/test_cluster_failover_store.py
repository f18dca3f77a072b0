"""A primary killed mid-run: every input ends with one outcome and one record, no event lost
or doubled (issue 21). The writer here is the pipeline a worker runs, delivering each
batch again after a transient fault as Celery does (acks_late), some batches twice, and one
batch cut between its two steps (decide.lua done, the record's own script not)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import local_cluster
from tests.support.helpers import seed_bytes, suite_binary
from worker.core.errors import StoreUnavailable
from worker.core.models import Accepted, Envelope, InputKind, Outcome
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.read.client import IngestClient
from worker.storage.store import ChangeBase, Store

BATCHES, PER_BATCH, KILL_AT = 16, 20, 5


class Cut(Exception):
    """The worker died between decide.lua and the record's own script."""


class CutAfterDecide(Store):
    """A store whose worker dies once right after the store-wide step of a batch."""

    cut = False

    def _queue_upsert(
        self, pipe: Any, item: Accepted, reply: str, now: str, base: ChangeBase, decided: str = ""
    ) -> None:
        if not self.cut:
            self.cut = True
            raise Cut
        super()._queue_upsert(pipe, item, reply, now, base, decided)


def message(n: int) -> dict[str, Any]:
    doc = seed_bytes(f"Story {n}", f"Words of story {n}: alpha{n} beta{n} gamma{n}.")
    env = Envelope(
        input_id=f"in-{n}-{uuid.uuid4().hex[:6]}", kind=InputKind.SEED, source="a.txt", data=doc
    )
    return env.model_dump(mode="json", exclude_none=True)


def deliver(
    batch: Sequence[dict[str, Any]], store: Store, settings: Settings
) -> tuple[list[Outcome], int]:
    """Deliver until the batch is stored; returns its outcomes and the failed deliveries."""
    failed = 0
    while True:
        try:
            return pipeline.process_batch(batch, store, settings), failed
        except StoreUnavailable:
            failed += 1
            time.sleep(1.0)


def test_a_primary_killed_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "cluster", suite_binary()) as cluster:
        settings = Settings(redis_url=cluster.url, namespace="f", data_dir=tmp_path / "d")
        store = Store.from_url(cluster.url, settings)
        batches = [[message(b * PER_BATCH + i) for i in range(PER_BATCH)] for b in range(BATCHES)]
        cut = CutAfterDecide(store.client, settings)
        with pytest.raises(Cut):
            pipeline.process_batch(batches[2], cut, settings)
        failed = twice = 0
        for n, batch in enumerate(batches):
            if n == KILL_AT:
                cluster.kill_primary(0)
            for _ in range(2 if n % 4 == 0 else 1):  # some batches delivered twice
                _, lost = deliver(batch, store, settings)
                failed += lost
            twice += n % 4 == 0
        inputs = [m["input_id"] for batch in batches for m in batch]
        client = IngestClient(store.client, "f")
        pipe = store.client.pipeline(transaction=False)
        for input_id in inputs:
            for k in store.keys.every_shard():
                pipe.exists(k.outcome(input_id))
        found = pipe.execute()
        per = store.keys.shards
        per_input = [sum(found[i * per : (i + 1) * per]) for i in range(len(inputs))]
        events = client.events_after("records", "0", count=10_000)
        records = list(client.records())
        stats = store.stats()
        print(
            f"\nfailover: {len(inputs)} inputs, {BATCHES} batches ({twice} delivered twice, one "
            f"cut between its steps), {failed} deliveries failed during the failover; "
            f"outcomes {sum(per_input)}, records {len(records)}, created events "
            f"{sum(e.type == 'created' for e in events)}"
        )
        assert per_input == [1] * len(inputs)
        assert len(records) == len(inputs)
        assert sorted(e.record_id for e in events) == sorted(r.id for r in records)
        assert {e.type for e in events} == {"created"}
        assert (stats["records"], stats["updates"], stats["duplicates"]) == (len(inputs), 0, 0)
        assert failed > 0  # the kill did land mid-run
