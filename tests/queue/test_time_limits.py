"""Task time limits, with a real worker and inputs that hang (tests/support/poison_app.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.audit import audit
from tests.support.corpus import enqueue_folder
from tests.support.helpers import WorkerProcess, counts_add_up, reads, seed_bytes, wait_until
from tests.system.test_faults import docs_folder
from worker.core.errors import ConfigError
from worker.core.settings import load_settings
from worker.queue.app import make_app
from worker.storage.store import Store

pytestmark = pytest.mark.slow
BEFORE = {"a.txt": seed_bytes("Before", "Fine.")}
LIMITS = {"INGEST_TASK_SOFT_TIME_LIMIT": "2", "INGEST_TASK_TIME_LIMIT": "5"}


def hanging_worker(url: str, tmp_path: Path, **env: str) -> tuple[Path, WorkerProcess]:
    """A one-process worker of the poison app with short limits, and its poison folder."""
    poison = tmp_path / "poison"
    poison.mkdir()
    app = "tests.support.poison_app"
    worker = WorkerProcess(url, concurrency=1, app=app, POISON_DIR=str(poison), **LIMITS, **env)
    return poison, worker.start()


def test_limits_come_from_the_settings() -> None:
    conf = make_app(load_settings(task_soft_time_limit=7, task_time_limit=9), "redis://h:1/0").conf
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (7, 9)
    defaults = make_app(load_settings(), "redis://h:1/0").conf
    assert (defaults.task_soft_time_limit, defaults.task_time_limit) == (300, 360)
    with pytest.raises(ConfigError, match="INGEST_TASK_TIME_LIMIT"):
        load_settings(task_soft_time_limit=10, task_time_limit=10)


def test_a_stuck_input_is_a_timeout_and_its_neighbours_are_stored(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    stuck = seed_bytes("Stuck", "POISON-STUCK: this one never finishes.")
    docs = {**BEFORE, "b-stuck.txt": stuck, "c.txt": seed_bytes("After", "Also fine.")}
    poison, worker = hanging_worker(redis_url, tmp_path)
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
