"""The API's error answers: one JSON shape, ``{"error": {"reason": ..., "detail": ...}}``.

Every refusal is a :class:`~worker.core.errors.RequestRefused` with a reason code from
:class:`ApiReason`; FastAPI's own errors (validation, unknown path, wrong method) and the
store's or broker's faults are mapped to the same shape here.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from worker.core.errors import QueueUnavailable, RequestRefused, StoreUnavailable

log = logging.getLogger(__name__)
RETRY_UNAVAILABLE = "5"  # seconds a client waits after a 503


class ApiReason(StrEnum):
    """Stable reason codes of refused requests. Never rename one: clients match on them."""

    AUTH_MISSING = "auth.missing"
    AUTH_INVALID = "auth.invalid"
    AUTH_READ_ONLY = "auth.read_only"
    HOST_REFUSED = "host.refused"
    ORIGIN_REFUSED = "origin.refused"
    RATE_LIMITED = "rate.limited"
    STREAMS_FULL = "streams.full"
    BODY_TOO_LARGE = "body.too_large"
    BODY_TIMEOUT = "body.timeout"
    BODY_BAD_JSON = "body.bad_json"
    BODY_INVALID = "body.invalid"
    BODY_UNSUPPORTED_TYPE = "body.unsupported_type"
    QUERY_INVALID = "query.invalid"
    NOT_FOUND_INPUT = "not_found.input"
    NOT_FOUND_RECORD = "not_found.record"
    NOT_FOUND_PATH = "not_found.path"
    METHOD_NOT_ALLOWED = "method.not_allowed"
    STORE_UNAVAILABLE = "store.unavailable"
    QUEUE_UNAVAILABLE = "queue.unavailable"


def error_response(
    status: int, reason: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """The JSON error body every refusal has."""
    body = orjson.dumps({"error": {"reason": reason, "detail": detail}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def install(app: FastAPI) -> None:
    """Answer every error in the one shape."""
    app.add_exception_handler(RequestRefused, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(QueueUnavailable, _unavailable)


async def _refused(_: Request, e: RequestRefused) -> Response:
    return error_response(e.status, e.reason, e.detail, e.headers)


async def _invalid(_: Request, e: RequestValidationError) -> Response:
    first = e.errors()[0] if e.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    reason = ApiReason.BODY_INVALID if where.startswith("body") else ApiReason.QUERY_INVALID
    return error_response(400, reason, f"{where}: {first.get('msg', 'invalid')}")


async def _http(_: Request, e: HTTPException) -> Response:
    reason = {404: ApiReason.NOT_FOUND_PATH, 405: ApiReason.METHOD_NOT_ALLOWED}.get(
        e.status_code, f"http.{e.status_code}"
    )
    return error_response(e.status_code, reason, str(e.detail), dict(e.headers or {}))


async def _unavailable(_: Request, e: Exception) -> Response:
    log.warning("answering 503: %s", e)
    reason = (
        ApiReason.STORE_UNAVAILABLE
        if isinstance(e, StoreUnavailable)
        else ApiReason.QUEUE_UNAVAILABLE
    )
    detail = {
        ApiReason.STORE_UNAVAILABLE: "the store did not answer; retry later",
        ApiReason.QUEUE_UNAVAILABLE: "the broker did not take the input; retry later",
    }[reason]
    return error_response(503, reason, detail, {"Retry-After": RETRY_UNAVAILABLE})
