"""A request's head goes out with its body in one write, as http.client sends them.

httpcore2 writes the head, the body and h11's end of message separately, so a small request
costs two segments on the wire and wakes the server twice. The SDK's streams hold the head
until the write that always follows it. What reaches the socket is recorded by a network
backend put under the SDK's own (``httpcore2.SyncBackend``/``AnyIOBackend`` swapped for one that
records every write of its streams), over real HTTP to the project's mock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _http import wrap_backend_streams

from tapti_ext import AsyncTapti, NotFoundError, Tapti
from tapti_ext._network import _WRITE_SLICE, _Stream
from tapti_ext.testing import MockTaptiServer

CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}


class _RecordedStream:
    def __init__(self, inner: Any, writes: list[bytes]) -> None:
        self._inner = inner
        self._writes = writes

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._writes.append(bytes(buffer))
        self._inner.write(buffer, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _AsyncRecordedStream(_RecordedStream):
    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # type: ignore[override]
        if buffer:
            self._writes.append(bytes(buffer))
        await self._inner.write(buffer, timeout)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every non-empty write that reaches a socket of a client made in the test."""
    recorded: list[bytes] = []
    wrap_backend_streams(
        monkeypatch,
        lambda inner: _RecordedStream(inner, recorded),
        lambda inner: _AsyncRecordedStream(inner, recorded),
    )
    return recorded


def _is_whole_request(write: bytes) -> bool:
    head, _, body = write.partition(b"\r\n\r\n")
    return head.startswith(b"POST /users/") and body.startswith(b"{") and body.endswith(b"}")


def test_each_call_is_one_write_of_head_and_body(writes: list[bytes]) -> None:
    with MockTaptiServer() as server, Tapti(api_key=server.api_key, base_url=server.url) as tapti:
        for user in ("u1", "u2", "u3"):
            tapti.user(user).create_sdk_token(**CALL)
    assert len(writes) == 3
    assert all(_is_whole_request(w) for w in writes), writes


def test_each_async_call_is_one_write_of_head_and_body(writes: list[bytes]) -> None:
    async def main(url: str, key: str) -> None:
        async with AsyncTapti(api_key=key, base_url=url) as tapti:
            for user in ("u1", "u2", "u3"):
                await tapti.user(user).create_sdk_token(**CALL)

    with MockTaptiServer() as server:
        asyncio.run(main(server.url, server.api_key))
    assert len(writes) == 3
    assert all(_is_whole_request(w) for w in writes), writes


def test_a_request_without_a_body_is_one_write(writes: list[bytes]) -> None:
    with MockTaptiServer() as server, Tapti(api_key=server.api_key, base_url=server.url) as tapti:
        for _ in range(2):
            with pytest.raises(NotFoundError):  # the mock serves only the token operation
                tapti.raw.get_httpx_client().get("/health")
    assert len(writes) == 2
    assert all(w.startswith(b"GET /health ") and w.endswith(b"\r\n\r\n") for w in writes)


def test_a_large_body_goes_after_its_head_without_a_copy_of_both(writes: list[bytes]) -> None:
    padding = "x" * (3 * _WRITE_SLICE)
    with MockTaptiServer() as server, Tapti(api_key=server.api_key, base_url=server.url) as tapti:
        tapti.user("u1").create_sdk_token(**CALL, extra_body={"padding": padding})
        tapti.user("u2").create_sdk_token(**CALL)
    head, *body, last = writes
    assert head.startswith(b"POST /users/u1/")
    assert head.endswith(b"\r\n\r\n")
    assert all(len(part) <= _WRITE_SLICE for part in body)
    assert padding.encode() in b"".join(body)
    assert _is_whole_request(last)
    assert last.startswith(b"POST /users/u2/")


class _Inner:
    """What a held head meets when a read comes first: it is sent before the read."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.events.append(("write", bytes(buffer)))

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.events.append(("read", b""))
        return b"HTTP/1.1 204 No Content\r\n\r\n"


def test_a_read_sends_a_held_head_first_and_the_next_head_is_held_again() -> None:
    inner = _Inner()
    stream = _Stream(inner, ())
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert inner.events == []
    stream.read(1024)
    stream.write(b"GET /next HTTP/1.1\r\n\r\n")
    assert inner.events == [("write", b"GET / HTTP/1.1\r\n\r\n"), ("read", b"")]
    stream.write(b"")
    assert inner.events[-1] == ("write", b"GET /next HTTP/1.1\r\n\r\n")
