"""The worker of ``ingest run``: started before the store, attached to it, stopped quickly."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from tests.helpers import env_for, seed_bytes
from worker.core.settings import Settings
from worker.queue.app import make_app
from worker.queue.producer import InputRef, publish
from worker.runtime.run import Collector, LocalWorker, new_run_id, worker_options
from worker.storage.store import Store


def test_a_worker_never_attached_is_stopped_and_gone(redis_url: str) -> None:
    local = LocalWorker(env_for(redis_url)).start()
    local.stop()
    assert local.process is not None
    assert local.process.poll() is not None


def brpop_timeouts(url: str, seconds: float) -> list[str]:
    """The timeout argument of every BRPOP the server sees for ``seconds`` (MONITOR)."""
    found: list[str] = []
    deadline = time.monotonic() + seconds
    with redis.Redis.from_url(url).monitor() as monitor:
        for command in monitor.listen():
            words = str(command["command"]).split()
            if words and words[0] == "BRPOP":
                found.append(words[-1])
            if time.monotonic() > deadline:
                return found
    return found


def test_an_attached_worker_processes_the_run_and_polls_briefly(
    redis_url: str, settings: Settings, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_bytes(seed_bytes("Run worker", "Its paragraph."))
    run_id = new_run_id()
    local = LocalWorker(env_for(redis_url)).start()
    try:
        local.attach(redis_url, worker_options(settings, run_id, None, tasks=1))
        ref = InputRef(source="a.txt", kind="seed", path=tmp_path / "a.txt")  # type: ignore[arg-type]
        report = publish(make_app(settings, redis_url), store, [ref], settings, reply_to=run_id)
        collector = Collector(store, run_id)
        collector.wait(report.input_ids, local.alive, timeout=60)
        # It asks the broker every 0.1 s, not every second: a stop is noticed at once.
        assert set(brpop_timeouts(redis_url, 0.5)) == {"0.1"}
    finally:
        local.stop()
    assert [o.outcome.value for o in collector.ordered(report.input_ids)] == ["created"]
    assert local.process is not None
    assert local.process.returncode == 0
