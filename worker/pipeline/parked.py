"""Document bytes by reference: parked in Redis by the producer, named by the task id.

A message that carries its documents (base64 inside JSON) costs every byte several
encodings and copies: in the producer, in the broker (kombu keeps a copy of each unacked
message) and in the worker. So the producer parks a batch's bytes in one Redis hash
(``ns:parked:{batch_id}``: input id -> bytes) before it publishes the batch under the task
id ``batch_id``, and the messages carry only the envelopes' other fields. The worker
reads the bytes back and drops the hash only after the batch's outcomes are stored, so a
redelivered batch still finds them (and one stored already returns its first outcomes).
The same hash holds the batch's messages: the ledger entry the recovery sweep publishes
again (:mod:`worker.storage.ledger`), written with the bytes in one round trip.
A parked input's message says ``data: null``; one without ``data`` at all is taken as
it is (a seed without bytes is ``seed.empty``).

With a Redis broker the bytes would cross the same Redis anyway, so parking them costs
nothing extra and keeps the messages small. With RabbitMQ (:func:`inline`) the bytes
travel inside the message as base64 instead: RabbitMQ keeps them (a quorum queue
replicates them), and the store sees only the upserts. Messages that carry ``data``
inline are processed as they are; a parked input whose bytes are gone (queued longer
than ``INGEST_OUTCOME_TTL``) is rejected as ``input.expired``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from worker.core.models import Envelope, InputKind
from worker.core.protocol import BYTES_KINDS
from worker.storage.store import Store


def message(
    input_id: str,
    kind: InputKind,
    source: str,
    *,
    data: bytes | None = None,
    url: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """The queue message of one input: ``data: null`` when it has bytes (they are parked).

    Built by hand, not through :class:`Envelope`: the producer made every field itself,
    and the worker validates the message as hostile anyway.
    """
    out: dict[str, Any] = {"input_id": input_id, "kind": InputKind(kind).value, "source": source}
    if url is not None:
        out["url"] = url
    if reply_to is not None:
        out["reply_to"] = reply_to
    if data is not None:
        out["data"] = None  # parked: the marker tells it from a message without bytes
    return out


def inline(message: Mapping[str, Any], data: bytes | None) -> dict[str, Any]:
    """The message with its bytes inside (base64), for a broker that keeps them itself."""
    if data is None:
        return dict(message)
    return {**message, "data": base64.b64encode(data).decode("ascii")}


def from_envelope(e: Envelope) -> tuple[dict[str, Any], bytes | None]:
    """An envelope's queue message and the bytes to park for it."""
    return message(
        e.input_id, e.kind, e.source, data=e.data, url=e.url, reply_to=e.reply_to
    ), e.data


def split(envelopes: Sequence[Envelope]) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """Queue messages with ``data: null`` for their bytes, and the bytes by input id."""
    pairs = [from_envelope(e) for e in envelopes]
    data = {m["input_id"]: d for m, d in pairs if d is not None}
    return [m for m, _ in pairs], data


def attach(
    messages: Sequence[Mapping[str, Any]], store: Store, batch_id: str | None
) -> list[Mapping[str, Any]]:
    """The messages with their parked bytes back in ``data`` (still null where missing)."""
    wanted = [i for i, m in enumerate(messages) if _needs_bytes(m)]
    if not wanted or not batch_id:
        return list(messages)
    found = store.ledger.parked(batch_id, [str(messages[i]["input_id"]) for i in wanted])
    out = list(messages)
    for i, data in zip(wanted, found, strict=True):
        if data is not None:
            out[i] = {**messages[i], "data": data}
    return out


def _needs_bytes(message: Mapping[str, Any]) -> bool:
    return (
        "data" in message
        and message["data"] is None
        and message.get("kind") in BYTES_KINDS
        and isinstance(message.get("input_id"), str)
    )
