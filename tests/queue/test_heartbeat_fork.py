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
