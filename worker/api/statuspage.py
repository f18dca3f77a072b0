"""``GET /``: the status page, server-rendered HTML that needs no script.

Behind the same key check as every other read (:data:`worker.api.state.Reader`), and
read-only: every link on it is a GET of this page or of the JSON API. The page refreshes
itself (``<meta http-equiv="refresh">``, ``?refresh=0`` for never). Text from feeds is
escaped by :mod:`worker.api.htmlsafe`; the Content-Security-Policy allows no script and
only the page's own stylesheet (by its hash).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import UTC, datetime
from importlib import resources
from string import Template
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from worker.api import chart
from worker.api.htmlsafe import link, path_part, text
from worker.api.state import ApiState, Reader, State
from worker.api.statusdata import CHART_MINUTES, EXAMPLES, FEEDS_PAGE, FeedRow, Status, gather
from worker.read.client import StoreSize

router = APIRouter(tags=["operations"])
Sort = Literal["state", "url", "fetched", "next", "created"]
SORT_NAMES = {
    "state": "failing first",
    "url": "URL",
    "fetched": "last fetch",
    "next": "next poll",
    "created": "created",
}
REASON = r"^[a-z_]+\.[a-z0-9_]+$"


@functools.cache
def _asset(name: str) -> str:
    return resources.files("worker.api").joinpath("page", name).read_text(encoding="utf-8")


def _headers() -> dict[str, str]:
    digest = hashlib.sha256(_asset("status.css").encode()).digest()
    style = "'sha256-" + base64.b64encode(digest).decode() + "'"
    policy = (
        f"default-src 'none'; style-src {style}; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


@router.get("/", response_class=HTMLResponse, summary="The status page (HTML)")
def status_page(
    state: State,
    _: Reader,
    sort: Annotated[Sort, Query(description="feeds order")] = "state",
    page: Annotated[int, Query(ge=1, le=10_000, description="page of feeds")] = 1,
    reason: Annotated[str | None, Query(pattern=REASON, description="examples of")] = None,
    refresh: Annotated[int, Query(ge=0, le=3600, description="seconds; 0: never")] = 30,
) -> Response:
    """Throughput, feeds, rejections, recent records and the store, for a person to read."""
    status = gather(state.reader, state.settings, state.celery, sort=sort, page=page, reason=reason)
    view = View(state, status, {"sort": sort, "page": page, "reason": reason, "refresh": refresh})
    return HTMLResponse(view.render(), headers=_headers())


class View:
    """One rendering of the page: the status read, and the query it was asked with."""

    def __init__(self, state: ApiState, status: Status, query: dict[str, object]) -> None:
        self.state, self.status, self.query = state, status, query
        self.now = status.activity.now

    def href(self, **changes: object) -> str:
        """This page's URL with ``changes`` to its query (defaults left out)."""
        defaults = {"sort": "state", "page": 1, "reason": None, "refresh": 30}
        merged = {**self.query, **changes}
        params = {k: v for k, v in merged.items() if v is not None and v != defaults[k]}
        return text("/?" + urlencode(params) if params else "/")

    def render(self) -> str:
        refresh = int(str(self.query["refresh"]))
        meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
        return Template(_asset("status.html")).substitute(
            refresh=meta,
            css=_asset("status.css"),
            generated=f"{self.time(self.now)} · refreshes "
            + (f"every {refresh} s" if refresh else "never"),
            tiles=self.tiles(),
            throughput=self.throughput(),
            feeds_count=f"<small>{self.status.feeds_total} subscriptions</small>",
            feeds=self.feeds(),
            rejections=self.rejections(),
            examples=self.examples(),
            records=self.records(),
            store=self.store(),
        )

    # -- pieces -----------------------------------------------------------------------

    def time(self, epoch: float | None) -> str:
        if epoch is None:
            return '<span class="muted">never</span>'
        at = datetime.fromtimestamp(epoch, UTC)
        now = datetime.fromtimestamp(self.now, UTC)
        shown = at.strftime("%H:%M:%S" if at.date() == now.date() else "%Y-%m-%d %H:%M")
        return (
            f'<time datetime="{at.isoformat()}">{shown} UTC</time> '
            f'<span class="muted">({_relative(epoch - self.now)})</span>'
        )

    def tiles(self) -> str:
        s, minute = self.status, int(self.now) // 60
        hour = [s.activity.minutes.get(m) for m in range(minute - 59, minute + 1)]
        per = {k: sum(c[k] for c in hour if c) for k in chart.SERIES}
        depth = "?" if s.queue_depth is None else str(s.queue_depth)
        names = ", ".join(name for name, _ in s.workers[:5]) or "none"
        if len(s.workers) > 5:
            names += f" and {len(s.workers) - 5} more"
        tiles = [
            (depth, "tasks in the queue"),
            (str(len(s.workers)), f"workers seen (last minute): {text(names)}"),
            (str(per["created"]), "created, last hour"),
            (str(per["updated"]), "updated, last hour"),
            (str(per["duplicate"]), "duplicates, last hour"),
            (str(per["rejected"]), "rejected, last hour"),
            (f"{s.store.records:,}", "records kept"),
        ]
        cells = "".join(
            f'<div class="tile"><b>{v}</b><span>{label}</span></div>' for v, label in tiles
        )
        return f'<div class="tiles" id="summary">{cells}</div>'

    def throughput(self) -> str:
        minutes, last = self.status.activity.minutes, int(self.now) // 60
        legend = "".join(f'<span><i class="k-{s}"></i>{s}</span>' for s in chart.SERIES)
        svg = chart.throughput(minutes, last, CHART_MINUTES)
        rows = [
            f'<tr><td data-label="minute">{chart.minute_label(m, date=True)}</td>'
            + "".join(
                f'<td class="num" data-label="{k}">{minutes[m][k]}</td>' for k in chart.SERIES
            )
            + "</tr>"
            for m in sorted(minutes, reverse=True)
            if last - CHART_MINUTES < m <= last and minutes[m].total()
        ]
        head = "".join(f'<th class="num">{k}</th>' for k in chart.SERIES)
        table = (
            f"<details><summary>{_count(len(rows), 'minute')} with outcomes, as numbers</summary>"
            f'<table class="cards"><thead><tr><th>minute (UTC)</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></details>"
            if rows
            else '<p class="muted">Nothing ingested in the last three hours.</p>'
        )
        return f'<div class="legend">{legend}</div><div class="chartbox">{svg}</div>{table}'

    def feeds(self) -> str:
        s = self.status
        if s.feeds_problem:
            return f'<p class="problem">{text(s.feeds_problem)}</p>'
        if not s.feeds_total:
            return '<p class="muted">No subscriptions (INGEST_FEEDS_FILE has no feeds).</p>'
        current = self.query["sort"]
        sorts = " ".join(
            f"<b>{name}</b>"
            if key == current
            else f'<a href="{self.href(sort=key, page=1)}">{name}</a>'
            for key, name in SORT_NAMES.items()
        )
        head = (
            "<tr><th>state</th><th>feed</th><th>last fetch</th><th>HTTP</th><th>next poll</th>"
            '<th class="num">created 24 h</th><th>last error</th><th>host</th></tr>'
        )
        body = "".join(self.feed_row(r) for r in s.feeds)
        return (
            f'<p class="sorts">Sort: {sorts}</p>'
            f'<table class="cards feeds"><thead>{head}</thead><tbody>{body}</tbody></table>'
            + self.pager()
        )

    def feed_row(self, r: FeedRow) -> str:
        st = r.state
        error = (
            f"<code>{text(st['last_status'])}</code> {text(st.get('last_error') or '')}"
            if st.get("failures")
            else ""
        )
        title = f'<br><span class="muted">{text(r.title)}</span>' if r.title else ""
        slug = r.health.value.replace(" ", "-")
        failures = f" ×{st['failures']}" if st.get("failures") else ""
        return (
            f'<tr data-health="{text(r.health.value)}">'
            f'<td data-label="state"><span class="state state-{slug}">'
            f"{r.health.value}{failures}</span></td>"
            f'<td class="wrap" data-label="feed">{link(r.url)}{title}</td>'
            f'<td data-label="last fetch">{self.time(st.get("last_attempt"))}</td>'
            f'<td data-label="HTTP">{text(r.http_status or "—")}</td>'
            f'<td data-label="next poll">{self.time(st.get("next_poll"))}</td>'
            f'<td class="num" data-label="created 24 h">{r.created_today}</td>'
            f'<td class="wrap" data-label="last error">{error}</td>'
            f'<td class="wrap" data-label="host">{self.host(r)}</td></tr>'
        )

    def host(self, r: FeedRow) -> str:
        h = r.host_state
        if r.host is None:
            return ""
        notes = []
        if h is not None and h.blocked_until_ms:
            notes.append(f"blocked until {self.time(h.blocked_until_ms / 1000)}")
        if h is not None and h.fetching:
            notes.append(f"{h.fetching} fetching")
        if h is not None and h.next_start_ms:
            notes.append(f"next start {self.time(h.next_start_ms / 1000)}")
        return text(r.host) + (
            f"<br>{'; '.join(notes)}" if notes else ' <span class="muted">free</span>'
        )

    def pager(self) -> str:
        s, page = self.status, int(str(self.query["page"]))
        pages = max(1, -(-s.feeds_total // FEEDS_PAGE))
        if pages == 1:
            return ""
        prev = f'<a href="{self.href(page=page - 1)}#feeds">previous</a>' if page > 1 else ""
        nxt = f'<a href="{self.href(page=page + 1)}#feeds">next</a>' if page < pages else ""
        return f'<p class="pager">{prev} page {page} of {pages} {nxt}</p>'

    def rejections(self) -> str:
        reasons = self.status.reasons
        if not reasons:
            return '<p class="muted">No rejections in the last 24 hours.</p>'
        most = reasons[0][1]
        rows = "".join(
            f'<tr><td data-label="reason"><a href="{self.href(reason=code)}#examples">'
            f"<code>{text(code)}</code></a></td>"
            f'<td class="num" data-label="count">{n}</td><td>{chart.bar(n, most)}</td></tr>'
            for code, n in reasons
        )
        return (
            '<table class="cards narrow"><thead><tr><th>reason</th><th class="num">count</th>'
            f"<th></th></tr></thead><tbody>{rows}</tbody></table>"
        )

    def examples(self) -> str:
        reason = self.query["reason"]
        if reason is None:
            return ""
        rows = "".join(
            f'<tr><td data-label="when">{self.time(r.rejected_at.timestamp())}</td>'
            f'<td class="wrap" data-label="source">{link(r.source)}</td>'
            f'<td class="wrap" data-label="detail">{text(r.detail)}</td>'
            f'<td class="wrap" data-label="replay"><code>ingest rejections replay '
            f"{text(r.input_id)}</code></td></tr>"
            for r in self.status.examples
        )
        body = (
            '<table class="cards"><thead><tr><th>when</th><th>source</th><th>detail</th>'
            f"<th>replay</th></tr></thead><tbody>{rows}</tbody></table>"
            if rows
            else '<p class="muted">None among the newest rejections.</p>'
        )
        close = f'<a href="{self.href(reason=None)}">close</a>'
        return (
            f'<section id="examples"><h2>Latest <code>{text(reason)}</code> '
            f"<small>up to {EXAMPLES}, newest first · {close}</small></h2>{body}</section>"
        )

    def records(self) -> str:
        recent = self.status.recent
        if not recent:
            return '<p class="muted">No records yet.</p>'
        rows = "".join(
            f'<tr><td class="wrap" data-label="title">'
            f'<a href="/v1/records/{text(path_part(r.id))}">{text(r.title)}</a></td>'
            f'<td class="wrap" data-label="source">{link(r.source)}</td>'
            f'<td data-label="language">{text(r.language or "—")}</td>'
            f'<td class="num" data-label="cluster">{n}</td>'
            f'<td data-label="stored">{self.time(r.ingested_at.timestamp())}</td></tr>'
            for r, n in recent
        )
        return (
            '<table class="cards"><thead><tr><th>title</th><th>source</th><th>language</th>'
            '<th class="num">cluster</th><th>first stored</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )

    def store(self) -> str:
        size, settings = self.status.store, self.state.settings
        rows = [
            ("memory", _memory(size)),
            ("records", f"{size.records:,} ({size.undated:,} undated)"),
            ("oldest kept", self.time(size.oldest_published) if size.oldest_published else "—"),
            ("record retention", _days(settings.record_retention_days)),
            (
                "event retention",
                _seconds(settings.stream_max_age)
                + f", at most {settings.stream_maxlen:,} events a stream",
            ),
            ("outcomes kept", _seconds(settings.outcome_ttl)),
        ]
        cells = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
        return f'<dl class="kv">{cells}</dl>'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _memory(size: StoreSize) -> str:
    used = _bytes(size.used_memory)
    if not size.maxmemory:
        return f"{used} (no maxmemory set)"
    share = size.used_memory / size.maxmemory
    return (
        f'<span class="mem">{chart.bar(size.used_memory, size.maxmemory)}</span> '
        f"{used} of {_bytes(size.maxmemory)} ({share:.0%})"
    )


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _days(days: int | None) -> str:
    return (
        "kept until deleted (`ingest prune --before` or INGEST_RECORD_RETENTION_DAYS)"
        if days is None
        else f"{days} days (`ingest prune`)"
    )


def _seconds(seconds: int | None) -> str:
    if seconds is None:
        return "no age limit"
    return _relative(seconds).removeprefix("in ")


def _relative(seconds: float) -> str:
    """``in 5 min`` / ``3 h ago``."""
    n = abs(seconds)
    amount = (
        f"{n:.0f} s"
        if n < 60
        else f"{n / 60:.0f} min"
        if n < 3600
        else f"{n / 3600:.0f} h"
        if n < 86400
        else f"{n / 86400:.0f} d"
    )
    return f"in {amount}" if seconds > 0.5 else f"{amount} ago"
