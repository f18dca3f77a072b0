"""RabbitMQ as the broker, Redis still the store: a real worker against a real RabbitMQ.

Each test uses its own queue (and exchange of the same name) and deletes both afterwards.
Skipped only when nothing answers on 127.0.0.1:5672.
"""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection

from tests.support.compose_helpers import ServiceProcess, publish_one
from tests.support.helpers import SEEDS, ingest, suite_binary, wait_until
from worker.core.settings import Settings
from worker.queue.app import make_app
from worker.runtime.embedded import RedisServer
from worker.storage.store import Store

AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not rabbitmq_answers(), reason="no RabbitMQ answers on 127.0.0.1:5672 (AMQP broker tests)"
    ),
]


@pytest.fixture
def amqp_queue() -> Iterator[str]:
    name = f"test-ingest-{uuid.uuid4().hex[:12]}"
    yield name
    with Connection(AMQP, connect_timeout=5) as conn:
        channel = conn.default_channel
        channel.queue_delete(name)
        channel.exchange_delete(name)


def stats(url: str, queue: str) -> dict[str, object]:
    result = ingest("stats", "--json", url=url, INGEST_BROKER_URL=AMQP, INGEST_QUEUE=queue)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_publisher_confirms_only_on_amqp() -> None:
    amqp = make_app(Settings(broker_url=AMQP), "redis://h:1/0").conf
    assert amqp.broker_transport_options["confirm_publish"] is True
    plain = make_app(Settings(), "redis://h:1/0").conf
    assert "confirm_publish" not in plain.broker_transport_options


def test_worker_processes_documents_through_rabbitmq(
    redis_url: str, store: Store, amqp_queue: str, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "broken.txt").write_bytes(b"\x00\x01 binary")
    queued = ingest(
        "enqueue", str(seeds), url=redis_url, INGEST_BROKER_URL=AMQP, INGEST_QUEUE=amqp_queue
    )
    assert queued.returncode == 0, queued.stderr
    before = stats(redis_url, amqp_queue)
    assert (before["queue_depth"], before["queued"]) == (1, 2)  # RabbitMQ's message_count

    worker = ServiceProcess(
        "worker",
        {
            "INGEST_REDIS_URL": redis_url,
            "INGEST_BROKER_URL": AMQP,
            "INGEST_QUEUE": amqp_queue,
            "INGEST_NAMESPACE": "test",
            "INGEST_WORKER_CONCURRENCY": "1",
        },
    ).start()
    try:
        wait_until(
            lambda: store.stats()["queued"] == 0, timeout=90, what="outcomes", alive=worker.alive
        )
    finally:
        assert worker.stop() == 0
    assert store.stats()["records"] == 1
    assert store.rejection_reasons() == {"seed.binary": 1}
    after = stats(redis_url, amqp_queue)
    assert (after["queue_depth"], after["queued"]) == (0, 0)
    assert "guest:guest" not in worker.output()


def test_a_stopping_worker_hands_its_task_back_to_rabbitmq(
    redis_url: str, amqp_queue: str, tmp_path: Path
) -> None:
    """On AMQP the unacked delivery returns to the queue when the worker's connection closes."""
    store_server = RedisServer(tmp_path / "store", persist=False, binary=suite_binary()).start()
    try:
        settings = Settings(
            redis_url=store_server.url, broker_url=AMQP, namespace="test", queue=amqp_queue
        )
        env = {
            "INGEST_REDIS_URL": store_server.url,
            "INGEST_BROKER_URL": AMQP,
            "INGEST_QUEUE": amqp_queue,
            "INGEST_NAMESPACE": "test",
            "INGEST_WORKER_CONCURRENCY": "1",
            "INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT": "1",
        }
        worker = ServiceProcess("worker", env).start()
        worker.wait_for("ready.")
        held = redis.Redis.from_url(store_server.url)
        held.execute_command("CLIENT", "PAUSE", 120_000, "WRITE")
        publish_one(settings, tmp_path / "held.txt")
        # Stop only once the task runs: its write is then blocked by the pause. (A stop that
        # lands while the task is still on its way into the pool child is a Celery race in
        # which the cold shutdown waits for the task; it is not what this test is about.)
        wait_until(
            lambda: int(held.info("clients")["blocked_clients"]) >= 1,
            timeout=60,
            what="the worker's task blocked on the paused store",
        )
        assert worker.stop(timeout=30) == 0
        held.execute_command("CLIENT", "UNPAUSE")
        assert stats(store_server.url, amqp_queue)["queue_depth"] == 1
        assert "Restoring" not in worker.output()  # nothing to restore by hand on AMQP
    finally:
        store_server.stop()
