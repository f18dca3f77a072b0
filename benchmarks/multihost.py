"""Several worker "hosts" on one machine: N solo workers, a separate broker, Redis as store.

    python benchmarks/multihost.py FOLDER WORKERS amqp   # RabbitMQ on 127.0.0.1:5672
    python benchmarks/multihost.py FOLDER WORKERS redis  # the store's Redis as broker

Runs `ingest enqueue FOLDER` against them and prints docs/s, CPU per document, the Redis
commands per document (``INFO commandstats``, commands inside Lua included) and the Redis
bytes per record. The figures of docs/scaling.md come from it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phases

from worker.storage.store import Store

AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def main() -> None:
    folder, count, broker = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    total = sum(1 for _ in folder.iterdir())
    with phases.fresh_redis() as server:
        env = phases.child_env(server.url)
        env["INGEST_QUEUE"] = f"multihost-{uuid.uuid4().hex[:8]}"  # never a shared queue
        if broker == "amqp":
            env["INGEST_BROKER_URL"] = AMQP
        worker = [sys.executable, "-m", "worker", "worker", "--pool", "solo", *phases.QUIET_WORKER]
        commands = [[*worker, "-n", f"host{i}@%h"] for i in range(count)]
        workers = phases.Workers.start(commands, env, phases.ROOT)
        store = Store.from_url(server.url, phases.bench_settings(server.url))
        try:
            store.client.config_resetstat()
            before = phases.memory_used(store)
            meter = phases.CpuMeter(workers.pids(), phases.server_pid(server))
            meter.begin()
            opened = phases.FirstOpen(folder)
            enqueue = [sys.executable, "-m", "worker", "enqueue", str(folder)]
            proc = subprocess.Popen(enqueue, env=env, cwd=phases.ROOT, stderr=subprocess.DEVNULL)
            os.wait4(proc.pid, 0)
            proc.returncode = 0
            t0 = opened.moment()
            done = phases.wait_outcomes(store, total)
            used = meter.end(total)
            calls = store.client.info("commandstats")
            memory = (phases.memory_used(store) - before) / total
        finally:
            workers.stop()
    per_doc = {k.removeprefix("cmdstat_"): v["calls"] / total for k, v in calls.items()}
    print(f"{broker} broker, {count} solo workers, {total} documents: {total / (done - t0):.0f}/s")
    print(f"CPU µs per document (workers, Redis): {used['workers']}, {used['redis']}")
    print(f"Redis commands per document: {sum(per_doc.values()):.1f}")
    print(", ".join(f"{k} {v:.2f}" for k, v in sorted(per_doc.items(), key=lambda kv: -kv[1])))
    print(f"Redis bytes per record: {memory:.0f}")


if __name__ == "__main__":
    main()
