"""Task time limits, with a real worker and inputs that hang (tests/support/poison_app.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.sources.feedserver import FeedServer, Handler
from tests.support.audit import audit
from tests.support.corpus import enqueue_folder
from tests.support.helpers import (
    WorkerProcess,
    counts_add_up,
    ingest,
    reads,
    seed_bytes,
    wait_until,
)
from tests.system.test_faults import docs_folder
from worker.core.errors import ConfigError
from worker.core.settings import load_settings
from worker.queue.app import make_app
from worker.storage.store import Store

pytestmark = pytest.mark.slow
BEFORE = {"a.txt": seed_bytes("Before", "Fine.")}
LIMITS = {"INGEST_TASK_SOFT_TIME_LIMIT": "2", "INGEST_TASK_TIME_LIMIT": "5"}


def hanging_worker(
    url: str, tmp_path: Path, pool: str = "prefork", **env: str
) -> tuple[Path, WorkerProcess]:
    """A one-process worker of the poison app with short limits, and its poison folder."""
    poison = tmp_path / "poison"
    poison.mkdir()
    app = "tests.support.poison_app"
    worker = WorkerProcess(
        url, concurrency=1, pool=pool, app=app, POISON_DIR=str(poison), **LIMITS, **env
    )
    return poison, worker.start()


def test_limits_come_from_the_settings() -> None:
    conf = make_app(load_settings(task_soft_time_limit=7, task_time_limit=9), "redis://h:1/0").conf
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (7, 9)
    defaults = make_app(load_settings(), "redis://h:1/0").conf
    assert (defaults.task_soft_time_limit, defaults.task_time_limit) == (300, 360)
    with pytest.raises(ConfigError, match="INGEST_TASK_TIME_LIMIT"):
        load_settings(task_soft_time_limit=10, task_time_limit=10)


@pytest.mark.parametrize("pool", ["prefork", "solo"])  # solo: what `ingest run` may use
def test_a_stuck_input_is_a_timeout_and_its_neighbours_are_stored(
    redis_url: str, store: Store, tmp_path: Path, pool: str
) -> None:
    stuck = seed_bytes("Stuck", "POISON-STUCK: this one never finishes.")
    docs = {**BEFORE, "b-stuck.txt": stuck, "c.txt": seed_bytes("After", "Also fine.")}
    poison, worker = hanging_worker(redis_url, tmp_path, pool)
    try:
        report = enqueue_folder(redis_url, docs_folder(tmp_path / "in", docs))
        wait_until(lambda: counts_add_up(store), timeout=60, what="the batch decided")
        # The process is free again: the next document goes through at once.
        later = {"d.txt": seed_bytes("Later", "Ok.")}
        after = enqueue_folder(redis_url, docs_folder(tmp_path / "after", later))
        wait_until(lambda: counts_add_up(store), timeout=10, what="the next document")
        assert worker.alive()
    finally:
        worker.stop()
    result = audit(store, report.input_ids + after.input_ids)
    assert (result.lost, result.duplicated) == (0, 0), result.summary()
    assert store.stats()["records"] == 3
    assert store.rejection_reasons() == {"worker.timeout": 1}
    [rejection] = reads(store).rejections()
    assert rejection.source == "b-stuck.txt"
    assert "INGEST_TASK_SOFT_TIME_LIMIT" in rejection.detail
    assert len((poison / "stuck").read_text().split()) == 1  # tried once, not redelivered


def test_an_input_past_the_hard_limit_is_requeued_then_rejected(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    docs = {**BEFORE, "b-stubborn.txt": seed_bytes("Stubborn", "POISON-STUBBORN: no soft limit")}
    poison, worker = hanging_worker(redis_url, tmp_path, INGEST_MAX_DELIVERIES="2")
    try:
        enqueue_folder(redis_url, docs_folder(tmp_path / "in", docs))
        wait_until(lambda: counts_add_up(store), timeout=90, what="the batch decided")
        assert worker.alive()
        assert worker.output().count("Hard time limit") == 2  # requeued after each
    finally:
        worker.stop()
    assert store.stats()["records"] == 1
    assert store.rejection_reasons() == {"worker.lost_repeatedly": 1}
    assert len((poison / "stuck").read_text().split()) == 2  # killed twice, then rejected


def test_a_solo_worker_past_the_hard_limit_stops_and_keeps_the_task(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    docs = {"b-stubborn.txt": seed_bytes("Stubborn", "POISON-STUBBORN: no soft limit")}
    poison, worker = hanging_worker(redis_url, tmp_path, "solo")
    try:
        enqueue_folder(redis_url, docs_folder(tmp_path / "in", docs))
        started = time.monotonic()
        wait_until(lambda: not worker.alive(), timeout=60, what="the hard limit")
        assert time.monotonic() - started < 30
    finally:
        worker.stop()
    assert "Hard time limit (5s) exceeded" in worker.output()
    assert len((poison / "stuck").read_text().split()) == 1
    # Not acknowledged: a worker gets it again, as after a prefork child was killed.
    assert store.stats()["queued"] == 1
    assert store.client.hlen("unacked") == 1


def test_ingest_run_ends_a_hanging_feed_by_the_soft_limit(redis_url: str) -> None:
    """One feed is one task, which `ingest run` processes in the solo pool."""
    server = FeedServer().start()

    @server.route("/feed")
    def trickle(handler: Handler) -> None:  # a byte every half second, for ever
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", "10000000")
        handler.end_headers()
        handler.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        while not server.stop.wait(0.5):
            handler.wfile.write(b" ")
            handler.wfile.flush()

    started = time.monotonic()
    try:
        result = ingest(
            "run",
            "--feed",
            server.url("/feed"),
            "--json",
            url=redis_url,
            timeout=120,
            INGEST_FEED_ALLOWED_NETWORKS="127.0.0.0/8",
            INGEST_FEED_TIMEOUT="100",  # the fetch's own deadline is far away
            INGEST_TASK_SOFT_TIME_LIMIT="5",
            INGEST_TASK_TIME_LIMIT="30",
        )
    finally:
        server.close()
    took = time.monotonic() - started
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (line["outcome"], line["reason"]) == ("rejected", "worker.timeout"), result.stderr
    assert took < 25, took  # the soft limit, not the fetch deadline nor the hard limit
