"""Reads: an input's outcome (long-polled), records and rejections with keyset paging."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from worker.api.bodies import decode_cursor, encode_cursor
from worker.api.errors import ApiReason
from worker.api.state import ApiState, Reader, State
from worker.core.errors import RequestRefused
from worker.core.models import Outcome, OutcomeKind, Record, Rejection
from worker.read.client import Bound, to_bound

router = APIRouter(prefix="/v1", tags=["read"])
ID = r"^[A-Za-z0-9_.:-]{1,200}$"
FIRST_POLL, LAST_POLL = 0.05, 0.5  # seconds between looks at an outcome, growing


class InputOutcome(BaseModel):
    """One outcome: a seed's, a failed feed's, or one feed entry's (``input_id`` ``ID#n``)."""

    input_id: str
    source: str
    outcome: OutcomeKind
    id: str | None = None
    reason: str | None = None
    detail: str | None = None


class InputStatus(BaseModel):
    """What became of an input: one outcome, or one per feed entry in feed order."""

    input_id: str
    outcomes: list[InputOutcome]


class RecordPage(BaseModel):
    records: list[Record]
    next_cursor: str | None


class RejectionPage(BaseModel):
    rejections: list[Rejection]
    next_cursor: str | None


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


@router.get("/inputs/{input_id}", response_model=InputStatus, summary="An input's outcome")
async def get_input(
    state: State,
    _: Reader,
    input_id: Annotated[str, Path(pattern=ID)],
    wait: Annotated[float, Query(ge=0, description="seconds to wait for the outcome")] = 0,
) -> Response:
    """404 ``not_found.input`` until every outcome is stored; ``?wait=`` holds the answer
    until then, up to ``INGEST_API_MAX_WAIT`` seconds (a longer wait is cut to that)."""
    deadline = time.monotonic() + min(wait, state.settings.api_max_wait)
    found = await _poll(state, input_id, deadline)
    if found is None:
        raise RequestRefused(
            404,
            ApiReason.NOT_FOUND_INPUT,
            f"no outcome for input {input_id} yet (still queued, unknown, or expired)",
        )
    outcomes = await run_in_threadpool(_with_details, state, found)
    return json_response({"input_id": input_id, "outcomes": outcomes})


async def _poll(state: ApiState, input_id: str, deadline: float) -> list[Outcome] | None:
    """Look at the outcome keys until they are there, the deadline passes, or shutdown."""
    pause = FIRST_POLL
    while True:
        found = await run_in_threadpool(state.reader.outcomes, input_id)
        left = deadline - time.monotonic()
        if found is not None or left <= 0 or state.stopping.is_set():
            return found
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 1.5, LAST_POLL)


def _with_details(state: ApiState, outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """The outcomes as JSON, each rejection with its detail (the human half of the reason)."""
    rows = []
    for o in outcomes:
        row = o.model_dump(mode="json") | {"detail": None}
        if o.outcome is OutcomeKind.REJECTED:
            rejection = state.reader.rejection(o.input_id)
            row["detail"] = rejection.detail if rejection else None
        rows.append(row)
    return rows


def _bound(value: str | None, name: str, *, end_of_day: bool) -> Bound:
    try:
        return to_bound(value, end_of_day=end_of_day)
    except ValueError as e:
        raise RequestRefused(
            400, ApiReason.QUERY_INVALID, f"{name}: not an ISO date or datetime: {value!r}"
        ) from e


Since = Annotated[str | None, Query(description="at or after (ISO date or datetime)")]
Until = Annotated[str | None, Query(description="at or before (a date includes the day)")]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
Source = Annotated[str | None, Query(max_length=2048, description="exact source")]


@router.get("/records", response_model=RecordPage, summary="Records, newest first")
def list_records(
    state: State,
    _: Reader,
    since: Since = None,
    until: Until = None,
    source: Source = None,
    kind: Annotated[Literal["seed", "feed"] | None, Query()] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """The filters and order of ``ingest records list``; pass ``next_cursor`` for more."""
    records, after = state.reader.record_page(
        since=_bound(since, "since", end_of_day=False),
        until=_bound(until, "until", end_of_day=True),
        source=source,
        kind=kind,
        limit=limit,
        after=decode_cursor(cursor),
    )
    rows = [r.model_dump(mode="json") for r in records]
    return json_response({"records": rows, "next_cursor": encode_cursor(after)})


@router.get("/records/{record_id}", response_model=Record, summary="One record by id")
def get_record(state: State, _: Reader, record_id: Annotated[str, Path(pattern=ID)]) -> Response:
    record = state.reader.get(record_id)
    if record is None:
        raise RequestRefused(404, ApiReason.NOT_FOUND_RECORD, f"no record {record_id}")
    return json_response(record.model_dump(mode="json"))


@router.get("/rejections", response_model=RejectionPage, summary="Rejections, newest first")
def list_rejections(
    state: State,
    _: Reader,
    since: Since = None,
    until: Until = None,
    reason: Annotated[str | None, Query(max_length=100, description="a code or family")] = None,
    source: Source = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """The filters of ``ingest rejections list``; pass ``next_cursor`` for more."""
    rejections, after = state.reader.rejection_page(
        since=_bound(since, "since", end_of_day=False),
        until=_bound(until, "until", end_of_day=True),
        reason=reason,
        source=source,
        limit=limit,
        after=decode_cursor(cursor),
    )
    rows = [r.model_dump(mode="json") for r in rejections]
    return json_response({"rejections": rows, "next_cursor": encode_cursor(after)})
