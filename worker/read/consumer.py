"""Consumer groups on an event stream: at-least-once delivery that survives crashes.

A :class:`Consumer` is one member (``name``) of a group (``group``) on one stream:

1. The group is created at id 0 (the beginning of the retained stream) when missing; an
   existing group resumes after the last event it was given.
2. On start (and after Redis comes back) the consumer first re-reads its own pending
   events: read before a crash, never acknowledged. Then it reads new ones.
3. Each event goes to the handler and is acknowledged (XACK) only after the handler
   returns. A handler exception is logged; the event stays pending (quietly when the
   handler called stop() before raising).
4. Every ``claim_interval`` seconds it claims (XAUTOCLAIM) events pending for more than
   ``min_idle`` seconds on any consumer of the group, itself included: that is how a dead
   consumer's events and the consumer's own failures are retried.
5. The handler sees an event at most ``max_deliveries`` times. An event whose handler
   fails on that delivery, or that is delivered more often (its consumers kept dying),
   goes to the group's dead-letter stream with its delivery count and last error, and is
   acknowledged, in one MULTI.

An event trimmed from the stream while pending comes back without fields (Redis 6.2:
XREADGROUP gives nil fields, XAUTOCLAIM a nil entry) or among XAUTOCLAIM's deleted ids
(Redis 7, which also drops it from the pending list). It is acknowledged and counted as
``trimmed``: there is nothing left to hand over. The Redis commands themselves are
:class:`worker.storage.groups.GroupStream`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.core.errors import StoreUnavailable
from worker.core.events import STREAMS, Event
from worker.storage.read_streams import StreamReads

log = logging.getLogger(__name__)
Handler = Callable[[Event], None]
RECONNECT_DELAY = 1.0


@dataclass
class ConsumerStats:
    """What one run of a consumer did."""

    handled: int = 0
    failed: int = 0
    dead_lettered: int = 0
    claimed: int = 0
    trimmed: int = 0

    @property
    def done(self) -> int:
        """Events acknowledged: handled, dead-lettered or trimmed."""
        return self.handled + self.dead_lettered + self.trimmed


class Consumer:
    """One member of a consumer group, handing each event to ``handler``."""

    def __init__(
        self,
        client: StreamReads,
        group: str,
        name: str,
        handler: Handler,
        *,
        stream: str = "records",
        batch: int = 100,
        block: float = 1.0,
        min_idle: float = 60.0,
        claim_interval: float | None = None,
        max_deliveries: int = 5,
        dead_letter_maxlen: int = 1_000_000,
    ) -> None:
        if stream not in STREAMS:
            raise ValueError(f"no stream {stream!r}: one of {', '.join(STREAMS)}")
        self.groups, self.handler = client.group_stream(stream, group, name), handler
        self.stream, self.group, self.name = stream, group, name
        self.batch, self.block_ms = batch, max(1, int(block * 1000))
        self.min_idle_ms = max(1, int(min_idle * 1000))
        self.claim_interval = claim_interval if claim_interval is not None else min_idle / 2
        self.max_deliveries, self.dead_letter_maxlen = max_deliveries, dead_letter_maxlen
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._limit: int | None = None
        self._ready = False

    def ensure_group(self) -> bool:
        """Create the group at the start of the stream if missing; True when created."""
        return self.groups.ensure_group()

    def stop(self) -> None:
        """Finish the event in hand, then return from run(). Safe from signal handlers."""
        self._stop.set()

    def run(self, *, limit: int | None = None) -> ConsumerStats:
        """Consume until stop() is called (or ``limit`` events are acknowledged)."""
        self._limit, self._ready = limit, False
        next_claim = 0.0
        while not self._finished():
            try:
                if not self._ready:
                    self.ensure_group()
                    self._recover()
                    self._ready = True
                if time.monotonic() >= next_claim:
                    self._claim()
                    next_claim = time.monotonic() + self.claim_interval
                self._read_new()
            except StoreUnavailable as e:
                log.warning("%s; retrying", e)
                self._ready = False
                self._stop.wait(RECONNECT_DELAY)
        return self.stats

    def _finished(self) -> bool:
        return self._stop.is_set() or (self._limit is not None and self.stats.done >= self._limit)

    def _count(self) -> int:
        if self._limit is None:
            return self.batch
        return max(1, min(self.batch, self._limit - self.stats.done))

    # -- reading --------------------------------------------------------------------------

    def _read_new(self) -> None:
        self._deliver_all(self.groups.read_new(self._count(), self.block_ms), {})

    def _recover(self) -> None:
        """Re-read this consumer's own pending events, oldest first."""
        last = "0"
        while not self._finished():
            entries = self.groups.read_own(last, self._count())
            if not entries:
                return
            self._deliver_all(entries, self.groups.deliveries([e[0] for e in entries]))
            last = self.groups.event(entries[-1][0], None).stream_id

    def _claim(self) -> None:
        """Take over events pending longer than min_idle on any consumer of the group."""
        cursor = "0-0"
        missing = False
        while not self._finished():
            cursor, entries, deleted = self.groups.autoclaim(
                self.min_idle_ms, cursor, self._count()
            )
            self.stats.trimmed += deleted  # Redis 7: deleted, and off the pending list
            live = [e for e in entries if e[0] is not None]
            missing = missing or len(live) < len(entries)
            self.stats.claimed += len(live)
            self._deliver_all(live, self.groups.deliveries([e[0] for e in live]))
            if cursor == "0-0":
                break
        if missing:
            # Redis 6.2 claimed trimmed entries without naming them: they are ours now.
            self._recover()

    # -- handing over -----------------------------------------------------------------------

    def _deliver_all(self, entries: Sequence[Any], deliveries: dict[str, int]) -> None:
        for entry_id, fields in entries:
            if self._finished():
                return  # the rest stays pending: re-read on the next start
            event = self.groups.event(entry_id, fields)
            count = deliveries.get(event.stream_id, 1)
            self._deliver(self.groups.event(entry_id, fields, count))

    def _deliver(self, event: Event) -> None:
        if event.trimmed:
            log.warning("event %s was trimmed while pending", event.stream_id)
            self.groups.ack(event.stream_id)
            self.stats.trimmed += 1
            return
        if event.deliveries > self.max_deliveries:
            error = f"delivered {event.deliveries} times without acknowledgement"
            self._dead_letter(event, error)
            return
        try:
            self.handler(event)
        except Exception as e:
            self.stats.failed += 1
            if self._stop.is_set():
                # The handler stopped us and gave up (say, its output pipe closed): no retry count.
                log.info("stopping; event %s stays pending (%s)", event.stream_id, e)
                return
            log.exception(
                "handler failed on event %s (delivery %d)", event.stream_id, event.deliveries
            )
            if event.deliveries >= self.max_deliveries:
                self._dead_letter(event, f"{type(e).__name__}: {e}")
            return
        self.groups.ack(event.stream_id)
        self.stats.handled += 1

    def _dead_letter(self, event: Event, error: str) -> None:
        """Move an event to the dead-letter stream and acknowledge it, atomically."""
        fields = {
            **event.fields,
            "stream_id": event.stream_id,
            "stream": event.stream,
            "group": self.group,
            "consumer": self.name,
            "deliveries": str(event.deliveries),
            "error": error[:2000],
            "dead_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        self.groups.dead_letter(event.stream_id, fields, self.dead_letter_maxlen)
        self.stats.dead_lettered += 1
        log.error(
            "event %s dead-lettered after %d deliveries: %s",
            event.stream_id,
            event.deliveries,
            error,
        )
