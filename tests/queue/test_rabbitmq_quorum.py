"""RabbitMQ at scale: quorum queues, document bytes inside the messages, nothing parked.

Against the machine's RabbitMQ (skipped where nothing answers on 127.0.0.1:5672), each
test on its own queue, deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import amqp
import pytest
import redis
from kombu import Connection, Exchange, Queue

from tests.queue.test_rabbitmq import AMQP, rabbitmq_answers
from tests.support.helpers import WorkerProcess, counts_add_up, ingest, seed_bytes, wait_until
from worker.core.settings import Settings
from worker.queue.app import make_app
from worker.storage.store import Store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not rabbitmq_answers(), reason="no RabbitMQ answers on 127.0.0.1:5672 (AMQP broker tests)"
    ),
]
DOCS = 30


@pytest.fixture
def queue_name() -> Iterator[str]:
    name = f"test-quorum-{uuid.uuid4().hex[:12]}"
    yield name
    with Connection(AMQP, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(name)
        conn.default_channel.exchange_delete(name)


def seed_folder(folder: Path, count: int = DOCS) -> Path:
    folder.mkdir()
    for i in range(count):
        story = f"Story number {i} about harbour works"
        text = f"Paragraph {i}: the council met on a Tuesday and voted {i} times."
        (folder / f"{i:03}.txt").write_bytes(seed_bytes(story, text))
    return folder


def enqueue(url: str, queue: str, folder: Path, **env: str) -> None:
    done = ingest(
        "enqueue", str(folder), url=url, INGEST_BROKER_URL=AMQP, INGEST_QUEUE=queue, **env
    )
    assert done.returncode == 0, done.stderr


def worker_on(url: str, queue: str) -> WorkerProcess:
    """A real worker consuming ``queue`` on RabbitMQ (its command names the queue too)."""
    worker = WorkerProcess(url, concurrency=1, INGEST_BROKER_URL=AMQP, INGEST_QUEUE=queue)
    worker.cmd[worker.cmd.index("-Q") + 1] = queue
    return worker.start()


def drain(url: str, queue: str, store: Store) -> None:
    """Run a worker until every input has its outcome: each document is one record."""
    worker = worker_on(url, queue)
    try:
        wait_until(
            lambda: store.stats()["queued"] == 0, timeout=120, what="outcomes", alive=worker.alive
        )
    finally:
        worker.stop()
    stats = store.stats()
    assert (stats["records"], stats["duplicates"], stats["rejections"]) == (DOCS, 0, 0)
    assert counts_add_up(store)
    assert parked_keys(store) == []


def parked_keys(store: Store) -> list[bytes]:
    client = store.client
    found = list(client.scan_iter(match=store.keys.parked("*")))
    return found + ([store.keys.pending.encode()] if client.exists(store.keys.pending) else [])


def test_the_app_declares_a_quorum_queue_without_priorities() -> None:
    conf = make_app(Settings(broker_url=AMQP, queue="q"), "redis://h:1/0").conf
    assert conf.task_default_queue_type == "quorum"
    plain = make_app(Settings(queue="q"), "redis://h:1/0").conf
    assert plain.task_default_queue_type == "classic"


def test_the_queue_on_rabbitmq_is_a_quorum_queue(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    enqueue(redis_url, queue_name, seed_folder(tmp_path / "seeds", 2))
    with Connection(AMQP, connect_timeout=5) as conn:
        quorum = Queue(queue_name, Exchange(queue_name), queue_arguments={"x-queue-type": "quorum"})
        quorum(conn.default_channel).declare()  # the same arguments: accepted
    with Connection(AMQP, connect_timeout=5) as conn:
        classic = Queue(
            queue_name, Exchange(queue_name), queue_arguments={"x-queue-type": "classic"}
        )
        with pytest.raises(amqp.exceptions.PreconditionFailed, match="x-queue-type"):
            classic(conn.default_channel).declare()


def test_documents_round_trip_with_nothing_parked_in_redis(
    redis_url: str, store: Store, queue_name: str, tmp_path: Path
) -> None:
    enqueue(redis_url, queue_name, seed_folder(tmp_path / "seeds"), INGEST_BATCH_SIZE="7")
    assert store.stats()["queued"] == DOCS
    assert parked_keys(store) == []  # the bytes are in RabbitMQ's messages
    drain(redis_url, queue_name, store)


def test_a_worker_killed_mid_batch_loses_nothing(
    redis_url: str, store: Store, queue_name: str, tmp_path: Path
) -> None:
    enqueue(redis_url, queue_name, seed_folder(tmp_path / "seeds"), INGEST_BATCH_SIZE="5")
    held = redis.Redis.from_url(redis_url)
    held.execute_command("CLIENT", "PAUSE", 120_000, "WRITE")
    first: WorkerProcess | None = None
    try:
        first = worker_on(redis_url, queue_name)
        wait_until(
            lambda: int(held.info("clients")["blocked_clients"]) >= 1,
            timeout=60,
            what="the worker's batch blocked on the paused store",
        )
    finally:
        if first is not None:
            first.kill()  # SIGKILL, parent and pool child, mid-batch
        held.execute_command("CLIENT", "UNPAUSE")  # whatever happened: the server is shared
    assert store.stats()["records"] == 0
    drain(redis_url, queue_name, store)
