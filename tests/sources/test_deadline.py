"""The whole-fetch deadline: a watchdog that wakes blocked reads, a bounded lookup."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.support.waits import wait_until
from worker.sources.deadline import Deadline, Watchdog, call_with_timeout


def test_deadline_counts_down() -> None:
    deadline = Deadline(30)
    assert 29 < deadline.remaining() <= 30
    assert not deadline.expired
    assert Deadline(0).expired
    assert Deadline(-5).remaining() == 0


def test_the_watchdog_wakes_a_blocked_read() -> None:
    left, right = socket.socketpair()
    with left, right:
        watchdog = Watchdog(Deadline(0.3))
        watchdog.watch(left)
        started = time.monotonic()
        assert left.recv(10) == b""  # nothing was ever sent: only the shutdown ends this
        assert 0.2 < time.monotonic() - started < 10
        assert watchdog.fired


def test_a_socket_swapped_in_after_firing_is_woken_too() -> None:
    first, peer1 = socket.socketpair()
    second, peer2 = socket.socketpair()
    with first, peer1, second, peer2:
        watchdog = Watchdog(Deadline(0.05))
        watchdog.watch(first)
        wait_until(lambda: watchdog.fired, timeout=10, what="the watchdog to fire")
        watchdog.watch(second)  # e.g. the TLS socket that replaced the plain one
        assert second.recv(10) == b""


def test_a_cancelled_watchdog_leaves_the_socket_alone() -> None:
    left, right = socket.socketpair()
    with left, right:
        watchdog = Watchdog(Deadline(0.05))
        watchdog.watch(left)
        watchdog.cancel()
        time.sleep(0.2)  # the point: well past the cancelled 0.05 s deadline, it never fires
        right.sendall(b"still open")
        assert left.recv(10) == b"still open"
        assert not watchdog.fired


def test_call_with_timeout_returns_and_raises() -> None:
    assert call_with_timeout(lambda: 42, 5) == 42
    with pytest.raises(KeyError):
        call_with_timeout(lambda: {}["missing"], 5)


def test_call_with_timeout_gives_up_on_a_hanging_call() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        call_with_timeout(lambda: release.wait(30), 0.2)
    assert time.monotonic() - started < 10
    release.set()
