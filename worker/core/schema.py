"""The published JSON Schema of a record: what readers get (the client, the CLI, the API).

Redis holds the text once (schema version 2, see docs/consumers.md); the record a reader
gets has ``text`` and ``paragraphs`` both.
"""

from __future__ import annotations

from typing import Any

from worker.core.models import SCHEMA_VERSION, Record

SCHEMA_ID = f"https://news-ingest-worker.invalid/schema/record-v{SCHEMA_VERSION}.json"


def record_schema() -> dict[str, Any]:
    """The JSON Schema every record a reader gets validates against."""
    schema = Record.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = f"Record (schema version {SCHEMA_VERSION})"
    return schema
