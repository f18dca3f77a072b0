"""What a request carries, checked: capped bodies, content types, documents, sources, cursors.

Every field is hostile until checked here: a body is counted as it streams in (a missing
or lying Content-Length does not get past the cap), a JSON document becomes seed text only
once its fields are valid, and a source becomes a plain one-line name.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import re
import unicodedata
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from worker.api.errors import ApiReason
from worker.core.errors import RequestRefused
from worker.read.client import Position

DEFAULT_SOURCE = "api"
MAX_SOURCE = 255
MAX_URL = 2048
# Characters that end a line for str.splitlines: a headline must not contain any.
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_CURSOR = re.compile(r"([-+0-9.e]{1,32}):([0-9]{1,10})")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_U64 = 2**64 - 1
# A stream id, or on a sharded store a cursor: ids named by shard, joined by commas
# (worker.storage.shardstreams).
STREAM_ID = re.compile(
    r"[0-9]{1,20}(-[0-9]{1,20})?|[0-9]{1,20}(-[0-9]{1,20})?@[0-9]{1,4}"
    r"(,[0-9]{1,20}(-[0-9]{1,20})?@[0-9]{1,4}){0,1023}"
)


class DocumentIn(BaseModel):
    """A document as JSON: it becomes the seed text ``date PUBLISHED TITLE``, a blank line, TEXT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=2000, description="the headline, one line")
    published: date = Field(description="publication date, YYYY-MM-DD")
    text: str = Field(min_length=1, description="the body; paragraphs apart by blank lines")
    source: str | None = Field(default=None, description="a name for where it came from")

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if _LINE_BREAKS.search(value):
            raise ValueError("must be one line")
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("published", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValueError("must be a date written YYYY-MM-DD")
        return value

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def seed(self) -> bytes:
        """The seed document these fields make (worker/text/seed.py parses it)."""
        return f"date {self.published.isoformat()} {self.title}\n\n{self.text}\n".encode()


class FeedIn(BaseModel):
    """A feed to fetch: its http(s) URL. The worker's address guard decides what it may reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=MAX_URL, description="http:// or https:// URL")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
            raise ValueError("must not contain spaces or control characters")
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


async def read_body(request: Request, cap: int, timeout: float) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over ``cap`` bytes,
    and with 408 when it has not all arrived ``timeout`` seconds after the headers."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise _too_large(cap) if declared.isdigit() else _bad_length()
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise _too_large(cap)
                chunks.append(chunk)
    except TimeoutError as e:
        detail = f"the body did not arrive within {timeout:g} s"
        raise RequestRefused(
            408, ApiReason.BODY_TIMEOUT, detail, headers={"Connection": "close"}
        ) from e
    return b"".join(chunks)


def _too_large(cap: int) -> RequestRefused:
    return RequestRefused(413, ApiReason.BODY_TOO_LARGE, f"the body is over the {cap}-byte cap")


def _bad_length() -> RequestRefused:
    return RequestRefused(400, ApiReason.BODY_INVALID, "Content-Length is not a number")


def media_type(request: Request, allowed: tuple[str, ...]) -> str:
    """The request's media type, one of ``allowed``; 415 for any other or none."""
    found = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if found not in allowed:
        raise RequestRefused(
            415,
            ApiReason.BODY_UNSUPPORTED_TYPE,
            f"Content-Type {found or '(none)'!r} is not one of {', '.join(allowed)}",
        )
    return found


def parse_json(body: bytes, model: type[DocumentIn] | type[FeedIn]) -> Any:
    """``body`` as an instance of ``model``: 400 ``body.bad_json`` or ``body.invalid``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestRefused(400, ApiReason.BODY_BAD_JSON, f"not JSON: {e}") from e
    if not isinstance(data, dict):
        raise RequestRefused(400, ApiReason.BODY_INVALID, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise RequestRefused(400, ApiReason.BODY_INVALID, f"{where}: {first['msg']}") from e


def clean_source(raw: str | None) -> str:
    """A source name from a client: its last path part, printable, one line, at most 255."""
    if raw is None:
        return DEFAULT_SOURCE
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = " ".join(
        "".join(ch for ch in name if not unicodedata.category(ch).startswith("C")).split()
    )
    if name in ("", ".", "..") or len(name) > MAX_SOURCE:
        raise RequestRefused(
            400, ApiReason.QUERY_INVALID, f"source: a name of 1 to {MAX_SOURCE} characters"
        )
    return name


def encode_cursor(position: Position | None) -> str | None:
    """An opaque cursor for the page after ``position``."""
    if position is None:
        return None
    text = f"{position.score!r}:{position.passed}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Position | None:
    """The position a cursor names; 400 ``query.invalid`` for anything this API did not make."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        match = _CURSOR.fullmatch(text)
        score = float(match.group(1)) if match else math.nan
    except (binascii.Error, UnicodeDecodeError, ValueError):
        match, score = None, math.nan
    if match is None or not math.isfinite(score) or int(match.group(2)) < 1:
        raise RequestRefused(400, ApiReason.QUERY_INVALID, "cursor: not a cursor from this API")
    return Position(score, int(match.group(2)))


def stream_id(value: str) -> str:
    """A stream entry id (``1700000000000-0``, or ``0`` for the start), or a sharded
    store's cursor (``1700000000000-0@3,1700000000001-0@7``); 400 otherwise.

    Each part is an unsigned 64-bit number in Redis: one past that is refused here, not
    by Redis once the stream has begun.
    """
    numbers = [n for part in value.split(",") for n in part.partition("@")[0].split("-")]
    if not STREAM_ID.fullmatch(value) or any(int(n) > MAX_U64 for n in numbers):
        raise RequestRefused(
            400,
            ApiReason.QUERY_INVALID,
            "Last-Event-ID/after: not a stream id like 1700000000000-0",
        )
    return value
