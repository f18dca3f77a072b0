"""Score ranges of the sorted-set indexes: a typed value, in Redis's syntax only when sent.

Records are indexed by ``published`` and rejections by ``rejected_at``, as POSIX seconds;
an undated record scores :data:`NO_DATE_SCORE`. A :class:`ScoreRange` is built from the
``since``/``until`` bounds the reads take and becomes ``ZRANGEBYSCORE`` arguments (``(x``
for an exclusive end, ``-inf``/``+inf`` for an open one) in :meth:`ScoreRange.redis_args`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

# Below any real date (year 1 is about -6.2e10), so undated records sort last.
NO_DATE_SCORE = -1e15
Bound = datetime | date | str | None


def to_bound(value: Bound, *, end_of_day: bool) -> datetime | None:
    """An aware UTC bound from an ISO date/datetime string, a date or a datetime.

    Naive datetimes are UTC. A date-only upper bound (``end_of_day``) includes that day.
    Raises ValueError for a string that is neither.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text_value = value.strip()
        value = (
            date.fromisoformat(text_value)
            if len(text_value) == 10
            else datetime.fromisoformat(text_value.replace("Z", "+00:00"))
        )
    if not isinstance(value, datetime):
        moment = datetime.combine(value, time(0), UTC)
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ScoreRange:
    """Scores from ``low`` to ``high``; an ``_open`` end leaves its own score out."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    @classmethod
    def between(cls, since: Bound, until: Bound) -> ScoreRange:
        """Inclusive bounds, each ``None`` for no bound (see :func:`to_bound`)."""
        start, end = to_bound(since, end_of_day=False), to_bound(until, end_of_day=True)
        return cls(start.timestamp() if start else -math.inf, end.timestamp() if end else math.inf)

    @classmethod
    def published(cls, since: Bound, until: Bound) -> ScoreRange:
        """As :meth:`between`, leaving undated records out when ``until`` alone is given."""
        scores = cls.between(since, until)
        if since is None and until is not None:
            return replace(scores, low=NO_DATE_SCORE, low_open=True)
        return scores

    def up_to(self, high: float) -> ScoreRange:
        """This range, ending at ``high`` inclusive (where a keyset page resumes)."""
        return replace(self, high=high, high_open=False)

    def contains(self, score: float) -> bool:
        above = score > self.low if self.low_open else score >= self.low
        below = score < self.high if self.high_open else score <= self.high
        return above and below

    def redis_args(self) -> tuple[float | str, float | str]:
        """``(max, min)`` as ``ZREVRANGEBYSCORE`` takes them."""
        return _redis_bound(self.high, self.high_open), _redis_bound(self.low, self.low_open)


def _redis_bound(value: float, exclusive: bool) -> float | str:
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"({value!r}" if exclusive else value
