"""Per-host politeness in Redis, shared by every worker: fetch slots and Retry-After blocks.

Feeds on one host are fetched at most ``concurrency`` at a time (leases that expire, so a
worker that dies mid-fetch frees its slot) and their starts are at least ``delay`` seconds
apart; a host that answered 429 or 503 with Retry-After gets no request before then. The
rules live in ``lua/host_slot.lua`` and ``lua/host_block.lua``, on Redis's clock. An
article page's Retry-After holds back the host's pages only (:meth:`HostGate.block_pages`,
a key that expires then), not its feeds.

:meth:`HostGate.acquire` answers at once: go (a lease is held: :meth:`HostGate.release`
it), come back in so many seconds (a start is reserved for the input, kept across a
requeue of its task), or the host is blocked for longer than the caller will wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from worker.core.keys import Keys
from worker.storage.connection import Redis, guarded
from worker.storage.scriptcalls import HostBlockCall, HostSlotCall
from worker.storage.scripts import Scripts


class Gate(StrEnum):
    """What :meth:`HostGate.acquire` decided."""

    GO = "go"
    WAIT = "wait"  # a start is reserved this many seconds from now
    BLOCKED = "blocked"  # not free for longer than the caller's limit; nothing reserved


@dataclass(frozen=True, slots=True)
class Slot:
    """An answer of the gate: the decision and the seconds to wait (0 for GO)."""

    gate: Gate
    seconds: float


class HostGate:
    """Fetch slots per host, under one namespace."""

    def __init__(self, client: Redis, keys: Keys) -> None:
        self.client, self.keys = client, keys
        self.scripts = Scripts(client)

    @guarded
    def acquire(
        self,
        host: str,
        token: str,
        *,
        concurrency: int,
        delay: float,
        lease: float,
        max_wait: float,
    ) -> Slot:
        """Take a fetch slot on ``host`` for ``token`` (the input id), or say when to return."""
        k = self.keys
        call = HostSlotCall(
            host_key=k.host(host),
            leases_key=k.host_leases(host),
            reservation_key=k.host_slot(token, host),
            token=token,
            concurrency=concurrency,
            delay_ms=int(delay * 1000),
            lease_ms=int(lease * 1000),
            max_wait_ms=int(max_wait * 1000),
        )
        code, ms = self.scripts.run(call)
        return Slot((Gate.GO, Gate.WAIT, Gate.BLOCKED)[int(code)], int(ms) / 1000)

    @guarded
    def release(self, host: str, token: str) -> None:
        """Give a slot back once the fetch is over."""
        self.client.zrem(self.keys.host_leases(host), token)

    @guarded
    def block(self, host: str, seconds: float) -> None:
        """No fetch from ``host`` starts for ``seconds`` (its Retry-After)."""
        self.scripts.run(HostBlockCall(host_key=self.keys.host(host), seconds=seconds))

    @guarded
    def block_pages(self, host: str, seconds: float) -> None:
        """No article page from ``host`` is fetched for ``seconds``; its feeds go on.

        A longer block already set is kept: the first answer that lasts wins.
        """
        key, ms = self.keys.host_pages(host), max(int(seconds * 1000), 1)
        if not self.client.set(key, 1, px=ms, nx=True) and self.client.pttl(key) < ms:
            self.client.set(key, 1, px=ms)

    @guarded
    def pages_blocked(self, host: str) -> float:
        """Seconds until article pages of ``host`` may be fetched again (0: now)."""
        return max(int(self.client.pttl(self.keys.host_pages(host))), 0) / 1000
