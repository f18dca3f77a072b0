"""A real Celery worker process and the real `ingest` command, end to end."""

from __future__ import annotations

import codecs
import json
import os
import threading
from pathlib import Path

import orjson
import pytest

from tests.support.helpers import SEEDS, WorkerProcess, ingest, reads, seed_bytes, wait_until
from worker.core.settings import Settings
from worker.storage.store import Store

pytestmark = pytest.mark.slow
SEED = next(SEEDS.glob("*.txt")).read_bytes()


def drifted_folder(folder: Path) -> dict[str, str]:
    """The seed in several drifts plus bad inputs; returns file name -> expected outcome."""
    clean = SEED.decode("utf-8")
    crlf = clean.replace("\n", "\r\n")
    files = {
        "clean.txt": SEED,
        "crlf-bom.txt": codecs.BOM_UTF8 + crlf.encode(),
        "utf16.txt": codecs.BOM_UTF16_LE + clean.encode("utf-16-le"),
        "spaced.txt": clean.replace("\n\n", "\n \n\n\t\n").replace(" ", "  ").encode(),
        "other.txt": seed_bytes("Another story", "With its own body."),
        "bad-date.txt": b"date 2021-02-30 Impossible\n\nBody.",
        "no-header.txt": b"just some text\n\nand more",
        "binary.bin": b"\x00\x01\x02\x03garbage\x00",
        "empty.txt": b"",
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nested").mkdir()
    for name, data in files.items():
        target = folder / ("nested" if name == "other.txt" else "") / name
        target.write_bytes(data)
    return {
        "clean.txt": "created",
        "crlf-bom.txt": "duplicate",
        "utf16.txt": "duplicate",
        "spaced.txt": "duplicate",
        "other.txt": "created",
        "bad-date.txt": "rejected",
        "no-header.txt": "rejected",
        "binary.bin": "rejected",
        "empty.txt": "rejected",
    }


def test_run_folder_json_outcomes_add_up(redis_url: str, tmp_path: Path, store: Store) -> None:
    expected = drifted_folder(tmp_path / "in")
    result = ingest("run", str(tmp_path / "in"), "--json", url=redis_url)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(expected)
    got = {line["source"]: line["outcome"] for line in lines}
    # which drift of the seed comes first is the walk order: exactly one is created
    seeds = [got[n] for n in ("clean.txt", "crlf-bom.txt", "utf16.txt", "spaced.txt")]
    assert sorted(seeds) == ["created", "duplicate", "duplicate", "duplicate"]
    assert {
        n: got[n] for n in got if n not in {"clean.txt", "crlf-bom.txt", "utf16.txt", "spaced.txt"}
    } == {
        n: v
        for n, v in expected.items()
        if n in got and n not in {"clean.txt", "crlf-bom.txt", "utf16.txt", "spaced.txt"}
    }
    reasons = {line["source"]: line["reason"] for line in lines if line["reason"]}
    assert reasons == {
        "bad-date.txt": "seed.bad_date",
        "no-header.txt": "seed.no_header",
        "binary.bin": "seed.binary",
        "empty.txt": "seed.empty",
    }
    ids = {line["id"] for line in lines if line["source"] in {"clean.txt", "utf16.txt"}}
    assert len(ids) == 1
    stats = store.stats()
    assert stats["records"] + stats["duplicates"] + stats["rejections"] == len(expected)
    assert stats["queued"] == 0


def test_run_strict_exits_nonzero_on_rejection(redis_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"date nope\n\nbody")
    assert ingest("run", str(bad), url=redis_url).returncode == 0
    assert ingest("run", str(bad), "--strict", url=redis_url).returncode == 1


def test_enqueue_then_worker_processes_folder(redis_url: str, tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(120):
        (folder / f"{i:03}.txt").write_bytes(seed_bytes(f"Story {i}", f"Body of story {i}."))
    result = ingest("enqueue", str(folder), "--json", url=redis_url, INGEST_BATCH_SIZE="25")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 120
    assert store.stats()["queued"] == 120
    parked_batches = f"{store.keys.parked('')}*"
    assert len(list(store.client.scan_iter(parked_batches))) == 5  # 120 inputs, 25 per task
    worker = WorkerProcess(redis_url).start()
    try:
        wait_until(
            lambda: store.stats()["queued"] == 0,
            timeout=60,
            what="queue drained",
            alive=worker.alive,
        )
        # the bytes are dropped only after each batch's outcomes are stored
        wait_until(
            lambda: not list(store.client.scan_iter(parked_batches)),
            timeout=30,
            what="parked bytes dropped",
        )
    finally:
        worker.stop()
    assert store.stats()["records"] == 120
    assert len(list(reads(store).records(limit=None))) == 120


def test_enqueue_from_stdin(redis_url: str, store: Store, worker_proc: WorkerProcess) -> None:
    result = ingest("enqueue", "-", url=redis_url, stdin=seed_bytes("From stdin", "Piped."))
    assert result.returncode == 0, result.stderr
    wait_until(lambda: store.stats()["records"] == 1, timeout=30, what="stdin record")
    [rec] = reads(store).records()
    assert (rec.title, rec.source) == ("From stdin", "stdin")


def test_enqueue_refuses_non_regular_file(redis_url: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = ingest("enqueue", str(fifo), url=redis_url)
    assert result.returncode == 1
    assert "not a regular file" in result.stderr
    missing = ingest("enqueue", str(tmp_path / "missing.txt"), url=redis_url)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr


def test_fifty_concurrent_enqueues_one_record(
    redis_url: str, tmp_path: Path, store: Store, worker_proc: WorkerProcess
) -> None:
    doc = tmp_path / "same.txt"
    doc.write_bytes(seed_bytes("Fifty times", "The same document, enqueued fifty times."))
    from worker.queue.app import make_app
    from worker.queue.inputs import InputRef
    from worker.queue.producer import publish

    settings = Settings(redis_url=redis_url, namespace="test")
    celery_app = make_app(settings, redis_url)
    barrier = threading.Barrier(50)

    def one() -> None:
        barrier.wait()
        publish(celery_app, store, [InputRef("same.txt", kind="seed", path=doc)], settings)  # type: ignore[arg-type]

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(
        lambda: store.stats()["queued"] == 0 and store.stats()["enqueued"] == 50,
        timeout=60,
        what="fifty processed",
    )
    stats = store.stats()
    assert (stats["records"], stats["duplicates"]) == (1, 49)
    events = store.client.xrange(store.keys.record_events)
    assert [f[b"event"] for _, f in events] == [b"created"]


def test_embedded_default_run_then_list(tmp_path: Path) -> None:
    """No INGEST_REDIS_URL: `ingest run` starts its own Redis; data persists for `records`."""
    data = tmp_path / "data"
    run = ingest("run", str(SEEDS), "--json", url=None, cwd=tmp_path, INGEST_DATA_DIR=str(data))
    assert run.returncode == 0, run.stderr
    [line] = [json.loads(x) for x in run.stdout.splitlines()]
    assert line["outcome"] == "created"
    assert not (data / "server.json").exists()  # the run stopped the server it started
    listed = ingest("records", "list", "--json", url=None, cwd=tmp_path, INGEST_DATA_DIR=str(data))
    assert listed.returncode == 0, listed.stderr
    [rec] = [orjson.loads(x) for x in listed.stdout.splitlines()]
    assert rec["id"] == line["id"]
    assert rec["title"].startswith("Khalilzad, the US envoy")
