"""Hand-made messages a worker cannot run: each becomes a rejection, and the worker goes on.

Every message is pushed straight into the broker (LPUSH into the Redis list, or published
raw to RabbitMQ), with a real worker consuming, and a good document queued behind them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from tests.queue.test_rabbitmq import AMQP, amqp_queue, rabbitmq_answers
from tests.support.helpers import (
    WorkerProcess,
    counts_add_up,
    ingest,
    raw_message,
    seed_bytes,
    wait_until,
)
from worker.queue.malformed import MAX_KEPT
from worker.storage.store import Store

pytestmark = pytest.mark.slow
__all__ = ["amqp_queue"]  # the fixture, from the RabbitMQ tests
JSON = "application/json"
REASON = "input.malformed_message"


def batch_body(*args: object) -> bytes:
    return json.dumps([list(args), {}, {}]).encode()


# Celery task messages (any broker): the envelope is fine, the task message is not.
TASK_MESSAGES: dict[str, tuple[bytes, str, dict[str, object]]] = {
    "body is an object": (b'{"a": 1}', JSON, {}),
    "body is a pair": (b"[1, 2]", JSON, {}),
    "body is null": (b"null", JSON, {}),
    "body has no embed": (b"[[], {}]", JSON, {}),
    "raw data": (batch_body([]), "application/data", {}),
    "raw text": (batch_body([]), "application/text", {}),
    "not JSON": (b"\xff{", JSON, {}),
    "too many arguments": (batch_body([], 2), JSON, {}),
    "a callback": (json.dumps([[[]], {}, {"callbacks": [{"x": 1}]}]).encode(), JSON, {}),
    "task name is a list": (batch_body([]), JSON, {"task": ["ingest.process_batch"]}),
    "no task id": (batch_body([]), JSON, {"id": None}),
    "bad time limit": (batch_body([]), JSON, {"timelimit": "soon"}),
    "bad retries": (batch_body([]), JSON, {"retries": "many"}),
    "bad eta": (batch_body([]), JSON, {"eta": "tomorrow"}),
    "unknown task": (batch_body([]), JSON, {"task": "os.system"}),
}
# Redis list entries kombu itself cannot read.
BIG = b"\x01not json " * (MAX_KEPT // 5)
ENTRIES: dict[str, bytes] = {
    "not JSON": b"\xff\xfe not json at all",
    "a JSON list": b"[1, 2, 3]",
    "a JSON string": b'"hello"',
    "no properties": b'{"body": "", "headers": {}}',
    "body not base64": raw_message(b"x", JSON).replace(b'"eA=="', b'"!!not base64!!"'),
    "unknown body encoding": raw_message(b"x", JSON).replace(b'"base64"', b'"rot13"'),
    "kombu type marker": b'{"properties": {"__type__": "datetime", "__value__": "never"}}',
    "large": BIG,
}


def kept_messages(url: str) -> list[bytes]:
    listed = ingest("rejections", "list", "--json", "--reason", REASON, "--limit", "0", url=url)
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    return [base64.b64decode(line["message_base64"]) for line in lines]


def test_malformed_messages_in_redis_become_rejections_and_the_worker_goes_on(
    redis_url: str, store: Store, tmp_path: Path, worker_proc: WorkerProcess
) -> None:
    for body, content_type, headers in TASK_MESSAGES.values():
        store.client.lpush("ingest", raw_message(body, content_type, **headers))
    for entry in ENTRIES.values():
        store.client.lpush("ingest", entry)
    good = tmp_path / "good.txt"
    good.write_bytes(seed_bytes("Behind the bad messages", "The queue kept moving."))
    assert ingest("enqueue", str(good), url=redis_url).returncode == 0

    bad = len(TASK_MESSAGES) + len(ENTRIES)
    wait_until(lambda: store.stats()["records"] == 1, timeout=60, what="the good document")
    wait_until(lambda: counts_add_up(store), timeout=30, what="every input decided")
    log = worker_proc.output()
    assert worker_proc.alive(), log[-3000:]
    assert "Unrecoverable error" not in log
    assert store.rejection_reasons() == {REASON: bad}
    stats = store.stats()
    assert (stats["enqueued"], stats["rejections"]) == (bad + 1, bad)
    assert store.client.llen("ingest") == 0
    wait_until(lambda: store.client.hlen("unacked") == 0, timeout=30, what="acked")

    kept = kept_messages(redis_url)
    assert len(kept) == bad
    assert b"\xef\xbf\xbd\xef\xbf\xbd not json at all" in kept  # kombu reads it as UTF-8
    assert b"[1,2,3]" in kept  # an entry that parses is kept as kombu parsed it
    assert BIG[:MAX_KEPT] in kept  # capped
    assert all(len(k) <= MAX_KEPT for k in kept)


def test_identical_malformed_messages_are_one_rejection(
    store: Store, worker_proc: WorkerProcess
) -> None:
    for _ in range(3):
        store.client.lpush("ingest", b"[1, 2, 3]")
    wait_until(lambda: store.client.llen("ingest") == 0, timeout=30, what="queue drained")
    wait_until(lambda: store.stats()["rejections"] == 1, timeout=30, what="the rejection")
    assert counts_add_up(store)
    assert worker_proc.alive()


@pytest.mark.skipif(
    not rabbitmq_answers(), reason="no RabbitMQ answers on 127.0.0.1:5672 (AMQP broker tests)"
)
def test_malformed_messages_in_rabbitmq_become_rejections(
    redis_url: str, store: Store, amqp_queue: str, tmp_path: Path
) -> None:
    worker = WorkerProcess(
        redis_url, concurrency=1, INGEST_BROKER_URL=AMQP, INGEST_QUEUE=amqp_queue
    )
    worker.cmd[worker.cmd.index("-Q") + 1] = amqp_queue
    worker.start()
    try:
        exchange = Exchange(amqp_queue, type="direct")
        # The app declares its queue as a quorum queue: the same arguments, or RabbitMQ refuses.
        queue = Queue(
            amqp_queue, exchange, routing_key=amqp_queue, queue_arguments={"x-queue-type": "quorum"}
        )
        with Connection(AMQP, connect_timeout=5) as conn:
            producer = conn.Producer()
            for body, content_type, headers in TASK_MESSAGES.values():
                task = {"task": "ingest.process_batch", "id": f"bad-{len(body)}-{content_type}"}
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=amqp_queue,
                    declare=[queue],
                    content_type=content_type,
                    content_encoding="binary",
                    headers={**task, **headers},
                )
        good = tmp_path / "good.txt"
        good.write_bytes(seed_bytes("Behind the bad messages", "RabbitMQ kept moving."))
        env = {"INGEST_BROKER_URL": AMQP, "INGEST_QUEUE": amqp_queue}
        assert ingest("enqueue", str(good), url=redis_url, **env).returncode == 0
        wait_until(lambda: store.stats()["records"] == 1, timeout=60, what="the good document")
        wait_until(lambda: counts_add_up(store), timeout=30, what="every input decided")
        assert worker.alive(), worker.output()[-3000:]
        assert store.rejection_reasons() == {REASON: len(TASK_MESSAGES)}
        assert len(kept_messages(redis_url)) == len(TASK_MESSAGES)
    finally:
        worker.stop()
