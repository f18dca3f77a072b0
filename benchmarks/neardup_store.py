"""Near-duplicate clusters through the real pipeline and store: quality, memory, throughput.

Run: ``python benchmarks/neardup_store.py`` (``--articles N`` per topic for the labelled
pairs, default 20; ``--docs N`` for the throughput runs, default 20000; ``--shards N``:
the quality runs on a sharded store's layout, as on a cluster).

Everything runs against a private ``redis-server`` (worker.runtime.embedded) and calls
``worker.pipeline.process.process_batch``, the function the Celery task calls, so a
document pays for parsing, enrichment (language, paragraph hashes, signature) and the
atomic upsert script, as in a worker.

1. **Quality**: each labelled pair of ``benchmarks/neardup_quality.py`` (edited copies and
   same-topic negatives) is stored as two seeds in a namespace of its own; the pair is
   *flagged* when the second record's ``cluster`` is the first record's id.
2. **Memory**: ``used_memory`` after storing the same documents with clustering off and
   on, per record; plus ``MEMORY USAGE`` of one ``nd:{seq}`` entry and of the ``nd:ids`` and
   ``nd:lsh:*`` band shards.
3. **Throughput**: ``--docs`` documents (articles and, for one in five, an edited copy) in
   batches of 200, clustering off then on, alternated ``--rounds`` times, each run in a
   fresh server after a warm-up batch; wall and CPU time of this process (the Lua script's
   time is in Redis's CPU, reported apart).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from neardup_quality import TOPICS, article, edits, pairs  # noqa: E402

from worker.core.models import Envelope, InputKind  # noqa: E402
from worker.core.settings import Settings  # noqa: E402
from worker.pipeline.process import process_batch  # noqa: E402
from worker.read.client import IngestClient  # noqa: E402
from worker.runtime.embedded import RedisServer  # noqa: E402
from worker.storage.store import Store  # noqa: E402

BATCH = 200


@contextmanager
def private_redis() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder), persist=False).start()
        try:
            yield server
        finally:
            server.stop()


def seed(text: str, n: int) -> dict[str, Any]:
    """A seed message whose headline is the text's first paragraph."""
    head, _, body = text.partition("\n\n")
    data = f"date 2024-03-05 {head}\n\n{body or head}\n".encode()
    env = Envelope(input_id=uuid.uuid4().hex, kind=InputKind.SEED, source=f"doc-{n}", data=data)
    return env.model_dump(mode="json", exclude_none=True)


def quality(url: str, per_topic: int, shards: int = 1) -> None:
    """Precision and recall of the stored clusters on the labelled pairs (``shards``: a
    sharded store, where the two records of a pair mostly live in different shards)."""
    rows = pairs(per_topic)
    flagged: dict[str, list[bool]] = {}
    for n, (kind, a, b) in enumerate(rows):
        settings = Settings(redis_url=url, namespace=f"q{n}", store_shards=shards)
        store = Store.from_url(url, settings)
        first, second = process_batch([seed(a, 0), seed(b, 1)], store, settings)
        if first.outcome != "created" or second.outcome != "created":
            raise SystemExit(f"pair {n} ({kind}) was not stored twice: {first}, {second}")
        record = IngestClient(store.client, settings.namespace).get(second.id or "")
        flagged.setdefault(kind, []).append(record is not None and record.cluster == first.id)
        store.client.flushdb()
        store.close()
    print(
        f"\nquality through the store ({len(rows)} labelled pairs, threshold 0.5, "
        f"{shards} shard{'s' if shards > 1 else ''})"
    )
    print(f"{'kind':<12} {'pairs':>5} {'flagged':>8}")
    for kind, hits in flagged.items():
        print(f"{kind:<12} {len(hits):>5} {sum(hits) / len(hits):>8.3f}")
    for excluded in (set(), {"subst_20"}):
        left_out = excluded | {"same_topic"}
        positives = [h for k, hs in flagged.items() if k not in left_out for h in hs]
        false_pos = sum(flagged.get("same_topic", []))
        true_pos = sum(positives)
        precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 1.0
        label = f"positives: all edits except {sorted(excluded)}" if excluded else "all edits"
        print(f"{label}: precision {precision:.3f}, recall {true_pos / len(positives):.3f}")


def corpus(count: int, seed_value: int = 7) -> list[str]:
    """``count`` texts: fresh articles, and for one in five an edited copy of an earlier one."""
    rng = random.Random(seed_value)
    topics, kinds = list(TOPICS), list(edits(rng))
    texts: list[str] = []
    articles = []
    while len(texts) < count:
        if articles and rng.random() < 0.2:
            texts.append(edits(rng)[rng.choice(kinds)](rng.choice(articles)))
        else:
            articles.append(article(rng.choice(topics), rng))
            texts.append(articles[-1].text())
    return texts


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest(url: str, texts: list[str], neardup: bool, server_pid: int) -> dict[str, float]:
    """Store the texts in a fresh namespace; times and memory per document."""
    settings = Settings(redis_url=url, namespace=f"t{uuid.uuid4().hex[:8]}", neardup=neardup)
    store = Store.from_url(url, settings)
    store.client.flushdb()
    before = int(store.client.info("memory")["used_memory"])
    messages = [seed(t, n) for n, t in enumerate(texts)]
    wall, cpu, redis_cpu = time.perf_counter(), time.process_time(), cpu_of(server_pid)
    for start in range(0, len(messages), BATCH):
        process_batch(messages[start : start + BATCH], store, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    redis_cpu = cpu_of(server_pid) - redis_cpu
    used = int(store.client.info("memory")["used_memory"]) - before
    stats, reader = store.stats(), IngestClient(store.client, settings.namespace)
    if stats["records"] + stats["duplicates"] != len(texts):  # an identical copy: a duplicate
        raise SystemExit(f"stored {stats['records']} of {len(texts)}")
    result = {
        "wall_ms": wall / len(texts) * 1e3,
        "cpu_ms": cpu / len(texts) * 1e3,
        "redis_cpu_ms": redis_cpu / len(texts) * 1e3,
        "bytes": used / stats["records"],
        "clusters": float(len({r.cluster for r in reader.records()})),
    }
    if neardup:
        client, keys = store.client, store.keys
        result["nd_entry"] = float(client.memory_usage(keys.neardup(1)) or 0)
        ids = client.memory_usage(keys.neardup_ids, samples=0) or 0
        result["ids_hash"] = float(ids) / stats["records"]
        shards = list(client.scan_iter(keys.neardup_shard_prefix + "*", 1000))
        bands = sum(client.memory_usage(k, samples=0) or 0 for k in shards)
        result["bands_hash"] = float(bands) / stats["records"]
    store.client.flushdb()
    store.close()
    return result


def throughput(docs: int, rounds: int) -> None:
    """Each run in a fresh server: ``used_memory`` then counts that run's keys alone."""
    texts = corpus(docs)
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(rounds):
        for on in (False, True):
            with private_redis() as server:
                assert server.process is not None
                ingest(server.url, texts[:BATCH], on, server.process.pid)  # warm up
                runs[on].append(ingest(server.url, texts, on, server.process.pid))
    print(f"\n{docs} documents, batches of {BATCH}, median of {rounds} alternated runs")
    print(f"{'clustering':<10} {'wall ms/doc':>11} {'cpu ms/doc':>10} {'redis cpu':>9} ", end="")
    print(f"{'bytes/rec':>9} {'clusters':>8}")
    medians = {}
    for on in (False, True):
        m = {k: statistics.median(r[k] for r in runs[on]) for k in runs[on][0]}
        medians[on] = m
        print(
            f"{'on' if on else 'off':<10} {m['wall_ms']:>11.3f} {m['cpu_ms']:>10.3f} "
            f"{m['redis_cpu_ms']:>9.3f} {m['bytes']:>9.0f} {m['clusters']:>8.0f}"
        )
    on, off = medians[True], medians[False]
    print(f"cost ratio on/off: wall {on['wall_ms'] / off['wall_ms']:.2f}x, ", end="")
    total_on, total_off = on["cpu_ms"] + on["redis_cpu_ms"], off["cpu_ms"] + off["redis_cpu_ms"]
    print(f"CPU (worker + Redis) {total_on / total_off:.2f}x")
    print(
        f"memory the index adds: {on['bytes'] - off['bytes']:.0f} bytes per record "
        f"(one nd entry {on['nd_entry']:.0f} B; per record: ids hash {on['ids_hash']:.0f} B, "
        f"band shards {on['bands_hash']:.0f} B; the rest: cluster sets, key overhead)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20, help="labelled articles per topic")
    parser.add_argument("--docs", type=int, default=20000, help="documents per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="alternated off/on runs")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--shards", type=int, default=1, help="shards of the quality runs")
    args = parser.parse_args()
    if not args.skip_quality:
        with private_redis() as server:
            quality(server.url, args.articles, args.shards)
    if not args.skip_throughput:
        throughput(args.docs, args.rounds)


if __name__ == "__main__":
    main()
