"""Stop signals: `ingest run` stops what it started, and the counters stay exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.support.helpers import env_for, ingest, seed_bytes, wait_until
from tests.support.procs import Child
from worker.storage.store import Store

pytestmark = pytest.mark.slow


def seed_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        (folder / f"doc-{i:05d}.txt").write_bytes(seed_bytes(f"Story {i}", f"Body {i}."))
    return folder


def start_ingest(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "worker", *args]
    child = Child(argv, env, name="ingest", pipe_stdout=True, pipe_stderr=True, text=True)
    return child.start().popen


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def gone(pid: int) -> bool:
    """The process has exited (a zombie left to an init that does not reap counts too)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def embedded_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    return {**env, "INGEST_DATA_DIR": str(data), "INGEST_NAMESPACE": "test"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signalled_run_stops_its_worker_and_its_embedded_server(
    tmp_path: Path, sig: signal.Signals
) -> None:
    data = tmp_path / "data"
    folder = seed_folder(tmp_path / "in", 3000)
    env = embedded_env(data)
    run = start_ingest("run", str(folder), "--concurrency", "1", env=env)
    try:
        wait_until(lambda: (data / "server.json").exists(), timeout=30, what="embedded server")
        url = json.loads((data / "server.json").read_text())["url"]
        client = redis.Redis.from_url(url)
        wait_until(
            lambda: int(client.hget("test:stats", "records") or 0) > 0,
            timeout=60,
            what="the run under way",
        )
        started = children(run.pid)
        assert len(started) == 2  # its worker and its redis-server
        run.send_signal(sig)
        _, stderr = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 128 + sig, stderr
    assert f"interrupted by {sig.name}" in stderr
    assert all(gone(pid) for pid in started)
    left = int(stderr.split("; ")[1].split()[0])
    stats = ingest("stats", "--json", url=None, **{k: env[k] for k in env if "INGEST" in k})
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)
    assert counts["queued"] == left > 0
    assert counts["enqueued"] == counts["records"] + left


def test_a_stop_during_enqueue_leaves_the_counters_exact(redis_url: str, store: Store) -> None:
    """Publish one input per message and stop the producer at several moments."""
    # Enough inputs that the last stop (0.8 s after the first publish) still finds it
    # publishing on a fast server: 1,500 took 1.9 s on valkey 9.1.
    folder = seed_folder(Path(os.environ.get("TMPDIR", "/tmp")) / f"sig-{time.time_ns()}", 5000)
    env = env_for(redis_url, INGEST_BATCH_SIZE="1")
    printed = 0
    for delay in (0.0, 0.2, 0.4, 0.6, 0.8):
        enqueue = start_ingest("enqueue", "--json", str(folder), env=env)
        wait_until(
            lambda n=printed: store.client.llen("ingest") > n, timeout=60, what="publishing begun"
        )
        time.sleep(delay)
        enqueue.send_signal(signal.SIGTERM)
        stdout, stderr = enqueue.communicate(timeout=30)
        assert enqueue.returncode == 128 + signal.SIGTERM, stderr
        assert "interrupted by SIGTERM" in stderr
        # What it prints as queued is what it queued, as on success.
        lines = [json.loads(line) for line in stdout.splitlines()]
        assert {line["outcome"] for line in lines} == {"queued"}
        assert f"queued {len(lines)} inputs in {len(lines)} tasks" in stderr
        printed += len(lines)
        # Every message holds one input: what the broker holds is what was counted.
        assert store.client.llen("ingest") == store.stats()["enqueued"] == printed
    assert store.stats()["enqueued"] > 0
