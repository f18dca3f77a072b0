"""Fixtures: one private Redis per test session on a free port, emptied around each test.

The suite never touches a Redis it did not start: no test reads INGEST_REDIS_URL from the
environment, and every child process gets the private server's URL explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import WorkerProcess
from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer
from worker.storage.store import Store


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
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
