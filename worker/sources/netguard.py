"""The address guard: which hosts a feed fetch may connect to, checked at connect time.

A feed URL is user input, so a fetch must not become a way into the network the worker
lives in (SSRF). Every address a host name resolves to is classified, and the host is
refused when *any* of them is not a public unicast address, unless the address lies in
one of the operator's allowed networks (``INGEST_FEED_ALLOWED_NETWORKS``). Refusing on any
bad answer, not just the first, stops a resolver that mixes a public and a private address.

The socket is then connected to one of the vetted addresses themselves (numeric, no second
DNS lookup), so a name that resolves differently a moment later (DNS rebinding) cannot slip
past the check. IPv6 addresses that embed an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96,
6to4) are judged by the IPv4 address they lead to. The tables below are explicit rather than
``ipaddress``'s ``is_global``, whose answers differ between Python releases.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from worker.core.errors import FeedFetchError, Reason
from worker.sources.deadline import Deadline

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

_V4_BLOCKED = tuple(
    (ipaddress.IPv4Network(cidr), why)
    for cidr, why in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved or broadcast"),
    )
)
# Checked in order, so the specific ranges come before the wide ones that hold them.
_V6_BLOCKED = tuple(
    (ipaddress.IPv6Network(cidr), why)
    for cidr, why in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignment (Teredo, ORCHID, ...)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
# The only IPv6 unicast space handed out for the public Internet.
_V6_GLOBAL = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def canonical_host(host: str) -> str:
    """One spelling per host: what politeness and origins compare.

    An IP literal in every form the resolver accepts (``127.1``, ``0x7f.0.0.1``,
    ``2130706433``, ``0177.0.0.1``, ``::ffff:127.0.0.1``, brackets or not) becomes its
    dotted or compressed form, an IPv4-mapped IPv6 address its IPv4 one; a name becomes its
    lower-case IDNA (ASCII) form without a trailing dot. A name IDNA refuses stays as it is
    (lower case): the fetch rejects it.
    """
    host = host.strip("[]").rstrip(".").lower()
    ip: IPAddress | None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = _inet_aton(host)
    if ip is not None:
        mapped = getattr(ip, "ipv4_mapped", None)
        return str(mapped or ip)
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of the short, hex, octal or one-number forms the C library reads."""
    if not host or not all(ch in "0123456789abcdefx." for ch in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings (host bits allowed, as in ``10.1.2.3/8``)."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to (mapped, NAT64, 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def blocked_because(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None when it is one."""
    inner = embedded_v4(ip)
    if inner is not None:
        why = blocked_because(inner)
        return None if why is None else f"{why} (via {ip})"
    table = _V4_BLOCKED if isinstance(ip, ipaddress.IPv4Address) else _V6_BLOCKED
    for net, why in table:
        if ip in net:
            return why
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _V6_GLOBAL:
        return "not global unicast"
    return None


def is_allowed(ip: IPAddress, allowed: Iterable[IPNetwork]) -> bool:
    """True when ``ip`` (or the IPv4 address it embeds) is in an allowed network."""
    candidates = [ip] + ([inner] if (inner := embedded_v4(ip)) is not None else [])
    # ``in`` is False across IP versions, so mixed lists need no special case.
    return any(addr in net for net in allowed for addr in candidates)


def check_address(ip: IPAddress | str, allowed_networks: Iterable[IPNetwork | str]) -> None:
    """Raise ``feed.blocked_address`` unless ``ip`` is public or in an allowed network."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    allowed = [
        ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n for n in allowed_networks
    ]
    why = blocked_because(addr)
    if why is not None and not is_allowed(addr, allowed):
        raise FeedFetchError(
            Reason.FEED_BLOCKED_ADDRESS,
            f"{addr} is {why}; not in INGEST_FEED_ALLOWED_NETWORKS",
        )


def resolve(host: str, port: int, resolver: Resolver = socket.getaddrinfo) -> list[IPAddress]:
    """The distinct addresses ``host`` resolves to, in the resolver's order."""
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise FeedFetchError(Reason.FEED_DNS, f"cannot resolve {host}: {e}", retryable=True) from e
    found: list[IPAddress] = []
    for info in infos:
        # A scope id ("fe80::1%eth0") does not change which network the address is in.
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if addr not in found:
            found.append(addr)
    if not found:
        raise FeedFetchError(Reason.FEED_DNS, f"{host} has no address", retryable=True)
    return found


def vetted(
    host: str,
    port: int,
    allowed: Iterable[IPNetwork],
    resolver: Resolver = socket.getaddrinfo,
) -> list[IPAddress]:
    """Resolve ``host`` and check every answer; refuse the host if any answer is blocked."""
    addresses = resolve(host, port, resolver)
    allowed = tuple(allowed)
    for addr in addresses:
        check_address(addr, allowed)
    return addresses


def connect(
    addresses: Sequence[IPAddress], port: int, *, connect_timeout: float, deadline: Deadline
) -> socket.socket:
    """A TCP socket connected to the first of the (vetted) ``addresses`` that answers.

    The addresses are numeric (``AI_NUMERICHOST``): nothing here looks a name up again. Each
    attempt gets ``connect_timeout``, all of them together no more than the deadline.
    """
    last: OSError = TimeoutError("no time left to connect")
    for addr in addresses:
        timeout = min(connect_timeout, deadline.remaining())
        if timeout <= 0:
            break
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            str(addr), port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as e:
            sock.close()
            last = e
            continue
        return sock
    raise last
