"""Peak memory of the feed stage on a feed with very many small entries.

    python benchmarks/feed_entries_memory.py [--entries 128000]

Generates an RSS 2.0 feed of ``--entries`` tiny items (under the default 10 MB byte cap),
then runs the whole feed stage (``worker.pipeline.feedentries.feed_items``: DTD and character
reference neutralising, feedparser, nh3, normalisation, pydantic validation) on it in a
fresh child process, once per setting of ``INGEST_FEED_MAX_ENTRIES`` given with
``--caps``. Prints, per run, the items produced and the child's peak resident set
(``ru_maxrss``), next to the peak of a child that only imported the package.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import resource, sys
sys.path.insert(0, {root!r})
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline.feedentries import feed_items
data = open({path!r}, "rb").read() if {path!r} else b""
items = []
if data:
    settings = Settings(feed_max_entries={cap}) if {cap} else Settings()
    env = Envelope(input_id="bench", kind=InputKind.FEED, source="bench.xml", data=data)
    items = feed_items(env, data, settings)
print(len(items), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def generated_feed(entries: int) -> bytes:
    """An RSS 2.0 feed of ``entries`` items of about 60 bytes each."""
    items = "".join(
        f"<item><title>t{n}</title><description>d{n}</description></item>\n" for n in range(entries)
    )
    return f'<rss version="2.0"><channel><title>Many</title>\n{items}</channel></rss>\n'.encode()


def peak(path: str, cap: int) -> tuple[int, int]:
    """(items, peak RSS in KiB) of a child running the feed stage on ``path``."""
    code = CHILD.format(root=str(ROOT), path=path, cap=cap)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    items, rss = out.stdout.split()
    return int(items), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=128_000)
    parser.add_argument("--caps", type=int, nargs="*", default=[0], help="0: the default")
    args = parser.parse_args()
    data = generated_feed(args.entries)
    _, baseline = peak("", 0)
    print(f"feed: {args.entries} entries, {len(data):,} bytes; import-only peak {baseline:,} KiB")
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(data)
        f.flush()
        for cap in args.caps:
            items, rss = peak(f.name, cap)
            label = f"cap {cap}" if cap else "default cap"
            print(f"{label}: {items} items, peak RSS {rss:,} KiB ({rss / 1024:.0f} MiB)")
    print(f"(ru_maxrss in KiB; {resource.getpagesize()}-byte pages)")


if __name__ == "__main__":
    main()
