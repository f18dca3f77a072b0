"""Cost per document of the pure text stages: article extraction, language, paragraph diff.

Run: ``python benchmarks/text_stages.py``. Prints µs per document, the median of several
runs, for each stage on the hand-written pages of ``tests/text/fixtures/pages`` and on a
larger generated page (a 300-word synthetic article inside navigation, a sidebar of
teasers, forty comments and a footer: about 17 kB of HTML; none of the boilerplate reaches
the extracted text).
"""

from __future__ import annotations

import functools
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from neardup_quality import article  # noqa: E402

from worker.text import changes, language  # noqa: E402
from worker.text.article import extract_article  # noqa: E402

PAGES = ROOT / "tests" / "text" / "fixtures" / "pages"
RUNS = 7


def per_call_us(function: Callable[[], object], calls: int) -> float:
    """Median over runs of the mean time of one call, in microseconds."""
    function()  # imports and lazy loads outside the timing
    passes = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        passes.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(passes)


def generated_page(seed: int = 14) -> str:
    """A news page around a synthetic article, with the usual boilerplate."""
    rng = random.Random(seed)
    story = article("economy", rng)
    body = "".join(f"<p>{p}</p>" for p in story.paragraphs)
    teasers = "".join(
        f'<li><a href="/t{i}">{article("weather", rng).headline}</a></li>' for i in range(15)
    )
    comments = "".join(
        f'<div class="comment"><p>{article("football", rng).paragraphs[0]}</p></div>'
        for _ in range(40)
    )
    nav = "".join(f'<li><a href="/s{i}">Section {i}</a></li>' for i in range(25))
    return (
        f"<html><head><title>{story.headline}</title></head><body>"
        f"<header><nav><ul>{nav}</ul></nav></header>"
        f"<main><article><h1>{story.headline}</h1>{body}</article>"
        f'<aside class="related"><ul>{teasers}</ul></aside>'
        f'<section class="comments">{comments}</section></main>'
        "<footer><p>Copyright The Daily Courier. All rights reserved.</p></footer></body></html>"
    )


def main() -> None:
    pages = {p.name: p.read_bytes() for p in sorted(PAGES.glob("*.html"))}
    pages["generated (17 kB)"] = generated_page().encode()
    start = time.perf_counter()
    extract_article(pages["harbour_bridge.html"], None)
    print(f"first call (imports trafilatura): {(time.perf_counter() - start) * 1e3:.0f} ms")
    print("\nextract_article, µs per page:")
    for name, html in pages.items():
        cost = per_call_us(functools.partial(extract_article, html, None), 20)
        print(f"  {name:<22} {len(html):>6} bytes  {cost:>7.0f} µs")
    text = extract_article(pages["generated (17 kB)"], None) or ""
    print(f"\non the generated page's article ({len(text.split())} words):")
    print(f"  language.detect        {per_call_us(lambda: language.detect(text), 200):>7.0f} µs")
    paragraphs = changes.split_paragraphs(text)
    old = changes.paragraph_hashes(paragraphs)
    new = changes.paragraph_hashes([*paragraphs[:2], "An edited paragraph.", *paragraphs[3:]])
    hashing = per_call_us(lambda: changes.paragraph_hashes(paragraphs), 2000)
    print(f"  changes.paragraph_hashes {hashing:>5.0f} µs ({len(paragraphs)} paragraphs)")
    print(f"  changes.diff           {per_call_us(lambda: changes.diff(old, new), 2000):>7.0f} µs")


if __name__ == "__main__":
    main()
