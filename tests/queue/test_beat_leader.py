"""One beat schedules, however many run: real `celery -A worker beat` processes."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

from tests.support.helpers import env_for, wait_until
from tests.support.procs import Child
from worker.storage.lease import Lease
from worker.storage.store import Store

DUE = "Scheduler: Sending due task"
LEADS = "this beat leads"
STANDS_BY = "another beat leads"


def start_beat(redis_url: str, folder: Path, name: str) -> Child:
    argv = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO"]
    argv += ["--schedule", str(folder / f"{name}-schedule")]
    env = env_for(redis_url, INGEST_FEED_POLL_EVERY="0.5", INGEST_BEAT_LEASE="3")
    return Child(argv, env, name=name).start()


def test_two_beats_send_from_one_and_the_other_takes_over(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    first = start_beat(redis_url, tmp_path, "beat-a")
    wait_until(lambda: LEADS in first.output(), timeout=60, what="the first beat leads")
    second = start_beat(redis_url, tmp_path, "beat-b")
    try:
        wait_until(lambda: STANDS_BY in second.output(), timeout=60, what="the second stands by")
        sent = first.output().count(DUE)
        wait_until(lambda: first.output().count(DUE) >= sent + 4, timeout=60, what="more beats")
        assert second.output().count(DUE) == 0  # it scheduled nothing while the first led
        # The leader dies without a word: the lease runs out and the standby takes over.
        first.signal_group(signal.SIGKILL)
        first.wait(30)
        wait_until(lambda: LEADS in second.output(), timeout=30, what="the standby leads")
        wait_until(lambda: second.output().count(DUE) >= 2, timeout=30, what="its beats")
    finally:
        for beat, sig in ((first, signal.SIGKILL), (second, signal.SIGTERM)):
            with contextlib.suppress(ProcessLookupError):
                beat.signal_group(sig)
        second.wait(30)
    # A clean stop hands the lease back at once.
    assert Lease(store.client, store.keys.beat_leader, "nobody").holder() is None


def test_a_lease_is_held_by_one_owner_and_renewed_only_by_it(store: Store) -> None:
    a = Lease(store.client, store.keys.beat_leader, "a")
    b = Lease(store.client, store.keys.beat_leader, "b")
    assert a.hold(5)
    assert not b.hold(5)
    assert a.hold(5)  # renewed
    assert 4000 < store.client.pttl(store.keys.beat_leader) <= 5000
    b.release()  # not b's: nothing happens
    assert a.holder() == "a"
    a.release()
    assert b.hold(5)
    assert a.holder() == "b"
