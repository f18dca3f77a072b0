"""The reply list of one ``ingest run``: outcomes and ``done`` markers, pushed by workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from worker.core.keys import Keys
from worker.storage.connection import Redis, guarded


class Replies:
    """Writes ``done`` markers for a run and reads what arrived on its list."""

    def __init__(self, client: Redis, keys: Keys, ttl: int) -> None:
        self.client, self.keys, self.ttl = client, keys, ttl

    @guarded
    def mark_done(self, run_id: str, done: Sequence[tuple[str, int]]) -> None:
        """Tell a waiting run which inputs have every item's outcome stored.

        ``done`` holds (input id, item count) pairs; all markers go in one round trip.
        """
        if not done:
            return
        key = self.keys.reply(run_id)
        markers = [orjson.dumps({"done": input_id, "items": items}) for input_id, items in done]
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(key, *markers)
        pipe.expire(key, self.ttl)
        pipe.execute()

    @guarded
    def take(self, run_id: str, block: float) -> list[dict[str, Any]]:
        """What has arrived for ``run_id`` (waiting up to ``block`` seconds for the first)."""
        key = self.keys.reply(run_id)
        raw: Any = self.client.lpop(key, 1000)
        if not raw and block > 0:
            popped: Any = self.client.blpop([key], timeout=block)
            raw = [popped[1]] if popped else []
        return [orjson.loads(item) for item in raw or []]
