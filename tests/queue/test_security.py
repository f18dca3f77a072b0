"""Security settings, tested against real workers: JSON only, and passwords kept out of sight.

TLS (``rediss://``) is tested in tests/system/test_tls.py.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from tests.support.helpers import WorkerProcess, ingest, raw_message, reads, seed_bytes, wait_until
from worker.runtime.embedded import RedisServer
from worker.storage.store import Store

pytestmark = pytest.mark.slow


class CreatesFile:
    """Unpickling this creates a folder: proof that a payload was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.path),))


def test_pickle_payload_in_the_queue_is_refused_and_never_executed(
    redis_url: str, store: Store, tmp_path: Path, worker_proc: WorkerProcess
) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps(((CreatesFile(marker),), {}, {}))
    pickle.loads(evil)
    assert marker.exists()  # the payload works when unpickled...
    marker.rmdir()
    for content_type in ("application/x-python-serialize", "application/x-yaml"):
        store.client.lpush("ingest", raw_message(evil, content_type))
    good = tmp_path / "good.txt"
    good.write_bytes(seed_bytes("After the attack", "The worker kept going."))
    assert ingest("enqueue", str(good), url=redis_url).returncode == 0
    wait_until(lambda: store.stats()["records"] == 1, timeout=60, what="next document")
    assert not marker.exists()  # ...and the worker never unpickled it
    assert worker_proc.alive()
    log = worker_proc.output()
    refused = list(reads(store).rejections(reason="input.malformed_message"))
    assert len(refused) == 2, log[-3000:]
    assert all("only application/json is accepted" in r.detail for r in refused)
    assert store.client.llen("ingest") == 0  # refused for good, not redelivered in a loop
    wait_until(lambda: store.client.hlen("unacked") == 0, timeout=30, what="acked")
    assert redis_url.split(":")[2].split("@")[0] not in log  # the password


def test_wrong_password_fails_cleanly_without_echoing_it(
    redis_server: RedisServer, redis_url: str
) -> None:
    wrong = redis_url.replace(redis_server.password, "not-the-password-123")
    result = ingest("stats", url=wrong)
    # A refused password is a configuration error naming the setting (exit 2, one line).
    assert result.returncode == 2
    assert "INGEST_REDIS_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not-the-password-123" not in result.stdout + result.stderr
    assert redis_server.password not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
