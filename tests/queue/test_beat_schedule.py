"""`celery -A worker beat`, as the README gives it, keeps its schedule in the data folder."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.support.helpers import env_for, wait_until


def test_beat_writes_its_schedule_into_the_data_folder(redis_url: str, tmp_path: Path) -> None:
    checkout, data = tmp_path / "checkout", tmp_path / "data"
    checkout.mkdir()
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "--quiet", "beat"],
        cwd=checkout,
        env=env_for(redis_url, INGEST_DATA_DIR=str(data)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: data.is_dir() and any(data.glob("celerybeat-schedule*")),
            timeout=60,
            what="beat's schedule file",
            alive=lambda: beat.poll() is None,
        )
    finally:
        beat.send_signal(signal.SIGTERM)
        beat.communicate(timeout=30)
    assert list(checkout.iterdir()) == []
    assert data.stat().st_mode & 0o077 == 0  # a private folder, as the store's
