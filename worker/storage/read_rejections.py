"""Reads of what became of inputs: outcomes, rejections, kept payloads and replays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from worker.core.models import Envelope, Outcome, Rejection
from worker.storage.connection import as_str, guarded, guarded_iter
from worker.storage.reader import Position, Reader, limited
from worker.storage.scores import Bound, ScoreRange


class RejectionReads(Reader):
    """Outcomes and rejections of one namespace; transient faults raise StoreUnavailable."""

    @guarded
    def outcomes(self, input_id: str) -> list[Outcome] | None:
        """What became of one input: one outcome, or one per entry of a feed; None until all are.

        A seed, a feed that failed as a whole or was not modified has one outcome under its
        own id; a feed's entries have theirs under ``{input_id}#{n}``, and the feed's
        ``expanded`` count (stored before them) says how many (none: one entry).
        """
        keys = self.keys
        if keys.shards == 1:
            found: Any = self._redis.mget(
                [keys.outcome(input_id), keys.expanded(input_id), keys.outcome(f"{input_id}#0")]
            )
        else:
            whole_, first_ = self._outcome_values([input_id, f"{input_id}#0"])
            found = [whole_, self._redis.get(keys.expanded(input_id)), first_]
        whole, expanded, first = found
        if whole or not first:
            return [Outcome.model_validate_json(whole)] if whole else None
        rest = [f"{input_id}#{n}" for n in range(1, int(expanded or 1))]
        raws = [first, *(self._outcome_values(rest) if rest else [])]
        if not all(raws):
            return None
        return [Outcome.model_validate_json(raw) for raw in raws]

    def _outcome_values(self, input_ids: list[str]) -> list[Any]:
        """The stored outcome of each input, or None: on a sharded store an upsert's outcome
        is in its record's shard, so every shard is asked, in one round trip."""
        keys = self.keys
        if keys.shards == 1:
            return list(self._redis.mget([keys.outcome(i) for i in input_ids]))
        pipe = self._redis.pipeline(transaction=False)
        for i in input_ids:
            for k in keys.every_shard():
                pipe.get(k.outcome(i))
        found = pipe.execute()
        per = keys.shards
        return [
            next((v for v in found[n * per : (n + 1) * per] if v), None)
            for n in range(len(input_ids))
        ]

    @guarded_iter
    def rejections(
        self,
        *,
        since: Bound = None,
        until: Bound = None,
        reason: str | None = None,
        source: str | None = None,
        limit: int | None = None,
        page: int = 500,
    ) -> Iterator[Rejection]:
        """Rejections newest first by ``rejected_at``, filtered.

        ``reason`` is a code (``seed.bad_date``) or a family (``seed``).
        """
        scores = ScoreRange.between(since, until)
        # Filters are applied here, so the index is read in full pages when there are any.
        unfiltered = reason is None and source is None
        found = self._values(
            [k.rejections for k in self.keys.every_shard()],
            scores,
            page,
            limit if unfiltered else None,
            self._rejs,
        )
        yield from limited((r for r in found if _matches(r, reason, source)), limit)

    @guarded
    def rejection_page(
        self,
        *,
        since: Bound = None,
        until: Bound = None,
        reason: str | None = None,
        source: str | None = None,
        limit: int = 100,
        after: Position | None = None,
    ) -> tuple[list[Rejection], Position | None]:
        """One page of :meth:`rejections` from ``after``, and where the next page starts."""
        return self._page(
            [k.rejections for k in self.keys.every_shard()],
            ScoreRange.between(since, until),
            limit,
            after,
            self._load_rejections,
            lambda r: _matches(r, reason, source),
            filtered=reason is not None or source is not None,
        )

    def _rejs(self, ids: list[str]) -> Iterator[Rejection]:
        yield from (r for r in self._load_rejections(ids) if r is not None)

    def _load_rejections(self, ids: list[str]) -> list[Rejection | None]:
        raws = self._get_many(lambda k: k.rejection, ids)
        return [Rejection.model_validate_json(raw) if raw else None for raw in raws]

    @guarded
    def rejection(self, input_id: str) -> Rejection | None:
        raw = self._redis.get(self.keys.of(input_id).rejection(input_id))
        return Rejection.model_validate_json(raw) if raw else None

    @guarded
    def payload(self, input_id: str) -> Envelope | None:
        """The original envelope of a rejected input, when it was kept for replay."""
        raw = self.kept_bytes(input_id)
        if raw is None:
            return None
        try:
            return Envelope.model_validate_json(raw)
        except ValidationError:  # the raw bytes of a malformed queue message: not replayable
            return None

    @guarded
    def kept_bytes(self, input_id: str) -> bytes | None:
        """The bytes kept with a rejection: its envelope, or a malformed message's raw bytes."""
        raw: bytes | None = self._redis.get(self.keys.of(input_id).payload(input_id))  # type: ignore[assignment]
        return raw

    @guarded
    def replayed_as(self, input_ids: list[str]) -> dict[str, str]:
        """For rejected inputs that were replayed: rejected input id -> new input id."""
        if not input_ids:
            return {}
        found: Any = self._redis.hmget(self.keys.replayed, input_ids)
        return {i: as_str(v) for i, v in zip(input_ids, found, strict=True) if v}


def _matches(rej: Rejection, reason: str | None, source: str | None) -> bool:
    if source is not None and rej.source != source:
        return False
    return reason is None or rej.reason == reason or rej.reason.startswith(reason + ".")
