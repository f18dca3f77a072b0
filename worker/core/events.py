"""Stream events as downstream consumers see them.

A record event's fields are ``event`` (``created`` / ``updated`` / ``deleted``), ``id``,
``version``, ``kind``, ``source``, ``content_hash`` and ``at``, and for ``deleted`` a
``reason`` (``retention``); a rejection event's are ``event``
(``rejected``), ``input_id``, ``reason``, ``source`` and ``at``. Redis keeps every field
as a string; :meth:`Event.to_json` turns ``version`` back into a number and the
``paragraphs_*`` indexes (comma-separated) into lists of numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STREAMS = ("records", "rejections")
INT_FIELDS = frozenset({"version", "deliveries"})
INDEX_FIELDS = frozenset({"paragraphs_added", "paragraphs_removed", "paragraphs_changed"})


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of an event stream, with how often it has been delivered to this consumer."""

    stream: str
    stream_id: str
    fields: Mapping[str, str] = field(default_factory=dict)
    deliveries: int = 1

    @property
    def type(self) -> str:
        """``created``, ``updated``, ``deleted`` or ``rejected``."""
        return self.fields.get("event", "")

    @property
    def record_id(self) -> str | None:
        return self.fields.get("id")

    @property
    def version(self) -> int | None:
        value = self.fields.get("version")
        return int(value) if value is not None else None

    @property
    def trimmed(self) -> bool:
        """True when the entry was deleted (trimmed) while it was pending: nothing to hand over."""
        return not self.fields

    def to_json(self) -> dict[str, Any]:
        """The event as one JSON object: ``stream_id`` then the fields, numbers as numbers."""
        data: dict[str, Any] = {"stream_id": self.stream_id}
        for name, value in self.fields.items():
            data[name] = _number(name, value)
        return data


def _number(name: str, value: str) -> Any:
    """A field's value in JSON: numbers as numbers, index lists as lists of numbers."""
    if name in INT_FIELDS and value.isdigit():
        return int(value)
    if name in INDEX_FIELDS and all(part.isdigit() for part in value.split(",") if part):
        return [int(part) for part in value.split(",") if part]
    return value
