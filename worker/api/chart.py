"""Inline SVG for the status page: the per-minute throughput chart and horizontal bars.

Drawn on the server from numbers only (no text from a feed reaches these functions but
through :func:`worker.api.htmlsafe.text`); sizes are attributes, not ``style``, so the
page's Content-Security-Policy needs no inline styles beyond its one stylesheet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime

from worker.api.htmlsafe import text

SERIES = ("created", "updated", "duplicate", "rejected")
STEP = 5  # SVG units per minute
HEIGHT, LEFT, TOP, BOTTOM = 150, 44, 8, 22


def minute_label(minute: int, *, date: bool = False) -> str:
    """An epoch minute as ``HH:MM`` UTC (with the date: ``2024-03-05T07:15Z``)."""
    at = datetime.fromtimestamp(minute * 60, UTC)
    return at.strftime("%Y-%m-%dT%H:%MZ" if date else "%H:%M")


def throughput(minutes: Mapping[int, Counter[str]], last: int, span: int) -> str:
    """Stacked bars of outcomes per minute for the ``span`` minutes up to ``last``."""
    first = last - span + 1
    peak = max((minutes[m].total() for m in minutes if first <= m <= last), default=0)
    scale = HEIGHT / max(peak, 1)
    width = LEFT + span * STEP + 4
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {TOP + HEIGHT + BOTTOM}" role="img" '
        f'aria-label="Outcomes per minute, the last {span // 60} hours">',
        _axes(first, last, peak, width),
    ]
    for minute in range(first, last + 1):
        counts = minutes.get(minute)
        if counts and counts.total():
            parts.append(_bar(minute, counts, LEFT + (minute - first) * STEP, scale))
    parts.append("</svg>")
    return "".join(parts)


def _bar(minute: int, counts: Counter[str], x: int, scale: float) -> str:
    summary = ", ".join(f"{counts[s]} {s}" for s in SERIES if counts[s])
    shapes, y = [], float(TOP + HEIGHT)
    for series in SERIES:
        if counts[series]:
            h = max(counts[series] * scale, 1.0)
            y -= h
            shapes.append(
                f'<rect class="s-{series}" x="{x}" y="{y:.1f}" width="{STEP - 1}" '
                f'height="{h:.1f}"/>'
            )
    label = minute_label(minute, date=True)
    return (
        f'<g class="minute" data-minute="{label}"><title>{text(label)}: {text(summary)}</title>'
        + "".join(shapes)
        + "</g>"
    )


def _axes(first: int, last: int, peak: int, width: int) -> str:
    base = TOP + HEIGHT
    lines = [
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{width}" y2="{base}"/>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{width}" y2="{TOP}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{base}" text-anchor="end">0</text>',
    ]
    for minute in range(first, last + 1):
        if minute % 30 == 0:
            x = LEFT + (minute - first) * STEP
            lines.append(f'<line class="grid" x1="{x}" y1="{TOP}" x2="{x}" y2="{base}"/>')
            lines.append(
                f'<text class="tick" x="{x}" y="{base + 16}" text-anchor="middle">'
                f"{minute_label(minute)}</text>"
            )
    return "".join(lines)


def bar(value: float, most: float, width: int = 160) -> str:
    """A horizontal bar of ``value`` against ``most``, ``width`` units long at most."""
    w = 0.0 if most <= 0 else max(width * min(value / most, 1.0), 1.0 if value else 0.0)
    return (
        f'<svg class="bar" viewBox="0 0 {width} 10" width="{width}" height="10" aria-hidden="true">'
        f'<rect class="bar-back" width="{width}" height="10"/>'
        f'<rect class="bar-fill" width="{w:.1f}" height="10"/></svg>'
    )
