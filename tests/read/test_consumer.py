"""Consumer groups on the record stream against a real Redis, crashes by real SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.storage.test_store import message
from tests.support.helpers import ROOT, reads, seed_bytes, wait_until
from tests.support.procs import Child, clean_env
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.read.client import Consumer, ConsumerStats, Event, IngestClient
from worker.storage.store import Store

CHILD = str(ROOT / "tests" / "support" / "consumer_child.py")


def make_records(store: Store, settings: Settings, count: int, start: int = 0) -> list[str]:
    """Create ``count`` records through the pipeline; returns their ids in stream order."""
    batch = [
        message(seed_bytes(f"Story {i}", f"Body of story {i}."), source=f"{i}.txt")
        for i in range(start, start + count)
    ]
    return [o.id or "" for o in pipeline.process_batch(batch, store, settings)]


def stream_ids(store: Store) -> list[str]:
    return [i.decode() for i, _ in store.client.xrange(store.keys.record_events)]


def pending(store: Store, group: str) -> int:
    return int(store.client.xpending(store.keys.record_events, group)["pending"])


def run_in_thread(consumer: Consumer, limit: int, timeout: float = 60) -> ConsumerStats:
    """Run a consumer until ``limit`` events are done; fail (and stop it) after ``timeout``."""
    result: list[ConsumerStats] = []
    thread = threading.Thread(target=lambda: result.append(consumer.run(limit=limit)))
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        consumer.stop()
        thread.join(10)
        pytest.fail(f"consumer did not finish {limit} events in {timeout}s: {consumer.stats}")
    return result[0]


def collector() -> tuple[list[Event], Callable[[Event], None]]:
    seen: list[Event] = []
    return seen, seen.append


def fast(
    client: IngestClient, group: str, name: str, handler: Callable[[Event], None], **kw: Any
) -> Consumer:
    options = {"block": 0.1, "min_idle": 0.3, "claim_interval": 0.1, **kw}
    return Consumer(client, group, name, handler, **options)


def test_group_reads_every_event_once_and_resumes(store: Store, settings: Settings) -> None:
    client = reads(store)
    ids = make_records(store, settings, 10)
    seen, handle = collector()
    stats = run_in_thread(fast(client, "g", "a", handle), 10)
    assert [e.record_id for e in seen] == ids
    assert [e.stream_id for e in seen] == stream_ids(store)
    assert {e.type for e in seen} == {"created"}
    assert all(e.version == 1 and e.deliveries == 1 for e in seen)
    assert (stats.handled, stats.failed, pending(store, "g")) == (10, 0, 0)

    more = make_records(store, settings, 5, start=10)
    again, handle_again = collector()
    run_in_thread(fast(client, "g", "b", handle_again), 5)
    assert [e.record_id for e in again] == more  # resumed: nothing seen twice

    fresh, handle_fresh = collector()
    run_in_thread(fast(client, "late", "a", handle_fresh), 15)
    assert [e.record_id for e in fresh] == ids + more  # a new group starts at the beginning


def test_two_consumers_of_one_group_share_without_overlap(store: Store, settings: Settings) -> None:
    client = reads(store)
    ids = make_records(store, settings, 300)
    seen: list[str] = []
    lock = threading.Lock()

    def handle(event: Event) -> None:
        with lock:
            seen.append(event.record_id or "")
        time.sleep(0.003)  # long enough that neither consumer drains the stream alone

    consumers = [fast(client, "g", n, handle, batch=10) for n in ("a", "b")]
    threads = [threading.Thread(target=c.run) for c in consumers]
    for t in threads:
        t.start()
    wait_until(lambda: len(seen) >= 300, timeout=60, what="300 events handled")
    for c in consumers:
        c.stop()
    for t in threads:
        t.join(10)
    assert sorted(seen) == sorted(ids)
    assert all(c.stats.handled > 0 for c in consumers)
    assert pending(store, "g") == 0


def start_child(
    url: str, name: str, mode: str, limit: int = 0, min_idle: float = 0.3
) -> subprocess.Popen[bytes]:
    args = [sys.executable, CHILD, url, "g", name, mode, str(min_idle), str(limit)]
    return Child(args, clean_env(), name=f"consumer-{name}", pipe_stdout=True).start().popen


def killed_after_first_event(url: str) -> dict[str, object]:
    """Start a consumer whose handler blocks, read its first event, SIGKILL it."""
    child = start_child(url, "c1", "block")
    assert child.stdout is not None
    first = orjson.loads(child.stdout.readline())
    child.kill()
    child.wait()
    child.stdout.close()
    return dict(first)


def test_consumer_killed_before_ack_rereads_its_own_pending(
    store: Store, settings: Settings, redis_url: str
) -> None:
    ids = make_records(store, settings, 3)
    first = killed_after_first_event(redis_url)
    assert first["id"] == ids[0]
    assert pending(store, "g") == 3  # the whole batch was read, none acknowledged

    # No claiming within the test (min_idle 600 s): only its own re-read can bring them back.
    restarted = start_child(redis_url, "c1", "ack", limit=3, min_idle=600)
    out, _ = restarted.communicate(timeout=60)
    assert restarted.returncode == 0
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert [line["id"] for line in lines] == ids
    assert [line["deliveries"] for line in lines] == [2, 2, 2]
    assert pending(store, "g") == 0


def test_events_of_a_dead_consumer_are_claimed_by_another(
    store: Store, settings: Settings, redis_url: str
) -> None:
    ids = make_records(store, settings, 3)
    killed_after_first_event(redis_url)
    seen, handle = collector()
    stats = run_in_thread(fast(reads(store), "g", "c2", handle), 3)
    assert [e.record_id for e in seen] == ids
    assert stats.claimed == 3
    assert all(e.deliveries == 2 for e in seen)
    assert pending(store, "g") == 0


def test_poison_event_is_dead_lettered_after_max_deliveries(
    store: Store, settings: Settings
) -> None:
    ids = make_records(store, settings, 4)
    poison = ids[1]
    tries: list[int] = []

    def handle(event: Event) -> None:
        if event.record_id == poison:
            tries.append(event.deliveries)
            raise ValueError("cannot index this one")

    stats = run_in_thread(fast(reads(store), "g", "a", handle, max_deliveries=3), 4)
    assert tries == [1, 2, 3]
    assert (stats.handled, stats.dead_lettered, stats.failed) == (3, 1, 3)
    [(_, raw)] = store.client.xrange(store.keys.dead_letter("records", "g"))
    dead = {k.decode(): v.decode() for k, v in raw.items()}
    assert dead["id"] == poison
    assert dead["event"] == "created"
    assert dead["deliveries"] == "3"
    assert dead["group"] == "g"
    assert dead["consumer"] == "a"
    assert dead["error"] == "ValueError: cannot index this one"
    assert dead["stream_id"] == stream_ids(store)[1]
    assert pending(store, "g") == 0
    [group] = reads(store).groups("records")
    assert (group.dead_letters, group.pending, group.lag) == (1, 0, 0)


def test_event_delivered_too_often_is_dead_lettered_unhandled(
    store: Store, settings: Settings
) -> None:
    make_records(store, settings, 1)
    key = store.keys.record_events
    store.client.xgroup_create(key, "g", id="0")
    # three deliveries that died before acknowledging: a read, then two re-reads
    store.client.xreadgroup("g", "a", {key: ">"})
    store.client.xreadgroup("g", "a", {key: "0"})
    store.client.xreadgroup("g", "a", {key: "0"})
    seen, handle = collector()
    stats = run_in_thread(fast(reads(store), "g", "a", handle, max_deliveries=2), 1)
    assert seen == []
    assert stats.dead_lettered == 1
    [(_, raw)] = store.client.xrange(store.keys.dead_letter("records", "g"))
    assert raw[b"deliveries"] == b"4"
    assert raw[b"error"] == b"delivered 4 times without acknowledgement"


@pytest.mark.parametrize("claimed", [False, True], ids=["own-pending", "claimed"])
def test_event_trimmed_while_pending_is_acknowledged(
    store: Store, settings: Settings, claimed: bool
) -> None:
    ids = make_records(store, settings, 3)
    key = store.keys.record_events
    store.client.xgroup_create(key, "g", id="0")
    store.client.xreadgroup("g", "dead", {key: ">"})
    store.client.xdel(key, stream_ids(store)[1])
    seen, handle = collector()
    stats = run_in_thread(fast(reads(store), "g", "c2" if claimed else "dead", handle), 3)
    assert [e.record_id for e in seen] == [ids[0], ids[2]]
    assert stats.trimmed == 1
    assert pending(store, "g") == 0


def test_groups_report_pending_and_lag(store: Store, settings: Settings) -> None:
    make_records(store, settings, 10)
    run_in_thread(fast(reads(store), "g", "a", lambda e: None), 4)
    store.client.xreadgroup("g", "b", {store.keys.record_events: ">"}, count=2)
    [group] = reads(store).groups("records")
    assert (group.group, group.consumers, group.pending, group.lag) == ("g", 2, 2, 4)
    assert group.last_delivered_id == stream_ids(store)[5]


def test_handler_failure_is_retried_then_succeeds(store: Store, settings: Settings) -> None:
    [record_id] = make_records(store, settings, 1)
    attempts: list[int] = []

    def flaky(event: Event) -> None:
        attempts.append(event.deliveries)
        if len(attempts) < 2:
            raise ConnectionError("search index down")

    stats = run_in_thread(fast(reads(store), "g", "a", flaky), 1)
    assert attempts == [1, 2]
    assert (stats.handled, stats.failed, stats.dead_lettered) == (1, 1, 0)
    assert store.client.xlen(store.keys.dead_letter("records", "g")) == 0
    assert record_id
