"""Slow clients are cut off: a request's headers, and then its body, each get a time limit.

uvicorn closes a connection idle between requests after ``timeout_keep_alive``, but waits
for ever for the headers of a request that dribbles in a byte at a time (slowloris), and
for a body sent the same way: a few hundred such clients would hold every connection of
``ingest serve``. :class:`HeaderTimeout` is uvicorn's h11 protocol with a timer from the
first byte of a request (or from the connection) to its last header line; the body's
limit is in :func:`worker.api.bodies.read_body`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeout(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are late."""

    seconds = 15.0  # set per server by :func:`with_header_timeout`
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm()  # a new request begins: its headers are timed from now, once
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeout]:
    """The protocol class for uvicorn's ``http=`` with this limit on request headers."""
    return type("HeaderTimeout", (HeaderTimeout,), {"seconds": seconds})
