"""Start a private Redis/Valkey server without leaking its password or its files.

* The configuration, password included, goes to the server on its standard input
  (``<binary> -``), never on its command line, which every local user can read in
  ``/proc/<pid>/cmdline``.
* The data folder is ``0700`` and must belong to this user; one that belongs to someone
  else, or that others may write into, is refused.
* The server runs under umask ``077``: its AOF, RDB and log files are ``0600``.
* It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from pathlib import Path

from worker.core.errors import UnsafeDataDir
from worker.runtime.serverbin import ServerBinary

LOG_FILE = "server.log"
UMASK = 0o077


def server_config(
    *, port: int, password: str, data_dir: Path, persist: bool, log_file: str = LOG_FILE
) -> str:
    """The server's configuration file, as text, for ``<binary> -`` to read on stdin."""
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        "protected-mode yes",
        f"requirepass {quote(password)}",
        f"dir {quote(str(data_dir))}",
        f"logfile {quote(log_file)}",
        "daemonize no",
        'save ""',
        "maxmemory-policy noeviction",
        f"appendonly {'yes' if persist else 'no'}",
        "appendfsync everysec",
        # The LSH bucket shards of the near-duplicate index stay listpacks up to this size
        # (worker/text/bandspec.py; config/redis.conf says the same for docker-compose).
        "hash-max-listpack-entries 512",
        "hash-max-listpack-value 64",
    ]
    return "\n".join(lines) + "\n"


def quote(value: str) -> str:
    """A double-quoted config argument as the server's ``sdssplitargs`` reads it back."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isascii() and char.isprintable():
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return '"' + "".join(out) + '"'


def private_dir(data_dir: Path) -> Path:
    """Create ``data_dir`` as ``0700``, or check an existing one and tighten it to ``0700``.

    Refused (UnsafeDataDir): not a folder, owned by another user, or writable by the
    group or others (someone else may have put files there already).
    """
    path = Path(os.path.abspath(data_dir))
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError as e:
        raise UnsafeDataDir(f"data folder {path}: {e.strerror}") from e
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDataDir(f"data folder {path} is not a folder")
    if info.st_uid != os.geteuid():
        raise UnsafeDataDir(
            f"data folder {path} belongs to uid {info.st_uid}, not to this user "
            f"(uid {os.geteuid()}): choose another INGEST_DATA_DIR"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDataDir(
            f"data folder {path} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):o}): choose another INGEST_DATA_DIR"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def start_private_server(
    binary: ServerBinary, data_dir: Path, password: str, port: int, persist: bool
) -> subprocess.Popen[bytes]:
    """Start the server on 127.0.0.1:``port``; the caller waits for PING and stops it.

    The server's early errors (a bad config line, a port in use) land in ``server.log``
    in ``data_dir`` too: its stdout and stderr are appended to that file.
    """
    folder = private_dir(data_dir)
    config = server_config(port=port, password=password, data_dir=folder, persist=persist)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    log_fd = os.open(folder / LOG_FILE, flags, 0o600)
    try:
        os.fchmod(log_fd, 0o600)  # a log left by an older version may be 0644
        process = subprocess.Popen(
            [str(binary.path), "-"],
            stdin=subprocess.PIPE,
            stdout=log_fd,
            stderr=log_fd,
            cwd=folder,
            umask=UMASK,
            start_new_session=True,
        )
    finally:
        os.close(log_fd)
    assert process.stdin is not None
    # A server that exits before reading (its exit code tells the caller) breaks the pipe.
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(config.encode())
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    return process
