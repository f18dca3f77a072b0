"""``ingest records tail`` / ``ingest rejections tail``: print events as they arrive.

Each event is written as one line and flushed, so a pipe sees it at once. With a group,
the command is a :class:`~worker.read.consumer.Consumer` whose handler prints: an event is
acknowledged once printed, a restarted tail (same ``--consumer`` name) first prints what
it had read and not acknowledged. Without a group nothing is acknowledged and the tail
starts at the beginning of the retained stream (``--new``: only events after it starts).
SIGINT (Ctrl-C) and SIGTERM stop it cleanly, exit status 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from worker.core.events import Event
from worker.core.settings import Settings
from worker.core.textsafe import escape_controls
from worker.read.client import IngestClient


def default_consumer_name() -> str:
    """The host name: a tail restarted on the same host takes back its pending events."""
    return socket.gethostname() or "ingest-tail"


def render(event: Event, as_json: bool) -> str:
    """One line: the event's JSON, or ``stream_id event key=value ...``."""
    if as_json:
        return orjson.dumps(event.to_json()).decode()
    rest = " ".join(f"{k}={v}" for k, v in event.fields.items() if k != "event")
    return escape_controls(f"{event.stream_id} {event.type} {rest}", keep="")


def write_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on SIGINT and SIGTERM instead of raising, for the time of the block."""
    handler = lambda signum, frame: stop()  # noqa: E731
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class Tail:
    """One tail command: which stream, how to print, when to stop."""

    client: IngestClient
    settings: Settings
    stream: str
    as_json: bool
    limit: int | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._stoppers: list[Callable[[], None]] = [self._stop.set]

    def stop(self) -> None:
        for stopper in self._stoppers:
            stopper()

    def print(self, event: Event) -> None:
        try:
            write_line(render(event, self.as_json))
        except BrokenPipeError:
            # The reader went away: stop without acknowledging, and keep Python's exit quiet.
            self.stop()
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise

    def follow(self, *, new: bool) -> int:
        """Without a group: print from the start (or from now); returns events printed."""
        printed = 0
        start = "$" if new else "0"
        with stop_on_signals(self.stop), contextlib.suppress(BrokenPipeError):
            for event in self.client.events(self.stream, start=start, stop=self._stop):
                self.print(event)
                printed += 1
                if self._stop.is_set() or (self.limit and printed >= self.limit):
                    break
        return printed

    def consume(self, group: str, name: str | None) -> int:
        """With a group: print, then acknowledge; returns events acknowledged."""
        consumer = self.client.consumer(
            group,
            name or default_consumer_name(),
            self.print,
            stream=self.stream,
            min_idle=self.settings.consumer_min_idle,
            max_deliveries=self.settings.consumer_max_deliveries,
            dead_letter_maxlen=self.settings.stream_maxlen,
        )
        self._stoppers.append(consumer.stop)
        with stop_on_signals(self.stop):
            return consumer.run(limit=self.limit).done
