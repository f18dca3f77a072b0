"""API keys and the request rate per key.

A key is written ``KEY`` (reads and writes) or ``KEY:read`` (reads only); the secret is
the part before ``:read``. A presented key is compared with every configured one by
:func:`hmac.compare_digest`, all of them each time, so the time taken says nothing about
which key, or how much of one, matched. Keys are never logged: a key is named by its
place in the configuration (``key-1``, ...).

The rate limit is a token bucket per key, in this process: each replica of the API
counts on its own, so N replicas allow N times the rate.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from worker.core.errors import ConfigError

READ_SUFFIX = ":read"
# Printable ASCII without spaces, commas or quotes: safe in a header, a list and a file.
_KEY = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
LOOPBACK_NAMES = ("localhost",)
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One configured key: its secret, whether it may write, and a name safe to log."""

    secret: bytes = field(repr=False)
    can_write: bool
    name: str


def parse_keys(lines: Sequence[str]) -> list[ApiKey]:
    """Keys from their written form; ConfigError (naming the key's place, not the key)."""
    keys: list[ApiKey] = []
    for n, line in enumerate(lines, 1):
        secret, read_only = (
            (line[: -len(READ_SUFFIX)], True) if line.endswith(READ_SUFFIX) else (line, False)
        )
        if not _KEY.fullmatch(secret):
            raise ConfigError(
                f"API key {n}: 16 to 256 characters of A-Z a-z 0-9 . _ ~ + / = - "
                "(generate one with: openssl rand -hex 32)"
            )
        if any(hmac.compare_digest(secret.encode(), k.secret) for k in keys):
            raise ConfigError(f"API key {n}: the same key is configured twice")
        keys.append(ApiKey(secret.encode(), not read_only, f"key-{n}"))
    return keys


class Keyring:
    """The configured keys; with none, every request is the anonymous writer (loopback only)."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = tuple(keys)

    @property
    def open(self) -> bool:
        return not self.keys

    def find(self, presented: str) -> ApiKey | None:
        """The key matching ``presented``, comparing with every key in constant time."""
        given = presented.encode("utf-8", "replace")
        match = None
        for key in self.keys:
            if hmac.compare_digest(given, key.secret) and match is None:
                match = key
        return match


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine reaches."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(keyring: Keyring, host: str) -> None:
    """Refuse to serve without keys on an address other machines can reach."""
    if keyring.open and not is_loopback(host):
        raise ConfigError(
            f"no API keys to serve on {host}: set INGEST_API_KEYS or INGEST_API_KEYS_FILE, "
            "or bind to 127.0.0.1"
        )


class RateLimiter:
    """A token bucket per identity: ``rate`` requests a second, up to ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, identity: str) -> float:
        """Spend a token: 0.0 when allowed, else the seconds until one is there."""
        with self._lock:
            now = self.clock()
            tokens, stamp = self._buckets.get(identity, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[identity] = (tokens - 1.0, now)
                return 0.0
            self._buckets[identity] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
