"""What a fetch may do: the few settings the fetcher reads, in one small frozen value.

Built once at the pipeline boundary (:func:`worker.pipeline.fetchlimits.fetch_limits`) from
the settings, so the fetcher's internals see their limits and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """The limits of one fetch, each named after the ``INGEST_FEED_*`` setting it comes from."""

    allowed_networks: tuple[str, ...]  # CIDRs a host may resolve into besides public ones
    connect_timeout: float  # seconds to resolve and connect, each hop
    timeout: float  # seconds for the whole fetch, redirects included
    max_bytes: int  # body cap after decompression
    max_redirects: int
    user_agent: str | None  # None: news-ingest-worker/VERSION
    proxy: str | None  # http://host:port for every fetch, unless a feed names its own
