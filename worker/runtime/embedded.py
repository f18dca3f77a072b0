"""A private Redis/Valkey server: the embedded store's, and the servers the tests start.

Which binary runs is chosen in :mod:`worker.runtime.serverbin`; how it is started
(configuration and password on stdin, private files) in :mod:`worker.runtime.serverproc`.
The server listens on 127.0.0.1 only, on a free port, with a random password, and keeps
its data (AOF) in its data folder. ``server.json`` in that folder (0600) names the
running server's URL and process, so that every command of the user finds and shares it
(:mod:`worker.runtime.lease`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

from worker.core.errors import StoreUnavailable
from worker.core.textsafe import escape_controls
from worker.runtime.serverbin import ServerBinary, find_server
from worker.runtime.serverproc import LOG_FILE, start_private_server
from worker.storage.connection import answers, shutdown

STATE_FILE = "server.json"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One server process that this program started and may stop."""

    def __init__(
        self,
        data_dir: Path,
        *,
        persist: bool = True,
        password: str | None = None,
        port: int | None = None,
        binary: ServerBinary | None = None,
    ) -> None:
        self.data_dir = Path(os.path.abspath(data_dir))
        self.persist = persist
        self.password = password if password is not None else secrets.token_hex(16)
        self.port = port or free_port()
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server (the binary given, else :func:`find_server`'s) and wait for PING."""
        binary = self.binary if self.binary is not None else find_server()
        self.process = start_private_server(
            binary, self.data_dir, self.password, self.port, self.persist
        )
        try:
            wait_for_redis(self.url, process=self.process, log=self.data_dir / LOG_FILE)
        except StoreUnavailable:
            self.kill()
            raise
        return self

    def stop(self) -> None:
        """Shut down (flushing the AOF when persistent) and reap the process."""
        if self.process is None:
            return
        # A fresh client (shutdown() makes one): redis-py would retry SHUTDOWN for seconds
        # on a connection it already used, reconnecting to a port that is gone.
        shutdown(self.url, save=self.persist)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
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
    url: str,
    *,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = START_TIMEOUT,
    log: Path | None = None,
) -> None:
    """Block until the server at ``url`` answers PING, or raise StoreUnavailable."""
    see = f" (see {log})" if log is not None else ""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            said = last_line(log) if log is not None else ""
            raise StoreUnavailable(f"the server exited with code {process.returncode}{said}{see}")
        if answers(url, timeout=1):
            return
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"the server did not answer within {timeout:.0f}s{see}")
        time.sleep(0.05)


def last_line(log: Path) -> str:
    """``: <the log's last line>``, without its pid and time prefix; empty when unreadable."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 2048))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    # "26530:M 30 Nov 2026 03:42:37.758 # Bad file format ..." -> "Bad file format ..."
    text = lines[-1].split(" # ", 1)[-1].split(" * ", 1)[-1] if lines else ""
    return f": {escape_controls(text[:300])}" if text else ""


def state_url(data_dir: Path) -> str | None:
    """The URL ``server.json`` in ``data_dir`` names, whether or not it answers."""
    try:
        url = json.loads((data_dir / STATE_FILE).read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) else None


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded server of ``data_dir`` when one is running and answers."""
    url = state_url(data_dir)
    return url if url is not None and answers(url) else None


def write_state(data_dir: Path, url: str, pid: int) -> None:
    """Write ``server.json``: created 0600 under a temporary name, then renamed into place."""
    final = data_dir / STATE_FILE
    temporary = data_dir / f".{STATE_FILE}.{os.getpid()}"
    temporary.unlink(missing_ok=True)  # left by a crashed process that had our pid
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(temporary, flags, 0o600), "w") as out:
        json.dump({"url": url, "pid": pid}, out)
    os.replace(temporary, final)


def stop_running(data_dir: Path) -> bool:
    """Shut down the server ``server.json`` names; True when none answers any more.

    ``server.json`` is removed only then: a server that refused to stop (it could not
    write its AOF) stays findable, so that no second server opens the same files.
    """
    url = state_url(data_dir)
    if url is not None:
        shutdown(url, save=True)
        if answers(url):
            return False
    with contextlib.suppress(FileNotFoundError):
        (data_dir / STATE_FILE).unlink()
    return True
