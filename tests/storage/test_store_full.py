"""A Redis at its maxmemory (noeviction, as in docker-compose): one clear error, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from tests.support.audit import audit
from tests.support.corpus import corpus, write
from tests.support.helpers import WorkerProcess, ingest, wait_until
from worker.core.errors import StoreFull
from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer
from worker.storage.store import Store

pytestmark = pytest.mark.slow
DOCS = 600


@pytest.fixture
def small_redis(tmp_path: Path) -> redis.Redis:
    server = RedisServer(tmp_path / "full", persist=False).start()
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + 1024 * 1024)
    client.url = server.url  # type: ignore[attr-defined]
    yield client
    client.close()
    server.stop()


def test_a_full_store_stops_the_producer_with_one_line_and_loses_nothing(
    small_redis: redis.Redis, tmp_path: Path
) -> None:
    url = small_redis.url  # type: ignore[attr-defined]
    folder = write(corpus(DOCS, seed=5, duplicates=0, bad=0, words=(300, 400)), tmp_path / "in")
    result = ingest("enqueue", str(folder), "--json", url=url, INGEST_BATCH_SIZE="20")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the store is full (Redis maxmemory reached): nothing more was written; free "
        "memory (`ingest prune`, workers catching up) or raise maxmemory, then enqueue the rest"
    ]
    queued = [json.loads(line)["input_id"] for line in result.stdout.splitlines()]
    assert 0 < len(queued) < DOCS, len(queued)
    store = Store.from_url(url, Settings(redis_url=url, namespace="test"))
    assert store.stats()["enqueued"] == len(queued)
    assert store.stats()["queued"] == len(queued)

    # Room again: every input the producer reported is stored, once.
    small_redis.config_set("maxmemory", 0)
    worker = WorkerProcess(url).start()
    try:
        wait_until(lambda: store.stats()["queued"] == 0, timeout=120, what="the queue drained")
    finally:
        worker.stop()
    result = audit(store, queued)
    assert (result.lost, result.duplicated) == (0, 0), result.summary()
    assert store.stats()["records"] == len(queued)


def test_a_write_refused_at_maxmemory_is_store_full(small_redis: redis.Redis) -> None:
    url = small_redis.url  # type: ignore[attr-defined]
    store = Store.from_url(url, Settings(redis_url=url, namespace="test"))
    with pytest.raises(StoreFull, match="maxmemory"):  # noqa: PT012 - until it is full
        for n in range(1000):
            store.ledger.park(f"b{n}", {"x": b"y" * 100_000}, None, 1)
