"""A real `ingest serve` process on a free port, and reading its Server-Sent Events."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import httpx

from tests.support.compose_helpers import ServiceProcess
from tests.support.helpers import env_for, wait_until
from tests.support.procs import Child
from worker.runtime.embedded import free_port

WRITE_KEY = "test-write-key-0123456789abcdef"
READ_KEY = "test-read-key-0123456789abcdef"
KEYS = f"{WRITE_KEY},{READ_KEY}:read"


def auth(key: str = WRITE_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class ApiProcess(ServiceProcess):
    """`python -m worker serve` against the test Redis (not the compose service's settings).

    Started, logged and stopped (SIGTERM) as a compose service's process is.
    """

    def __init__(self, url: str, *args: str, **extra_env: str) -> None:
        # Not ServiceProcess.__init__: the command and environment are not compose's.
        self.service = "api"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "worker", "serve", "--port", str(self.port), *args]
        # Heartbeats every half second also let a test's EventReader notice it is closed.
        defaults = {"INGEST_API_KEYS": KEYS, "INGEST_API_HEARTBEAT": "0.5"}
        Child.__init__(self, argv, env_for(url, **{**defaults, **extra_env}), name="api")

    def start(self) -> ApiProcess:
        super().start()
        wait_until(self.answers, timeout=30, what="ingest serve answers", alive=self.alive)
        return self

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False


class EventReader:
    """Reads `GET /v1/events` in a thread, collecting (id, event, data) until closed."""

    def __init__(self, api: ApiProcess, headers: dict[str, str], **params: str) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.comments: list[str] = []
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.closing = threading.Event()
        self.error: BaseException | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=60))
        self._args = (f"{api.base}/v1/events", headers, params)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EventReader:
        self._thread.start()
        assert self.opened.wait(20), "the event stream did not open"
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()  # seen at the next line: a heartbeat comes every half second
        self._thread.join(10)
        self._client.close()

    def _run(self) -> None:
        url, headers, params = self._args
        try:
            with self._client.stream("GET", url, headers=headers, params=params) as response:
                assert response.status_code == 200, response.read()
                self.opened.set()
                for fields in _frames(response.iter_lines(), self.closing):
                    if "id" in fields:
                        self.events.append((fields["id"], fields["event"], fields["data"]))
                    self.comments.extend(fields.get(":", "").splitlines())
        except (httpx.HTTPError, RuntimeError) as e:
            self.error = e
        finally:
            self.opened.set()
            self.ended.set()

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[str, str, str]]:
        wait_until(lambda: len(self.events) >= count, timeout=timeout, what=f"{count} events")
        return list(self.events)


def _frames(lines: Iterator[str], closing: threading.Event) -> Iterator[dict[str, str]]:
    """SSE frames as field dicts; comment lines are gathered under ``:``."""
    fields: dict[str, str] = {}
    for line in lines:
        if closing.is_set():
            return
        if line == "":
            if fields:
                yield fields
            fields = {}
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            fields[":"] = fields.get(":", "") + value + "\n"
        else:
            fields[name] = value
    if fields:
        yield fields
