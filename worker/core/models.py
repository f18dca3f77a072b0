"""Data shapes: the input envelope, the Record (schema version 2), Rejection and Outcome."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from worker.core.textsafe import redact_query_secrets, redact_userinfo, strip_controls

SCHEMA_VERSION = 2


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must carry a timezone")
    return value.astimezone(UTC)


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _b64decode(value: object) -> object:
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


def _b64encode(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _harmless(value: str) -> str:
    return redact_query_secrets(redact_userinfo(strip_controls(value)))


# Text that names an input (a source) or explains a rejection: no controls, no credentials
# (user info nor secret-looking query values: a feed URL's ?token= stays out of records).
Harmless = Annotated[str, AfterValidator(_harmless)]

# Bytes that travel as plain base64 (no line breaks) in JSON messages.
B64Bytes = Annotated[
    bytes,
    BeforeValidator(_b64decode),
    PlainSerializer(_b64encode, return_type=str, when_used="json"),
]

UtcDatetime = Annotated[
    datetime, AfterValidator(_utc), PlainSerializer(_iso_z, return_type=str, when_used="json")
]


class InputKind(StrEnum):
    """What an envelope carries: a seed document, feed bytes, or a feed URL to fetch."""

    SEED = "seed"
    FEED = "feed"
    FEED_URL = "feed_url"


class OutcomeKind(StrEnum):
    """How an input ended. Every input ends as exactly one of these."""

    CREATED = "created"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class Envelope(BaseModel):
    """One input as it travels through the queue: the content itself, never a path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_id: str = Field(min_length=1, max_length=200)
    kind: InputKind
    source: Harmless = Field(min_length=1, max_length=2048)
    data: B64Bytes | None = None
    url: Annotated[str, AfterValidator(redact_userinfo)] | None = None
    reply_to: str | None = None


class Medium(BaseModel):
    """A medium of a feed entry: an enclosure, Media RSS content or thumbnail, an attachment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1, description="absolute http(s) URL")
    type: str | None = Field(default=None, description="MIME type, when the feed gives one")
    length: int | None = Field(default=None, ge=0, description="size in bytes, when known")
    medium: Literal["image", "audio", "video", "document", "executable"] | None = Field(
        default=None, description="Media RSS medium, when known"
    )


class SeenIn(BaseModel):
    """One feed that carried the story: its source and the entry's URL there (if any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    url: str | None = None


class Record(BaseModel):
    """A normalised news item, as stored in Redis and read by downstream services."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="stable id: same input, same id")
    kind: Literal["seed", "feed"]
    source: str = Field(min_length=1, description="seed file name or feed URL")
    title: str = Field(min_length=1, description="normalised headline")
    published: UtcDatetime | None = Field(description="publication time in UTC, or null")
    paragraphs: list[str] = Field(min_length=1)
    text: str = Field(min_length=1, description="paragraphs joined by blank lines")
    word_count: int = Field(ge=1)
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of title and text")
    ingested_at: UtcDatetime = Field(description="when the record was first stored")
    version: int = Field(ge=1, description="1 on creation, +1 per content change")
    url: str | None = None
    guid: str | None = None
    feed_title: str | None = None
    authors: list[str] | None = None
    tags: list[str] | None = None
    media: list[Medium] | None = Field(
        default=None, description="enclosures, media:content/thumbnail, attachments (http(s))"
    )
    image: str | None = Field(default=None, description="URL of the first image of media")
    seen_in: list[SeenIn] | None = Field(
        default=None,
        description="feeds that carried this story (same title and text), first the one "
        "that created the record; at most 20",
    )
    # Fields for search and NLP: null where a record has none (a text too short to tell).
    language: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}$",
        description="ISO 639-1 code of the text's language; null when too short to tell",
    )
    language_confidence: float | None = Field(
        default=None, ge=0, le=1, description="the detector's confidence in language (0-1)"
    )
    paragraph_hashes: list[str] | None = Field(
        default=None,
        description="per paragraph: 16 hex digits of SHA-256 (whitespace and NFC insensitive)",
    )
    cluster: str | None = Field(
        default=None,
        description="id of the earliest record whose text is a near-duplicate; its own id if none",
    )
    content_source: Literal["feed", "page"] | None = Field(
        default=None, description="feed records: text from the feed entry or the article page"
    )
    summary: str | None = Field(
        default=None, description="the feed entry's own text, when the text came from the page"
    )
    full_text_error: str | None = Field(
        default=None,
        pattern=r"^[a-z_]+\.[a-z0-9_]+$",
        description="why the article page gave no text (reason code); the feed's text is kept",
    )

    @model_validator(mode="after")
    def _text_matches_paragraphs(self) -> Record:
        if self.text != "\n\n".join(self.paragraphs):
            raise ValueError("text must be the paragraphs joined by blank lines")
        return self


class Rejection(BaseModel):
    """An input that could not become a record, with a stable reason code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Harmless
    reason: str = Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")
    detail: Harmless
    rejected_at: UtcDatetime
    input_id: str
    kind: InputKind


class Outcome(BaseModel):
    """What happened to one input (or one feed entry): the line `ingest run --json` prints."""

    model_config = ConfigDict(frozen=True)

    source: str
    outcome: OutcomeKind
    id: str | None = None
    reason: str | None = None
    input_id: str


# Left out of the stored JSON when null (older records never had them).
OPTIONAL_RECORD_FIELDS = (
    "url",
    "guid",
    "feed_title",
    "authors",
    "tags",
    "media",
    "image",
    "cluster",
    "content_source",
    "summary",
    "full_text_error",
)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A validated record ready for the store; the store assigns ingested_at and version."""

    item_id: str
    record: Record
    signature: bytes = b""  # packed MinHash signature (worker.text.neardup); b"": not indexed


@dataclass(frozen=True, slots=True)
class Refused:
    """A rejection ready for the store, with the envelope to replay it from (if kept)."""

    item_id: str
    rejection: Rejection
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """A feed whose server answered 304: a ``duplicate`` outcome with no record behind it."""

    item_id: str
    source: str


Prepared = Accepted | Refused | NotModified
