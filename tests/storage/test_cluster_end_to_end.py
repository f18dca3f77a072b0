"""`ingest run` end to end on a cluster store: real Celery workers, a plain Redis broker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.helpers import WorkerProcess, ingest, seed_bytes


def test_ingest_run_and_reads_on_a_cluster_store(
    cluster_url: str, redis_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(30):
        (folder / f"{n}.txt").write_bytes(
            seed_bytes(f"Story {n}", f"Words of story {n}: alpha{n} beta{n}.")
        )
    (folder / "copy.txt").write_bytes(seed_bytes("Story 3", "Words of story 3: alpha3 beta3."))
    env = {"INGEST_BROKER_URL": redis_url}
    worker = WorkerProcess(cluster_url, **env).start()
    try:
        run = ingest("run", "--json", str(folder), url=cluster_url, **env)
    finally:
        worker.stop()
    assert run.returncode == 0, run.stderr
    stats = json.loads(ingest("stats", "--json", url=cluster_url, **env).stdout)
    assert (stats["records"], stats["duplicates"], stats["queued"]) == (30, 1, 0)
    listed = ingest("records", "list", "--json", "--limit", "100", url=cluster_url, **env)
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(records) == 30
    first = records[0]["id"]
    shown = ingest("records", "show", first, "--json", url=cluster_url, **env)
    assert json.loads(shown.stdout)["id"] == first
