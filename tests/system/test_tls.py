"""Redis over TLS (``rediss://``): one URL serves the store and the Celery broker.

The test starts its own TLS-only redis-server (the system one: the bundled server has no
TLS) with a throwaway self-signed certificate, on a free port.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compose_helpers import ServiceProcess
from tests.support.helpers import SEEDS, ingest, wait_until
from tests.support.procs import Child, clean_env, running
from worker.core.settings import Settings
from worker.runtime.embedded import free_port, wait_for_redis
from worker.storage.store import Store

pytestmark = pytest.mark.slow
SERVER = shutil.which("redis-server")
OPENSSL = shutil.which("openssl")


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            *(str(OPENSSL), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def tls_capable() -> bool:
    if SERVER is None or OPENSSL is None:
        return False
    out = subprocess.run(["ldd", SERVER], capture_output=True, text=True, check=False).stdout
    return "libssl" in out


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(rediss:// URL verifying the server certificate, the CA file)."""
    if not tls_capable():
        pytest.skip("no TLS-capable redis-server and openssl on this machine")
    cert, key = self_signed(tmp_path, "server")
    port = free_port()
    server = Child(
        [
            *(str(SERVER), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"),
            *("--tls-cert-file", str(cert), "--tls-key-file", str(key)),
            *("--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"),
            *("--requirepass", "tls-test-pw", "--save", "", "--appendonly", "no"),
            *("--dir", str(tmp_path), "--daemonize", "no"),
        ],
        clean_env(),
        name="tls-redis",
    )
    url = f"rediss://:tls-test-pw@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={cert}"
    with running(server) as proc:
        wait_for_redis(url, process=proc.popen)
        yield url, cert


def test_worker_and_producer_over_tls(tls_redis: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = tls_redis
    env = {"INGEST_REDIS_URL": url, "INGEST_BROKER_URL": "", "INGEST_NAMESPACE": "test"}
    worker = ServiceProcess("worker", {**env, "INGEST_WORKER_CONCURRENCY": "1"}).start()
    try:
        worker.wait_for("ready.")
        done = ServiceProcess("producer", env, paths={"/seeds": SEEDS}).run()
        assert done.returncode == 0, done.stderr
        store = Store.from_url(url, Settings(redis_url=url, namespace="test"))
        wait_until(lambda: store.stats()["records"] == 1, timeout=60, what="the record")
    finally:
        assert worker.stop() == 0
    assert "tls-test-pw" not in worker.output()


def test_a_server_certificate_from_another_ca_is_refused(
    tls_redis: tuple[str, Path], tmp_path: Path
) -> None:
    url, cert = tls_redis
    other, _ = self_signed(tmp_path, "other")
    assert ingest("health", url=url).returncode == 0
    refused = ingest("health", url=url.replace(str(cert), str(other)))
    assert refused.returncode == 1
    assert "certificate verify failed" in refused.stderr


def test_run_over_tls_never_shows_the_password(tls_redis: tuple[str, Path]) -> None:
    url, _ = tls_redis
    run = ingest("run", str(SEEDS), "--json", url=url)  # its own worker, broker and store
    assert run.returncode == 0, run.stderr
    assert [json.loads(line)["outcome"] for line in run.stdout.splitlines()] == ["created"]
    shown = [ingest("config", url=url), ingest("config", "--json", url=url)]
    for result in [run, *shown]:
        assert "tls-test-pw" not in result.stdout + result.stderr
    assert json.loads(shown[1].stdout)["redis_url"].startswith("rediss://:***@127.0.0.1")
