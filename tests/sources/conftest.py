"""Fixtures for fetching: real HTTP(S) servers on loopback and settings that admit them."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sources.feedserver import FeedServer
from worker.core.settings import Settings
from worker.pipeline.fetchlimits import fetch_limits
from worker.sources.limits import FetchLimits

LOOPBACK = ("127.0.0.0/8", "::1/128")


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.close()


@pytest.fixture
def fetch_settings() -> Callable[..., FetchLimits]:
    """Limits from settings that allow loopback (the test server), short and test-sized."""

    def make(**overrides: Any) -> FetchLimits:
        values: dict[str, Any] = {
            "feed_allowed_networks": LOOPBACK,
            "feed_timeout": 10.0,
            "feed_connect_timeout": 5.0,
            "feed_max_bytes": 1_000_000,
        }
        values.update(overrides)
        return fetch_limits(Settings(**values))

    return make


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name ``localhost`` only (no IP address)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[FeedServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = FeedServer(tls=context).start()
    yield server
    server.close()
