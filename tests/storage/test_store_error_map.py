"""Every redis-py error becomes one of ours (worker/storage/connection.py ERRORS).

Each mapping is provoked on a real server: a database number it does not have, a wrong
password, a key of another type under the namespace, a script's error, a TCP port that
does not speak Redis, and writers that keep racing on one record. The configuration ones
are one line at the `ingest` command, naming INGEST_REDIS_URL.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.support.helpers import ingest
from worker.core.errors import (
    ConfigError,
    StoreContention,
    StoreError,
    StoreMisconfigured,
    StoreUnavailable,
    TransientError,
)
from worker.core.models import Accepted, Record
from worker.core.settings import Settings
from worker.storage import store as store_module
from worker.storage.connection import connect, wait_ready
from worker.storage.retention import prune_records
from worker.storage.store import Store


def with_db(url: str, db: int) -> str:
    return f"{url.rsplit('/', 1)[0]}/{db}"


def with_password(url: str, password: str) -> str:
    real = url.split("://:", 1)[1].split("@", 1)[0]
    return url.replace(f":{real}@", f":{password}@")


@pytest.fixture
def not_redis() -> Iterator[str]:
    """A URL whose port answers like a web server: it does not speak Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join(timeout=5)
    server.close()


def opened(url: str) -> Store:
    return Store.from_url(url, Settings(redis_url=url, namespace="test"))


def record(paragraph: str, content_hash: str) -> Record:
    return Record.model_validate(
        {
            "id": "seed-0123456789abcdef01234567",
            "kind": "seed",
            "source": "a.txt",
            "title": "A title",
            "published": datetime(2001, 1, 1, tzinfo=UTC),
            "paragraphs": [paragraph],
            "text": paragraph,
            "word_count": 2,
            "content_hash": content_hash,
            "ingested_at": datetime(2024, 3, 6, tzinfo=UTC),
            "version": 1,
        }
    )


def test_a_database_number_out_of_range_is_a_configuration_error(redis_url: str) -> None:
    with pytest.raises(StoreMisconfigured, match=r"INGEST_REDIS_URL.*database number"):
        opened(with_db(redis_url, 999)).stats()


def test_a_wrong_password_is_a_configuration_error(redis_url: str) -> None:
    store = opened(with_password(redis_url, "not-the-password"))
    with pytest.raises(StoreMisconfigured, match=r"INGEST_REDIS_URL.*password") as caught:
        store.stats()
    assert "not-the-password" not in str(caught.value)


def test_a_server_that_is_not_redis_is_a_configuration_error(not_redis: str) -> None:
    with pytest.raises(StoreMisconfigured, match=r"INGEST_REDIS_URL.*Redis protocol"):
        opened(not_redis).stats()


def test_misconfigured_is_a_config_error_that_workers_still_wait_on() -> None:
    assert issubclass(StoreMisconfigured, ConfigError)
    assert issubclass(StoreMisconfigured, StoreUnavailable)


def test_waiting_does_not_fix_a_wrong_password(redis_url: str) -> None:
    client = connect(with_password(redis_url, "not-the-password"))
    with pytest.raises(StoreMisconfigured):
        wait_ready(client, timeout=60)  # raises at once, not after 60 s


def test_a_key_of_another_type_under_the_namespace_is_a_store_error(store: Store) -> None:
    store.client.set(store.keys.stats, "a string where a hash belongs")
    with pytest.raises(StoreError, match=r"WRONGTYPE.*INGEST_NAMESPACE") as caught:
        store.stats()
    assert not isinstance(caught.value, TransientError)


def test_wrongtype_inside_a_script_is_a_store_error(store: Store) -> None:
    store.client.set(store.keys.by_published, "a string where a zset belongs")
    with pytest.raises(StoreError, match="WRONGTYPE"):
        store.commit([Accepted("in-1", record("Some words.", "c" * 64))])


def test_a_script_error_is_a_store_error(store: Store) -> None:
    """A stored value the prune script cannot split fails inside Lua: a StoreError."""
    old = record("Old words.", "c" * 64)
    store.client.set(store.keys.record(old.id), b'{"source": "a.txt"}')  # no newline
    store.client.zadd(store.keys.by_published, {old.id: 978307200.0})
    cutoff = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(StoreError, match="script"):
        prune_records(store, cutoff, batch=10, now=datetime.now(UTC))


def test_writers_racing_past_the_rounds_is_contention_not_unavailable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.commit([Accepted("in-1", record("First words.", "c" * 64))])
    # No round left to diff again: the update, found stale once, gives up at once.
    monkeypatch.setattr(store_module, "STALE_ROUNDS", 0)
    with pytest.raises(StoreContention) as caught:
        store.commit([Accepted("in-2", record("Second words.", "d" * 64))])
    assert isinstance(caught.value, TransientError)
    assert not isinstance(caught.value, StoreUnavailable)


def one_config_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error:"), lines[0]
    for needle in ("INGEST_REDIS_URL", *needles):
        assert needle in lines[0], lines[0]
    return lines[0]


def test_cli_says_one_line_for_a_database_number_out_of_range(redis_url: str) -> None:
    result = ingest("stats", url=with_db(redis_url, 999))
    one_config_line(result, "database number")


def test_cli_says_one_line_for_a_wrong_password(redis_url: str) -> None:
    result = ingest("records", "list", url=with_password(redis_url, "not-the-password"))
    line = one_config_line(result, "password")
    assert "not-the-password" not in line


def test_cli_says_one_line_for_a_server_that_is_not_redis(not_redis: str) -> None:
    result = ingest("stats", url=not_redis)
    one_config_line(result, "Redis protocol")
