"""The address guard over IP literals and injected resolvers: no traffic leaves the machine.

The only sockets opened here are on loopback (a listener of the test's own), to show that
``connect`` goes to the vetted address without a second lookup.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from worker.core.errors import FeedFetchError, Reason, RejectedInput
from worker.sources import netguard
from worker.sources.deadline import Deadline

BLOCKED = [
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.169.254", "link-local"),  # cloud metadata endpoint
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "reserved or broadcast"),
    ("240.0.0.1", "reserved or broadcast"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.5", "benchmarking"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique local (private)"),
    ("fd12:3456::1", "unique local (private)"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff05::2", "multicast"),
    ("2001:db8::1", "documentation"),
    ("2001::1", "IETF protocol assignment (Teredo, ORCHID, ...)"),
    ("64:ff9b:1::a", "local-use NAT64"),
    ("100::1", "discard-only"),
    ("::1.2.3.4", "not global unicast"),  # deprecated IPv4-compatible form
    ("4000::1", "not global unicast"),
    # IPv6 forms that lead to a blocked IPv4 address are judged by that address.
    ("::ffff:127.0.0.1", "loopback (via ::ffff:7f00:1)"),
    ("::ffff:10.1.2.3", "private (via ::ffff:a01:203)"),
    ("::ffff:169.254.169.254", "link-local (via ::ffff:a9fe:a9fe)"),
    ("64:ff9b::127.0.0.1", "loopback (via 64:ff9b::7f00:1)"),
    ("64:ff9b::192.168.0.1", "private (via 64:ff9b::c0a8:1)"),
    ("2002:7f00:1::1", "loopback (via 2002:7f00:1::1)"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "link-local (via 2002:a9fe:a9fe::)"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.0",  # just above
    "192.169.0.1",
    "223.255.255.254",  # last unicast before multicast
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",  # NAT64 to a public address: how IPv6-only hosts reach IPv4
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("ip", "why"), BLOCKED)
def test_blocked_addresses_are_refused_with_the_reason(ip: str, why: str) -> None:
    assert netguard.blocked_because(ipaddress.ip_address(ip)) == why
    with pytest.raises(FeedFetchError) as caught:
        netguard.check_address(ip, [])
    assert caught.value.reason == Reason.FEED_BLOCKED_ADDRESS == "feed.blocked_address"
    assert why in caught.value.detail
    assert isinstance(caught.value, RejectedInput)
    assert not caught.value.retryable


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_pass(ip: str) -> None:
    assert netguard.blocked_because(ipaddress.ip_address(ip)) is None
    netguard.check_address(ip, [])


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("127.0.0.1", ["127.0.0.0/8"]),
        ("10.20.30.40", ["10.20.0.0/16"]),
        ("10.20.30.40", ["10.20.30.40/32"]),
        ("10.20.30.40", ["10.20.30.1/24"]),  # host bits in the CIDR are tolerated
        ("100.64.1.1", ["100.64.0.0/10"]),
        ("fd00::5", ["fd00::/8"]),
        ("::1", ["::1/128"]),
        ("::ffff:127.0.0.1", ["127.0.0.0/8"]),  # mapped: the IPv4 network covers it
        ("169.254.1.1", ["192.168.0.0/16", "169.254.0.0/16"]),  # any listed network
        ("127.0.0.1", ["::1/128", "127.0.0.1/32"]),  # mixed versions
    ],
)
def test_allowed_networks_let_blocked_addresses_through(ip: str, allowed: list[str]) -> None:
    netguard.check_address(ip, allowed)
    netguard.check_address(ipaddress.ip_address(ip), netguard.networks(allowed))


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("127.0.0.2", ["127.0.0.1/32"]),
        ("10.21.0.1", ["10.20.0.0/16"]),
        ("::1", ["127.0.0.0/8"]),  # an IPv4 network does not cover IPv6 loopback
        ("192.168.0.1", ["::ffff:0:0/96", "10.0.0.0/8"]),
        ("169.254.169.254", ["169.254.0.0/24"]),
    ],
)
def test_allowed_networks_are_exact(ip: str, allowed: list[str]) -> None:
    with pytest.raises(FeedFetchError, match="blocked_address"):
        netguard.check_address(ip, allowed)


def resolver_for(table: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    """A ``getaddrinfo`` stand-in answering from ``table``, injected instead of DNS."""

    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for ip in table[host]:
            v6 = ":" in ip
            family = socket.AF_INET6 if v6 else socket.AF_INET
            sockaddr = (ip, port, 0, 0) if v6 else (ip, port)
            out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return out

    return resolve


HOSTS = {
    "feeds.example": ["93.184.216.34", "2606:2800:220:1::248"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],  # one public, one private answer
    "sneaky.example": ["2606:2800:220:1::248", "::ffff:127.0.0.1"],
    "twice.example": ["93.184.216.34", "93.184.216.34"],
    "intranet.example": ["10.1.2.3"],
    "scoped.example": ["fe80::1%eth0"],
    "empty.example": [],
}


def test_a_public_host_is_vetted_with_all_its_addresses() -> None:
    got = netguard.vetted("feeds.example", 443, [], resolver_for(HOSTS))
    assert [str(ip) for ip in got] == ["93.184.216.34", "2606:2800:220:1::248"]


@pytest.mark.parametrize(
    "host", ["metadata.example", "mixed.example", "sneaky.example", "scoped.example"]
)
def test_a_host_with_any_blocked_answer_is_refused(host: str) -> None:
    with pytest.raises(FeedFetchError, match="blocked_address"):
        netguard.vetted(host, 80, [], resolver_for(HOSTS))


def test_an_allowed_network_admits_an_intranet_host() -> None:
    allowed = netguard.networks(["10.0.0.0/8"])
    got = netguard.vetted("intranet.example", 80, allowed, resolver_for(HOSTS))
    assert got == [ipaddress.ip_address("10.1.2.3")]


def test_repeated_answers_are_folded() -> None:
    assert len(netguard.vetted("twice.example", 80, [], resolver_for(HOSTS))) == 1


@pytest.mark.parametrize("host", ["unknown.example", "empty.example"])
def test_unresolvable_hosts_are_dns_failures(host: str) -> None:
    with pytest.raises(FeedFetchError) as caught:
        netguard.vetted(host, 80, [], resolver_for(HOSTS))
    assert caught.value.reason == "feed.dns_failed"
    assert caught.value.retryable


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_connect_uses_the_vetted_address_without_a_second_lookup(listener: socket.socket) -> None:
    calls: list[str] = []
    resolver = resolver_for({"feed.test": ["127.0.0.1"]}, calls)
    port = listener.getsockname()[1]
    addresses = netguard.vetted("feed.test", port, netguard.networks(["127.0.0.0/8"]), resolver)
    sock = netguard.connect(addresses, port, connect_timeout=5, deadline=Deadline(10))
    with sock:
        assert sock.getpeername() == ("127.0.0.1", port)
    assert calls == ["feed.test"]  # one lookup, made by the guard


def test_connect_moves_on_to_the_next_vetted_address(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    # The listener is on 127.0.0.1 only, so 127.0.0.2 refuses the connection.
    addresses = [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]
    sock = netguard.connect(addresses, port, connect_timeout=5, deadline=Deadline(10))
    with sock:
        assert sock.getpeername() == ("127.0.0.1", port)
    with pytest.raises(ConnectionRefusedError):
        netguard.connect(addresses[:1], port, connect_timeout=5, deadline=Deadline(10))


def test_connect_gives_up_when_the_deadline_has_passed(listener: socket.socket) -> None:
    deadline = Deadline(0)
    with pytest.raises(TimeoutError):
        netguard.connect(
            [ipaddress.ip_address("127.0.0.1")],
            listener.getsockname()[1],
            connect_timeout=5,
            deadline=deadline,
        )


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("::FFFF:7f00:1", "127.0.0.1"),
        ("[2001:DB8:0::1]", "2001:db8::1"),
        ("News.Example.COM.", "news.example.com"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("deadbeef", "deadbeef"),  # a name, not a number
    ],
)
def test_one_spelling_per_host(spelling: str, canonical: str) -> None:
    assert netguard.canonical_host(spelling) == canonical
