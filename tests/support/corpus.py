"""Generated seed documents with known outcomes, and a producer for them.

A corpus mixes new documents, copies of earlier ones under other file names (each must
end as a ``duplicate``) and bad documents (each must end as a rejection with its reason).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.support.helpers import seed_bytes
from worker.core.settings import Settings
from worker.queue.app import make_app
from worker.queue.inputs import EnqueueReport, expand
from worker.queue.producer import publish
from worker.storage.store import Store

BAD: tuple[tuple[bytes, str], ...] = (
    (b"", "seed.empty"),
    (b"date 2021-02-30 Impossible day\n\nBody.\n", "seed.bad_date"),
    (b"no header here\n\nBody.\n", "seed.no_header"),
    (b"\x00\x01\x02 binary", "seed.binary"),
    (b"date 2021-01-01\n\nBody.\n", "seed.no_title"),
    (b"date 2021-01-01 A title and nothing else\n", "seed.no_body"),
    (b"date 2021-01-01 Latin-1 \xe9t\xe9\n\nBody.\n", "seed.bad_encoding"),
)


@dataclass(frozen=True)
class Corpus:
    """Documents by file name, and the outcome counts they must produce."""

    docs: dict[str, bytes]
    expected: Counter[str]
    reasons: Counter[str]


def corpus(
    n: int,
    *,
    seed: int = 0,
    duplicates: float = 0.05,
    bad: float = 0.03,
    words: tuple[int, int] = (30, 120),
) -> Corpus:
    """``n`` documents: mostly new, some copies of earlier ones, some bad ones."""
    rng = random.Random(seed)
    docs: dict[str, bytes] = {}
    originals: list[bytes] = []
    expected: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for i in range(n):
        roll = rng.random()
        if roll < bad:
            data, reason = BAD[i % len(BAD)]
            expected["rejected"] += 1
            reasons[reason] += 1
        elif roll < bad + duplicates and originals:
            data = rng.choice(originals)
            expected["duplicate"] += 1
            # A copy under another file name: a duplicate of the original's content.
            reasons["record.same_content"] += 1
        else:
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words)))
            data = seed_bytes(f"Story {i} of {seed}", body, f"Second paragraph {i}.")
            originals.append(data)
            expected["created"] += 1
        docs[f"doc-{i:06}.txt"] = data
    return Corpus(docs, expected, reasons)


def write(corpus: Corpus, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in corpus.docs.items():
        (folder / name).write_bytes(data)
    return folder


def enqueue_folder(
    url: str, folder: Path, *, namespace: str = "test", **overrides: int
) -> EnqueueReport:
    """Publish a folder with the real producer, through a Celery app of its own."""
    settings = Settings(redis_url=url, namespace=namespace, **overrides)  # type: ignore[arg-type]
    app = make_app(settings, url)
    report = EnqueueReport()
    try:
        store = Store.from_url(url, settings)
        return publish(app, store, expand([str(folder)], report), settings, report=report)
    finally:
        app.close()


TEXT = (
    "the minister said on Tuesday that talks would resume after the election while "
    "markets fell sharply in early trading as investors weighed new figures from the "
    "central bank and officials warned of delays to the harvest across the region"
)
WORDS = TEXT.split()
