"""A real forward proxy on 127.0.0.1: CONNECT tunnels and absolute-form GETs, recorded."""

from __future__ import annotations

import select
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class ProxyServer:
    """Records each request line it was asked (``CONNECT host:port``, ``GET http://...``)."""

    asked: list[str] = field(default_factory=list)

    def start(self) -> ProxyServer:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.proxy = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_CONNECT(self) -> None:
        self.server.proxy.asked.append(f"CONNECT {self.path}")  # type: ignore[attr-defined]
        host, port = self.path.rsplit(":", 1)
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        self.send_response(200, "Connection established")
        self.end_headers()
        _pipe(self.connection, upstream)

    def do_GET(self) -> None:
        self.server.proxy.asked.append(f"GET {self.path}")  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=5)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        head = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in self.headers.items()]
        upstream.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        _pipe(self.connection, upstream)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [client, upstream]
    try:
        while True:
            ready, _, _ = select.select(sockets, [], [], 5)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    finally:
        upstream.close()
