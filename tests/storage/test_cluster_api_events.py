"""The HTTP API's event stream on a cluster store: a cursor that resumes every shard."""

from __future__ import annotations

import json
import time

import httpx

from tests.support.api_helpers import READ_KEY, ApiProcess, EventReader, auth
from tests.support.helpers import seed_bytes
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage.store import Store


def batch(start: int, count: int) -> list[dict[str, object]]:
    return [
        Envelope(
            input_id=f"in-{n}", kind=InputKind.SEED, source=f"{n}.txt",
            data=seed_bytes(f"Story {n}", f"Body of story {n} with w{n}x."),
        ).model_dump(mode="json", exclude_none=True)
        for n in range(start, start + count)
    ]  # fmt: skip


def test_sse_resumes_across_shards_with_last_event_id(cluster_url: str, redis_url: str) -> None:
    settings = Settings(redis_url=cluster_url, namespace="test")  # the API child's
    store = Store.from_url(cluster_url, settings)
    first = pipeline.process_batch(batch(0, 10), store, settings)
    api = ApiProcess(cluster_url, INGEST_BROKER_URL=redis_url).start()
    try:
        with EventReader(api, auth(READ_KEY), after="0") as stream:
            got = stream.wait_for(10)
        last_seen = got[-1][0]
        missed = pipeline.process_batch(batch(10, 12), store, settings)
        headers = {**auth(READ_KEY), "Last-Event-ID": last_seen}
        with EventReader(api, headers) as resumed:
            again = resumed.wait_for(12)
            time.sleep(1.0)  # a repeat would show within a second
            again = list(resumed.events)
        with httpx.Client(base_url=api.base, headers=auth(READ_KEY), timeout=30) as c:
            bad = c.get("/v1/events", headers={"Last-Event-ID": "1-0@3,x"})
            assert bad.status_code == 400
    finally:
        assert api.stop() == 0
    assert sorted(json.loads(d)["id"] for _, _, d in got) == sorted(o.id for o in first)
    assert sorted(json.loads(d)["id"] for _, _, d in again) == sorted(o.id for o in missed)
