"""worker.queue.heartbeat: a fork waits for the heartbeat's store I/O (OpenSSL's locks)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from worker.queue import heartbeat


# Python 3.12+ warns of any fork in a threaded process: the point of this test.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_fork_waits_for_a_heartbeat_in_progress() -> None:
    heartbeat.guard_forks()
    heartbeat.guard_forks()  # once per process, however many workers start
    holding, released_at = threading.Event(), []

    def beat_in_progress() -> None:
        with heartbeat._FORKING:
            holding.set()
            time.sleep(0.5)
            released_at.append(time.monotonic())

    thread = threading.Thread(target=beat_in_progress)
    thread.start()
    holding.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: the lock is free in it, as the heartbeat never ran here
        os._exit(0 if heartbeat._FORKING.acquire(timeout=1) else 1)
    forked_at = time.monotonic()
    thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert released_at
    assert forked_at >= released_at[0]  # the fork happened after the heartbeat's I/O
    assert heartbeat._FORKING.acquire(timeout=1)  # and the parent's lock is free again
    heartbeat._FORKING.release()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_heartbeat_stuck_on_its_store_delays_a_fork_by_the_bound_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A store paused (CLIENT PAUSE) or unreachable holds the heartbeat in a socket read: the
    # pool's fork goes on after FORK_WAIT, and the child gets a lock of its own.
    heartbeat.guard_forks()
    monkeypatch.setattr(heartbeat, "FORK_WAIT", 0.3)
    holding, done = threading.Event(), threading.Event()

    def stuck_beat() -> None:
        with heartbeat._FORKING:
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=stuck_beat)
    thread.start()
    holding.wait(5)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if heartbeat._FORKING.acquire(timeout=1) else 1)
    waited = time.monotonic() - started
    _, status = os.waitpid(pid, 0)
    done.set()
    thread.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert 0.25 <= waited < 5
    assert heartbeat._FORKING.acquire(timeout=1)  # the heartbeat's release left it free
    heartbeat._FORKING.release()
