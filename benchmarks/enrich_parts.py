"""CPU per document of each enrichment part, in-process, beside the preparation it follows.

Run: ``python benchmarks/enrich_parts.py`` (``--docs N``); ``pipeline.py`` prints the same
table for both corpora. Each part runs over the prepared records of a corpus
(``corpus.py``'s English seed documents and ``news_corpus.py``'s thirteen languages), the
median of five passes of CPU time (``time.process_time``: a shared machine's other work
inflates wall time, not this), in µs per document:

* ``prepare``: read the seed bytes into a validated, normalised record (what the bare loop
  does before storing);
* ``language``, ``paragraph hashes``, ``signature``: each part of
  :func:`worker.pipeline.enrich.enrich_all` alone, as it calls it (the languages of a
  batch of ``INGEST_BATCH_SIZE`` documents together);
* ``enrich``: the whole of it (the parts and the record copy), batch by batch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import corpus  # noqa: E402
import news_corpus  # noqa: E402

from worker.core.models import Accepted, Record  # noqa: E402
from worker.core.settings import Settings  # noqa: E402
from worker.pipeline import enrich as enrichment  # noqa: E402
from worker.queue.allocator import keep_freed_memory  # noqa: E402
from worker.text import changes, language  # noqa: E402
from worker.text.seed import seed_record  # noqa: E402

PASSES = 5
BATCH = Settings.model_fields["batch_size"].default  # documents per task


def cpu_us(work: Callable[[], object], docs: int) -> float:
    """Median CPU µs per document over :data:`PASSES` passes of ``work`` (one corpus)."""
    work()  # lazy loads and caches outside the timing
    passes = []
    for _ in range(PASSES):
        start = time.process_time()
        work()
        passes.append((time.process_time() - start) / docs * 1e6)
    return statistics.median(passes)


def parts(documents: Sequence[bytes]) -> dict[str, float]:
    """µs per document of preparation and each enrichment part over ``documents``."""
    settings = Settings()
    keep_freed_memory()  # the allocator's thresholds, as a worker's Preload step sets them
    limit = settings.max_document_bytes
    records: list[Record] = []

    def prepare() -> None:
        records.clear()
        for i, data in enumerate(documents):
            try:
                records.append(seed_record(data, f"d{i}.txt", limit))
            except Exception:  # the corpus's bad documents: rejected, not enriched
                continue

    out = {"prepare": cpu_us(prepare, len(documents))}
    n = len(records)
    out["language"] = cpu_us(lambda: _languages(records), n)
    out["paragraph hashes"] = cpu_us(
        lambda: [changes.text_paragraph_hashes(r.text, r.paragraphs) for r in records], n
    )
    texts = [f"{r.title}\n\n{r.text}" for r in records]
    out["signature"] = cpu_us(
        lambda: [enrichment.packed_signatures(texts[i : i + BATCH]) for i in range(0, n, BATCH)],
        n,
    )
    items = [Accepted(f"i{i}", r) for i, r in enumerate(records)]
    out["enrich"] = cpu_us(lambda: _batches(items, settings), n)
    return {name: round(value, 1) for name, value in out.items()}


def _languages(records: Sequence[Record]) -> None:
    """Languages as the pipeline detects them: a batch's together."""
    for start in range(0, len(records), BATCH):
        texts = [enrichment.language_text(r) for r in records[start : start + BATCH]]
        language.detect_many(texts)


def _batches(items: Sequence[Accepted], settings: Settings) -> None:
    for start in range(0, len(items), BATCH):
        enrichment.enrich_all(items[start : start + BATCH], settings)


def corpora(docs: int) -> dict[str, list[bytes]]:
    return {
        "bench corpus (English)": corpus.documents(docs),
        "news, 13 languages": [data for _, data in news_corpus.documents(docs)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--docs", type=int, default=1000)
    args = p.parse_args()
    for name, documents in corpora(args.docs).items():
        costs = parts(documents)
        print(f"{name}: " + ", ".join(f"{k} {v:.0f}" for k, v in costs.items()) + " µs/doc")


if __name__ == "__main__":
    main()
