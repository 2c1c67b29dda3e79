"""A large answer is read in few reads, each asking the socket for the rest of its body.

httpcore2 asks its stream for 64 KiB a read, and each read passes through h11, httpcore2 and the
SDK's network layer: a 900 KiB answer took 14 such passes (make bench, figure 2). Once a read
comes back full, the SDK's streams ask for what the answer's ``Content-Length`` says is still to
come (512 KiB at most) and a byte more, and for no more than 64 KiB otherwise: the socket
allocates what it is asked for before it knows what came. What each read asks and gets is
recorded by a network backend put under the SDK's own (``httpcore2.SyncBackend`` and
``AnyIOBackend`` swapped for ones that record), over real HTTP to raw-socket servers on
127.0.0.1 (``test_deadline.Server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from _http import wrap_backend_streams
from test_deadline import API_KEY, CALL, Handler, Server, padded_json, response_bytes
from test_wire_safety import token_answer

from tapti_ext import AsyncTapti, Tapti
from tapti_ext._network import _LARGE_READ

pytestmark = pytest.mark.timeout(60)

HTTPCORE_READ = 64 * 1024  # what httpcore2's HTTP/1.1 connection asks a read for


class Read(NamedTuple):
    asked: int
    got: int


class _RecordedStream:
    def __init__(self, inner: Any, reads: list[Read]) -> None:
        self._inner = inner
        self._reads = reads

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self._inner.read(max_bytes, timeout)
        self._reads.append(Read(max_bytes, len(data)))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _AsyncRecordedStream(_RecordedStream):
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # type: ignore[override]
        data: bytes = await self._inner.read(max_bytes, timeout)
        self._reads.append(Read(max_bytes, len(data)))
        return data


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Read]:
    """Every read of a socket of a client made in the test: what it asked for, what came."""
    recorded: list[Read] = []
    wrap_backend_streams(
        monkeypatch,
        lambda inner: _RecordedStream(inner, recorded),
        lambda inner: _AsyncRecordedStream(inner, recorded),
    )
    return recorded


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    with contextlib.ExitStack() as servers:
        yield lambda *handlers: servers.enter_context(Server(*handlers))


def padded_token_body(user: str, size: int) -> bytes:
    """The token answer for ``user``, padded to exactly ``size`` bytes of JSON."""
    return padded_json(token_answer(user), size)


def answering(size: int, chunked: bool = False) -> Handler:
    """Each request's own token in a ``size``-byte body, head and body in one write."""

    def handler(connection: socket.socket, server: Server) -> None:
        user = server.request_line().split()[1].split("/")[2]
        head, body = response_bytes(200, padded_token_body(user, size))
        if chunked:
            head = head.replace(f"Content-Length: {size}".encode(), b"Transfer-Encoding: chunked")
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        connection.sendall(head + body)

    return handler


def counting(handler: Handler, connections: set[int]) -> Handler:
    """``handler``, noting each connection it answers on in ``connections``."""

    def count(connection: socket.socket, server: Server) -> None:
        connections.add(id(connection))
        handler(connection, server)

    return count


def calls(flavour: str, url: str, users: list[str]) -> list[str]:
    """One call per user on one client; each call's token and the length of its padding."""
    if flavour == "async":

        async def run() -> list[str]:
            async with AsyncTapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
                return [seen(await tapti.user(user).create_sdk_token(**CALL)) for user in users]

        return asyncio.run(run())
    with Tapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
        return [seen(tapti.user(user).create_sdk_token(**CALL)) for user in users]


def seen(token: Any) -> str:
    return f"{token.sdk_token}:{len(token.response.additional_properties['padding'])}"


def expected(users: list[str], size: int) -> list[str]:
    return [
        f"tok-for-{user}:{len(json.loads(padded_token_body(user, size))['padding'])}"
        for user in users
    ]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_large_answer_is_read_in_reads_asking_for_the_rest_of_its_body(
    flavour: str, reads: list[Read], serve: Callable[..., Server]
) -> None:
    size = 900 * 1024
    server = serve(answering(size))
    users = ["alice", "bob", "carol"]
    assert calls(flavour, server.url, users) == expected(users, size)
    head_size = len(response_bytes(200, padded_token_body("alice", size))[0])
    left, grown = 0, False
    for read in reads:
        if left == 0:  # a new answer
            left, grown = head_size + size, False
        # 64 KiB, as httpcore2 asks, until a read comes back full; then the rest of the body
        # and a byte more, to see whatever waits past it
        # (above the cap, less than the rest: never exactly the rest, which would end full).
        rest = max(HTTPCORE_READ, left + 1 if left < _LARGE_READ else min(_LARGE_READ, left - 1))
        assert read.asked == (rest if grown else HTTPCORE_READ), reads
        grown = grown or read.got == read.asked
        left -= read.got
    assert left == 0
    assert any(read.asked > HTTPCORE_READ for read in reads), reads


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_small_and_chunked_answers_read_what_httpcore2_asks(
    flavour: str, chunked: bool, reads: list[Read], serve: Callable[..., Server]
) -> None:
    size = 200 if not chunked else 300 * 1024
    server = serve(answering(size, chunked=chunked))
    users = ["alice", "bob"]
    assert calls(flavour, server.url, users) == expected(users, size)
    assert reads
    assert {read.asked for read in reads} == {HTTPCORE_READ}, reads


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    "size",
    [HTTPCORE_READ - 200, HTTPCORE_READ, HTTPCORE_READ + 1, _LARGE_READ, _LARGE_READ + 1, 1 << 20],
)
def test_answers_of_every_size_around_a_read_keep_one_connection(
    flavour: str, size: int, reads: list[Read], serve: Callable[..., Server]
) -> None:
    connections: set[int] = set()
    server = serve(counting(answering(size), connections))
    users = ["alice", "bob", "carol"]
    assert calls(flavour, server.url, users) == expected(users, size)
    assert len(connections) == 1
    assert max(read.asked for read in reads) <= _LARGE_READ + 1


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_answer_one_byte_past_a_full_read_and_the_cap_keeps_its_connection(
    flavour: str, reads: list[Read], serve: Callable[..., Server]
) -> None:
    """After a full first read, ``_LARGE_READ + 1`` bytes still to come: the next read must
    not ask for exactly those (a read that ends an answer full costs the connection)."""
    head = len(response_bytes(200, padded_token_body("alice", _LARGE_READ))[0])
    size = HTTPCORE_READ + _LARGE_READ + 1 - head
    connections: set[int] = set()
    server = serve(counting(answering(size), connections))
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert calls(flavour, server.url, users) == expected(users, size)
    assert len(connections) == 1, reads
