"""The published JSON Schema of a record (schema version 1)."""

from __future__ import annotations

from typing import Any

from worker.core.models import SCHEMA_VERSION, Record

SCHEMA_ID = "https://news-ingest-worker.invalid/schema/record-v1.json"


def record_schema() -> dict[str, Any]:
    """The JSON Schema a stored record validates against."""
    schema = Record.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = f"Record (schema version {SCHEMA_VERSION})"
    return schema
