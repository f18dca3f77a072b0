"""The fetcher's limits from the settings: the one place the pipeline narrows them."""

from __future__ import annotations

from worker.core.settings import Settings
from worker.sources.limits import FetchLimits


def fetch_limits(settings: Settings) -> FetchLimits:
    """The ``INGEST_FEED_*`` limits every fetch of this process obeys."""
    return FetchLimits(
        allowed_networks=settings.feed_allowed_networks,
        connect_timeout=settings.feed_connect_timeout,
        timeout=settings.feed_timeout,
        max_bytes=settings.feed_max_bytes,
        max_redirects=settings.feed_max_redirects,
        user_agent=settings.feed_user_agent,
        proxy=settings.feed_proxy,
    )
