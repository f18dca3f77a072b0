"""One deadline for a whole fetch: name lookup, connect, TLS, headers and body together.

Socket timeouts bound a single read, so a server that drips a byte every half second would
never trip them. The :class:`Watchdog` shuts the socket down when the deadline passes, which
wakes any read blocked on it (plain or TLS); the fetcher then reports a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """A point in monotonic time by which a fetch must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at


def call_with_timeout(func: Callable[[], T], timeout: float) -> T:
    """Run ``func`` in a daemon thread; raise TimeoutError if it is not done in ``timeout``.

    For calls that take no timeout of their own (``getaddrinfo``). A late call finishes in
    the background and its result is dropped.
    """
    box: dict[str, T | BaseException] = {}

    def run() -> None:
        try:
            box["value"] = func()
        except BaseException as e:  # handed over to the caller's thread
            box["error"] = e

    thread = threading.Thread(target=run, name="fetch-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:.1f} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


class Watchdog:
    """Shut the watched socket down when the deadline passes.

    ``watch`` may be called again when the socket object changes (TLS wrapping detaches the
    plain one). ``fired`` tells the caller that an error it sees was caused by the watchdog.
    """

    def __init__(self, deadline: Deadline) -> None:
        self.fired = False
        self._deadline = deadline
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:  # fired while the socket was being swapped: wake the new one
                _shutdown(sock)
            elif self._timer is None:
                self._timer = threading.Timer(self._deadline.remaining(), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def cancel(self) -> None:
        """Stop watching; after this returns the watchdog never touches the socket."""
        with self._lock:
            self._sock = None
            if self._timer is not None:
                self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                _shutdown(self._sock)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket call, also for an SSLSocket: it only needs the descriptor. A socket
    # already closed or detached has nothing left to wake.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
