"""Where an ``ingest worker``'s time goes on the user's path: py-spy over its processes.

Run: ``python benchmarks/worker_profile.py --docs 10000`` (needs ``py-spy`` on PATH or in
the venv: ``pip install py-spy``; not a dependency of the project). It starts a fresh
Redis and ``ingest worker`` (prefork, with its default children: one per CPU and one more),
samples every worker process with ``py-spy record --subprocesses`` while ``ingest
enqueue`` sends a generated corpus (``--corpus news`` for ``news_corpus.py``'s), and
prints the functions with the largest share of all samples: by self time, and by total
time for the pipeline's stages.

``--idle`` samples the processes while they wait as well, and prints where each pool child's
wall time goes: computing, waiting for Redis's replies, or waiting for its next task.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
import news_corpus
import phases

STAGES = ("enrich_all", "enriched", "detect_many", "packed_signatures", "packed_signature",
          "paragraph_hashes", "prepare", "commit", "_commit", "process_batch")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--docs", type=int, default=10000)
    p.add_argument("--corpus", choices=("bench", "news"), default="bench")
    p.add_argument("--top", type=int, default=15)
    p.add_argument(
        "--enrich", choices=("on", "off"), default="on", help="off: INGEST_ENRICH=false workers"
    )
    p.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    p.add_argument("--idle", action="store_true", help="sample waiting processes too")
    args = p.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        folder = Path(tmp) / "docs"
        writer = news_corpus.write_corpus if args.corpus == "news" else corpus.write_corpus
        writer(folder, args.docs)
        out = Path(tmp) / "profile.txt"
        env = {"INGEST_ENRICH": "false"} if args.enrich == "off" else None
        with phases.deployed("prefork", 2, env) as (d, store):
            parent = d.workers.procs[0].pid
            record = [spy, "record", "--pid", str(parent), "--subprocesses", "--format", "raw"]
            record += ["--idle"] if args.idle else []
            sampler = subprocess.Popen([*record, "--rate", "200", "-o", str(out)])
            proc, log = phases.enqueue_command(folder, d.server.url)
            proc.wait()
            phases.wait_outcomes(store, args.docs + 1)
            sampler.send_signal(2)
            sampler.wait()
            log.unlink()
        if args.raw:
            shutil.copy(out, args.raw)
        print(f"{args.docs} documents, {args.corpus} corpus, enrichment {args.enrich}")
        summarise(out.read_text(), args.top, args.docs)
        if args.idle:
            children(out.read_text())


def _frame(frame: str) -> str:
    """``function (file.py)`` from py-spy's ``function (path/file.py:line)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def summarise(collapsed: str, top: int, docs: int) -> None:
    """Print self and total shares from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for name in set(frames):
            total[name] += n
    # 200 samples a second: a sample stands for 5 ms of a busy thread.
    print(f"{samples} samples of the worker's processes, {samples * 5000 / docs:.0f} µs/doc")
    print("by self time:")
    for name, n in own.most_common(top):
        print(f"  {n / samples:6.1%}  {name}")
    print("pipeline stages, by total time:")
    for stage in STAGES:
        for name, n in total.items():
            if name.split(" (")[0] == stage:
                print(f"  {n / samples:6.1%}  {name}")


def children(collapsed: str) -> None:
    """Each pool child's samples (all its wall time, with ``--idle``) by what it was doing."""
    share: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if "BaseProcess.run" not in stack:  # the parent: its event loop, mostly waiting
            continue
        child = [f for f in stack.split(";") if f.startswith("process ")][-1].split(":")[0]
        leaf = stack.split(";")[-1]
        waiting = "read_from_socket" in leaf or "_recv (" in leaf or "recv_bytes" in leaf
        if waiting and "get_payload" in stack:  # the pool's pipe from the parent
            what = "waiting for its next task"
        elif waiting:
            what = "waiting for Redis"
        else:
            what = "computing"
        share[child][what] += int(count)
    for child, counts in sorted(share.items()):
        total = sum(counts.values())
        parts = ", ".join(f"{what} {n / total:.0%}" for what, n in counts.most_common())
        print(f"pool child {child.removeprefix('process ')}: {parts}")


if __name__ == "__main__":
    main()
