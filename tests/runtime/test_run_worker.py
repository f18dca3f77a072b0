"""The worker of ``ingest run``: started before the store, attached to it, stopped quickly."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis

from tests.support.helpers import env_for, seed_bytes
from worker.core.errors import RunInterrupted
from worker.core.settings import Settings
from worker.core.signals import interrupting
from worker.queue.app import make_app
from worker.queue.inputs import InputRef
from worker.queue.producer import publish
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


def test_a_stop_signal_during_a_drain_loses_no_popped_marker(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal lands after the markers left the store: they are counted, then it stops."""
    run_id = new_run_id()
    store.replies.mark_done(run_id, [("a", 1), ("b", 1)])
    take = store.replies.take

    def take_then_signal(run: str, block: float) -> list[dict[str, object]]:
        items = take(run, block)
        signal.raise_signal(signal.SIGTERM)
        return items

    monkeypatch.setattr(store.replies, "take", take_then_signal)
    collector = Collector(store, run_id)
    with pytest.raises(RunInterrupted), interrupting():
        collector.drain(block=0)
    assert collector.done == {"a", "b"}
    monkeypatch.undo()
    assert collector.left(["a", "b", "c"]) == 1
