"""Producer back-pressure: the queue stays bounded while workers run; no workers, no hang."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import WorkerProcess, ingest, seed_bytes, wait_until
from worker.core.settings import Settings
from worker.queue.pacing import Pacer
from worker.storage.brokerqueues import BrokerQueues
from worker.storage.store import Store


class Queue:
    """A queue whose depth follows a script, on a clock that moves only when we sleep."""

    def __init__(self, depths: list[int]) -> None:
        self.depths, self.now, self.looks = depths, 0.0, 0

    def depth(self) -> int:
        self.looks += 1
        return self.depths.pop(0) if len(self.depths) > 1 else self.depths[0]

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def pacer(self, limit: int = 5, stall: float = 1.0) -> Pacer:
        return Pacer(self.depth, limit, stall, sleep=self.sleep, clock=lambda: self.now)


def test_a_queue_under_the_limit_costs_one_look_and_no_wait() -> None:
    queue = Queue([5])
    pacer = queue.pacer(limit=5)
    pacer.wait()
    assert (queue.looks, queue.now, pacer.waited) == (1, 0.0, 0.0)


def test_waits_until_the_queue_is_down_to_the_limit() -> None:
    queue = Queue([9, 8, 7, 6, 5, 4])
    pacer = queue.pacer(limit=5)
    pacer.wait()
    assert queue.looks == 5  # 9, 8, 7, 6, then 5: at the limit, go
    assert pacer.waited == pytest.approx(queue.now)
    assert queue.now > 0
    assert not pacer.stalled


def test_a_slow_queue_that_still_moves_is_waited_for() -> None:
    # One task taken every 0.8 s of polling: slower than the producer, never stalled.
    depths = [d for d in range(12, 5, -1) for _ in range(8)] + [5]
    queue = Queue(depths)
    pacer = queue.pacer(limit=5, stall=1.0)
    pacer.wait()
    assert not pacer.stalled
    assert queue.now > 2.0


def test_a_queue_standing_still_stops_the_waiting_for_good() -> None:
    queue = Queue([7])
    pacer = queue.pacer(limit=5, stall=1.0)
    pacer.wait()
    assert pacer.stalled
    assert 1.0 < queue.now < 1.5
    looks, now = queue.looks, queue.now
    pacer.wait()  # the rest goes without waiting (and without looking)
    assert (queue.looks, queue.now) == (looks, now)


def test_limit_zero_never_looks() -> None:
    queue = Queue([1000])
    queue.pacer(limit=0).wait()
    assert queue.looks == 0


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i in range(12):
        (tmp_path / f"{i:02}.txt").write_bytes(seed_bytes(f"Story {i}", f"Paragraph {i}."))
    return tmp_path


PACED = {"INGEST_BATCH_SIZE": "1", "INGEST_MAX_QUEUED_BATCHES": "3"}


def test_enqueue_without_workers_waits_for_the_stall_then_queues_everything(
    redis_url: str, folder: Path, settings: Settings
) -> None:
    t0 = time.monotonic()
    result = ingest(
        "enqueue", str(folder), url=redis_url, INGEST_ENQUEUE_STALL_SECONDS="1", **PACED
    )
    took = time.monotonic() - t0
    assert result.returncode == 0, result.stderr[-2000:]
    assert "queued 12 inputs in 12 tasks" in result.stderr
    assert "no worker took a task from queue 'ingest' for 1 s" in result.stderr
    assert took >= 1.0
    assert BrokerQueues(redis_url).depth(settings.queue) == 12


@pytest.fixture
def depth_watch(redis_url: str, settings: Settings) -> Iterator[list[int]]:
    """The broker queue's depth, sampled every few milliseconds while the test runs."""
    seen: list[int] = []
    stop = threading.Event()
    broker = BrokerQueues(redis_url)

    def watch() -> None:
        while not stop.is_set():
            seen.append(broker.depth(settings.queue))
            time.sleep(0.002)  # the sampling interval of the watch, not a wait

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield seen
    stop.set()
    thread.join()


def test_enqueue_waits_for_a_late_worker_and_never_queues_past_the_bound(
    redis_url: str, folder: Path, store: Store, depth_watch: list[int]
) -> None:
    results: list[subprocess.CompletedProcess[str]] = []
    producer = threading.Thread(
        target=lambda: results.append(ingest("enqueue", str(folder), url=redis_url, **PACED))
    )
    producer.start()
    worker = WorkerProcess(redis_url, concurrency=1, pool="solo")
    try:
        wait_until(lambda: max(depth_watch, default=0) >= 4, timeout=30, what="a full queue")
        # The point: a while with a full queue and no worker, and the producer still waits.
        # Nothing to wait for: the condition is that something does not happen.
        time.sleep(0.5)
        assert producer.is_alive()  # held back by the full queue
        worker.start()
        producer.join(timeout=60)
        [result] = results
        assert result.returncode == 0, result.stderr[-2000:]
        assert "queued 12 inputs" in result.stderr
        assert "no worker took a task" not in result.stderr  # it waited for the worker
        wait_until(lambda: store.stats().get("records", 0) == 12, timeout=30, what="records")
    finally:
        producer.join()
        worker.stop()
    assert max(depth_watch) == 4  # the bound (3), and the one batch published after a look
