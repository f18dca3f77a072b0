"""Fault tests: real workers and a real Redis, killed mid-work. Nothing lost, nothing twice.

Each test kills real processes with SIGKILL (a pool child, a whole worker, Redis itself)
or feeds a real crash, then checks every enqueued input against the records, the event
stream and the counters (:mod:`tests.support.audit`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audit import audit
from tests.support.corpus import corpus, enqueue_folder, write
from tests.support.helpers import (
    WorkerProcess,
    env_for,
    ingest,
    reads,
    seed_bytes,
    suite_binary,
    wait_until,
)
from tests.support.procs import Child
from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer, free_port
from worker.storage.store import Store

pytestmark = pytest.mark.slow


def docs_folder(folder: Path, docs: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in docs.items():
        (folder / name).write_bytes(data)
    return folder


def drained(store: Store) -> bool:
    stats = store.stats()
    return stats["enqueued"] > 0 and stats["queued"] == 0


def no_delivery_counters(store: Store) -> bool:
    return not list(store.client.scan_iter(match=store.keys.deliveries("*")))


def wait_for_records(store: Store, count: int, worker: WorkerProcess) -> None:
    """Wait, polling fast, until some records exist: the moment to kill something."""
    wait_until(
        lambda: store.stats()["records"] >= count,
        timeout=120,
        what=f"{count} records",
        alive=worker.alive,
        interval=0.01,
    )


@pytest.fixture
def poison_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "poison"
    folder.mkdir()
    return folder


def test_pool_child_killed_mid_task_is_requeued_at_once_and_stored_once(
    redis_url: str, store: Store, tmp_path: Path, poison_dir: Path
) -> None:
    docs = {f"{i:02}.txt": seed_bytes(f"Story {i}", f"Body of story {i}.") for i in range(40)}
    docs["20.txt"] = seed_bytes("Slow one", "POISON-SLOW-ONCE in the body.")
    # A long visibility timeout: only an immediate requeue can finish in time.
    worker = WorkerProcess(
        redis_url,
        app="tests.support.poison_app",
        POISON_DIR=str(poison_dir),
        INGEST_VISIBILITY_TIMEOUT="600",
    ).start()
    try:
        report = enqueue_folder(redis_url, docs_folder(tmp_path / "in", docs))
        assert report.batches == 1
        started = poison_dir / "slow-started"
        wait_until(started.exists, timeout=60, what="task started", alive=worker.alive)
        child = int(started.read_text())
        assert child in worker.children()
        os.kill(child, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: drained(store), timeout=60, what="requeued batch done")
        recovery = time.monotonic() - killed
        assert worker.alive()
    finally:
        worker.stop()
    result = audit(store, report.input_ids)
    assert (result.lost, result.duplicated) == (0, 0), result.summary()
    assert result.by_outcome() == {"created": 40}
    assert result.records == 40
    assert set(result.created_events.values()) == {1}
    assert no_delivery_counters(store)
    assert "WorkerLostError" in worker.output()
    print(f"pool child SIGKILL: batch stored {recovery:.1f}s after the kill")


def test_poison_input_is_rejected_after_max_deliveries_and_neighbours_stored(
    redis_url: str, store: Store, tmp_path: Path, poison_dir: Path
) -> None:
    docs = {
        "a.txt": seed_bytes("Before the poison", "Fine."),
        "b-poison.txt": seed_bytes("Poison", "POISON-KILL: processing this kills the worker."),
        "c.txt": seed_bytes("After the poison", "Also fine."),
    }
    worker = WorkerProcess(
        redis_url,
        app="tests.support.poison_app",
        POISON_DIR=str(poison_dir),
        INGEST_MAX_DELIVERIES="3",
        INGEST_VISIBILITY_TIMEOUT="600",
    ).start()
    try:
        report = enqueue_folder(redis_url, docs_folder(tmp_path / "in", docs))
        wait_until(lambda: drained(store), timeout=120, what="poison batch decided")
        assert worker.alive()
        # the worker keeps going after the poison input
        after = enqueue_folder(
            redis_url, docs_folder(tmp_path / "after", {"d.txt": seed_bytes("Later", "Ok.")})
        )
        wait_until(lambda: drained(store), timeout=60, what="next document")
    finally:
        worker.stop()
    kills = (poison_dir / "kills").read_text().split()
    assert len(kills) == 3  # processed (and crashed) exactly max_deliveries times
    result = audit(store, report.input_ids + after.input_ids)
    assert (result.lost, result.duplicated) == (0, 0), result.summary()
    by_source = {report.sources.get(i, "d.txt"): o for i, o in result.outcomes.items()}
    assert by_source["b-poison.txt"]["outcome"] == "rejected"
    assert by_source["b-poison.txt"]["reason"] == "worker.lost_repeatedly"
    assert [by_source[n]["outcome"] for n in ("a.txt", "c.txt", "d.txt")] == ["created"] * 3
    [rejection] = reads(store).rejections()
    assert "lost with the worker 3 times" in rejection.detail
    poison_id = next(i for i, s in report.sources.items() if s == "b-poison.txt")
    assert store.client.exists(store.keys.payload(poison_id))  # kept for replay
    assert no_delivery_counters(store)


def test_whole_worker_killed_mid_batch_fresh_worker_finishes(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    docs = corpus(3000, seed=1)
    visibility = 6
    env = {"INGEST_VISIBILITY_TIMEOUT": str(visibility)}
    report = enqueue_folder(redis_url, write(docs, tmp_path / "in"), batch_size=100)
    first = WorkerProcess(redis_url, **env).start()
    try:
        wait_for_records(store, 300, first)

        # Kill while tasks are delivered and unacknowledged: the worker is frozen and
        # looked at, and let go again when it stands between an ack and its next delivery.
        def frozen_holding_a_delivery() -> bool:
            first.freeze()
            if store.client.hlen("unacked") >= 1:
                return True
            first.freeze(False)
            return False

        wait_until(frozen_holding_a_delivery, timeout=30, what="a delivery")
    finally:
        first.kill()
    unacked = store.client.hlen("unacked")
    assert unacked >= 1, "the kill must leave delivered, unacknowledged tasks"
    assert store.stats()["queued"] > 0
    second = WorkerProcess(redis_url, **env).start()
    started = time.monotonic()
    try:
        wait_until(lambda: drained(store), timeout=visibility + 90, what="fresh worker done")
        took = time.monotonic() - started
        # The killed worker's deliveries may still sit in kombu's unacked hash when the
        # store is already complete (the ledger sweep republished them first); only a
        # running worker restores them, after the visibility timeout, as no-op redeliveries.
        wait_until(
            lambda: store.client.hlen("unacked") == 0,
            timeout=visibility + 60,
            what="every task acked",
            alive=second.alive,
        )
    finally:
        second.stop()
    result = audit(store, report.input_ids)
    assert (result.lost, result.duplicated) == (0, 0), result.summary()
    assert result.by_outcome() == docs.expected
    assert result.reasons() == docs.reasons
    assert result.records == docs.expected["created"]
    # about one visibility timeout, plus the sweep interval and processing on a busy machine
    assert took < visibility + 60
    print(f"whole worker SIGKILL with {unacked} unacked tasks: fresh worker done in {took:.1f}s")


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(
        tmp_path / "redis", persist=True, binary=suite_binary(), port=free_port()
    ).start()
    yield server
    server.stop()


def restart(server: RedisServer) -> RedisServer:
    """A new server on the same port, password and data folder (its AOF is replayed)."""
    return RedisServer(
        server.data_dir,
        persist=True,
        binary=suite_binary(),
        password=server.password,
        port=server.port,
    ).start()


def test_redis_killed_and_restarted_mid_run_workers_reconnect(
    persistent_redis: RedisServer, tmp_path: Path
) -> None:
    url = persistent_redis.url
    store = Store.from_url(url, Settings(redis_url=url, namespace="test"))
    docs = corpus(2000, seed=2)
    report = enqueue_folder(url, write(docs, tmp_path / "in"), batch_size=100)
    worker = WorkerProcess(url, INGEST_VISIBILITY_TIMEOUT="6").start()
    revived = None
    try:
        wait_for_records(store, 200, worker)
        persistent_redis.kill()
        time.sleep(2)  # the point: Redis stays down a while, workers must ride it out
        revived = restart(persistent_redis)
        back = time.monotonic()
        wait_until(
            lambda: drained(store), timeout=120, what="done after restart", alive=worker.alive
        )
        took = time.monotonic() - back
        assert worker.alive()
    finally:
        worker.stop()
        if revived is not None:
            persistent_redis.process = revived.process
    result = audit(store, report.input_ids)
    assert (result.lost, result.duplicated) == (0, 0), result.summary()
    assert result.by_outcome() == docs.expected
    assert result.reasons() == docs.reasons
    print(f"redis SIGKILL + restart: workers finished {took:.1f}s after redis was back")


def test_batch_the_broker_lost_is_published_again(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    """kombu pops a message before it records it as unacked: a crash between loses it."""
    docs = {f"{i}.txt": seed_bytes(f"Story {i}", f"Body {i}.") for i in range(30)}
    report = enqueue_folder(redis_url, docs_folder(tmp_path / "in", docs), batch_size=10)
    assert report.batches == 3
    assert store.client.rpop("ingest")  # what a worker killed right after BRPOP leaves
    assert store.client.llen("ingest") == 2
    worker = WorkerProcess(redis_url, INGEST_VISIBILITY_TIMEOUT="4").start()
    try:
        wait_until(lambda: drained(store), timeout=60, what="lost batch", alive=worker.alive)
    finally:
        worker.stop()
    result = audit(store, report.input_ids)
    assert (result.lost, result.duplicated) == (0, 0), result.summary()
    assert result.records == 30
    assert "published again 1 batches the broker lost" in worker.output()
    assert store.client.zcard(store.keys.pending) == 0
    assert not list(store.client.scan_iter(match=store.keys.parked("*")))


def test_producer_with_redis_down_retries_then_fails_loudly(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", persist=False, binary=suite_binary()).start()
    server.stop()  # a real URL, with nothing listening on it any more
    doc = tmp_path / "doc.txt"
    doc.write_bytes(seed_bytes("Never queued", "Body."))
    started = time.monotonic()
    result = ingest("enqueue", str(doc), "--json", url=server.url)
    took = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""  # nothing reported as queued
    assert "broker unavailable after 5 retries" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.password not in result.stderr
    assert took > 2  # it retried before giving up


def test_producer_reports_exactly_what_the_broker_took_when_redis_dies(
    persistent_redis: RedisServer, tmp_path: Path
) -> None:
    url = persistent_redis.url
    folder = write(corpus(3000, seed=3, duplicates=0, bad=0), tmp_path / "in")
    producer = (
        Child(
            [sys.executable, "-m", "worker", "enqueue", str(folder), "--json"],
            env_for(url, INGEST_BATCH_SIZE="5"),
            name="producer",
            pipe_stdout=True,
            pipe_stderr=True,
            text=True,
        )
        .start()
        .popen
    )
    store = Store.from_url(url, Settings(redis_url=url, namespace="test"))
    wait_until(lambda: store.stats()["enqueued"] >= 100, timeout=60, what="some batches queued")
    persistent_redis.kill()
    out, errors = producer.communicate(timeout=120)
    assert producer.returncode == 1
    assert "unavailable" in errors  # the broker or the store, whichever the kill hit first
    reported = {line.split('"input_id":"')[1].split('"')[0] for line in out.splitlines()}
    assert 100 <= len(reported) < 3000
    revived = restart(persistent_redis)
    persistent_redis.process = revived.process
    queued = set()
    for raw in store.client.lrange("ingest", 0, -1):
        queued |= {m["input_id"] for m in task_messages(raw)}
    assert reported <= queued  # nothing reported that is not in the queue
    assert len(queued - reported) <= 5  # at most the one batch in flight at the kill


def task_messages(raw: bytes) -> list[dict[str, str]]:
    """The envelopes inside one kombu message of the Redis queue list."""
    import base64

    import orjson

    message = orjson.loads(raw)
    args, _, _ = orjson.loads(base64.b64decode(message["body"]))
    return list(args[0])


def test_same_document_from_concurrent_producers_is_one_record(
    redis_url: str, store: Store, tmp_path: Path, worker_proc: WorkerProcess
) -> None:
    doc = tmp_path / "same.txt"
    doc.write_bytes(seed_bytes("Everyone sends this", "Four producers, one record."))
    producers = [
        Child(
            [sys.executable, "-m", "worker", "enqueue", str(doc), str(doc), str(doc)],
            env_for(redis_url, INGEST_BATCH_SIZE="1"),
            name="producer",
        )
        .start()
        .popen
        for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in producers] == [0] * 4
    wait_until(lambda: store.stats()["enqueued"] == 12 and drained(store), timeout=60, what="12")
    stats = store.stats()
    assert (stats["records"], stats["duplicates"], stats["record_events"]) == (1, 11, 1)
    events = store.client.xrange(store.keys.record_events)
    assert [f[b"event"] for _, f in events] == [b"created"]
