"""The measured phases of the benchmark, each on a fresh private Redis and fresh workers.

* ``baseline``: the project's own read + parse + normalise + validate + enrich + store code
  in a plain loop, two processes, one pipelined commit per batch. No queue: the limit.
* ``bare`` (``baseline(enrich=False)``): the same loop without the enrichment: read,
  normalise, store; what the user's path is held against.
* ``pipeline``: the ``ingest enqueue`` code path (called in-process: interpreter start-up
  is not counted) and real ``ingest worker`` processes, first enqueue to last outcome.
* ``naive``: one Celery task per document with Celery's default settings.
* ``latency``: single documents enqueued one after another on idle workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings, load_settings
from worker.pipeline import process as pipeline
from worker.queue.allocator import keep_freed_memory
from worker.queue.app import default_concurrency, make_app
from worker.queue.inputs import InputRef, expand, expand_feeds, message_for
from worker.queue.pacing import pacer_for
from worker.queue.producer import publish
from worker.read.client import IngestClient
from worker.runtime.embedded import RedisServer
from worker.storage.store import Store
from worker.text.language import model

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
NAMESPACE = "bench"
TICK = os.sysconf("SC_CLK_TCK")
OUTCOMES = ("records", "updates", "duplicates", "rejections")
QUIET = "ignore:You're running the worker with superuser privileges"
QUIET_WORKER = ("--loglevel", "INFO", "--without-gossip", "--without-mingle")
# How the `ingest worker` processes are started. "prefork" is `ingest worker` with its
# defaults (one process per CPU and one more, below one parent): what docs/performance.md
# recommends.
DEPLOYMENTS = {
    "solo": lambda cores: [["--pool", "solo"]] * cores,
    "prefork": lambda cores: [
        ["--pool", "prefork", "--concurrency", str(default_concurrency(cores))]
    ],
    "threads": lambda cores: [["--pool", "threads", "--concurrency", str(cores)]],
}


def envelope_for(ref: InputRef, settings: Settings) -> Envelope:
    """The envelope the producer would send for ``ref``: read (capped), with a fresh id."""
    message, data = message_for(ref, settings, None)
    return Envelope.model_validate({**message, "data": data})


def bench_settings(url: str) -> Settings:
    return load_settings(redis_url=url, namespace=NAMESPACE)


def child_env(url: str) -> dict[str, str]:
    """Our environment without INGEST_* settings, pointed at the benchmark's Redis.

    ``INGEST_NEARDUP`` is kept, so that ``INGEST_NEARDUP=false ./dev bench`` measures every
    path without the near-duplicate index (the baseline reads it too).
    """
    keep = ("INGEST_NEARDUP", "INGEST_ENRICH")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_") or k in keep}
    env.update({"INGEST_REDIS_URL": url, "INGEST_NAMESPACE": NAMESPACE, "PYTHONWARNINGS": QUIET})
    return env


# Redis's own defaults for what the embedded server's config tunes (serverproc.py), so
# that memory is measured as on a user's stock server; ``pipeline.py --tuned`` keeps them.
STOCK = {"hash-max-listpack-entries": "128", "hash-max-listpack-value": "64"}
TUNED = False


@contextlib.contextmanager
def fresh_redis() -> Iterator[RedisServer]:
    """A private, non-persistent redis-server for one phase, configured as a stock one."""
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        server = RedisServer(Path(tmp), persist=False).start()
        if not TUNED:
            client = redis.Redis.from_url(server.url)
            for name, value in STOCK.items():
                client.config_set(name, value)
            client.close()
        try:
            yield server
        finally:
            server.stop()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a prefork worker's pool children)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids += process_tree(int(child))
    return pids


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time consumed so far by the live processes ``pids``."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


@dataclass
class CpuMeter:
    """CPU seconds of this process (the producer), some other processes and Redis."""

    others: list[int]
    redis: int
    start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def read(self) -> tuple[float, float, float]:
        return time.process_time(), cpu_seconds(self.others), cpu_seconds([self.redis])

    def begin(self) -> None:
        self.start = self.read()

    def end(self, docs: int) -> dict[str, float]:
        """CPU microseconds per document, by part and in total."""
        parts = [(b - a) / docs * 1e6 for a, b in zip(self.start, self.read(), strict=True)]
        names = ("producer", "workers", "redis")
        out = {n: round(v, 1) for n, v in zip(names, parts, strict=True)}
        out["total"] = round(sum(parts), 1)
        return out


@dataclass
class Workers:
    """Worker processes started for one phase; stopped (warm shutdown) at its end."""

    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]

    @classmethod
    def start(
        cls,
        commands: list[list[str]],
        env: dict[str, str],
        cwd: Path,
        ready: Callable[[], bool] | None = None,
    ) -> Workers:
        """Start the workers; ready when each logged "ready." (or when ``ready()`` says so)."""
        logdir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        procs, logs = [], []
        for i, cmd in enumerate(commands):
            logs.append(logdir / f"worker-{i}.log")
            with logs[-1].open("wb") as log:
                procs.append(
                    subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
                )
        workers = cls(procs, logs)
        workers.wait_ready(ready or workers.logged_ready)
        return workers

    def logged_ready(self) -> bool:
        return all(b"ready." in log.read_bytes() for log in self.logs)

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("workers did not start: " + self.logs[0].read_text()[-2000:])
            time.sleep(0.05)

    def pids(self) -> list[int]:
        """Every worker process, pool children included."""
        return [pid for p in self.procs for pid in process_tree(p.pid)]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def ingest_workers(
    url: str, deployment: str, cores: int, env: dict[str, str] | None = None
) -> Workers:
    """``ingest worker`` processes as docs/performance.md recommends deploying them."""
    commands = [
        [sys.executable, "-m", "worker", "worker", "-n", f"bench{i}@%h", *args, *QUIET_WORKER]
        for i, args in enumerate(DEPLOYMENTS[deployment](cores))
    ]
    return Workers.start(commands, {**child_env(url), **(env or {})}, ROOT)


def outcomes(store: Store) -> int:
    """Inputs with an outcome so far (the live counters)."""
    return sum(int(c or 0) for c in store.client.hmget(store.keys.stats, list(OUTCOMES)))


def wait_outcomes(store: Store, total: int, timeout: float = 3600) -> float:
    """Poll the live counters until ``total`` inputs have an outcome; returns the time then."""
    deadline = time.monotonic() + timeout
    while True:
        done = outcomes(store)
        if done >= total:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {done} of {total}")
        time.sleep(0.005)


WARM_UP = b"date 2024-01-01 Warm-up document\n\nIt warms the producer and one worker.\n"


# -- baseline -------------------------------------------------------------------------


def _baseline_part(
    url: str, paths: Sequence[Path], go: Event, cpu: Queue[float], enrich: bool
) -> None:
    settings = bench_settings(url)
    store = Store.from_url(url, settings)
    store.client.ping()
    model()  # loaded before the clock starts, as a worker does before its pool forks
    keep_freed_memory()  # and the allocator's thresholds, as its Preload step sets them
    go.wait()
    t0 = time.process_time()
    for start in range(0, len(paths), settings.batch_size):
        items = []
        for path in paths[start : start + settings.batch_size]:
            ref = InputRef(source=path.name, kind=InputKind.SEED, path=path)
            items += pipeline.prepare(envelope_for(ref, settings), settings)
        # The same work per record as a worker: language, paragraph hashes, clusters.
        store.commit(pipeline.enriched_all(items, settings) if enrich else items)
    cpu.put(time.process_time() - t0)


def baseline(folder: Path, cores: int, enrich: bool = True) -> dict[str, Any]:
    """The no-queue limit: ``cores`` processes each storing its share in pipelined batches.

    ``enrich=False``: the bare loop, records stored as prepared (no NLP fields, no index).
    """
    paths = sorted(folder.iterdir())
    with fresh_redis() as server:
        url = server.url
        ctx = multiprocessing.get_context("fork")
        go, cpu = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_baseline_part, args=(url, paths[i::cores], go, cpu, enrich))
            for i in range(cores)
        ]
        for p in procs:
            p.start()
        time.sleep(0.5)  # let them connect: start-up is not part of the work
        meter = CpuMeter([], server_pid(server))
        meter.begin()
        t0 = time.perf_counter()
        go.set()
        work = sum(cpu.get() for _ in procs)
        elapsed = time.perf_counter() - t0
        used = meter.end(len(paths))
        for p in procs:
            p.join()
        store = Store.from_url(url, bench_settings(url))
        done = sum(int(c or 0) for c in store.client.hmget(store.keys.stats, list(OUTCOMES)))
    assert done == len(paths), f"baseline stored {done} of {len(paths)}"
    used["workers"] = round(work / len(paths) * 1e6, 1)
    used["total"] = round(used["workers"] + used["redis"], 1)
    used.pop("producer")
    return {"docs": len(paths), "seconds": elapsed, "cpu_us": used}


def server_pid(server: RedisServer) -> int:
    assert server.process is not None
    return server.process.pid


# -- the real pipeline ------------------------------------------------------------------


@dataclass
class Deployment:
    """A fresh Redis with ``ingest worker`` processes on it, and a producer-side app."""

    server: RedisServer
    workers: Workers
    app: Celery


@contextlib.contextmanager
def deployed(
    deployment: str, cores: int, env: dict[str, str] | None = None
) -> Iterator[tuple[Deployment, Store]]:
    with fresh_redis() as server:
        settings = bench_settings(server.url)
        workers = ingest_workers(server.url, deployment, cores, env)
        try:
            app = make_app(settings, server.url)
            store = Store.from_url(server.url, settings)
            with tempfile.TemporaryDirectory() as tmp:  # first connections, declarations, task
                (Path(tmp) / "warm-up.txt").write_bytes(WARM_UP)
                publish(app, store, expand([tmp], _no_report()), settings)
                wait_outcomes(store, 1)
            yield Deployment(server, workers, app), store
        finally:
            workers.stop()


def run_pipeline(folder: Path, deployment: str, cores: int) -> dict[str, Any]:
    """Enqueue the folder and let real workers process it; memory is measured after."""
    total = sum(1 for _ in folder.iterdir())
    with deployed(deployment, cores) as (d, store):
        before = memory_used(store)
        meter = CpuMeter(d.workers.pids(), server_pid(d.server))
        meter.begin()
        t0 = time.perf_counter()
        refs = expand([str(folder)], _no_report())
        pacer = pacer_for(store.settings, d.server.url)  # as `ingest enqueue` paces itself
        report = publish(d.app, store, refs, store.settings, pacer=pacer)
        enqueued = time.perf_counter()
        done = wait_outcomes(store, total + 1)  # and the warm-up document
        used = meter.end(total)
        time.sleep(0.5)  # let the workers ack and the broker forget the messages
        memory = memory_report(store, before)
    return {
        "docs": total,
        "seconds": done - t0,
        "enqueue_seconds": enqueued - t0,
        "tasks": report.batches,
        "cpu_us": used,
        "memory": memory,
    }


def _no_report() -> Any:
    from worker.queue.inputs import EnqueueReport

    return EnqueueReport()


def memory_used(store: Store) -> int:
    return int(store.client.info("memory")["used_memory"])


def first(n: int, items: Iterable[Any]) -> list[Any]:
    return list(itertools.islice(items, n))


def memory_report(store: Store, before: int) -> dict[str, Any]:
    """Redis bytes per record (whole-server delta) against the normalised text it holds.

    ``key_bytes`` breaks a record's cost down by key kind (``MEMORY USAGE``, shared
    keys divided by the records in them).
    """
    client, keys = store.client, store.keys
    records = int(client.hget(keys.stats, "records") or 0)
    sample = first(500, client.scan_iter(f"{keys.record_prefix}*", 1000))
    ids = [k.decode().removeprefix(keys.record_prefix) for k in sample]
    reader = IngestClient(client, keys.ns)
    texts = [r.text for r in (reader.get(i) for i in ids) if r is not None]
    text_bytes = sum(len(t.encode()) for t in texts) / max(len(texts), 1)
    json_bytes = sum(int(client.strlen(k)) for k in sample) / max(len(sample), 1)
    delta = memory_used(store) - before
    per_record = delta / max(records, 1)
    return {
        "records": records,
        "record_json_bytes": round(json_bytes),
        "text_bytes": round(text_bytes),
        "redis_bytes_per_record": round(per_record),
        "ratio": round(per_record / max(json_bytes, 1), 3),
        "text_ratio": round(per_record / max(text_bytes, 1), 3),
        "key_bytes": key_bytes(store, records),
    }


def key_bytes(store: Store, records: int) -> dict[str, int]:
    """``MEMORY USAGE`` per record, by kind of key (a sample of the per-record keys)."""
    client, keys, out = store.client, store.keys, {}
    for kind, pattern in (
        ("record", "record:*"),
        ("outcome", "input:*"),
        ("source", "idx:source:*"),
    ):
        found = first(500, client.scan_iter(f"{NAMESPACE}:{pattern}", 1000))
        out[kind] = round(sum(client.memory_usage(k) or 0 for k in found) / max(len(found), 1))
    for kind, key in (
        ("published", keys.by_published),
        ("sources", keys.sources),
        ("content_hash", keys.by_content_hash),
        ("stream", keys.record_events),
    ):
        out[kind] = round((client.memory_usage(key, samples=0) or 0) / max(records, 1))
    return out


# -- naive Celery -------------------------------------------------------------------------


def consuming(url: str) -> bool:
    """Whether some client of the Redis at ``url`` waits in BRPOP: a consumer is ready."""
    clients = redis.Redis.from_url(url).client_list()
    return any(c.get("cmd") in ("brpop", "blpop") for c in clients)


def naive(folder: Path) -> dict[str, Any]:
    """One task per document, Celery defaults, the project's pipeline doing the work."""
    paths = sorted(folder.iterdir())
    with fresh_redis() as server:
        url = server.url
        env = child_env(url)
        # Celery's default log level (WARNING) too: readiness is its consumer waiting in BRPOP.
        cmd = [sys.executable, "-m", "celery", "-A", "naive_celery", "worker"]
        workers = Workers.start([cmd], env, HERE, ready=lambda: consuming(url))
        try:
            client = Celery("naive", broker=url)  # explicit: never Celery's default broker
            settings = bench_settings(url)
            store = Store.from_url(url, settings)
            warm_up = Envelope(input_id="warm-up", kind=InputKind.SEED, source="w", data=WARM_UP)
            client.send_task("naive.process_one", args=[warm_up.model_dump(mode="json")])
            wait_outcomes(store, 1)
            meter = CpuMeter(workers.pids(), server_pid(server))
            meter.begin()
            t0 = time.perf_counter()
            for path in paths:
                ref = InputRef(source=path.name, kind=InputKind.SEED, path=path)
                message = envelope_for(ref, settings).model_dump(mode="json", exclude_none=True)
                client.send_task("naive.process_one", args=[message])
            done = wait_outcomes(store, len(paths) + 1)
            used = meter.end(len(paths))
        finally:
            workers.stop()
    return {"docs": len(paths), "seconds": done - t0, "cpu_us": used}


# -- feeds ------------------------------------------------------------------------------


def feed(tmp: Path, deployment: str, cores: int, entries: int) -> dict[str, Any]:
    """A feed file of ``entries`` items (feeds_parse.py's), enqueue to last entry stored."""
    from feeds_parse import generated_feed  # type: ignore[import-not-found]

    path = tmp / f"feed-{entries}.xml"
    path.write_bytes(generated_feed(entries))
    with deployed(deployment, cores) as (d, store):
        meter = CpuMeter(d.workers.pids(), server_pid(d.server))
        meter.begin()
        t0 = time.perf_counter()
        publish(d.app, store, expand_feeds([str(path)]), store.settings)
        done = wait_outcomes(store, entries + 1)  # and the warm-up document
        used = meter.end(entries)
        records = int(store.client.hget(store.keys.stats, "records") or 0) - 1
    assert records == entries, f"{records} records from {entries} entries"
    seconds = done - t0
    rate = round(entries / seconds)
    return {"entries": entries, "seconds": seconds, "entries_per_s": rate, "cpu_us": used}


# -- latency ----------------------------------------------------------------------------


def latency(folder: Path, deployment: str, cores: int, count: int) -> dict[str, Any]:
    """Enqueue → record stored, for single documents on idle workers, one at a time."""
    paths = sorted(folder.iterdir())[:count]
    with deployed(deployment, cores) as (d, store):
        run_id = uuid.uuid4().hex
        reply = store.keys.reply(run_id)
        samples = []
        for path in paths:
            ref = InputRef(source=path.name, kind=InputKind.SEED, path=path)
            t0 = time.perf_counter()
            publish(d.app, store, [ref], store.settings, reply_to=run_id)
            if store.client.blpop([reply], timeout=30) is None:  # the outcome: record stored
                raise RuntimeError(f"no outcome for {path.name} within 30 s")
            samples.append(time.perf_counter() - t0)
            store.client.blpop([reply], timeout=30)  # the input's done marker
            time.sleep(0.01)  # idle between documents
    samples.sort()
    return {
        "count": len(samples),
        "p50_ms": round(samples[len(samples) // 2] * 1000, 1),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 1),
        "max_ms": round(samples[-1] * 1000, 1),
    }


# -- the user's path: `ingest enqueue DIR` as its own process ---------------------------


IN_OPEN, IN_ISDIR = 0x20, 0x40000000


class FirstOpen:
    """The moment some process first opens a file of ``folder``: inotify, from a thread.

    The user's path is timed from the producer's first read, as the baseline is: the
    interpreter's start-up and imports before it are not part of the work.
    """

    def __init__(self, folder: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init()
        if self.fd < 0 or libc.inotify_add_watch(self.fd, str(folder).encode(), IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        self.at: float | None = None
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        while self.at is None:
            events = os.read(self.fd, 65536)
            offset = 0
            while offset < len(events):  # struct inotify_event: wd, mask, cookie, len, name
                _, mask, _, size = struct.unpack_from("iIII", events, offset)
                offset += 16 + size
                if mask & IN_OPEN and not mask & IN_ISDIR and size:
                    self.at = time.perf_counter()
                    break

    def moment(self) -> float:
        self.thread.join(timeout=60)
        os.close(self.fd)
        if self.at is None:
            raise RuntimeError("no file of the folder was opened")
        return self.at


class Peaks:
    """The most tasks waiting in the broker queue and the most Redis memory, sampled."""

    def __init__(self, store: Store, every: float = 0.05) -> None:
        self.store, self.every = store, every
        self.queued = self.memory = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        settings = self.store.settings
        client, queue = redis.Redis.from_url(settings.redis_url or ""), settings.queue
        while not self.stop.wait(self.every):
            self.queued = max(self.queued, int(client.llen(queue)))
            self.memory = max(self.memory, int(client.info("memory")["used_memory"]))

    def __enter__(self) -> Peaks:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def start_up_cpu(url: str, runs: int = 3) -> float:
    """CPU seconds of ``ingest enqueue`` on an empty folder (start-up, imports, exit)."""
    used = []
    with tempfile.TemporaryDirectory(prefix="bench-empty-") as empty:
        for _ in range(runs):
            proc, log = enqueue_command(Path(empty), url)
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = 0
            used.append(usage.ru_utime + usage.ru_stime)
            log.unlink()
    return sorted(used)[len(used) // 2]


def enqueue_command(folder: Path, url: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``ingest enqueue FOLDER`` against the benchmark's Redis; its output to a file."""
    log = Path(tempfile.mkstemp(prefix="bench-enqueue-", suffix=".log")[1])
    with log.open("wb") as out:
        cmd = [sys.executable, "-m", "worker", "enqueue", str(folder)]
        proc = subprocess.Popen(cmd, env=child_env(url), cwd=ROOT, stdout=out, stderr=out)
    return proc, log


def user_path(folder: Path, deployment: str, cores: int, enrich: bool = True) -> dict[str, Any]:
    """``ingest enqueue FOLDER`` (a separate process) with running ``ingest worker``s.

    Timed from the producer's first file opened (:class:`FirstOpen`) to the last outcome
    stored; the producer's CPU is its rusage less that of a run on an empty folder.
    ``enrich=False``: the workers run with ``INGEST_ENRICH=false``.
    """
    total = sum(1 for _ in folder.iterdir())
    env = None if enrich else {"INGEST_ENRICH": "false"}
    with deployed(deployment, cores, env) as (d, store):
        idle = start_up_cpu(d.server.url)
        before = memory_used(store)
        meter = CpuMeter(d.workers.pids(), server_pid(d.server))
        meter.begin()
        opened = FirstOpen(folder)
        with Peaks(store) as peaks:
            proc, log = enqueue_command(folder, d.server.url)
            _, status, usage = os.wait4(proc.pid, 0)
            t0 = opened.moment()
            enqueued = time.perf_counter()
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise RuntimeError("ingest enqueue failed: " + log.read_text()[-2000:])
            done = wait_outcomes(store, total + 1)  # and the warm-up document
        used = meter.end(total)
        producer = usage.ru_utime + usage.ru_stime - idle  # the work, not the start-up
        used["producer"] = round(producer / total * 1e6, 1)
        used["total"] = round(used["producer"] + used["workers"] + used["redis"], 1)
        time.sleep(0.5)  # let the workers ack and the broker forget the messages
        memory = memory_report(store, before)
        end_memory = memory_used(store) - before
        log.unlink()
    return {
        "docs": total,
        "seconds": done - t0,
        "enqueue_seconds": enqueued - t0,
        "peak_queued_tasks": peaks.queued,
        "peak_memory_mb": round((peaks.memory - before) / 1e6, 1),
        "end_memory_mb": round(end_memory / 1e6, 1),
        "start_up_cpu_seconds": idle,
        "cpu_us": used,
        "memory": memory,
    }


# -- commands -----------------------------------------------------------------------------


def timed(cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    """Median wall seconds of ``runs`` runs of ``cmd`` (each must succeed)."""
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=True)
        took.append(time.perf_counter() - t0)
    return sorted(took)[len(took) // 2]


def commands(folder: Path, runs: int = 5) -> dict[str, Any]:
    """Read commands on a running store against a redis-py ping; ``ingest run`` of one file.

    ``ingest run`` uses the embedded store (a fresh data folder), as a first-time user does.
    """
    with deployed("solo", 1) as (d, store):
        url, env = d.server.url, child_env(d.server.url)
        reader = IngestClient(store.client, store.keys.ns)
        [record_id] = [r.id for r in reader.records(limit=1)]  # the warm-up document's
        ingest = [sys.executable, "-m", "worker"]
        ping = f"import redis; redis.Redis.from_url({url!r}).ping()"
        out = {
            "ping": timed([sys.executable, "-c", ping], env, ROOT, runs),
            "stats": timed([*ingest, "stats", "--json"], env, ROOT, runs),
            "records list": timed([*ingest, "records", "list", "--limit", "20"], env, ROOT, runs),
            "records show": timed([*ingest, "records", "show", record_id], env, ROOT, runs),
        }
    embedded = {k: v for k, v in env.items() if not k.startswith("INGEST_")}
    document = sorted(folder.iterdir())[0]
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        shutil.copy(document, tmp)
        run = [*ingest, "run", str(Path(tmp) / document.name)]
        # An empty cache folder: the first run ever loads the language model from py3langid
        # and keeps its tables there (worker.text.langcache); the later runs read them.
        embedded["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        # Each run in a fresh folder: a fresh embedded store, started and stopped.
        took = []
        for i in range(runs + 1):
            (Path(tmp) / str(i)).mkdir()
            fresh = {**embedded, "INGEST_DATA_DIR": str(Path(tmp) / str(i) / "data")}
            took.append(timed(run, fresh, Path(tmp) / str(i), 1))
        out["ingest run (1 document, empty cache)"] = took[0]
        out["ingest run (1 document)"] = sorted(took[1:])[len(took[1:]) // 2]
    return {name: round(seconds, 3) for name, seconds in out.items()}
