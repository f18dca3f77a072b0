"""Waiting on a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``check`` until it holds; an AssertionError naming ``what`` after ``timeout``.

    ``alive``: the process the condition depends on; its death ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if alive is not None and not alive():
            raise AssertionError(f"process died while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
