"""``ingest run``: a local worker for the run, enqueue, wait for every outcome, stop.

Completion is exact, not timed: the store's scripts push each item's outcome onto a reply
list for the run, and the pipeline pushes a ``done`` marker per input after all of its
items are stored. The run ends when every input it enqueued has its marker.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import orjson

from worker.core.errors import RunFailed, StoreUnavailable
from worker.core.models import Outcome
from worker.core.settings import Settings
from worker.core.signals import deferred

if TYPE_CHECKING:  # the run's worker starts before this process needs redis-py
    from worker.storage.store import Store

STOP_TIMEOUT = 30.0
# What Celery prints on every stop, e.g. "worker: Warm shutdown (MainProcess)".
SHUTDOWN_NOTICE = re.compile(rb"^worker: \w+ shutdown \(")


LOCAL_WORKER = [sys.executable, "-m", "worker.runtime.localworker"]


def run_queue(settings: Settings, run_id: str) -> str:
    """The run's own queue: its inputs go to its worker only, which consumes nothing else."""
    return f"{settings.queue}.run.{run_id}"


def run_settings(settings: Settings, run_id: str) -> Settings:
    """The settings of a run's producer: the run's own queue in place of the shared one."""
    return settings.model_copy(update={"queue": run_queue(settings, run_id)})


def drop_queue(settings: Settings, url: str) -> None:
    """Delete the run's queue (``settings.queue``) and what the broker keeps for it.

    A Redis broker keeps lists and kombu's bindings (:class:`BrokerQueues`); another
    broker deletes the queue itself.
    """
    from worker.storage.brokerqueues import BrokerQueues

    broker_url = settings.broker_url or url
    broker = BrokerQueues.for_url(broker_url)
    if broker is not None:
        broker.drop(settings.queue)
        return
    from worker.queue.app import make_app

    with make_app(settings, url).connection_for_write() as conn:
        channel: Any = conn.default_channel
        channel.queue_delete(settings.queue)


def expire_queue(settings: Settings, url: str, seconds: int) -> None:
    """Let the run's queue expire on a Redis broker, should the run die before it drops it."""
    from worker.storage.brokerqueues import BrokerQueues

    broker = BrokerQueues.for_url(settings.broker_url or url)
    if broker is not None:
        broker.expire(settings.queue, seconds)


def worker_options(
    settings: Settings, run_id: str, concurrency: int | None, tasks: int | None = None
) -> dict[str, Any]:
    """What the run's own Celery worker is told once the store is up (its URL aside).

    It consumes the run's own queue (:func:`run_queue`) and nothing else.

    A run of one task (``tasks``) gets the solo pool: a process pool would process that
    task in one child all the same, and stopping the pool costs it about 1.5 s more
    (measured: warm shutdown 1.7-1.9 s with prefork, 0.2-0.3 s with solo).
    """
    pool = "solo" if not concurrency and tasks is not None and tasks <= 1 else None
    return {
        "queue": run_queue(settings, run_id),
        "name": f"ingest-run-{run_id[:8]}@%h",
        "pool": pool,
        "concurrency": concurrency,
        "loglevel": "WARNING",
    }


@dataclass
class LocalWorker:
    """The run's worker process (:mod:`worker.runtime.localworker`), stopped at its end.

    It starts before the store does, to import Celery and the pipeline meanwhile;
    :meth:`attach` then gives it the store's URL on its stdin.
    """

    env: dict[str, str] = field(default_factory=lambda: worker_env())
    process: subprocess.Popen[bytes] | None = None
    interrupted: bool = False
    relay: threading.Thread | None = None

    def start(self) -> LocalWorker:
        # The worker's own output goes to stderr (stdout belongs to `--json` lines), less
        # Celery's shutdown notice, which it prints at every stop: a run shows its own output.
        self.process = subprocess.Popen(
            LOCAL_WORKER,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.relay = threading.Thread(target=relay, args=(self.process.stdout,), daemon=True)
        self.relay.start()
        return self

    def attach(self, url: str, options: dict[str, Any]) -> None:
        """Send the store's URL and :func:`worker_options`: the worker starts consuming."""
        if self.process is None or self.process.stdin is None:
            raise RuntimeError("attach() before start()")
        line = orjson.dumps({**options, "url": url}) + b"\n"
        with contextlib.suppress(BrokenPipeError):  # it died: `alive` says so
            self.process.stdin.write(line)
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def interrupt(self) -> None:
        """Start the warm shutdown (SIGTERM) without waiting for it; ``stop`` waits."""
        if self.process is not None and self.process.poll() is None and not self.interrupted:
            self.process.send_signal(signal.SIGTERM)
            self.interrupted = True  # a second SIGTERM could turn it into a cold shutdown

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not finish in time.

        A worker never attached reads end-of-file on its stdin and exits by itself.
        """
        if self.process is None:
            return
        self._close_stdin()
        if self.process.poll() is not None:
            return
        self.interrupt()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.relay is not None:
            self.relay.join(timeout=5)


def relay(stream: IO[bytes] | None) -> None:
    """Copy a worker's output to our stderr, line by line, without shutdown notices."""
    if stream is None:
        return
    with stream:
        for line in iter(stream.readline, b""):
            if not SHUTDOWN_NOTICE.match(line):
                sys.stderr.buffer.write(line)
                sys.stderr.flush()


def worker_env(url: str | None = None) -> dict[str, str]:
    """A child worker's environment: ours, with the store's ``url`` when given.

    The run's worker gets no URL here: it comes on its stdin.
    """
    env = dict(os.environ)
    if url is not None:
        env["INGEST_REDIS_URL"] = url
    # Celery warns on every start as root; the run has nothing to do with it.
    env.setdefault("PYTHONWARNINGS", "ignore:You're running the worker with superuser privileges")
    return env


def new_run_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Collector:
    """Gathers the outcomes a run's inputs push onto its reply list."""

    store: Store
    run_id: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def drain(self, block: float) -> int:
        """Read what has arrived (waiting up to ``block`` seconds); returns inputs completed."""
        before = len(self.done)
        # What is popped from the store exists nowhere else: a stop signal raised between
        # the pop and the bookkeeping would lose it and miscount what is left.
        with deferred():
            for item in self.store.replies.take(self.run_id, block):
                self._take(item)
        return len(self.done) - before

    def _take(self, data: dict[str, object]) -> None:
        if "done" in data:
            self.done.add(str(data["done"]))
            return
        outcome = Outcome.model_validate(data)
        self.outcomes[outcome.input_id] = outcome

    def wait(
        self,
        input_ids: Iterable[str],
        alive: Callable[[], bool],
        timeout: float | None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Block until every input has its done marker."""
        wanted = set(input_ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not wanted <= self.done:
            finished = self.drain(block=0.5)
            if progress is not None and finished:
                progress(finished)
            if not alive() and not wanted <= self.done:
                self.drain(block=0)
                if not wanted <= self.done:
                    raise RunFailed("the run's worker exited before every input was processed")
            if deadline is not None and time.monotonic() > deadline:
                left = len(wanted - self.done)
                raise RunFailed(f"timed out with {left} input{'' if left == 1 else 's'} unfinished")

    def left(self, input_ids: Iterable[str]) -> int | None:
        """How many of these inputs have no outcome yet (None when the store is away)."""
        try:
            self.drain(block=0)
        except StoreUnavailable:
            return None
        return len(set(input_ids) - self.done)

    def ordered(self, input_ids: list[str]) -> list[Outcome]:
        """Outcomes in enqueue order; a feed's entries follow their feed."""
        rank = {input_id: i for i, input_id in enumerate(input_ids)}

        def key(o: Outcome) -> tuple[int, int]:
            base, _, n = o.input_id.partition("#")
            return rank.get(base, len(rank)), int(n) if n.isdigit() else -1

        return sorted(self.outcomes.values(), key=key)
