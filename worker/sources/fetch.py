"""Fetching a feed by URL: our own small HTTP(S) client on ``http.client``.

Not feedparser's urllib, so that every limit is ours:

- ``http`` and ``https`` only; URLs with credentials (``user:pass@``) are refused as
  ``feed.bad_url``: a feed URL ends up in records and logs, and ``http://good@evil/`` is a
  classic way to disguise a host.
- Every hop (the first request and each redirect) resolves its host, checks every address
  with :mod:`worker.sources.netguard` and connects to a vetted address (no second lookup).
- One deadline (``INGEST_FEED_TIMEOUT``) covers lookup, connect, TLS, headers and body, so a
  server dripping bytes is cut off; ``INGEST_FEED_CONNECT_TIMEOUT`` bounds each connect.
- The body is capped at ``INGEST_FEED_MAX_BYTES`` after decompression (gzip, deflate).
- At most ``INGEST_FEED_MAX_REDIRECTS`` redirects (301, 302, 303, 307, 308).
- HTTPS verifies the certificate against the URL's host name, which is also sent as SNI.
- Proxy variables (``http_proxy``, ``https_proxy``, ...) are ignored: ``http.client`` never
  reads them. A proxy is used only when configured (``INGEST_FEED_PROXY`` or a feed's
  ``proxy``): a trusted hop, with the feed's host still vetted (:mod:`worker.sources.proxy`).
- :class:`RequestOptions` carry a feed's own headers (its User-Agent, its Authorization,
  resolved by the caller) and proxy. They are sent to the feed's own origin only: once a
  redirect leaves it (another scheme, host or port), the hops that follow get only the
  harmless ones (``User-Agent``, ``Accept*``), never ``Authorization``, ``Cookie`` or an
  API key header.

Conditional GET: pass the validators remembered from the last fetch; a ``304`` comes back as
a result with ``status=304`` and no body.

Failures raise :class:`~worker.core.errors.FeedFetchError` (a ``RejectedInput``) with a reason
code, so a one-shot run records a rejection. HTTP error statuses raise
:class:`~worker.core.errors.FeedHttpError` with reason ``feed.http_<status>``, ``.status``,
``.retryable`` and, for 429 and 503, ``.retry_after`` in seconds parsed from Retry-After
(delta-seconds or an HTTP date): a poller schedules its next try from them.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import quote, urldefrag, urljoin, urlsplit

from worker.core.errors import FeedFetchError, FeedHttpError, Reason, RejectedInput
from worker.sources import netguard
from worker.sources.body import check_length, read_body
from worker.sources.deadline import Deadline, Watchdog, call_with_timeout
from worker.sources.limits import FetchLimits
from worker.sources.proxy import first_vetted, open_proxy, tunnel

REDIRECTS = frozenset({301, 302, 303, 307, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml, */*;q=0.5"
# Characters left as they are when percent-encoding a path: RFC 3986 reserved and unreserved.
_URL_SAFE = "/?#[]@!$&'()*+,;=:%-._~"

try:
    USER_AGENT = f"news-ingest-worker/{version('news-ingest-worker')}"
except PackageNotFoundError:  # running from a source tree that was never installed
    USER_AGENT = "news-ingest-worker/0"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one successful fetch returns: a body (200) or "not modified" (304)."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200 or 304
    body: bytes | None  # decompressed body (None on 304)
    etag: str | None
    last_modified: str | None
    content_type: str | None


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """A feed's own request options: extra headers (secrets resolved) and a proxy URL."""

    headers: dict[str, str] = field(default_factory=dict)
    proxy: str | None = None

    def __repr__(self) -> str:  # never show header values: one of them may be a secret
        return f"RequestOptions(headers={sorted(self.headers)!r}, proxy={self.proxy!r})"


@dataclass(frozen=True, slots=True)
class Target:
    """One checked URL, split into what a request needs."""

    url: str
    https: bool
    host: str  # ASCII (IDNA) host name or IP literal, no brackets
    port: int
    path: str  # path and query, percent-encoded

    @property
    def origin(self) -> tuple[bool, str, int]:
        return self.https, netguard.canonical_host(self.host), self.port

    @property
    def absolute(self) -> str:
        """The absolute-form request target (for a request through a proxy)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.https else 'http'}://{host}:{self.port}{self.path}"


def bad_url(url: str, why: str) -> FeedFetchError:
    return FeedFetchError(Reason.FEED_BAD_URL, f"{why}: {url!r}")


def parse_url(url: str) -> Target:
    """Split a feed URL, refusing anything but plain http(s) URLs."""
    if any(ch <= " " or ch == "\x7f" for ch in url):
        raise bad_url(url, "spaces or control characters in URL")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as e:
        raise bad_url(url, f"malformed URL ({e})") from e
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise bad_url(url, "only http and https URLs are fetched")
    if parts.username is not None or parts.password is not None:
        raise bad_url(url, "credentials in feed URLs are not accepted")
    if not host:
        raise bad_url(url, "no host")
    path = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_URL_SAFE)
    https = scheme == "https"
    return Target(urldefrag(url).url, https, host, port or (443 if https else 80), path)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or HTTP date); None when absent/bad."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Connection(http.client.HTTPConnection):
    """An HTTP connection over a socket we opened and checked; it never opens its own."""

    def __init__(self, target: Target, sock: socket.socket) -> None:
        super().__init__(target.host, target.port)
        self.default_port = 443 if target.https else 80  # decides the Host header's port
        self.sock = sock

    def connect(self) -> None:  # the socket is given; reconnecting would skip the guard
        raise http.client.NotConnected("connection already closed")


def _open_socket(
    target: Target, limits: FetchLimits, deadline: Deadline, proxy: str | None
) -> socket.socket:
    """Resolve, vet every address, connect to a vetted one: the guard runs on every hop.

    Through a proxy the feed's host is vetted the same way first; https then tunnels to
    the vetted address.
    """
    allowed = netguard.networks(limits.allowed_networks)
    lookup_time = min(limits.connect_timeout, deadline.remaining())
    addresses = call_with_timeout(
        lambda: netguard.vetted(target.host, target.port, allowed), lookup_time
    )
    connect = limits.connect_timeout
    if proxy is None:
        return netguard.connect(addresses, target.port, connect_timeout=connect, deadline=deadline)
    lookup_time = min(limits.connect_timeout, deadline.remaining())
    sock = call_with_timeout(lambda: open_proxy(proxy, connect, deadline), lookup_time + connect)
    if target.https:
        try:
            tunnel(sock, first_vetted(addresses), target.port)
        except BaseException:
            sock.close()
            raise
    return sock


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The client TLS context: system CAs, certificate and host-name checks, TLS 1.2+.

    Built once per process (loading the CA store costs ~20 ms): the CA files named by
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when it is first used are the ones trusted.
    """
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _headers(
    etag: str | None, last_modified: str | None, limits: FetchLimits, extra: dict[str, str]
) -> dict[str, str]:
    headers = {
        "User-Agent": limits.user_agent or USER_AGENT,
        "Accept": ACCEPT,
        **extra,
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",
    }
    # A validator that could break the header block is dropped, not sent.
    for name, value in (("If-None-Match", etag), ("If-Modified-Since", last_modified)):
        if value and all(" " <= ch <= "\xff" and ch != "\x7f" for ch in value):
            headers[name] = value
    return headers


@contextmanager
def _failures(
    source: str, deadline: Deadline, watchdog: Watchdog, connect: float
) -> Iterator[None]:
    """Turn network and protocol errors into rejections with reason codes."""
    try:
        yield
    except RejectedInput as e:
        e.source = e.source or source
        raise
    except (OSError, http.client.HTTPException) as e:
        if watchdog.fired or deadline.expired or isinstance(e, TimeoutError):
            reason, retry = Reason.FEED_TIMEOUT, True
            spent = deadline.seconds - deadline.remaining()
            detail = f"timed out after {spent:.1f} s (limits: connect {connect:g} s, total "
            detail += f"{deadline.seconds:g} s)"
        elif isinstance(e, ssl.SSLError):
            reason, retry, detail = Reason.FEED_TLS, False, f"TLS failed: {e}"
        elif isinstance(e, OSError | http.client.IncompleteRead):  # refused, reset, cut short
            reason, retry, detail = Reason.FEED_CONNECTION, True, f"connection failed: {e!r}"
        else:
            reason, retry, detail = Reason.FEED_BAD_RESPONSE, False, f"bad HTTP response: {e!r}"
        raise FeedFetchError(reason, detail, source=source, retryable=retry) from e


def _exchange(
    target: Target,
    limits: FetchLimits,
    deadline: Deadline,
    watchdog: Watchdog,
    headers: dict[str, str],
    proxy: str | None,
) -> tuple[http.client.HTTPResponse, _Connection]:
    """Connect (guarded), send the GET and read the status and headers."""
    sock = _open_socket(target, limits, deadline, proxy)
    try:
        watchdog.watch(sock)
        sock.settimeout(max(deadline.remaining(), 0.001))
        if target.https:
            sock = tls_context().wrap_socket(sock, server_hostname=target.host)
            watchdog.watch(sock)  # wrapping detached the plain socket
    except BaseException:
        sock.close()
        raise
    conn = _Connection(target, sock)
    try:
        # Through a proxy, plain http asks in absolute form; https speaks in its tunnel.
        path = target.absolute if proxy and not target.https else target.path
        conn.request("GET", path, headers=headers)
        return conn.getresponse(), conn
    except BaseException:
        conn.close()
        raise


def _hop(
    target: Target,
    limits: FetchLimits,
    deadline: Deadline,
    conditional: tuple[str | None, str | None],
    source: str,
    options: RequestOptions,
) -> FetchResult | str:
    """One request: the result, or the next URL when the answer is a redirect."""
    watchdog = Watchdog(deadline)
    headers = _headers(*conditional, limits, options.headers)
    proxy = options.proxy or limits.proxy
    with _failures(source, deadline, watchdog, limits.connect_timeout):
        try:
            response, conn = _exchange(target, limits, deadline, watchdog, headers, proxy)
            try:
                return _answer(target, response, limits, deadline, conditional, source)
            finally:
                response.close()  # with "Connection: close" the response owns the socket
                conn.close()
        finally:
            watchdog.cancel()


def _answer(
    target: Target,
    response: http.client.HTTPResponse,
    limits: FetchLimits,
    deadline: Deadline,
    conditional: tuple[str | None, str | None],
    source: str,
) -> FetchResult | str:
    status = response.status
    if status in REDIRECTS and response.getheader("Location"):
        return urljoin(target.url, response.getheader("Location", "").strip())
    not_modified = status == 304 and any(conditional)
    if status != 200 and not not_modified:
        retry = response.getheader("Retry-After") if status in (429, 503) else None
        raise FeedHttpError(
            status,
            f"{target.url} answered {status} {response.reason}",
            source=source,
            retry_after=retry_after_seconds(retry),
        )
    body = None
    if status == 200:
        check_length(response.getheader("Content-Length"), limits.max_bytes)
        body = read_body(
            response,
            encoding=response.getheader("Content-Encoding"),
            limit=limits.max_bytes,
            deadline=deadline,
        )
    return FetchResult(
        url=source,
        final_url=target.url,
        status=status,
        body=body,
        etag=response.getheader("ETag") or (conditional[0] if not_modified else None),
        last_modified=response.getheader("Last-Modified")
        or (conditional[1] if not_modified else None),
        content_type=response.getheader("Content-Type"),
    )


def fetch_feed(
    url: str,
    limits: FetchLimits,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    options: RequestOptions | None = None,
) -> FetchResult:
    """Fetch ``url`` (conditionally when validators are given), following a few redirects.

    Raises :class:`~worker.core.errors.FeedFetchError` with a reason code on any failure.
    """
    deadline = Deadline(limits.timeout)
    options = options or RequestOptions()
    current, origin, left = url, None, False
    for _ in range(limits.max_redirects + 1):
        try:
            target = parse_url(current)
        except FeedFetchError as e:
            e.source = url
            raise
        origin = origin or target.origin
        left = left or target.origin != origin
        hop_options = _harmless(options) if left else options
        answer = _hop(target, limits, deadline, (etag, last_modified), url, hop_options)
        if isinstance(answer, FetchResult):
            return answer
        current = answer
    raise FeedFetchError(
        Reason.FEED_TOO_MANY_REDIRECTS,
        f"more than {limits.max_redirects} redirects (last to {current})",
        source=url,
    )


def _harmless(options: RequestOptions) -> RequestOptions:
    """The options for another origin: only headers that carry no secret (User-Agent,
    Accept*); an ``X-Api-Key`` or a ``Cookie`` is as much the feed's own as its
    ``Authorization``."""
    headers = {k: v for k, v in options.headers.items() if _is_harmless(k)}
    return RequestOptions(headers, options.proxy)


def _is_harmless(name: str) -> bool:
    name = name.lower()
    return name == "user-agent" or name.startswith("accept")


def fetch_page(url: str, limits: FetchLimits) -> FetchResult:
    """Fetch an article page: :func:`fetch_feed`'s client and limits, asking for HTML.

    No feed's own options: its credentials are for the feed's origin, not the pages it
    links to. Failures carry the same ``feed.*`` reason codes.
    """
    return fetch_feed(url, limits, options=RequestOptions({"Accept": PAGE_ACCEPT}))
