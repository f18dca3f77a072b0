"""The stop signals a command catches: held over a critical window, or turned into an error.

Only the main thread may install signal handlers, so off it both helpers do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from worker.core.errors import RunInterrupted

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
Handler = Callable[[int, FrameType | None], Any] | int | None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handling(handler: Handler) -> Iterator[None]:
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, signal.SIG_DFL if old is None else old)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the stop signals until the block ends, then deliver them as they would have been.

    For a window that must not be cut in two (a publish and the count of what it published).
    """
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    with _handling(lambda signum, _frame: caught.append(signum)):
        yield
    for signum in dict.fromkeys(caught):
        signal.raise_signal(signum)


@contextlib.contextmanager
def interrupting() -> Iterator[None]:
    """Raise RunInterrupted on the first stop signal; ignore the next ones while cleaning up."""
    if not _main_thread():
        yield
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        raise RunInterrupted(signum)

    with _handling(stop):
        yield
