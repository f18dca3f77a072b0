"""The FastAPI application: routes, error shapes, health and metrics.

OpenAPI at ``/openapi.json`` and browsable docs at ``/docs`` come with FastAPI (the docs
page loads Swagger UI's script from a CDN into the browser; the server fetches nothing).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from worker.api import errors, events, reading, statuspage, writes
from worker.api.origin import LoopbackOnly
from worker.api.state import ApiState, Reader, State
from worker.core.errors import StoreUnavailable
from worker.queue.brokerprobe import queue_depth
from worker.runtime.metrics import CONTENT_TYPE, exposition, registry

DESCRIPTION = """Enqueue seed documents and feeds; read records, rejections and the change
stream. Send `Authorization: Bearer KEY`. Errors are `{"error": {"reason", "detail"}}`."""


def create_app(state: ApiState) -> FastAPI:
    """The API on ``state`` (nothing connects until a request comes)."""
    app = FastAPI(title="news-ingest API", version="1", description=DESCRIPTION, redoc_url=None)
    app.state.ingest = state
    if state.keyring.open:
        app.add_middleware(LoopbackOnly)
    errors.install(app)
    for module in (writes, reading, events, statuspage):
        app.include_router(module.router)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"])
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}}},
    )
    return app


def healthz(state: State) -> Response:
    """200 when the store and the broker answer, else 503; no key needed."""
    checks: dict[str, Any] = {"store": "ok", "broker": "ok"}
    try:
        state.store.wait_ready(timeout=0)
    except StoreUnavailable:
        checks["store"] = "unavailable"
    if queue_depth(state.celery, state.settings.queue) is None:
        checks["broker"] = "unavailable"
    healthy = all(v == "ok" for v in checks.values())
    return reading.json_response(checks, 200 if healthy else 503)


async def metrics(state: State, _: Reader) -> Response:
    """The Prometheus metrics of ``ingest metrics``, read live at each scrape."""
    reg = registry(state.store, state.celery, state.settings.queue)
    text = await run_in_threadpool(exposition, reg)
    return Response(text, media_type=CONTENT_TYPE)
