"""Every long-running child process of the suite, started, watched and stopped one way.

:class:`Child` runs a command in a session of its own (so the whole group can be signalled)
with an environment built by :func:`clean_env` (no ``INGEST_*`` variable the test did not
give), its output in a log file (or a pipe, for tests about pipes), and stops it with
SIGTERM, then SIGKILL for the whole group when it does not stop in time. :func:`running`
is the same as a context manager that waits for a readiness condition first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]
QUIET = "ignore:You're running the worker with superuser privileges"


def clean_env(*, drop: tuple[str, ...] = ("INGEST_",), **extra: str) -> dict[str, str]:
    """This process's environment without ``drop``-prefixed names, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PYTHONWARNINGS"] = QUIET
    env.update(extra)
    return env


def log_path(name: str, folder: Path | None = None) -> Path:
    """A fresh log file name for one child."""
    where = folder or Path(os.environ.get("TMPDIR", "/tmp"))
    return where / f"{name}-{time.monotonic_ns()}.log"


class Child:
    """One child process: its own session, output to ``log`` unless piped."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        name: str = "child",
        cwd: Path = ROOT,
        log: Path | None = None,
        stdin: int | None = subprocess.DEVNULL,
        pipe_stdout: bool = False,
        pipe_stderr: bool = False,
        err_log: Path | None = None,
        text: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log = log or log_path(name)
        self.stdin = stdin
        self.pipe_stdout, self.pipe_stderr, self.text = pipe_stdout, pipe_stderr, text
        self.err_log = err_log  # stderr in a file of its own, apart from ``log``
        self.proc: subprocess.Popen[Any] | None = None

    def start(self) -> Child:
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.log.open("wb"))
            out: Any = subprocess.PIPE if self.pipe_stdout else log
            err: Any = subprocess.PIPE if self.pipe_stderr else log
            if self.err_log is not None:
                err = files.enter_context(self.err_log.open("wb"))
            elif err is log and out is log:
                err = subprocess.STDOUT
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=self.stdin,
                stdout=out,
                stderr=err,
                text=self.text,
                start_new_session=True,
            )
        return self

    @property
    def popen(self) -> subprocess.Popen[Any]:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """What the child wrote to its log so far."""
        return self.log.read_text(errors="replace")

    def wait_for(
        self, check: str | Callable[[], bool], *, timeout: float = 60, what: str = ""
    ) -> None:
        """Wait until ``check`` (a text in the log, or a condition) holds; fail if it dies."""
        test = (lambda: check in self.output()) if isinstance(check, str) else check
        label = what or (repr(check) if isinstance(check, str) else "a condition")
        wait_until(test, timeout=timeout, what=f"{self.name}: {label}", alive=self.alive)

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child itself (not its group)."""
        self.popen.send_signal(sig)

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the child and everything it started."""
        os.killpg(self.pid, sig)

    def wait(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the whole group, as a host crash would, and reap the child."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(
        self, sig: int = signal.SIGTERM, timeout: float = 30, *, strict: bool = False
    ) -> int | None:
        """Send ``sig`` and wait; SIGKILL the group when it hangs (an AssertionError if strict)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                if strict:
                    raise AssertionError(f"{self.name} did not stop within {timeout}s") from None
        return self.proc.returncode


@contextlib.contextmanager
def running(
    child: Child,
    *,
    ready: str | Callable[[], bool] | None = None,
    timeout: float = 60,
    stop_timeout: float = 30,
) -> Iterator[Child]:
    """Start ``child``, wait until ``ready`` holds, and stop it on the way out, whatever happens."""
    child.start()
    try:
        if ready is not None:
            child.wait_for(ready, timeout=timeout)
        yield child
    finally:
        child.stop(timeout=stop_timeout)
