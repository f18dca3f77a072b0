"""Chaos run: ingest documents while killing workers at random and restarting Redis once.

    python -m tests.soak.chaos [--docs 10000] [--seed 7] [--visibility 20]

Starts its own persistent Redis (AOF) on a free port and two real Celery workers, enqueues
a generated corpus (new documents, copies, bad ones: every outcome known in advance) 250
documents at a time, and meanwhile, at random intervals from a fixed seed, SIGKILLs a
pool child or a whole worker (restarted a moment later) and once SIGKILLs Redis and
starts it again on the same data.
When every input has an outcome it checks them all (tests.support.audit) and prints ``lost``,
``duplicated``, ``records``, ``rejections``, the time taken and, per fault, how long until
every batch in flight at that moment (delivered, not acknowledged) was stored. Exits 1
if anything was lost, doubled or unexpected.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from tests.support.audit import Audit, audit
from tests.support.corpus import Corpus, corpus, enqueue_folder
from tests.support.helpers import WorkerProcess, suite_binary
from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer, free_port
from worker.storage.store import Store


@dataclass
class Event:
    """One fault injected, and how long until the work in flight at that moment was stored."""

    kind: str
    at: float
    inflight: set[str]
    killed_at: float
    decided: int
    recovered_after: float | None = None


class Chaos:
    """The run: its Redis, its workers, and the faults it injects."""

    def __init__(self, folder: Path, visibility: int, rng: random.Random) -> None:
        self.folder, self.visibility, self.rng = folder, visibility, rng
        self.redis = RedisServer(
            folder / "redis", persist=True, binary=suite_binary(), port=free_port()
        ).start()
        self.store = Store.from_url(
            self.redis.url, Settings(redis_url=self.redis.url, namespace="test")
        )
        self.workers: list[WorkerProcess] = []
        self.events: list[Event] = []
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def worker(self) -> WorkerProcess:
        return WorkerProcess(
            self.redis.url, concurrency=2, INGEST_VISIBILITY_TIMEOUT=str(self.visibility)
        ).start()

    def decided(self) -> int:
        """Inputs with an outcome so far (0 while Redis is down)."""
        try:
            stats = self.store.stats()
        except Exception:
            return 0
        return sum(stats[n] for n in ("records", "updates", "duplicates", "rejections"))

    def kill_child(self) -> str:
        worker = self.rng.choice(self.workers)
        children = worker.children()
        if not children:
            return "none"
        os.kill(self.rng.choice(children), signal.SIGKILL)
        return "pool child"

    def kill_worker(self) -> str:
        index = self.rng.randrange(len(self.workers))
        self.workers[index].kill()
        time.sleep(self.rng.uniform(0.5, 2))
        self.workers[index] = self.worker()
        return "whole worker"

    def restart_redis(self) -> str:
        port, password, data = self.redis.port, self.redis.password, self.redis.data_dir
        with self.lock:
            self.redis.kill()
            time.sleep(2)
            self.redis = RedisServer(
                data, persist=True, binary=suite_binary(), password=password, port=port
            ).start()
        return "redis restart"

    def inflight(self) -> set[str]:
        """Batch ids delivered to a worker and not yet acknowledged."""
        try:
            raw = self.store.client.hvals("unacked")
        except Exception:
            return set()
        return {orjson.loads(value)[0]["headers"]["id"] for value in raw}

    def inject(self, kind: str) -> None:
        """Inject one fault; its recovery is measured by :meth:`follow`."""
        # batches still held up by an earlier fault are that fault's, not this one's
        earlier = {i for e in self.events if e.recovered_after is None for i in e.inflight}
        wait = time.monotonic() + 3  # strike mid-task when there is a task to strike
        while not (inflight := self.inflight() - earlier) and time.monotonic() < wait:
            time.sleep(0.005)
        at = time.monotonic()
        faults = {"child": self.kill_child, "worker": self.kill_worker, "redis": self.restart_redis}
        label = faults[kind]()
        event = Event(label, at - self.started, inflight, at, self.decided())
        if not inflight:
            event.recovered_after = 0.0
        self.events.append(event)

    def follow(self) -> None:
        """Note when each fault's in-flight batches have all left the ledger (are stored)."""
        for event in self.events:
            if event.recovered_after is not None:
                continue
            try:
                pending = self.store.client.zmscore(self.store.keys.pending, [*event.inflight])
            except Exception:
                continue
            if all(score is None for score in pending):
                event.recovered_after = time.monotonic() - event.killed_at

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.redis.stop()


class Producer(threading.Thread):
    """Enqueues the corpus a chunk at a time, so that faults meet a steady flow of work."""

    def __init__(self, chaos: Chaos, docs: Corpus, chunk: int, pace: float) -> None:
        super().__init__(daemon=True)
        self.chaos, self.docs, self.chunk, self.pace = chaos, docs, chunk, pace
        self.input_ids: list[str] = []

    def run(self) -> None:
        names = list(self.docs.docs)
        for start in range(0, len(names), self.chunk):
            folder = self.chaos.folder / "in" / f"{start:06}"
            folder.mkdir(parents=True)
            for name in names[start : start + self.chunk]:
                (folder / name).write_bytes(self.docs.docs[name])
            with self.chaos.lock:  # not while Redis is being restarted
                report = enqueue_folder(self.chaos.redis.url, folder, batch_size=20)
            self.input_ids += report.input_ids
            time.sleep(self.pace)


def run(docs: Corpus, chaos: Chaos, timeout: float, pace: float) -> tuple[Audit, float]:
    """Enqueue at a steady pace, inject faults until done, then audit every input."""
    total = len(docs.docs)
    chaos.started = time.monotonic()
    chaos.workers = [chaos.worker(), chaos.worker()]
    producer = Producer(chaos, docs, chunk=250, pace=pace)
    producer.start()
    redis_at = total * chaos.rng.uniform(0.3, 0.6)
    redis_done = False
    deadline = chaos.started + timeout
    while chaos.decided() < total and time.monotonic() < deadline:
        pause = time.monotonic() + chaos.rng.uniform(0.5, 2.0)
        while time.monotonic() < pause:
            chaos.follow()
            time.sleep(0.05)
        if chaos.decided() >= total:
            break
        if not redis_done and chaos.decided() >= redis_at:
            chaos.inject("redis")
            redis_done = True
        else:
            chaos.inject(chaos.rng.choice(["child", "child", "worker"]))
    producer.join()
    while time.monotonic() < deadline:
        chaos.follow()
        recovered = all(e.recovered_after is not None for e in chaos.events)
        if recovered and not audit(chaos.store, producer.input_ids).missing:
            break
        time.sleep(0.5)
    took = time.monotonic() - chaos.started
    return audit(chaos.store, producer.input_ids), took


def check(result: Audit, docs: Corpus) -> list[str]:
    """What differs from the outcomes the corpus must produce."""
    problems = []
    if result.by_outcome() != docs.expected:
        problems.append(f"outcomes {dict(result.by_outcome())} != {dict(docs.expected)}")
    if result.reasons() != docs.reasons:
        problems.append(f"reasons {dict(result.reasons())} != {dict(docs.reasons)}")
    return problems


def recovery_line(kind: str, events: list[Event]) -> str:
    """How many faults of a kind, how many hit work in flight, and their recovery times."""
    hits = sorted(e.recovered_after for e in events if e.inflight and e.recovered_after is not None)
    if not hits:
        return f"{kind}: {len(events)} faults, none with work in flight"
    median = statistics.median(hits)
    return (
        f"{kind}: {len(events)} faults, {len(hits)} with work in flight; work stored "
        f"{min(hits):.1f}s / {median:.1f}s / {max(hits):.1f}s (min / median / max) after it"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--visibility", type=int, default=20, help="visibility timeout, s")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between 250 docs")
    args = parser.parse_args()
    docs = corpus(args.docs, seed=args.seed, words=(300, 600))  # about 3 KB each
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        chaos = Chaos(Path(tmp), args.visibility, rng)
        try:
            result, took = run(docs, chaos, args.timeout, args.pace)
        finally:
            chaos.stop()
    problems = check(result, docs)
    summary = result.summary() | {"seconds": round(took, 1), "unexpected": problems}
    for event in chaos.events:
        took_ = f"{event.recovered_after:.1f}s" if event.recovered_after is not None else "never"
        print(
            f"{event.at:7.1f}s  {event.decided:6} done  {event.kind:14} "
            f"{len(event.inflight):3} batches in flight, "
            f"all stored {took_} after the kill"
        )
    for kind in ("pool child", "whole worker", "redis restart"):
        print(recovery_line(kind, [e for e in chaos.events if e.kind == kind]))
    print(
        f"lost {result.lost}, duplicated {result.duplicated}, records {result.records}, "
        f"rejections {result.rejections}, duplicates {result.by_outcome()['duplicate']}, "
        f"inputs {result.inputs}, time {took:.1f}s"
    )
    events = [
        {"kind": e.kind, "at": round(e.at, 1), "inflight": len(e.inflight)}
        | {"recovered_after": e.recovered_after and round(e.recovered_after, 1)}
        for e in chaos.events
    ]
    print(orjson.dumps(summary | {"events": events}).decode())
    return 1 if result.lost or result.duplicated or problems else 0


if __name__ == "__main__":
    sys.exit(main())
