"""Reading a response body under a size cap counted after decompression.

The cap applies to the bytes the parser would see, so a small gzip "bomb" that inflates to
gigabytes is stopped as soon as its output passes the cap: decompression is streamed with
``max_length`` and never produces more than one byte over the limit. The compressed bytes
read are capped too, and a Content-Length over the cap is refused before reading anything.

``deflate`` is zlib-wrapped by the standard, but many servers send raw deflate; the first
two bytes tell them apart, as browsers do.
"""

from __future__ import annotations

import http.client
import zlib
from typing import Protocol

from worker.core.errors import FeedFetchError, Reason
from worker.sources.deadline import Deadline

CHUNK = 64 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class Readable(Protocol):
    """What ``read_body`` needs of an ``http.client.HTTPResponse``."""

    length: int | None  # bytes of a Content-Length body still unread

    def read1(self, n: int = -1, /) -> bytes: ...


def too_large(limit: int, what: str) -> FeedFetchError:
    return FeedFetchError(Reason.FEED_TOO_LARGE, f"{what} is over the {limit}-byte limit")


def bad_encoding(detail: str) -> FeedFetchError:
    return FeedFetchError(Reason.FEED_BAD_CONTENT_ENCODING, detail)


def check_length(header: str | None, limit: int) -> None:
    """Refuse a declared Content-Length over the cap before reading the body."""
    if header is not None and header.strip().isdigit() and int(header) > limit:
        raise too_large(limit, f"Content-Length {int(header)}")


def _is_zlib(head: bytes) -> bool:
    """A zlib header: deflate method, window <= 32K, and the FCHECK multiple of 31."""
    return head[0] & 0x0F == 8 and head[0] >> 4 <= 7 and ((head[0] << 8) | head[1]) % 31 == 0


class Inflater:
    """Streams one Content-Encoding into a bounded buffer."""

    def __init__(self, encoding: str | None, limit: int) -> None:
        coding = (encoding or "identity").strip().lower()
        if coding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise bad_encoding(f"unsupported Content-Encoding {encoding!r}")
        self.coding = "gzip" if coding == "x-gzip" else coding
        self.limit = limit
        self.out = bytearray()
        self._pending = b""  # deflate: bytes held until the header can be told apart
        self._d: zlib._Decompress | None = None
        self._seen = False

    def feed(self, data: bytes) -> None:
        self._seen = self._seen or bool(data)
        if self.coding == "identity":
            self._append(data)
            return
        if self._d is None:
            data = self._start(self._pending + data)
            if self._d is None:
                return
        self._inflate(data)

    def finish(self) -> bytes:
        """The whole decoded body; raises when a compressed stream stopped short."""
        stopped_short = self._d is None or not self._d.eof
        if self.coding != "identity" and self._seen and stopped_short:
            raise bad_encoding(f"truncated {self.coding} stream")
        return bytes(self.out)

    def _start(self, data: bytes) -> bytes:
        if self.coding == "gzip":
            self._d = zlib.decompressobj(_GZIP_WBITS)
        elif len(data) < 2:
            self._pending = data
        else:
            self._d = zlib.decompressobj(zlib.MAX_WBITS if _is_zlib(data) else -zlib.MAX_WBITS)
        return data

    def _inflate(self, data: bytes) -> None:
        while data:
            d = self._d
            assert d is not None
            try:
                # At most one byte over the cap per call. A piece that fills max_length is
                # over the cap and raises, so no output is ever left pending inside zlib.
                self._append(d.decompress(data, self.limit - len(self.out) + 1))
            except zlib.error as e:
                raise bad_encoding(f"corrupt {self.coding} stream: {e}") from e
            if d.unconsumed_tail:
                data = d.unconsumed_tail
            elif d.eof and self.coding == "gzip" and d.unused_data.strip(b"\0"):
                data = d.unused_data  # another gzip member follows
                self._d = zlib.decompressobj(_GZIP_WBITS)
            else:
                return  # all consumed (bytes after a deflate stream are ignored, as browsers do)

    def _append(self, data: bytes) -> None:
        self.out += data
        if len(self.out) > self.limit:
            raise too_large(self.limit, "decompressed body")


def read_body(response: Readable, *, encoding: str | None, limit: int, deadline: Deadline) -> bytes:
    """Read and decode the whole body, within ``limit`` bytes and the deadline."""
    inflater = Inflater(encoding, limit)
    received = 0
    while chunk := response.read1(CHUNK):
        received += len(chunk)
        if received > limit:
            raise too_large(limit, "body")
        inflater.feed(chunk)
        if deadline.expired:
            break
    # An early end is the watchdog's doing when the deadline has passed, else the server's.
    if deadline.expired:
        raise TimeoutError("deadline passed while reading the body")
    if response.length:
        raise http.client.IncompleteRead(b"", response.length)
    return inflater.finish()
