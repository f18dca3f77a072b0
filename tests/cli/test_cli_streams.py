"""`ingest records tail`, `rejections tail/replay`, `stats` groups and the example, for real."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

import pytest

from tests.read.test_consumer import make_records, pending
from tests.storage.test_store import message
from tests.support.helpers import (
    ROOT,
    WorkerProcess,
    env_for,
    ingest,
    outcome_of,
    reads,
    seed_bytes,
    wait_until,
)
from tests.support.procs import Child
from worker.core.errors import Reason
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.storage.store import Store


class Lines:
    """Lines of a child's stdout as they arrive, read by a thread (never blocks the test)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.queue: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.queue.put(line)

    def next(self, timeout: float = 30) -> dict[str, Any]:
        return dict(json.loads(self.queue.get(timeout=timeout)))


def tail(url: str, *args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "worker", *args]
    return Child(argv, env_for(url), name="tail", pipe_stdout=True).start().popen


@pytest.mark.parametrize("group", [[], ["--group", "g"]], ids=["no-group", "group"])
def test_tail_json_reaches_a_pipe_line_by_line(
    store: Store, settings: Settings, redis_url: str, group: list[str]
) -> None:
    [first] = make_records(store, settings, 1)
    proc = tail(redis_url, "records", "tail", "--json", *group)
    assert proc.stdout is not None
    lines = Lines(proc.stdout)
    try:
        event = lines.next()
        assert (event["event"], event["id"], event["version"]) == ("created", first, 1)
        [second] = make_records(store, settings, 1, start=1)
        assert lines.next()["id"] == second  # live, while the tail keeps running
        assert proc.poll() is None
        if group:
            wait_until(lambda: pending(store, "g") == 0, timeout=30, what="events acknowledged")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0  # Ctrl-C is a clean exit
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_tail_group_resumes_where_it_stopped(
    store: Store, settings: Settings, redis_url: str
) -> None:
    ids = make_records(store, settings, 3)
    args = ("records", "tail", "--group", "g", "--json", "--limit")
    first = ingest(*args, "2", url=redis_url, timeout=60)
    assert first.returncode == 0, first.stderr
    assert [json.loads(x)["id"] for x in first.stdout.splitlines()] == ids[:2]
    second = ingest(*args, "1", "--consumer", "other", url=redis_url, timeout=60)
    assert [json.loads(x)["id"] for x in second.stdout.splitlines()] == ids[2:]
    stats = json.loads(ingest("stats", "--json", url=redis_url).stdout)
    [group] = stats["groups"]
    assert (group["group"], group["pending"], group["lag"], group["consumers"]) == ("g", 0, 0, 2)


def test_rejections_tail_and_new_only(store: Store, settings: Settings, redis_url: str) -> None:
    pipeline.process_batch([message(b"", source="empty.txt")], store, settings)
    result = ingest("rejections", "tail", "--json", "--limit", "1", url=redis_url, timeout=60)
    event = json.loads(result.stdout)
    assert (event["event"], event["reason"], event["source"]) == (
        "rejected",
        "seed.empty",
        "empty.txt",
    )
    [before] = make_records(store, settings, 1)
    proc = tail(redis_url, "records", "tail", "--new", "--json", "--limit", "1")
    assert proc.stdout is not None
    lines = Lines(proc.stdout)
    try:
        # The tail starts at the end of the stream at some moment: keep adding until it sees one.
        for n in range(1, 100):
            make_records(store, settings, 1, start=n)
            if proc.poll() is not None or not lines.queue.empty():
                break
            time.sleep(0.2)  # the pace of this loop, which waits on the tail seeing one
        assert lines.next()["id"] != before
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def broken_then_fixed(store: Store, settings: Settings) -> tuple[str, str, bytes]:
    """One input rejected by a bug (kept for replay) and one truly bad; their input ids."""
    good = seed_bytes("Fixed by the replay", "The normaliser was mended.")
    envelope = Envelope(input_id="bug-1", kind=InputKind.SEED, source="good.txt", data=good)
    refused = pipeline.refuse(envelope, Reason.INTERNAL_ERROR, "KeyError: 'oops'")
    store.commit([refused])
    bad = message(b"no header here\n\nbody", source="bad.txt", input_id="bad-1")
    pipeline.process_batch([bad], store, settings)
    return "bug-1", "bad-1", good


@pytest.mark.slow
def test_replay_resubmits_the_original_payload(
    store: Store, settings: Settings, redis_url: str, worker_proc: WorkerProcess
) -> None:
    bug, bad, good = broken_then_fixed(store, settings)
    result = ingest("rejections", "replay", "--all", "--json", url=redis_url)
    assert result.returncode == 0, result.stderr
    replays = {r["input_id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(replays) == {bug, bad}
    new_bug, new_bad = replays[bug]["replayed_as"], replays[bad]["replayed_as"]
    wait_until(
        lambda: bool(outcome_of(store, new_bug) and outcome_of(store, new_bad)),
        timeout=60,
        what="replayed inputs processed",
        alive=worker_proc.alive,
    )
    created = outcome_of(store, new_bug)
    assert created is not None
    assert created["outcome"] == "created"
    record = reads(store).get(created["id"])
    assert record is not None
    assert (record.title, record.source) == ("Fixed by the replay", "good.txt")
    assert record.text in good.decode()
    rejected = outcome_of(store, new_bad)
    assert rejected is not None
    assert rejected["reason"] == "seed.no_header"
    again = reads(store).payload(new_bad)
    assert again is not None
    assert again.data == b"no header here\n\nbody"  # the original bytes, untouched
    listed = ingest("rejections", "list", "--json", url=redis_url)
    by_id = {r["input_id"]: r["replayed_as"] for r in map(json.loads, listed.stdout.splitlines())}
    assert by_id == {bug: new_bug, bad: new_bad, new_bad: None}  # old rejections stay
    stats = store.stats()
    assert (stats["enqueued"], stats["records"], stats["rejections"]) == (2, 1, 3)
    once_more = ingest("rejections", "replay", "--reason", "worker", "--json", url=redis_url)
    assert once_more.stdout == ""  # already replayed
    forced = ingest("rejections", "replay", bug, "--json", url=redis_url)
    assert json.loads(forced.stdout)["replayed_as"] not in (None, new_bug)


def test_replay_skips_what_cannot_be_replayed(
    store: Store, settings: Settings, redis_url: str
) -> None:
    pipeline.process_batch(
        [message(b"\x00\x01binary", source="b.bin", input_id="bin-1")], store, settings
    )
    result = ingest("rejections", "replay", "bin-1", "nope", "--json", url=redis_url)
    assert result.returncode == 0, result.stderr
    skipped = {r["input_id"]: r["skipped"] for r in map(json.loads, result.stdout.splitlines())}
    assert skipped == {"bin-1": "no payload kept", "nope": "no such rejection"}
    refused = ingest("rejections", "replay", url=redis_url)
    assert refused.returncode == 2
    assert "--all" in refused.stderr


def test_example_consumer_runs(store: Store, settings: Settings, redis_url: str) -> None:
    ids = make_records(store, settings, 2)
    result = subprocess.run(
        [sys.executable, "examples/consumer.py", "--group", "demo", "--count", "2"],
        env=env_for(redis_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ids
    assert "Story 0" in lines[0]
    assert "handled 2" in result.stderr


def test_tail_whose_reader_goes_away_acknowledges_nothing_unprinted(
    store: Store, settings: Settings, redis_url: str
) -> None:
    make_records(store, settings, 1)
    argv = [sys.executable, "-m", "worker", "records", "tail", "--group", "g", "--json"]
    tail_child = Child(argv, env_for(redis_url), name="tail", pipe_stdout=True, pipe_stderr=True)
    proc = tail_child.start().popen
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert json.loads(proc.stdout.readline())["event"] == "created"
    proc.stdout.close()  # like `| head -1`
    [unprinted] = make_records(store, settings, 1, start=1)
    try:
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    # The event it could not print stays pending (delivered once), nothing else does.
    [row] = store.client.xpending_range(store.keys.record_events, "g", "-", "+", 10)
    [(_, fields)] = store.client.xrange(store.keys.record_events, row["message_id"], "+")
    assert (fields[b"id"].decode(), row["times_delivered"]) == (unprinted, 1)
