"""``GET /v1/events``: the record stream as Server-Sent Events, resumable with Last-Event-ID.

Each event's ``id:`` is its stream entry id, so a client that reconnects with the last id
it saw (browsers' EventSource do it on their own) gets every event after it, as long as
the stream still retains them (``INGEST_STREAM_MAXLEN``, ``INGEST_STREAM_MAX_AGE``).

A stream does not hold a Redis connection while it waits: it reads what is new without
blocking, a short request on the shared pool, and sleeps between looks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from worker.api.bodies import stream_id
from worker.api.errors import RETRY_UNAVAILABLE, ApiReason
from worker.api.state import ApiState, Reader, Slots, State
from worker.core.errors import RequestRefused, StoreUnavailable
from worker.core.events import Event

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["read"])
STREAM = "records"
POLL = 0.2  # seconds between looks at the stream when nothing is new
RETRY_MS = 2000  # how long a disconnected EventSource waits before reconnecting
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get(
    "/events",
    summary="Record events as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    state: State,
    _: Reader,
    last_event_id: Annotated[str | None, Header(description="resume after this id")] = None,
    after: Annotated[
        str | None, Query(description="start after this stream id; 0: from the oldest kept")
    ] = None,
) -> StreamingResponse:
    """``event:`` is ``created`` or ``updated``, ``data:`` the event as JSON, ``id:`` the
    stream entry id. Without Last-Event-ID or ``after``, only events from now on."""
    start = last_event_id if last_event_id is not None else after
    start = stream_id(start) if start is not None else None
    if not state.streams.take(state.settings.api_max_streams):
        raise RequestRefused(
            503,
            ApiReason.STREAMS_FULL,
            f"{state.settings.api_max_streams} event streams are open; retry later",
            headers={"Retry-After": RETRY_UNAVAILABLE},
        )
    try:
        if start is None:
            start = await run_in_threadpool(state.reader.last_event_id, STREAM)
    except BaseException:
        state.streams.give()
        raise
    return _Counted(_stream(state, start), state.streams)


class _Counted(StreamingResponse):
    """An event stream that gives its slot back however it ends."""

    def __init__(self, body: AsyncIterator[bytes], slots: Slots) -> None:
        super().__init__(body, media_type="text/event-stream", headers=SSE_HEADERS)
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.give()


def frame(event: Event) -> bytes:
    """One event in the SSE wire format."""
    data = orjson.dumps(event.to_json()).decode()
    return f"id: {event.stream_id}\nevent: {event.type}\ndata: {data}\n\n".encode()


async def _stream(state: ApiState, after: str) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
    quiet = 0.0
    while not state.stopping.is_set():
        try:
            found = await run_in_threadpool(state.reader.events_after, STREAM, after)
        except StoreUnavailable as e:
            log.warning("event stream waits for the store: %s", e)
            found = []
        for event in found:
            after = event.stream_id
            yield frame(event)
        if found:
            quiet = 0.0
            continue
        await asyncio.sleep(POLL)
        quiet += POLL
        if quiet >= state.settings.api_heartbeat:
            quiet = 0.0
            yield b": keep-alive\n\n"
