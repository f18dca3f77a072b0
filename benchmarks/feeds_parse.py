"""Feed parsing figures: entries per second on a 1,000-entry feed file, and the peak memory
of ingesting the entity-attack fixtures (parse, normalise and validate; no Redis).

    python benchmarks/feeds_parse.py [--entries 1000] [--repeat 5]

Entries per second: the best and the median of ``--repeat`` runs of the whole feed
stage (``worker.pipeline.feedentries.feed_items``: DTD neutralising, feedparser, nh3, normalisation,
pydantic validation) on a generated RSS 2.0 file whose entries carry ~1.5 KB of HTML.

Peak memory, per attack fixture, measured two ways: the peak of traced Python
allocations (tracemalloc; pyexpat allocates through Python's allocator, so entity
expansion is included) and the growth of the peak resident set (VmHWM) of a fresh child
process over one that parsed a small feed. For contrast, the same figures for plain
``feedparser.parse`` without the neutraliser.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.core.models import Envelope, InputKind  # noqa: E402
from worker.core.settings import Settings  # noqa: E402
from worker.pipeline.feedentries import feed_items  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "feeds"
PARAGRAPH = (
    "<p>The council met on Tuesday to discuss the <em>budget</em> for the coming year, "
    "with members debating roads, schools &amp; parks at length before a late vote.</p>"
)


def generated_feed(entries: int) -> bytes:
    """An RSS 2.0 feed of ``entries`` items, each with ~1.5 KB of HTML content."""
    items = "".join(
        f"<item><title>Story number {n} &amp; its headline</title>"
        f"<link>https://bench.example.com/story/{n}</link><guid>bench-{n}</guid>"
        f"<pubDate>Tue, 05 Mar 2024 {n % 24:02}:{n % 60:02}:00 +0100</pubDate>"
        f"<author>desk@example.com (News Desk)</author><category>Section {n % 7}</category>"
        f"<description><![CDATA[{PARAGRAPH * 8}<script>track({n})</script>]]></description>"
        f"</item>\n"
        for n in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        "<title>Benchmark</title><link>https://bench.example.com/</link>"
        f"<description>generated</description>\n{items}</channel></rss>\n"
    ).encode()


def ingest(data: bytes, source: str) -> int:
    env = Envelope(input_id="bench", kind=InputKind.FEED, source=source, data=data)
    return len(feed_items(env, data, Settings(feed_max_bytes=64 * 1024 * 1024)))


def entries_per_second(entries: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed-1000.xml"
        path.write_bytes(generated_feed(entries))
        rates = []
        for _ in range(repeat):
            start = time.perf_counter()
            count = ingest(path.read_bytes(), path.name)
            rates.append(count / (time.perf_counter() - start))
        assert count == entries
        return {
            "entries": entries,
            "file_bytes": path.stat().st_size,
            "best_per_s": max(rates),
            "median_per_s": statistics.median(rates),
        }


def child_peak_kb(fixture: Path, plain: bool) -> int:
    """Max RSS (KiB) of a fresh process that ingests ``fixture`` (plain: feedparser alone)."""
    code = (
        "import sys, io; sys.path.insert(0, sys.argv[3]);"
        "import feedparser; from benchmarks.feeds_parse import ingest;"
        "data = open(sys.argv[1], 'rb').read();"
        "feedparser.parse(io.BytesIO(data)) if sys.argv[2] == '1' else ingest(data, 'f');"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    args = [sys.executable, "-c", code, str(fixture), "1" if plain else "0", str(ROOT)]
    return int(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def traced_peak(data: bytes, plain: bool) -> int:
    import feedparser

    tracemalloc.start()
    try:
        if plain:
            feedparser.parse(io.BytesIO(data))
        else:
            ingest(data, "f")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def attack_memory() -> list[dict[str, object]]:
    baseline = FIXTURES / "rss20.xml"
    base = {plain: child_peak_kb(baseline, plain) for plain in (False, True)}
    rows = []
    for fixture in sorted(FIXTURES.glob("entity-*.xml")):
        data = fixture.read_bytes()
        peak = child_peak_kb(fixture, False)
        rows.append(
            {
                "fixture": fixture.name,
                "bytes": len(data),
                "traced_peak_kib": round(traced_peak(data, False) / 1024),
                "rss_peak_kib": peak,
                "rss_growth_kib": peak - base[False],
                "plain_feedparser_traced_peak_kib": round(traced_peak(data, True) / 1024),
                "plain_feedparser_rss_growth_kib": child_peak_kb(fixture, True) - base[True],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps({"parse": entries_per_second(args.entries, args.repeat)}))
    for row in attack_memory():
        print(json.dumps(row))
    print(
        json.dumps({"max_rss_kib_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    )


if __name__ == "__main__":
    main()
