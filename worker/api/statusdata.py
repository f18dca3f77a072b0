"""What the status page shows, gathered in one pass of bounded reads.

Reads go through :class:`worker.read.client.IngestClient`; the subscriptions come from
the feeds file, the queue depth from the broker. Each feed's state is one of
:class:`FeedHealth`, and the feeds are sorted before one page of them is kept, so the
politeness state is read only for the hosts on that page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from celery import Celery

from worker.core.errors import ConfigError
from worker.core.models import Record, Rejection
from worker.core.settings import Settings
from worker.pipeline.feedplan import settings_feeds
from worker.pipeline.politeness import host_of
from worker.queue.brokerprobe import queue_depth
from worker.read.client import Activity, HostState, IngestClient, StoreSize
from worker.text.feedsfile import Subscription

CHART_MINUTES = 180  # three hours of minutes
FEEDS_PAGE = 50
RECENT = 20
EXAMPLES = 10
WORKER_SEEN = 60.0  # a worker is "seen" with a heartbeat at most this old (seconds)
SORTS = ("state", "url", "fetched", "next", "created")
_HTTP = re.compile(r"^feed\.http_(\d{3})$")


class FeedHealth(StrEnum):
    """A subscription's state, in the page's default order (failing first)."""

    FAILING = "failing"
    BACKING_OFF = "backing off"
    NEW = "not polled yet"
    OK = "ok"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One subscription on the page."""

    url: str
    title: str | None
    health: FeedHealth
    state: dict[str, Any]
    http_status: str | None
    created_today: int
    host: str | None = None
    host_state: HostState | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """Everything the page draws."""

    activity: Activity
    queue_depth: int | None
    workers: list[tuple[str, float]]
    feeds: list[FeedRow]
    feeds_total: int
    feeds_problem: str | None
    reasons: list[tuple[str, int]]
    examples: list[Rejection]
    recent: list[tuple[Record, int]]
    store: StoreSize


def gather(
    client: IngestClient,
    settings: Settings,
    celery: Celery,
    *,
    sort: str = "state",
    page: int = 1,
    reason: str | None = None,
) -> Status:
    """One reading of everything on the page (``page`` of the feeds, 1-based)."""
    activity = client.activity()
    feeds, total, problem = _feeds(client, settings, activity, sort, page)
    return Status(
        activity=activity,
        queue_depth=queue_depth(celery, settings.queue),
        workers=client.workers_seen(WORKER_SEEN),
        feeds=feeds,
        feeds_total=total,
        feeds_problem=problem,
        reasons=activity.reasons.most_common(),
        examples=client.latest_rejections(reason, EXAMPLES) if reason else [],
        recent=client.recent_records(RECENT),
        store=client.store_size(),
    )


def _feeds(
    client: IngestClient, settings: Settings, activity: Activity, sort: str, page: int
) -> tuple[list[FeedRow], int, str | None]:
    try:
        subs = settings_feeds(settings).feeds
    except ConfigError as e:
        return [], 0, str(e)
    states = client.feed_states([s.url for s in subs])
    rows = [_row(s, st, activity) for s, st in zip(subs, states, strict=True)]
    rows.sort(key=_SORT_KEYS[sort if sort in _SORT_KEYS else "state"])
    kept = rows[(page - 1) * FEEDS_PAGE : page * FEEDS_PAGE]
    kept = [replace(r, host=host_of(r.url)) for r in kept]  # only the page's rows
    hosts = client.host_states(sorted({r.host for r in kept if r.host}))
    kept = [replace(r, host_state=hosts.get(r.host or "")) for r in kept]
    return kept, len(rows), None


def _row(sub: Subscription, state: dict[str, Any], activity: Activity) -> FeedRow:
    return FeedRow(
        url=sub.url,
        title=sub.title,
        health=health(sub, state),
        state=state,
        http_status=http_status(state.get("last_status")),
        created_today=activity.sources.get(sub.url, 0),
    )


def health(sub: Subscription, state: dict[str, Any]) -> FeedHealth:
    """ok, failing (the last fetch failed), backing off (polled later than its interval)."""
    if not sub.enabled:
        return FeedHealth.DISABLED
    if not state.get("failures"):
        return FeedHealth.OK if state.get("last_attempt") else FeedHealth.NEW
    interval = state.get("interval") or sub.interval
    next_poll, attempt = state.get("next_poll"), state.get("last_attempt")
    if next_poll and attempt and next_poll - attempt > interval * 1.01:
        return FeedHealth.BACKING_OFF
    return FeedHealth.FAILING


def http_status(last_status: str | None) -> str | None:
    """The HTTP status of the last fetch, as far as the stored outcome tells."""
    if last_status == "ok":
        return "200"
    if last_status == "not_modified":
        return "304"
    m = _HTTP.match(last_status or "")
    return m.group(1) if m else None


_ORDER = {h: n for n, h in enumerate(FeedHealth)}
_SORT_KEYS: dict[str, Any] = {
    "state": lambda r: (_ORDER[r.health], -(r.state.get("failures") or 0), r.url),
    "url": lambda r: r.url,
    "fetched": lambda r: (-(r.state.get("last_attempt") or 0), r.url),
    "next": lambda r: (r.state.get("next_poll") or float("inf"), r.url),
    "created": lambda r: (-r.created_today, r.url),
}
