"""``ingest run`` on its own: a queue of its own, consumed by its own worker only, gone after."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import redis

from tests.support.helpers import WorkerProcess, ingest, seed_bytes, wait_until
from worker.core.settings import Settings
from worker.queue.app import make_app
from worker.queue.recovery import sweep
from worker.storage.brokerqueues import BrokerQueues
from worker.storage.store import Store


def seeds(folder: Path, prefix: str, count: int) -> Path:
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"{prefix}-{n}.txt").write_bytes(
            seed_bytes(f"{prefix} story {n}", f"Body of {prefix} story number {n}.")
        )
    return folder


def run_keys(client: redis.Redis) -> list[bytes]:
    """Every key, or binding entry, that names a run's queue."""
    found = [k for k in client.keys("*") if b".run." in k]
    for key in [*client.keys("_kombu.binding.*"), *client.keys("_kombu.binding_permanent.*")]:
        found += [m for m in client.smembers(key) if b".run." in m]
    return found


def test_a_run_leaves_the_shared_queue_to_the_shared_workers(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    left = seeds(tmp_path / "left", "left", 3)
    queued = ingest("enqueue", str(left), url=redis_url)
    assert queued.returncode == 0, queued.stderr
    assert client.llen("ingest") == 1  # one task, and no worker yet

    run = ingest("run", "--json", str(seeds(tmp_path / "mine", "mine", 4)), url=redis_url)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted(Path(o["source"]).name for o in lines) == [f"mine-{n}.txt" for n in range(4)]
    assert {o["outcome"] for o in lines} == {"created"}
    assert store.stats()["records"] == 4  # the inputs left queued are not the run's
    assert client.llen("ingest") == 1
    assert run_keys(client) == []


def test_a_shared_worker_takes_none_of_a_runs_inputs(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    shared = WorkerProcess(redis_url, concurrency=1, pool="solo").start()
    try:
        run = ingest("run", "--json", str(seeds(tmp_path / "mine", "mine", 30)), url=redis_url)
        assert run.returncode == 0, run.stderr
        assert len(run.stdout.splitlines()) == 30
        assert "received" not in shared.output()
        # The shared worker was there all along, taking what is on its queue.
        queued = ingest("enqueue", str(seeds(tmp_path / "left", "left", 2)), url=redis_url)
        assert queued.returncode == 0, queued.stderr
        wait_until(lambda: store.stats()["records"] == 32, timeout=60, what="shared worker")
        assert "received" in shared.output()
    finally:
        shared.stop()
    assert run_keys(redis.Redis.from_url(redis_url)) == []


def test_a_sweep_publishes_again_only_the_lost_batches_of_its_own_queue(
    redis_url: str, store: Store, settings: Settings
) -> None:
    message = orjson.dumps([{"input_id": "x"}])
    store.ledger.park("shared", {}, message, 1, "ingest")
    store.ledger.park("theirs", {}, message, 1, "ingest.run.abc")
    client = redis.Redis.from_url(redis_url)
    with make_app(settings, redis_url) as app:
        assert sweep(app, store, BrokerQueues(redis_url), "ingest", 0) == 1
        assert client.llen("ingest") == 1
        assert sweep(app, store, BrokerQueues(redis_url), "ingest.run.abc", 0) == 1
        assert client.llen("ingest.run.abc") == 1
