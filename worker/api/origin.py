"""Without keys, only this machine's own pages and tools may use the API.

A keyless API listens on loopback only, but a web page in a browser on the same machine
can still reach it: by a cross-site request (``Origin: http://evil.example``; a
``text/plain`` POST needs no preflight) or by DNS rebinding (a name of the attacker's that
now resolves to 127.0.0.1, sent as ``Host``). So, while no key is configured, every
request must name a loopback ``Host``, and one that carries an ``Origin`` must come from
the API's own origin (a loopback host on the same port). With keys, a browser cannot ride
them: they travel in an ``Authorization`` header a page cannot make a browser add on its
own, and the API sets no cookies.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from worker.api.auth import is_loopback
from worker.api.errors import ApiReason, error_response


def split_host(value: str) -> tuple[str, int | None] | None:
    """``host[:port]`` (``[v6]:port`` too) as its host and port; None when malformed."""
    try:
        parts = urlsplit(f"//{value}")
        return (parts.hostname or "", parts.port)
    except ValueError:
        return None


def own_origin(origin: str, port: int | None) -> bool:
    """True when ``origin`` is an http(s) origin on a loopback host and the API's port."""
    try:
        parts = urlsplit(origin)
        found = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path or parts.query:
        return False
    return is_loopback(parts.hostname or "") and found == (port or 80)


def refusal(scope: Scope) -> tuple[str, str] | None:
    """The reason and detail to refuse a keyless request with; None when it may pass."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    host = split_host(headers.get("host", ""))
    if host is None or not is_loopback(host[0]):
        return ApiReason.HOST_REFUSED, "without API keys, the Host must be a loopback address"
    origin = headers.get("origin")
    if origin is not None and not own_origin(origin, host[1]):
        return (
            ApiReason.ORIGIN_REFUSED,
            "without API keys, only the API's own origin may send requests from a browser",
        )
    return None


class LoopbackOnly:
    """ASGI middleware: refuse (403) keyless requests from other hosts' pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = refusal(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        await error_response(403, *found)(scope, receive, send)
