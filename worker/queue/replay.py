"""Replay rejected inputs: their original envelopes go back to the queue as new inputs.

A replay is a new input with a fresh input id, published through the producer (so
``ingest stats`` counts it like any other input); the old rejection stays as it was and
``ns:replayed`` maps its input id to the new one (``replayed_as`` in
``ingest rejections list --json``). The payload is the envelope as first received, so a
fixed normaliser sees exactly the original bytes. Rejections kept without a payload
(``seed.too_large``, ``seed.binary``: the bytes are the problem) cannot be replayed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from celery import Celery

from worker.core.models import Envelope, Rejection
from worker.core.settings import Settings
from worker.queue.producer import publish_envelopes
from worker.storage.read_rejections import RejectionReads
from worker.storage.store import Store


@dataclass(frozen=True, slots=True)
class Replayed:
    """What happened to one selected rejection: a new input id, or why it was skipped."""

    input_id: str
    source: str
    reason: str
    replayed_as: str | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "input_id": self.input_id,
            "source": self.source,
            "reason": self.reason,
            "replayed_as": self.replayed_as,
            "skipped": self.skipped,
        }


def by_ids(client: RejectionReads, input_ids: Iterable[str]) -> list[Rejection | str]:
    """The rejections with these input ids; an unknown id stays as its string."""
    return [client.rejection(i) or i for i in input_ids]


def unreplayed(client: RejectionReads, found: Iterable[Rejection]) -> list[Rejection]:
    """Drop the rejections that were already replayed."""
    rejections = list(found)
    done = client.replayed_as([r.input_id for r in rejections])
    return [r for r in rejections if r.input_id not in done]


def replay(
    app: Celery, store: Store, selected: Iterable[Rejection | str], settings: Settings
) -> list[Replayed]:
    """Publish the original envelope of each selected rejection under a new input id."""
    reads = RejectionReads(store.client, store.keys)
    results: list[Replayed] = []
    fresh: list[Envelope] = []
    for rej in selected:
        if isinstance(rej, str):
            results.append(Replayed(rej, "", "", skipped="no such rejection"))
            continue
        original = reads.payload(rej.input_id)
        if original is None:
            results.append(
                Replayed(rej.input_id, rej.source, rej.reason, skipped="no payload kept")
            )
            continue
        new = original.model_copy(update={"input_id": uuid.uuid4().hex, "reply_to": None})
        fresh.append(new)
        results.append(Replayed(rej.input_id, rej.source, rej.reason, replayed_as=new.input_id))
    if fresh:
        publish_envelopes(app, store, fresh, settings)
        store.mark_replayed({r.input_id: r.replayed_as for r in results if r.replayed_as})
    return results
