"""One embedded server per user, shared by every command that uses it.

Every command that needs the store without ``INGEST_REDIS_URL`` (``ingest run``,
``worker``, ``records list``, the consumer example...) *joins* the server of the data
folder, starting it when none runs, and *leaves* it when done. Two lock files in the
data folder make that safe:

* ``server.lock``, held exclusively for the moment of joining (find or start the server)
  and of leaving (stop it when last), so that the two never interleave;
* ``users.lock``, held **shared** by each command for as long as it uses the server. A
  command that leaves drops its shared lock and asks for an exclusive one without
  waiting: granted, no other command uses the server and it stops it; refused, another
  command still does, and the last one to leave stops it.

A command that dies, even by SIGKILL, loses its locks with its process: it never keeps
the server up for others to trip over, and the next command to leave stops a server
nobody uses. A read command may start the server; it stops it again when it was alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer, running_url, stop_running, write_state
from worker.runtime.serverbin import find_server
from worker.runtime.serverproc import private_dir

log = logging.getLogger(__name__)

LOCK_FILE = "server.lock"
USERS_FILE = "users.lock"
# Servers this process started and left running for other commands: kept referenced so
# that they are reaped (not warned about as leaked) and stopped by whoever leaves last.
_left_running: list[RedisServer] = []


@contextlib.contextmanager
def using_store(settings: Settings) -> Iterator[str]:
    """The store's URL: ``INGEST_REDIS_URL``, else the user's embedded server, joined."""
    if settings.redis_url:
        yield settings.redis_url
        return
    with embedded_redis(settings.data_dir, settings.embedded_server) as url:
        yield url


@contextlib.contextmanager
def embedded_redis(data_dir: Path, server: str | None = None) -> Iterator[str]:
    """Yield the URL of the embedded server of ``data_dir``, starting it if none runs.

    ``server`` is the ``INGEST_EMBEDDED_SERVER`` override. The server is stopped on exit
    only when no other command uses it any more.
    """
    folder = private_dir(data_dir)
    with _locked(folder):
        users = _lock_file(folder, USERS_FILE)
        try:
            fcntl.flock(users, fcntl.LOCK_SH)
            url, started = _find_or_start(folder, server)
        except BaseException:
            os.close(users)
            raise
    try:
        yield url
    finally:
        with _locked(folder):
            os.close(users)
            _leave(folder, started)


def _find_or_start(folder: Path, server: str | None) -> tuple[str, RedisServer | None]:
    _left_running[:] = [s for s in _left_running if s.process and s.process.poll() is None]
    url = running_url(folder)
    if url is not None:
        return url, None
    started = RedisServer(folder, binary=find_server(server)).start()
    assert started.process is not None
    write_state(folder, started.url, started.process.pid)
    return started.url, started


def _leave(folder: Path, started: RedisServer | None) -> None:
    if not _alone(folder):
        if started is not None:
            _left_running.append(started)
        return
    if started is not None:
        started.stop()
    if not stop_running(folder):
        log.warning("the embedded server of %s did not stop; it keeps running", folder)


def _alone(folder: Path) -> bool:
    """True when no other process holds ``users.lock`` (call with ``server.lock`` held)."""
    fd = _lock_file(folder, USERS_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = _lock_file(folder, LOCK_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _lock_file(folder: Path, name: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(folder / name, flags, 0o600)
