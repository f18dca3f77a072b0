"""Fetching through an HTTP proxy: the proxy is a trusted hop, the feed's host is still vetted.

The proxy itself (``INGEST_FEED_PROXY``, or a feed's ``proxy`` option) is the operator's
choice: its address is not checked against the address guard. The feed's own host is:
it is resolved and every address vetted by :mod:`worker.sources.netguard` before the
proxy is asked for anything, exactly as for a direct fetch.

- ``https`` feeds go through a tunnel: ``CONNECT <vetted address>:<port>`` (the address,
  not the name, so the proxy cannot resolve the name to somewhere else), then TLS inside
  the tunnel, verified against the feed's host name.
- ``http`` feeds are asked in absolute form (``GET http://host:port/path``). The proxy
  resolves the host name again for them: a name that changes its answer between our check
  and the proxy's lookup is only caught by the proxy's own egress rules, so prefer https.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from worker.core.errors import FeedFetchError, Reason
from worker.sources import netguard
from worker.sources.deadline import Deadline

MAX_CONNECT_REPLY = 16 * 1024


def proxy_address(proxy: str) -> tuple[str, int]:
    """Host and port of an ``http://host:port`` proxy URL."""
    parts = urlsplit(proxy)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise FeedFetchError(Reason.FEED_BAD_URL, "the proxy must be an http://host:port URL")
    return parts.hostname, parts.port or 80


def open_proxy(proxy: str, connect_timeout: float, deadline: Deadline) -> socket.socket:
    """A socket connected to the proxy (a trusted hop: its address is not vetted)."""
    host, port = proxy_address(proxy)
    addresses = netguard.resolve(host, port)
    return netguard.connect(addresses, port, connect_timeout=connect_timeout, deadline=deadline)


def tunnel(sock: socket.socket, address: netguard.IPAddress, port: int) -> None:
    """Ask the proxy for a tunnel to ``address:port``; FeedFetchError unless it answers 2xx."""
    authority = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii"))
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(4096)
        if not chunk or len(reply) > MAX_CONNECT_REPLY:
            raise FeedFetchError(
                Reason.FEED_CONNECTION, "the proxy closed the tunnel", retryable=True
            )
        reply += chunk
    status_line = reply.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].startswith("2"):
        detail = f"the proxy refused the tunnel: {status_line[:200]!r}"
        raise FeedFetchError(Reason.FEED_CONNECTION, detail, retryable=True)


def first_vetted(addresses: list[netguard.IPAddress]) -> netguard.IPAddress:
    """The address to tunnel to: an IPv4 one when there is one (proxies vary on IPv6)."""
    v4 = [a for a in addresses if isinstance(a, ipaddress.IPv4Address)]
    return (v4 or addresses)[0]
