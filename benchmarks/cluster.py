"""The store on one server and on a 3-primary cluster, in one run (issue 21).

    python benchmarks/cluster.py [--docs 4000] [--shards 24]

Prepares ``--docs`` documents once (the near-duplicate corpus of
``benchmarks/neardup_store.py``: articles, one in five an edited copy of an earlier one),
then times only the store's part, ``Store.commit`` in batches of 200, on

- one server (a private server, one shard: the single-server layout), and
- a local cluster of 3 primaries and 3 replicas (``tests/support/cluster.py``, the
  suite's own), ``--shards`` shards, each batch waiting for the replicas (WAIT).

For each it prints documents per second, the writer's CPU per document, the servers' CPU
per document (the primaries; the replicas apart), Redis commands per document (INFO
``total_commands_processed`` on the primaries: the commands inside scripts count) and the
script calls among them, and, on the cluster, the share of records
each primary holds. Both run on this machine, so the cluster's figures measure the extra
work (two steps per record, replication), not the gain of more machines.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from neardup_store import corpus, seed  # noqa: E402

from tests.support.cluster import local_cluster  # noqa: E402
from tests.support.helpers import suite_binary  # noqa: E402
from worker.core.models import Prepared  # noqa: E402
from worker.core.settings import CLUSTER_SHARDS, Settings  # noqa: E402
from worker.pipeline.process import enriched, prepare_message  # noqa: E402
from worker.runtime.embedded import RedisServer  # noqa: E402
from worker.storage.store import Store  # noqa: E402

BATCH = 200


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepared(docs: int) -> list[Prepared]:
    settings = Settings(namespace="prep")
    items: list[Prepared] = []
    for n, text in enumerate(corpus(docs)):
        items += [enriched(p, settings) for p in prepare_message(seed(text, n), settings)]
    return items


def commands(clients: Sequence[Any]) -> tuple[int, int]:
    """Commands the servers ran (those of scripts included) and the scripts they ran."""
    ran = sum(int(c.info("stats")["total_commands_processed"]) for c in clients)
    scripts = 0
    for c in clients:
        stats = c.info("commandstats")
        scripts += sum(
            int(stats.get(f"cmdstat_{n}", {}).get("calls", 0)) for n in ("evalsha", "eval")
        )
    return ran, scripts


def measure(
    url: str,
    items: list[Prepared],
    shards: int | None,
    primaries: dict[int, Any],
    others: list[int],
) -> dict[str, float]:
    """Commit every item; figures per document. ``primaries``: pid -> a client of that node."""
    settings = Settings(redis_url=url, namespace=f"b{uuid.uuid4().hex[:6]}", store_shards=shards)
    store = Store.from_url(url, settings)
    store.commit(items[:1])  # scripts loaded, the shard count recorded
    rest = items[1:]
    nodes = list(primaries.values())
    before_commands = commands(nodes)
    before_cpu = {pid: cpu_of(pid) for pid in [*primaries, *others]}
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(rest), BATCH):
        store.commit(rest[start : start + BATCH])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    used = {pid: cpu_of(pid) - before_cpu[pid] for pid in before_cpu}
    after_commands = commands(nodes)
    # less the INFO calls that measure (three per node)
    ran = after_commands[0] - before_commands[0] - 3 * len(nodes)
    scripts = after_commands[1] - before_commands[1]
    n = len(rest)
    stats = store.stats()
    result = {
        "docs_s": n / wall,
        "writer_us": cpu / n * 1e6,
        "primaries_us": sum(used[p] for p in primaries) / n * 1e6,
        "replicas_us": sum(used[p] for p in others) / n * 1e6,
        "commands": ran / n,
        "scripts": scripts / n,
        "records": float(stats["records"]),
    }
    if store.keys.shards > 1:
        held: dict[str, int] = {}
        for k in store.keys.every_shard():
            node = store.client.get_node_from_key(k.by_published)  # type: ignore[attr-defined]
            held[node.name] = held.get(node.name, 0) + int(store.client.zcard(k.by_published))
        total = sum(held.values())
        for name, count in sorted(held.items()):
            result[f"share {name}"] = count / total
    store.close()
    return result


@contextmanager
def one_server() -> Iterator[tuple[str, dict[int, Any], list[int]]]:
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder), persist=False).start()
        try:
            assert server.process is not None
            import redis

            yield server.url, {server.process.pid: redis.Redis.from_url(server.url)}, []
        finally:
            server.stop()


@contextmanager
def three_primaries() -> Iterator[tuple[str, dict[int, Any], list[int]]]:
    with tempfile.TemporaryDirectory() as folder, local_cluster(Path(folder), suite_binary()) as c:
        primaries = {n.process.pid: n.client() for n in c.primary_nodes() if n.process}
        replicas = [n.process.pid for n in c.nodes if n.process and n.process.pid not in primaries]
        yield c.url, primaries, replicas


def show(label: str, r: dict[str, float]) -> None:
    print(
        f"{label:<22} {r['docs_s']:>8.0f} docs/s  writer {r['writer_us']:>5.0f} us/doc  "
        f"primaries {r['primaries_us']:>5.0f} us/doc  replicas {r['replicas_us']:>5.0f} us/doc  "
        f"{r['commands']:.1f} commands/doc ({r['scripts']:.2f} scripts)  "
        f"({r['records']:.0f} records)"
    )
    shares = {k[6:]: v for k, v in r.items() if k.startswith("share ")}
    if shares:
        print("  records per primary: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--shards", type=int, default=CLUSTER_SHARDS)
    parser.add_argument("--where", choices=("both", "one", "cluster"), default="both")
    args = parser.parse_args()
    items = prepared(args.docs)
    print(f"{len(items)} documents, batches of {BATCH}, the store's commit only")
    if args.where != "cluster":
        with one_server() as (url, primaries, others):
            show("one server, 1 shard", measure(url, items, None, primaries, others))
    if args.where == "one":
        return
    with three_primaries() as (url, primaries, others):
        label = f"3 primaries, {args.shards} shards"
        show(label, measure(url, items, args.shards, primaries, others))


if __name__ == "__main__":
    main()
