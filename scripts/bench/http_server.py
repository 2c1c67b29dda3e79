"""The benchmark's HTTP server: fast, keep-alive, one fixed answer, and a TCP connection count.

Run by the benchmark (``server.py``) in a process of its own, so that the server's CPU time is
never counted as the client's; it needs nothing beyond the standard library. It speaks just
enough HTTP/1.1 for the benchmark: request line and headers up to the blank line, then
``Content-Length`` bytes of body (no chunked bodies), and it answers every request on the same
connection until the client closes it. Plain asyncio protocols (no streams, no uvloop) keep it
well below the client's cost per request.

Every request but the control ones gets ``200`` with a ``{"oauth_portal_url": ...}`` body, or
``401`` without an ``x-api-key`` header. The user id picks the body (``body_for``): ``u1`` the
plain ~150-byte answer; ``b<N>`` an answer of exactly N bytes, padded with a ``padding`` field of
word-like text (gzip shrinks it about 3:1); ``b<N>gz`` the same N bytes sent gzip-encoded. The
SDK's cap is on the decoded body, so N goes up to just under 1 MiB either way. Control requests:

- ``GET /__stats``: ``{"connections": N, "requests": M, "accepted": A}``, where N counts the
  TCP connections that served at least one non-control request since the last reset, M those
  requests, and A every connection accepted since the server started.
- ``POST /__reset``: sets N and M to zero.

Started as ``http_server.py CERT KEY``, it serves HTTPS with that certificate (the cold-start
figure runs over TLS, as a user's first call does). The first line on stdout is ``PORT <n>``; the
server stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import re
import signal
import ssl
import sys

PORTAL_URL = (
    "https://oauth.tapti.dev?sdk_token=c2RrLXRva2VuLWZvci1iZW5jaG1hcmstdXNlcg"
    "&origin=https%3A%2F%2Fa.example%2Fr"
)
_BODY = json.dumps({"oauth_portal_url": PORTAL_URL}).encode()


def _response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"\r\n" + body
    )


_OK = _response(b"200 OK", _BODY)
_SIZED = re.compile(rb"post /users/b(\d{1,7})(gz)?(?:-\d+)?/")  # -n: the call's own id
_LARGEST = 1 << 20


def padding(length: int) -> str:
    """``length`` characters of words from a fixed, seeded vocabulary: text that compresses like
    prose rather than like one repeated byte, the same in every run."""
    rng = random.Random(2026)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(2048)]
    text: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(words)
        text.append(word)
        size += len(word) + 1
    return " ".join(text)[:length]


def body_for(size: int) -> bytes:
    """A JSON answer of exactly ``size`` bytes (at least the plain answer's)."""
    empty = json.dumps({"oauth_portal_url": PORTAL_URL, "padding": ""}).encode()
    if size <= len(empty):
        return _BODY
    return json.dumps(
        {"oauth_portal_url": PORTAL_URL, "padding": padding(size - len(empty))}
    ).encode()


def sized_response(size: int, gzipped: bool) -> bytes:
    body = body_for(size)
    if not gzipped:
        return _OK if body is _BODY else _response(b"200 OK", body)
    encoded = gzip.compress(body, compresslevel=6, mtime=0)
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        b"content-length: " + str(len(encoded)).encode() + b"\r\n\r\n" + encoded
    )


_UNAUTHORIZED = _response(b"401 Unauthorized", b'{"message": "missing x-api-key"}')
_BAD_REQUEST = _response(b"400 Bad Request", b'{"message": "bad request"}')


class Stats:
    def __init__(self) -> None:
        self.generation = 0  # bumped by each reset: a connection counts once per generation
        self.connections = 0
        self.requests = 0
        self.accepted = 0
        self.sized: dict[tuple[int, bool], bytes] = {}  # made on first request, then reused

    def answer_for(self, request_line: bytes) -> bytes:
        match = _SIZED.match(request_line)
        if match is None:
            return _OK
        key = (min(int(match.group(1)), _LARGEST), match.group(2) is not None)
        found = self.sized.get(key)
        if found is None:
            found = self.sized[key] = sized_response(*key)
        return found

    def reset(self) -> None:
        self.generation += 1
        self.connections = 0
        self.requests = 0

    def as_json(self) -> bytes:
        return json.dumps(
            {"connections": self.connections, "requests": self.requests, "accepted": self.accepted}
        ).encode()


class HttpProtocol(asyncio.Protocol):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.counted_generation = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.accepted += 1

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        out: list[bytes] = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).lower()
            length = 0
            start = head.find(b"\r\ncontent-length:")
            if start >= 0:
                stop = head.find(b"\r\n", start + 2)
                value = head[start + 17 : stop if stop >= 0 else len(head)]
                try:
                    length = int(value)
                except ValueError:
                    out.append(_BAD_REQUEST)
                    buffer.clear()
                    break
            total = end + 4 + length
            if len(buffer) < total:
                break
            del buffer[:total]
            out.append(self.answer(head))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def answer(self, head: bytes) -> bytes:
        line_end = head.find(b"\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        stats = self.stats
        if b" /__" in request_line:
            if request_line.startswith(b"post /__reset"):
                stats.reset()
                return _response(b"200 OK", b"{}")
            if request_line.startswith(b"get /__stats"):
                return _response(b"200 OK", stats.as_json())
        if self.counted_generation != stats.generation:
            self.counted_generation = stats.generation
            stats.connections += 1
        stats.requests += 1
        if b"\r\nx-api-key:" not in head:
            return _UNAUTHORIZED
        return stats.answer_for(request_line)


async def serve(host: str, tls: ssl.SSLContext | None) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(lambda: HttpProtocol(stats), host, 0, backlog=1024, ssl=tls)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    tls = None
    if len(sys.argv) == 3:  # CERT KEY: serve HTTPS with them
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(sys.argv[1], sys.argv[2])
    asyncio.run(serve("127.0.0.1", tls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
