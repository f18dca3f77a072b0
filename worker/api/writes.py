"""``POST /v1/documents`` and ``POST /v1/feeds``: inputs enqueued through the producer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from worker.api.bodies import DocumentIn, FeedIn, clean_source, media_type, parse_json, read_body
from worker.api.state import ApiState, State, Writer
from worker.core.models import Envelope, InputKind
from worker.queue.producer import new_envelope, publish_envelopes

router = APIRouter(prefix="/v1", tags=["write"])
DOCUMENT_TYPES = ("text/plain", "application/json")
FEED_BODY_CAP = 16 * 1024


class Accepted(BaseModel):
    """An enqueued input: poll ``status_url`` (``GET /v1/inputs/{input_id}``) for its outcome."""

    input_id: str
    status_url: str


def _body_schema(*types: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {t: {"schema": s} for t, s in types}}}


DOCUMENT_BODY = _body_schema(
    ("text/plain", {"type": "string", "description": "a seed document: date YYYY-MM-DD Title"}),
    ("application/json", DocumentIn.model_json_schema()),
)


@router.post(
    "/documents",
    status_code=202,
    response_model=Accepted,
    openapi_extra=DOCUMENT_BODY,
    summary="Enqueue a document (seed text, or JSON title/published/text)",
)
async def post_document(
    request: Request,
    state: State,
    _: Writer,
    source: Annotated[str | None, Query(max_length=1000, description="name of the source")] = None,
) -> JSONResponse:
    """Answers 202 with the input id; the outcome follows at ``GET /v1/inputs/{input_id}``.

    A ``text/plain`` body is a seed document as a file would hold it. A JSON body's
    fields are checked here (400 ``body.invalid``); the seed text itself is checked by
    the worker, and a bad one ends as a ``rejected`` outcome with its reason.
    """
    kind = media_type(request, DOCUMENT_TYPES)
    body = await read_body(
        request, state.settings.max_document_bytes, state.settings.api_read_timeout
    )
    if kind == "application/json":
        document: DocumentIn = parse_json(body, DocumentIn)
        source = document.source if document.source is not None else source
        body = document.seed()
    envelope = new_envelope(InputKind.SEED, clean_source(source), data=body)
    return await _enqueue(state, envelope)


@router.post(
    "/feeds",
    status_code=202,
    response_model=Accepted,
    openapi_extra=_body_schema(("application/json", FeedIn.model_json_schema())),
    summary="Enqueue a feed fetch",
)
async def post_feed(request: Request, state: State, _: Writer) -> JSONResponse:
    """Answers 202 with the input id; a worker fetches the feed, one outcome per entry."""
    media_type(request, ("application/json",))
    body = await read_body(request, FEED_BODY_CAP, state.settings.api_read_timeout)
    feed: FeedIn = parse_json(body, FeedIn)
    return await _enqueue(state, new_envelope(InputKind.FEED_URL, feed.url, url=feed.url))


async def _enqueue(state: ApiState, envelope: Envelope) -> JSONResponse:
    await run_in_threadpool(
        publish_envelopes, state.celery, state.store, [envelope], state.settings
    )
    status_url = f"/v1/inputs/{envelope.input_id}"
    return JSONResponse(
        {"input_id": envelope.input_id, "status_url": status_url},
        status_code=202,
        headers={"Location": status_url},
    )
