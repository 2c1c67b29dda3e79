"""Wire safety over real sockets (issue 19): every token a call returns is the one the server
issued for that call's request, nothing is sent twice after a 2xx began, the key goes to the
API's origin only, a numeric timeout bounds sending, and the program's own exceptions pass
through unchanged.

The servers are raw sockets on 127.0.0.1 (``Server`` from ``test_deadline``), each finding's
misbehaviour scripted byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import pickle
import random
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpcore2
import httpx2
import pytest
import trio
from _frames import chain_frames
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest
from test_deadline import (
    API_KEY,
    CALL,
    OK,
    Handler,
    Server,
    alarm_raising,
    answer_of_length,
    assert_chain_unchanged,
    assert_no_local_holds_the_key,
    response_bytes,
)

from tapti_ext import (
    APIResponseValidationError,
    APITimeoutError,
    AsyncTapti,
    AuthenticationError,
    InvalidInputError,
    SdkToken,
    Tapti,
    TaptiError,
)
from tapti_ext._deadline import Attempt
from tapti_ext.testing import MockTaptiServer

pytestmark = pytest.mark.timeout(60)

USERS = ["alice", "bob", "carol", "dave", "erin"]
FLAVOURS = ["sync", "async"]


def token_answer(user: str) -> dict[str, Any]:
    portal = f"https://oauth.tapti.dev?sdk_token=tok-for-{user}&origin=https%3A%2F%2Fapp.example"
    return {"oauth_portal_url": portal}


def token_body(user: str, padding: int = 0) -> bytes:
    padded = {"padding": "w" * padding} if padding else {}
    return json.dumps({**token_answer(user), **padded}).encode()


def user_of(server: Server) -> str:
    """The user id in the path of the request being answered."""
    return server.request_line().split()[1].split("/")[2]


def answer_then(extra: Callable[[str], bytes], padding: int = 0) -> Handler:
    """The caller's own 200 (its body padded by ``padding`` bytes; a negative ``padding``: to
    make head and body that many bytes), followed in the same write by ``extra(user)``."""

    def handler(connection: socket.socket, server: Server) -> None:
        user = user_of(server)
        if padding < 0:
            answer = answer_of_length(token_answer(user), -padding)
        else:
            answer = b"".join(response_bytes(200, token_body(user, padding)))
        connection.sendall(answer + extra(user))

    return handler


def mallory(_: str) -> bytes:
    head, body = response_bytes(200, token_body("mallory"))
    return head + body


def short_length(user: str) -> bytes:
    return b' "padding": "tail of ' + user.encode() + b'"}'


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    with contextlib.ExitStack() as servers:
        yield lambda *handlers: servers.enter_context(Server(*handlers))


DOORS = ["wrapper", "call()", "raw", "raw httpx2"]


def tokens_for(
    flavour: str, url: str, users: list[str], door: str = "wrapper", **client: Any
) -> list[str | Exception]:
    """One call per user on one client (one pool), through ``door``: each call's token, or
    the ``TaptiError`` it raised (any other exception fails the test)."""
    if flavour == "async":
        return asyncio.run(_async_tokens_for(url, users, door, client))
    results: list[str | Exception] = []
    client = {"max_retries": 0, **client}
    with Tapti(api_key=API_KEY, base_url=url, **client) as tapti:
        for user in users:
            try:
                results.append(_token_through(tapti, door, user))
            except TaptiError as exc:
                results.append(exc)
    return results


def _token_through(tapti: Tapti, door: str, user: str) -> str:
    if door == "wrapper":
        return tapti.user(user).create_sdk_token(**CALL).sdk_token
    if door == "call()":
        return _token_in(tapti.call(create_sdk_token, user, body=BODY).oauth_portal_url)
    if door == "raw":
        answer = create_sdk_token.sync_detailed(user, client=tapti.raw, body=BODY)
        return _token_in(answer.parsed.oauth_portal_url)  # type: ignore[union-attr]
    http = tapti.raw.get_httpx_client()
    return _token_in(http.post(f"/users/{user}/sdk-token", json=BODY.to_dict()).json())


async def _async_tokens_for(
    url: str, users: list[str], door: str, client: dict[str, Any]
) -> list[str | Exception]:
    results: list[str | Exception] = []
    client = {"max_retries": 0, **client}
    async with AsyncTapti(api_key=API_KEY, base_url=url, **client) as tapti:
        for user in users:
            try:
                results.append(await _async_token_through(tapti, door, user))
            except TaptiError as exc:
                results.append(exc)
    return results


async def _async_token_through(tapti: AsyncTapti, door: str, user: str) -> str:
    if door == "wrapper":
        return (await tapti.user(user).create_sdk_token(**CALL)).sdk_token
    if door == "call()":
        return _token_in((await tapti.call(create_sdk_token, user, body=BODY)).oauth_portal_url)
    if door == "raw":
        answer = await create_sdk_token.asyncio_detailed(user, client=tapti.raw, body=BODY)
        return _token_in(answer.parsed.oauth_portal_url)  # type: ignore[union-attr]
    http = tapti.raw.get_async_httpx_client()
    answered = await http.post(f"/users/{user}/sdk-token", json=BODY.to_dict())
    return _token_in(answered.json())


def _token_in(answer: str | dict[str, Any]) -> str:
    """The sdk_token of a portal URL, or of an answer's body as JSON."""
    url = answer if isinstance(answer, str) else answer["oauth_portal_url"]
    return parse_qs(urlsplit(url).query)["sdk_token"][0]


def assert_own_tokens(users: list[str], results: list[str | Exception]) -> None:
    for user, result in zip(users, results, strict=True):
        if isinstance(result, str):
            assert result == f"tok-for-{user}", f"{user} was handed {result}"
        else:
            assert len(str(result)) <= 600
            others = [u for u in [*USERS, "mallory"] if u != user]
            assert not any(f"tok-for-{other}" in str(result) for other in others)


# --- 1. bytes past an answer are never the next caller's answer ---------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("extra", [mallory, short_length], ids=["second-200", "body-past-length"])
# Large: the reads after a full one ask for the rest of the body (_network._LARGE_READ). One
# read's worth: httpcore2's first read (64 KiB) holds the whole answer and comes back full, and
# what follows waits in asyncio's buffer, where a look at the socket does not find it.
@pytest.mark.parametrize(
    "padding", [0, 900 * 1024, -(64 * 1024)], ids=["small", "large", "one-read"]
)
def test_bytes_past_an_answer_never_reach_the_next_caller(
    flavour: str, extra: Callable[[str], bytes], padding: int, serve: Callable[..., Server]
) -> None:
    for _ in range(5):
        server = serve(answer_then(extra, padding))
        assert_own_tokens(USERS, tokens_for(flavour, server.url, USERS))


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    "final", [b"Content-Length: 10\r\nBad header\r\n\r\n", b"Content-Ty"], ids=["bad-header", "cut"]
)
def test_a_broken_2xx_after_an_interim_head_too_long_to_follow_is_not_retried(
    flavour: str, final: bytes, serve: Callable[..., Server]
) -> None:
    """One 103 of 70 KiB (h11 reads heads up to 100 KiB), the first 66 KiB of it in one write:
    the SDK stops following heads at 64 KiB, and a 2xx may come after what it let go."""
    link = b"Link: </" + b"a" * 200 + b">; rel=preload\r\n"
    interim = b"HTTP/1.1 103 Early Hints\r\n" + link * (70 * 1024 // len(link)) + b"\r\n"

    def handler(connection: socket.socket, _: Server) -> None:
        connection.sendall(interim[: 66 * 1024])
        time.sleep(0.2)
        connection.sendall(interim[66 * 1024 :] + b"HTTP/1.1 200 OK\r\n" + final)
        connection.shutdown(socket.SHUT_WR)  # the answer ends there, cut or not

    server = serve(handler)
    tokens_for(flavour, server.url, ["alice"], max_retries=2)
    assert server.attempts == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("door", DOORS[1:])
@pytest.mark.parametrize("extra", [mallory, short_length], ids=["second-200", "body-past-length"])
def test_bytes_past_an_answer_never_reach_the_next_caller_through_any_door(
    flavour: str, door: str, extra: Callable[[str], bytes], serve: Callable[..., Server]
) -> None:
    server = serve(answer_then(extra))
    results = tokens_for(flavour, server.url, USERS, door)
    assert_own_tokens(USERS, results)
    assert results[0] == "tok-for-alice"  # the door works: the first answer is whole


def bodiless_then_mallory(status: bytes) -> Handler:
    """An answer that has no body by its status, announcing one anyway: mallory's 200."""

    def handler(connection: socket.socket, _: Server) -> None:
        extra = mallory("")
        head = b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n" % (status, len(extra))
        connection.sendall(head + extra)

    return handler


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_bytes_after_a_bodiless_answer_never_reach_the_next_caller(
    flavour: str, status: bytes, serve: Callable[..., Server]
) -> None:
    # A 204 or 304 ends at its head, whatever its Content-Length says (RFC 9112, 6.3): what
    # follows is the next answer on the connection, here another user's token.
    server = serve(bodiless_then_mallory(status), answer_then(lambda _: b""))
    results = tokens_for(flavour, server.url, ["alice", "bob", "carol"])
    assert isinstance(results[0], TaptiError)
    assert results[1:] == ["tok-for-bob", "tok-for-carol"]


def test_bytes_after_an_answer_to_head_never_reach_the_next_caller(
    serve: Callable[..., Server],
) -> None:
    # An answer to HEAD has no body either (its Content-Length describes a GET's).
    server = serve(bodiless_then_mallory(b"200 OK"), answer_then(lambda _: b""))
    with Tapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
        assert tapti.raw.get_httpx_client().head("/users/alice/sdk-token").status_code == 200
        assert tapti.user("bob").create_sdk_token(**CALL).sdk_token == "tok-for-bob"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_both_content_length_and_chunked_is_not_reused(
    flavour: str, serve: Callable[..., Server]
) -> None:
    def handler(connection: socket.socket, server: Server) -> None:
        body = token_body(user_of(server))
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n{len(body):x}\r\n"
        ).encode()
        connection.sendall(head + body + b"\r\n0\r\n\r\n" + mallory(""))

    server = serve(handler)
    assert_own_tokens(USERS, tokens_for(flavour, server.url, USERS))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_clean_answer_keeps_its_connection(flavour: str, serve: Callable[..., Server]) -> None:
    connections: set[int] = set()

    def handler(connection: socket.socket, server: Server) -> None:
        connections.add(id(connection))
        head, body = response_bytes(200, token_body(user_of(server)))
        connection.sendall(head + body)

    server = serve(handler)
    assert tokens_for(flavour, server.url, USERS) == [f"tok-for-{u}" for u in USERS]
    assert len(connections) == 1  # the check costs no connection when the answer is exact


# --- 2. a 2xx that began is never sent again ----------------------------------------------------


def broken_after(preamble: bytes, status_line: bytes) -> Handler:
    def handler(connection: socket.socket, _: Server) -> None:
        connection.sendall(preamble + status_line + b"\r\nContent-Length: 10\r\nBad header\r\n\r\n")

    return handler


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    ("preamble", "status_line"),
    [
        (EARLY_HINTS * 400, b"HTTP/1.1 200 OK"),  # ~22 KiB of interim answers first
        (EARLY_HINTS * 20, b"HTTP/1.1 200 OK"),
        (EARLY_HINTS * 1200, b"HTTP/1.1 200 OK"),  # past the 64 KiB a head may hold
        # Interim heads h11 refuses, in which the 2xx's status line would be a header line.
        (b"HTTP/1.1 103 Early Hints\rLink: </a>\r\r", b"HTTP/1.1 200 OK"),
        (b"HTTP/1.1 100 Continue\r\n\r\r\n", b"HTTP/1.1 200 OK"),
        (b"", b"HTTP/1.2 200 OK"),
        (b"", b"HTTP/1.1 201 Created"),
        # Status lines h11 refuses: the server still answered 2xx, so a token exists.
        (b"", b"HTTP/2 200 OK"),
        (b"", b"http/1.1 200 OK"),
        (b"", b" HTTP/1.1 200 OK"),
        (b"", b"HTTP/1.1 0200 OK"),
        (EARLY_HINTS, b"HTTP/1.1 2"),  # cut inside the status code
        (b"", b"HTT"),  # cut before the status: it may still have been a 2xx
        (b"", b"\x16\x03\x01 not HTTP at all"),
    ],
    ids=[
        "22KiB-of-103",
        "1KiB-of-103",
        "66KiB-of-103",
        "bare-CR-103",
        "stray-CR-100",
        "HTTP/1.2",
        "201",
        "HTTP/2",
        "lower-case",
        "leading-space",
        "0200",
        "cut-in-2xx",
        "cut-before-status",
        "not-HTTP",
    ],
)
def test_a_broken_2xx_is_not_retried(
    flavour: str, preamble: bytes, status_line: bytes, serve: Callable[..., Server]
) -> None:
    server = serve(broken_after(preamble, status_line))
    [result] = tokens_for(flavour, server.url, ["alice"], max_retries=2)
    assert isinstance(result, APIResponseValidationError)
    assert server.attempts == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("door", DOORS[1:])
@pytest.mark.parametrize(
    ("preamble", "status_line"),
    [(EARLY_HINTS * 400, b"HTTP/1.1 200 OK"), (b"", b"HTTP/1.2 200 OK")],
    ids=["22KiB-of-103", "HTTP/1.2"],
)
def test_a_broken_2xx_is_not_retried_through_any_door(
    flavour: str, door: str, preamble: bytes, status_line: bytes, serve: Callable[..., Server]
) -> None:
    server = serve(broken_after(preamble, status_line))
    [result] = tokens_for(flavour, server.url, ["alice"], door, max_retries=2)
    assert isinstance(result, APIResponseValidationError)
    assert server.attempts == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_broken_answer_before_any_status_is_retried(
    flavour: str, serve: Callable[..., Server]
) -> None:
    server = serve(broken_after(b"", b"HTTP/1.1 5"))  # cut inside the status code
    tokens_for(flavour, server.url, ["alice"], max_retries=2)
    assert server.attempts == 3


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    "status_line", [b"HTTP/1.1 503 Busy", b"http/1.1 503 Busy", b"HTTP/2 429 Slow down"]
)
def test_a_broken_answer_that_is_no_2xx_is_retried(
    flavour: str, status_line: bytes, serve: Callable[..., Server]
) -> None:
    server = serve(broken_after(EARLY_HINTS, status_line))
    tokens_for(flavour, server.url, ["alice"], max_retries=2)
    assert server.attempts == 3


# --- 3. the key goes to the API's origin only -------------------------------------------------


class Listener:
    """A socket that counts the bytes anyone sends it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def received(self) -> bytes:
        """What one connection sent within 0.2 s (``b""``: nobody connected); closes it all."""
        with self.socket:
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                return b""
            with connection:
                connection.settimeout(0.2)
                with contextlib.suppress(TimeoutError):
                    return connection.recv(65536)
        return b""


@pytest.mark.parametrize("target", ["other-port", "other-scheme", "proxy"])
def test_raw_refuses_other_origins_before_sending(
    target: str, serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, listener = serve(answer_then(lambda _: b"")), Listener()
    other = listener.url + "/collect"
    if target == "other-scheme":
        other = api.url.replace("http://", "https://") + "/collect"
    if target == "proxy":
        monkeypatch.setenv("HTTP_PROXY", listener.url)
        other = "http://collector.example/collect"
    with Tapti(api_key=API_KEY, base_url=api.url) as tapti:
        with pytest.raises(InvalidInputError, match="only to the base URL"):
            tapti.raw.get_httpx_client().get(other)
        assert tapti.raw.get_httpx_client().post("/users/alice/sdk-token").status_code == 200
    assert listener.received() == b""  # no connection at all, so no key


@pytest.mark.anyio
async def test_async_raw_refuses_other_origins(serve: Callable[..., Server]) -> None:
    listener = Listener()
    async with AsyncTapti(api_key=API_KEY, base_url=serve(answer_then(lambda _: b"")).url) as t:
        with pytest.raises(InvalidInputError, match="only to the base URL"):
            await t.raw.get_async_httpx_client().get(listener.url + "/collect")
    assert listener.received() == b""


def test_a_callers_client_is_refused_other_origins_too(serve: Callable[..., Server]) -> None:
    listener = Listener()
    api = serve(answer_then(lambda _: b""))
    with (
        httpx2.Client() as http,
        Tapti(api_key=API_KEY, base_url=api.url, http_client=http) as t,
        pytest.raises(InvalidInputError),
    ):
        t.raw.get_httpx_client().get(listener.url)
    assert listener.received() == b""


# --- 4. a numeric timeout bounds sending ------------------------------------------------------


class SlowReader:
    """Accepts one connection and reads 2 MiB of it every 1.5 s, never answering."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        self.socket.settimeout(10)
        with contextlib.suppress(OSError), self.socket.accept()[0] as connection:
            connection.settimeout(0.5)
            while not self.stop.wait(1.5):
                left = 2 << 20
                while left > 0:
                    try:
                        chunk = connection.recv(min(left, 1 << 16))
                    except TimeoutError:
                        break
                    if not chunk:
                        return
                    left -= len(chunk)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.socket.close()


def seconds_to_fail(
    flavour: str, url: str, error: type[TaptiError], *, timeout: float, padding: int
) -> float:
    """How long a call with ``padding`` bytes of extra body took to raise ``error``."""
    big = {"padding": "x" * padding}
    started = time.monotonic()
    if flavour == "sync":
        with (
            Tapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti,
            pytest.raises(error),
        ):
            tapti.user("u").create_sdk_token(**CALL, timeout=timeout, extra_body=big)
        return time.monotonic() - started

    async def call() -> None:
        async with AsyncTapti(api_key=API_KEY, base_url=url, max_retries=0) as t:
            with pytest.raises(error):
                await t.user("u").create_sdk_token(**CALL, timeout=timeout, extra_body=big)

    asyncio.run(call())
    return time.monotonic() - started


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_timeout_bounds_sending_a_large_body(flavour: str) -> None:
    reader = SlowReader()
    try:
        seconds = seconds_to_fail(flavour, reader.url, TaptiError, timeout=2, padding=40 << 20)
    finally:
        reader.close()
    # One 64 KiB slice may be under way when the budget runs out.
    assert seconds < 5.5  # the old code: 25.7 s


class StopsReading:
    """Reads a request's head, then nothing more, and never answers: the body fills the
    socket buffers and the write waits for room that never comes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.kept: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            connection = self.listener.accept()[0]
            self.kept.append(connection)
            seen = b""
            while b"\r\n\r\n" not in seen:
                seen += connection.recv(4096)

    def close(self) -> None:
        for sock in [self.listener, *self.kept]:
            sock.close()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_write_that_times_out_ends_the_call_at_its_timeout(flavour: str) -> None:
    """After a write timed out, the look for an answer already waiting waited out the socket's
    timeout once more: ``timeout=1`` ended after 2 s (probe 21; plain httpx2: 1.04 s)."""
    server = StopsReading()
    try:
        seconds = seconds_to_fail(flavour, server.url, APITimeoutError, timeout=1, padding=8 << 20)
    finally:
        server.close()
    assert seconds < 1.7


# --- 5. the program's own exceptions pass through ---------------------------------------------


class SoftTimeLimitExceededError(Exception):
    """What a worker's time limit raises from its signal handler (as Celery's does)."""


class WorkerShutdownError(ConnectionError):
    """A program's own exception that happens to be an ``OSError``, as a socket error is."""


def slow_answer(connection: socket.socket, server: Server) -> None:
    server.pause(2.0)
    head, body = response_bytes(200, token_body("alice"))
    connection.sendall(head + body)


@pytest.mark.parametrize(
    "exception",
    [
        TimeoutError("the program's alarm"),
        SoftTimeLimitExceededError("soft limit"),
        KeyboardInterrupt(),
        SystemExit(3),
        WorkerShutdownError("stop now"),
        OSError("the program's own"),
        BrokenPipeError("the program's own"),
    ],
    ids=[
        "TimeoutError",
        "SoftTimeLimitExceeded",
        "KeyboardInterrupt",
        "SystemExit",
        "ConnectionError",
        "OSError",
        "BrokenPipeError",
    ],
)
def test_a_signal_handlers_exception_passes_through_unretried(
    exception: BaseException, serve: Callable[..., Server]
) -> None:
    server = serve(slow_answer)
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=2) as tapti,
        alarm_raising(exception, 0.3),
        pytest.raises(type(exception)) as info,
    ):
        tapti.user("alice").create_sdk_token(**CALL, timeout=10)
    assert info.value is exception
    assert_chain_unchanged(info.value)
    assert server.attempts == 1
    assert_no_local_holds_the_key(info.value)


def slow_body(connection: socket.socket, server: Server) -> None:
    body = token_body("alice")
    head, _ = response_bytes(200, body)
    connection.sendall(head)
    server.pause(2.0)
    connection.sendall(body)


@pytest.mark.parametrize("raised_as", ["from_a_reason", "while_handling"])
@pytest.mark.parametrize("phase", ["head", "body"])
def test_a_signal_handlers_exception_keeps_the_chain_it_was_raised_with(
    raised_as: str, phase: str, serve: Callable[..., Server]
) -> None:
    """httpcore2's pool re-raises what leaves the head's read ``from None``; the SDK gives the
    program's exception back its cause, or the context a traceback shows, as raised."""
    server = serve(slow_answer if phase == "head" else slow_body)
    exception = SoftTimeLimitExceededError("soft limit")
    reason = ValueError("why the program gave up")
    if raised_as == "from_a_reason":
        exception.__cause__ = reason  # as `raise exception from reason` in the handler
    else:
        exception.__context__ = reason  # as raised in the handler's own `except` block
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=2) as tapti,
        alarm_raising(exception, 0.3),
        pytest.raises(SoftTimeLimitExceededError) as info,
    ):
        tapti.user("alice").create_sdk_token(**CALL, timeout=10)
    assert info.value is exception
    if raised_as == "from_a_reason":
        assert (exception.__cause__, exception.__suppress_context__) == (reason, True)
    else:
        assert (exception.__cause__, exception.__context__) == (None, reason)
        assert not exception.__suppress_context__
    assert server.attempts == 1


def reset(connection: socket.socket, _: Server) -> None:
    """Close with a reset, unanswered: the client's read fails (a ReadError, retried)."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raise OSError("closed by the test")  # the server's loop then closes the connection


def test_a_retried_attempt_is_freed_without_the_garbage_collector(
    slept: list[float], serve: Callable[..., Server]
) -> None:
    """The exception an attempt noted (for the program's chain) held the attempt through its
    frames: 16 frames, 7 with the key in a request's headers, waited for the cyclic garbage
    collector, forever in a program that turns it off (review 11)."""
    server = serve(reset, OK)
    with Tapti(api_key=API_KEY, base_url=server.url, max_retries=2) as tapti:
        gc.collect()
        gc.disable()
        try:
            earlier = {id(item): item for item in gc.get_objects() if type(item) is Attempt}
            assert tapti.user("alice").create_sdk_token(**CALL).sdk_token
            alive = [item for item in gc.get_objects() if type(item) is Attempt]
        finally:
            gc.enable()
    leftover = [item for item in alive if earlier.get(id(item)) is not item]
    assert [item for item in leftover if item._chain is not None] == []
    if sys.version_info < (3, 12):
        # From 3.12, contextlib's __exit__ frame holds the exception passing through it
        # (httpcore2's map_exceptions), a cycle of its own through every frame the exception
        # left, ours too: the failed attempt waits for the collector there, as plain httpx2's
        # objects do.
        assert leftover == []
    assert (server.attempts, len(slept)) == (2, 1)


class ProgramError(Exception):
    """Raised by the program's own code running inside httpcore2 (a patched pool, a hook)."""


def one_call(url: str, *, is_async: bool) -> None:
    if not is_async:
        with Tapti(api_key=API_KEY, base_url=url) as tapti:
            tapti.user("alice").create_sdk_token(**CALL)
        return

    async def main() -> None:
        async with AsyncTapti(api_key=API_KEY, base_url=url) as tapti:
            await tapti.user("alice").create_sdk_token(**CALL)

    asyncio.run(main())


@pytest.mark.parametrize("where", ["sending", "reading the body"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_program_exception_from_inside_the_pool_is_not_its_own_cause(
    where: str, is_async: bool, serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(quick_answer)
    raised = ProgramError("the program's own")

    def fail(*_: object, **__: object) -> Any:
        raise raised

    async def afail(*_: object, **__: object) -> Any:
        raise raised

    if where == "sending":
        monkeypatch.setattr(httpcore2.ConnectionPool, "handle_request", fail)
        monkeypatch.setattr(httpcore2.AsyncConnectionPool, "handle_async_request", afail)
    else:
        monkeypatch.setattr(httpcore2.Response, "iter_stream", fail)
        monkeypatch.setattr(httpcore2.Response, "aiter_stream", fail)  # raises on the call
    with pytest.raises(ProgramError) as info:
        one_call(server.url, is_async=is_async)
    assert info.value is raised
    assert_chain_unchanged(info.value)
    assert server.attempts == (0 if where == "sending" else 1)  # never retried


def test_async_cancellation_passes_through_unretried(serve: Callable[..., Server]) -> None:
    # (A signal handler's exception in asyncio leaves from the loop's select(), not from the
    # awaited call: cancellation is how an async program stops a call.)
    server = serve(slow_answer)

    async def main() -> None:
        async with AsyncTapti(api_key=API_KEY, base_url=server.url, max_retries=2) as tapti:
            call = tapti.user("alice").create_sdk_token(**CALL, timeout=10)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(call, 0.3)

    asyncio.run(main())
    assert server.attempts == 1


def test_the_sdks_own_read_timeout_is_still_retried(serve: Callable[..., Server]) -> None:
    server = serve(slow_answer)
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=1) as tapti,
        pytest.raises(TaptiError),
    ):
        tapti.user("alice").create_sdk_token(**CALL, timeout=httpx2.Timeout(5.0, read=0.3))
    assert server.attempts == 2


# --- 6. path parameters and undocumented statuses, through every door -------------------------


BODY = CreateSdkTokenRequest.from_dict(
    {
        "user_platforms": ["YOUTUBE"],
        "enabled_scopes": ["PROFILE_READ"],
        "callback_url": "https://app.example/cb",
        "redirect_url": "https://app.example/done",
    }
)


@pytest.mark.parametrize("user_id", ["..", ".", "a\nb", "\ud800"])
def test_call_checks_path_parameters_given_by_keyword(
    user_id: str, serve: Callable[..., Server]
) -> None:
    server = serve(answer_then(lambda _: b""))
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        with pytest.raises(InvalidInputError):
            tapti.call(create_sdk_token, id=user_id, body=BODY)
        with pytest.raises(InvalidInputError):
            tapti.call(create_sdk_token, user_id, body=BODY)
    assert server.attempts == 0


@pytest.mark.parametrize("user_id", ["..", "."])
def test_raw_refuses_dot_segments(user_id: str, serve: Callable[..., Server]) -> None:
    server = serve(answer_then(lambda _: b""))
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti, pytest.raises(InvalidInputError):
        create_sdk_token.sync_detailed(user_id, client=tapti.raw, body=BODY)
    assert server.attempts == 0


# Were anything sent, the listener would never answer: fail fast rather than wait.
FAST: dict[str, Any] = {"timeout": 2, "max_retries": 0}
# Ids the generated functions' quote() cannot encode (lone surrogates) or that would carry
# control characters: refused through tapti.raw before any connection is made.
# Empty, blank or overlong ones, which the wrapper refuses as ids, too: "" would send
# /users//sdk-token, which a proxy merging slashes forwards as /users/sdk-token.
UNSENDABLE_IDS = ["\ud800", "a\udfffb", "a\nb", "\x00", "\x85", "", " ", "\u3000", "x" * 1025]


@pytest.mark.parametrize("user_id", UNSENDABLE_IDS)
def test_raw_refuses_unsendable_path_parameters(user_id: str) -> None:
    listener = Listener()
    with Tapti(api_key=API_KEY, base_url=listener.url, **FAST) as tapti:
        for function in (create_sdk_token.sync_detailed, create_sdk_token.sync):
            with pytest.raises(InvalidInputError, match="a path parameter must"):
                function(user_id, client=tapti.raw, body=BODY)
            with pytest.raises(InvalidInputError, match="a path parameter must"):
                function(id=user_id, client=tapti.raw, body=BODY)
    assert listener.received() == b""  # no connection at all


@pytest.mark.anyio
@pytest.mark.parametrize("user_id", UNSENDABLE_IDS)
async def test_async_raw_refuses_unsendable_path_parameters(user_id: str) -> None:
    listener = Listener()
    async with AsyncTapti(api_key=API_KEY, base_url=listener.url, **FAST) as tapti:
        for function in (create_sdk_token.asyncio_detailed, create_sdk_token.asyncio):
            with pytest.raises(InvalidInputError, match="a path parameter must"):
                await function(user_id, client=tapti.raw, body=BODY)
            with pytest.raises(InvalidInputError, match="a path parameter must"):
                await function(id=user_id, client=tapti.raw, body=BODY)
    assert listener.received() == b""


# Percent-escapes that decode to what the generated functions may not send: not UTF-8 (an
# encoded surrogate, a stray byte), a control character, or a dot segment in disguise.
UNSENDABLE_SEGMENTS = [
    *("%ED%A0%80", "%ed%a0%80", "%FF", "%00", "a%0Ab", "%C2%85", "%2E%2E", "%2e"),
    *("", "%20", "%E3%80%80", "%09%20"),  # empty or blank, as the wrapper's ids may not be
]


@pytest.mark.parametrize("segment", UNSENDABLE_SEGMENTS)
def test_raw_refuses_hand_built_paths_that_decode_badly(segment: str) -> None:
    listener = Listener()
    with Tapti(api_key=API_KEY, base_url=listener.url, **FAST) as tapti:
        http = tapti.raw.get_httpx_client()
        with pytest.raises(InvalidInputError, match="a path parameter must"):
            http.post(f"/users/{segment}/sdk-token")
        with pytest.raises(InvalidInputError, match="a path parameter must"):
            http.post(httpx2.URL(f"{listener.url}/users/{segment}/sdk-token"))
        # Built without the client's build_request: judged as it is sent.
        request = httpx2.Request("POST", f"{listener.url}/users/{segment}/sdk-token")
        with pytest.raises(InvalidInputError, match="a path parameter must"):
            http.send(request)
    assert listener.received() == b""


@pytest.mark.anyio
@pytest.mark.parametrize("segment", ["%ED%A0%80", "%00"])
async def test_async_raw_refuses_hand_built_paths_that_decode_badly(segment: str) -> None:
    listener = Listener()
    async with AsyncTapti(api_key=API_KEY, base_url=listener.url, **FAST) as tapti:
        http = tapti.raw.get_async_httpx_client()
        with pytest.raises(InvalidInputError, match="a path parameter must"):
            await http.post(f"/users/{segment}/sdk-token")
        request = httpx2.Request("POST", f"{listener.url}/users/{segment}/sdk-token")
        with pytest.raises(InvalidInputError, match="a path parameter must"):
            await http.send(request)
    assert listener.received() == b""


@pytest.mark.parametrize("user_id", ["zoë", "a/b", "50%", "a b", "%ED%A0%80"])
def test_raw_still_sends_ids_that_encode_cleanly(
    user_id: str, serve: Callable[..., Server]
) -> None:
    seen: list[str] = []

    def handler(connection: socket.socket, server: Server) -> None:
        seen.append(server.request_line().split()[1])
        answer_then(lambda _: b"")(connection, server)

    server = serve(handler)
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        response = create_sdk_token.sync_detailed(user_id, client=tapti.raw, body=BODY)
    assert response.status_code == 200
    assert seen == [f"/users/{quote(user_id, safe='')}/sdk-token"]


def created(connection: socket.socket, server: Server) -> None:
    head, body = response_bytes(201, token_body(user_of(server)))
    connection.sendall(head + body)


def test_an_undocumented_2xx_is_a_validation_error_through_every_door(
    serve: Callable[..., Server],
) -> None:
    server = serve(created)
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        with pytest.raises(APIResponseValidationError, match="201"):
            tapti.user("alice").create_sdk_token(**CALL)
        with pytest.raises(APIResponseValidationError, match="201"):
            tapti.call(create_sdk_token, "alice", body=BODY)
        with pytest.raises(APIResponseValidationError, match="201"):
            create_sdk_token.sync_detailed("alice", client=tapti.raw, body=BODY)
    assert server.attempts == 3  # each sent once: the answer arrived, it was not retried


def test_an_undocumented_2xx_is_a_validation_error_through_every_async_door(
    serve: Callable[..., Server],
) -> None:
    server = serve(created)

    async def main() -> None:
        async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:
            with pytest.raises(APIResponseValidationError, match="201"):
                await tapti.user("alice").create_sdk_token(**CALL)
            with pytest.raises(APIResponseValidationError, match="201"):
                await tapti.call(create_sdk_token, "alice", body=BODY)
            with pytest.raises(APIResponseValidationError, match="201"):
                await create_sdk_token.asyncio_detailed("alice", client=tapti.raw, body=BODY)

    asyncio.run(main())
    assert server.attempts == 3


def test_a_documented_answer_still_parses(serve: Callable[..., Server]) -> None:
    server = serve(answer_then(lambda _: b""))
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        token = tapti.user("alice").create_sdk_token(**CALL)
        parsed = tapti.call(create_sdk_token, id="alice", body=BODY)
    assert isinstance(token, SdkToken)
    assert token.sdk_token == "tok-for-alice"
    assert "tok-for-alice" in parsed.oauth_portal_url


def test_a_huge_malformed_head_is_quoted_in_a_bounded_excerpt(serve: Callable[..., Server]) -> None:
    def handler(connection: socket.socket, _: Server) -> None:
        line = b"X-" + b"a" * 90_000 + b" tok-for-alice"
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + line + b"\r\n\r\nhello")

    server = serve(handler)
    [result] = tokens_for("sync", server.url, ["alice"])
    assert isinstance(result, APIResponseValidationError)
    assert len(str(result)) < 600


# --- interrupted and cancelled calls leave nothing behind --------------------------------------


def quick_answer(connection: socket.socket, server: Server) -> None:
    server.pause(random.uniform(0, 0.002))
    head, body = response_bytes(200, token_body(user_of(server)))
    connection.sendall(head + body)


def busy_connections(pool: Any) -> int:
    return sum(not (c.is_idle() or c.is_closed()) for c in pool.connections)


def open_sockets() -> int:
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return found


def settled_sockets(before: int) -> int:
    """Sockets open beyond ``before``, once the server has closed its ends of closed
    connections (it does so when it reads their end, a moment later)."""
    deadline = time.monotonic() + 2
    while (extra := open_sockets() - before) > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return extra


INTERRUPTS = textwrap.dedent(
    """
    import json, random, signal, sys, threading
    sys.path.insert(0, sys.argv[1])
    from test_deadline import Server
    from test_wire_safety import CALL, API_KEY, busy_connections, quick_answer, settled_sockets
    from test_wire_safety import open_sockets
    from tapti_ext import Tapti

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    def work(tapti, stop, results):
        n = 0
        while not stop.is_set():
            try:
                token = tapti.user(f"w{n}").create_sdk_token(**CALL).sdk_token
                results.append(token == f"tok-for-w{n}" or token)
            except BaseException as exc:
                results.append(repr(exc))
            n += 1

    signal.signal(signal.SIGALRM, interrupt)
    random.seed(int(sys.argv[2]))
    interrupted, results, stop = 0, [], threading.Event()
    worker = None
    with Server(quick_answer) as server, Tapti(api_key=API_KEY, base_url=server.url,
                                               max_retries=0) as tapti:
        before = open_sockets()
        tapti.user("warm").create_sdk_token(**CALL)
        if sys.argv[3] == "shared":  # another thread calls all along, never interrupted
            worker = threading.Thread(target=work, args=(tapti, stop, results))
            worker.start()
        for n in range(1000):
            try:
                signal.setitimer(signal.ITIMER_REAL, random.uniform(0.0001, 0.003))
                tapti.user(f"u{n}").create_sdk_token(**CALL)
                signal.setitimer(signal.ITIMER_REAL, 0)
            except KeyboardInterrupt:
                interrupted += 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        stop.set()
        if worker is not None:
            worker.join()
        tapti.user("after").create_sdk_token(**CALL)
        # The main thread's pool, and the one other threads share (Pipeline._own_pool).
        pools = [tapti._pipeline._main_pool, tapti._pipeline._pool]
        held = [[c.info() for c in pool.connections] if pool else [] for pool in pools]
        print(json.dumps({"interrupted": interrupted,
                          "states": held[0],
                          "others_states": held[1],
                          "busy": sum(busy_connections(pool) for pool in pools if pool),
                          # each connection held: its socket and the server's end
                          "extra_sockets": settled_sockets(before + 2 * len(held[0] + held[1])),
                          "worker_calls": len(results),
                          "worker_failures": [r for r in results if r is not True][:5]}))
    """
)


def interrupted_calls(seed: int, threads: str) -> dict[str, Any]:
    """1,000 calls interrupted at random moments, in a child process (interrupts would also
    land in the test runner's own machinery); what the client holds afterwards."""
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTS, str(Path(__file__).parent), str(seed), threads],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["interrupted"] > 100, outcome  # the interrupts did land mid-call
    return outcome


def assert_nothing_left_behind(outcome: dict[str, Any]) -> None:
    assert outcome["busy"] == 0, outcome
    # Sequential calls need one connection. An entry left taken in httpcore2's pool shows as
    # one more: an idle connection reserved for ever, never handed out again, and counted
    # against the pool's limit (at the limit, every later call waits for the pool timeout).
    assert len(outcome["states"]) == 1, outcome
    assert len(outcome["others_states"]) <= 1, outcome  # one thread's sequential calls too
    assert outcome["extra_sockets"] == 0, outcome


@pytest.mark.parametrize("seed", [19, 20])
def test_interrupted_sync_calls_leave_no_connection_behind(seed: int) -> None:
    assert_nothing_left_behind(interrupted_calls(seed, "alone"))


def test_an_interrupted_thread_leaves_another_threads_calls_whole() -> None:
    outcome = interrupted_calls(21, "shared")
    assert outcome["worker_failures"] == [], outcome  # no retries: a broken call would show
    assert outcome["worker_calls"] > 100, outcome  # the two overlapped throughout
    assert_nothing_left_behind(outcome)


def test_cancelled_async_calls_leave_no_connection_behind(serve: Callable[..., Server]) -> None:
    server = serve(quick_answer)
    random.seed(19)

    async def main() -> tuple[int, int, int]:
        cancelled = 0
        async with AsyncTapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
            await tapti.user("warm").create_sdk_token(**CALL)
            for n in range(1000):
                call = tapti.user(f"u{n}").create_sdk_token(**CALL)
                try:
                    token = await asyncio.wait_for(call, random.uniform(0.0005, 0.004))
                    assert token.sdk_token == f"tok-for-u{n}"
                except TimeoutError:
                    cancelled += 1
            await tapti.user("after").create_sdk_token(**CALL)  # the pool's next pass
            pool = tapti._pipeline._pool
            return cancelled, busy_connections(pool), len(pool.connections)

    before = open_sockets()
    cancelled, busy, kept = asyncio.run(main())
    assert cancelled > 100
    assert busy == 0
    assert kept <= 20  # the async keep-alive limit
    assert open_sockets() <= before + 2  # the client closed: its connections with it


# --- a streamed body through tapti.raw --------------------------------------------------------


def _streamed_body() -> tuple[bytes, Any, Any]:
    body = json.dumps({"user_platforms": ["YOUTUBE"], **CALL}).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    async def async_chunks() -> Any:
        for part in chunks():
            yield part

    return body, chunks, async_chunks


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_raw_sends_a_streamed_body_once_and_raises_a_typed_error(
    flavour: str, serve: Callable[..., Server]
) -> None:
    # A generator can be read once: a retry raised httpx2's StreamConsumed (a plain iterator
    # sent an empty body instead), losing the 503 the server had sent.
    head, payload = response_bytes(503, b"{}", {"Retry-After": "0"})
    server = serve(lambda connection, _: connection.sendall(head + payload))
    body, chunks, async_chunks = _streamed_body()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    path = "/users/u1/sdk-token"

    def send() -> None:
        if flavour == "sync":
            with Tapti(api_key=API_KEY, base_url=server.url, timeout=10) as tapti:
                tapti.raw.get_httpx_client().post(path, content=chunks(), headers=headers)
            return

        async def run() -> None:
            async with AsyncTapti(api_key=API_KEY, base_url=server.url, timeout=10) as tapti:
                http = tapti.raw.get_async_httpx_client()
                await http.post(path, content=async_chunks(), headers=headers)

        asyncio.run(run())

    with pytest.raises(TaptiError) as caught:
        send()
    assert caught.value.status_code == 503  # type: ignore[attr-defined]
    assert server.attempts == 1


# --- an answer that arrives while the request is still being sent -----------------------------


def _answers_after_the_head(status: int) -> tuple[str, list[socket.socket]]:
    """A server that reads a request's head only, answers at once and reads nothing more (RFC
    9112 lets a server answer before the request is complete)."""
    kept: list[socket.socket] = []
    head, payload = response_bytes(status, token_body("u1"))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            kept.append(connection)
            seen = b""
            while b"\r\n\r\n" not in seen:
                seen += connection.recv(4096)
            connection.sendall(head + payload)

    threading.Thread(target=serve, daemon=True).start()
    kept.append(listener)
    return f"http://127.0.0.1:{listener.getsockname()[1]}", kept


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_2xx_waiting_unread_when_a_write_times_out_is_not_retried(flavour: str) -> None:
    # httpx2.Timeout: per-operation limits, retries allowed. The body fills the socket buffers;
    # the write times out with the 200 and its token sitting unread: three tokens were issued.
    url, kept = _answers_after_the_head(200)
    pad = {"pad": "x" * 30_000_000}
    timeout = httpx2.Timeout(1.0)

    def call() -> None:
        if flavour == "sync":
            with Tapti(api_key=API_KEY, base_url=url, timeout=timeout) as tapti:
                tapti.user("u1").create_sdk_token(**CALL, extra_body=pad)
            return

        async def run() -> None:
            async with AsyncTapti(api_key=API_KEY, base_url=url, timeout=timeout) as tapti:
                await tapti.user("u1").create_sdk_token(**CALL, extra_body=pad)

        asyncio.run(run())

    try:
        with pytest.raises(TaptiError, match="while sending the request, with an answer that"):
            call()
        assert len(kept) == 2  # the listener and one connection: one request, one token
    finally:
        for sock in kept:
            sock.close()


# --- 7. a key the server echoes stays out of everything an error keeps --------------------------


def echoing_in_a_bad_header(status: bytes) -> Handler:
    """A head that h11 refuses, quoting the line that holds the key in its own error."""

    def handler(connection: socket.socket, _: Server) -> None:
        connection.sendall(
            b"HTTP/1.1 " + status + b"\r\nbad line " + API_KEY.encode() + b"\r\n\r\n"
        )

    return handler


def echoing_in_the_body(status: int) -> Handler:
    def handler(connection: socket.socket, _: Server) -> None:
        body = json.dumps({"message": f"bad key {API_KEY}", "oauth_portal_url": 5}).encode()
        head, body = response_bytes(status, body)
        connection.sendall(head + body)

    return handler


def locals_showing_the_key(exc: BaseException) -> list[str]:
    """Each local, in a frame of ``exc``'s chain of causes outside this file, that shows the key:
    in its repr, or in an httpcore2 request's headers (its repr leaves them out)."""
    return [
        f"{frame.f_code.co_name}: {name}"
        for frame in chain_frames(exc)
        if frame.f_code.co_filename != __file__
        for name, value in frame.f_locals.items()
        if _shows_the_key(value)
    ]


def _shows_the_key(value: object) -> bool:
    headers = value.headers if isinstance(value, httpcore2.Request) else []
    return API_KEY in repr(value) or any(API_KEY.encode() in v for _, v in headers)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("status", [b"500 Oops", b"200 OK"], ids=["5xx", "2xx"])
def test_a_refused_head_quoting_the_key_leaves_it_in_no_cause_nor_frame(
    flavour: str, status: bytes, serve: Callable[..., Server]
) -> None:
    [error] = tokens_for(flavour, serve(echoing_in_a_bad_header(status)).url, ["alice"])
    assert isinstance(error, TaptiError)
    assert isinstance(error.__cause__, httpx2.RemoteProtocolError)  # the chain is kept...
    assert "***" in str(error.__cause__)  # ...its messages masked
    assert API_KEY not in "".join(traceback.format_exception(error))
    assert locals_showing_the_key(error) == []


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("status", [401, 200])
def test_the_response_an_error_keeps_has_the_key_masked_in_its_body(
    flavour: str, status: int, serve: Callable[..., Server]
) -> None:
    [error] = tokens_for(flavour, serve(echoing_in_the_body(status)).url, ["alice"])
    assert isinstance(error, AuthenticationError if status == 401 else APIResponseValidationError)
    response = error.response
    assert response.json()["message"] == "bad key ***"
    assert response.headers["content-length"] == str(len(response.content))
    assert API_KEY.encode() not in pickle.dumps(error)


@pytest.mark.parametrize(
    "environment",
    [{"TAPTI_BASE_URL": "http://api.example.com"}, {"HTTPS_PROXY": "ftp://proxy.example"}],
    ids=["insecure-base-url", "unusable-proxy"],
)
def test_a_refused_constructor_leaves_the_key_in_no_frame(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAPTI_API_KEY", API_KEY)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInputError) as caught:
        Tapti()
    assert locals_showing_the_key(caught.value) == []
    # Reporters that print every frame's locals find none of the SDK's: not even the
    # half-made client, whose repr would not know its base URL yet.
    shown = traceback.TracebackException.from_exception(caught.value, capture_locals=True)
    text = "".join(shown.format())
    assert "self = " not in text
    assert API_KEY not in text
    assert repr(Tapti.__new__(Tapti)) == "<Tapti, not configured>"


class ProgramStop(BaseException):
    """What a program's signal handler raises: no exception of the SDK's."""


def test_a_program_exception_mid_call_leaves_the_key_in_no_frame(
    serve: Callable[..., Server],
) -> None:
    def never_answer(connection: socket.socket, server: Server) -> None:
        server.pause(5)

    def stop(*_: object) -> None:
        raise ProgramStop

    previous = signal.signal(signal.SIGALRM, stop)
    try:
        with Tapti(api_key=API_KEY, base_url=serve(never_answer).url) as tapti:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(ProgramStop) as caught:
                tapti.user("alice").create_sdk_token(**CALL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert locals_showing_the_key(caught.value) == []


def test_a_cancelled_async_call_leaves_the_key_in_no_frame(
    serve: Callable[..., Server],
) -> None:
    def never_answer(connection: socket.socket, server: Server) -> None:
        server.pause(5)

    async def run() -> None:
        async with AsyncTapti(api_key=API_KEY, base_url=serve(never_answer).url) as tapti:
            await asyncio.wait_for(tapti.user("alice").create_sdk_token(**CALL), 0.3)

    with pytest.raises(TimeoutError) as caught:
        asyncio.run(run())
    assert locals_showing_the_key(caught.value) == []


def test_a_call_from_an_except_block_leaves_the_callers_frames_alone(
    serve: Callable[..., Server],
) -> None:
    def callers_own_failure() -> None:
        detail = "the caller's own local"  # noqa: F841  (what a debugger would show)
        raise LookupError

    with Tapti(api_key=API_KEY, base_url=serve(echoing_in_a_bad_header(b"500 Oops")).url) as t:
        try:
            callers_own_failure()
        except LookupError as own:
            with pytest.raises(TaptiError):
                t.with_options(max_retries=0).user("alice").create_sdk_token(**CALL)
            frames = [frame for frame, _ in traceback.walk_tb(own.__traceback__)]
    assert frames[-1].f_locals["detail"] == "the caller's own local"


def test_raw_refuses_a_host_header_naming_another_site(serve: Callable[..., Server]) -> None:
    api = serve(answer_then(lambda _: b""))
    with Tapti(api_key=API_KEY, base_url=api.url) as tapti:
        for send in (
            lambda: tapti.raw.with_headers({"Host": "other.example"}).get_httpx_client().get("/"),
            lambda: tapti.raw.get_httpx_client().get("/", headers={"host": "other.example"}),
        ):
            with pytest.raises(InvalidInputError, match="Host header"):
                send()
        assert api.attempts == 0
        same_site = {"Host": api.url.removeprefix("http://")}
        answer = tapti.raw.get_httpx_client().post("/users/alice/sdk-token", headers=same_site)
        assert answer.status_code == 200


def test_a_group_of_errors_from_a_callers_transport_is_masked_member_by_member() -> None:
    class TwoTries(httpx2.BaseTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            raise ExceptionGroup(
                "both attempts failed",
                [httpx2.RemoteProtocolError(f"bad line {API_KEY}") for _ in range(2)],
            )

    with (
        httpx2.Client(transport=TwoTries()) as http,
        Tapti(api_key=API_KEY, base_url="https://api.example", http_client=http) as tapti,
        pytest.raises(ExceptionGroup) as caught,  # the program's own: passed through
    ):
        tapti.user("alice").create_sdk_token(**CALL)
    assert [str(member) for member in caught.value.exceptions] == ["bad line ***"] * 2
    assert API_KEY not in "".join(traceback.format_exception(caught.value))
    assert locals_showing_the_key(caught.value) == []


def test_a_header_value_h11_refuses_through_raw_is_not_quoted(serve: Callable[..., Server]) -> None:
    api = serve(answer_then(lambda _: b""))
    with Tapti(api_key=API_KEY, base_url=api.url) as tapti:
        for value in (" partner-secret-1", " partner-secret-1'x", ' partner-secret-1"x'):
            client = tapti.raw.with_headers({"x-partner-auth": value}).get_httpx_client()
            with pytest.raises(InvalidInputError) as caught:
                client.post("/users/alice/sdk-token")
            assert str(caught.value) == "the request cannot be sent: Illegal header value"
    assert api.attempts == 0


@pytest.mark.parametrize(
    ("host", "sent"),
    [
        ("api.example", True),
        ("API.example:443", True),
        ("api.example:8443", False),
        ("other.example", False),
    ],
)
def test_raw_takes_a_host_header_naming_the_api_with_or_without_its_default_port(
    host: str, sent: bool
) -> None:
    seen: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["host"])
        return httpx2.Response(200, json={"oauth_portal_url": "https://p.example?sdk_token=t"})

    with (
        httpx2.Client(transport=httpx2.MockTransport(answer)) as http,
        Tapti(api_key=API_KEY, base_url="https://api.example", http_client=http) as tapti,
    ):
        client = tapti.raw.with_headers({"Host": host}).get_httpx_client()
        if sent:
            assert client.post("/users/alice/sdk-token").status_code == 200
        else:
            with pytest.raises(InvalidInputError, match="Host header"):
                client.post("/users/alice/sdk-token")
    assert seen == ([host] if sent else [])


@pytest.mark.parametrize("absolute", [True, False])
def test_raw_judges_the_path_alone_not_the_schemes_slashes(
    absolute: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With /{org}/{team}/members in the spec, https://host/members read whole ("https:", "",
    # "host", "members") looked like that operation with its parameters left empty (review 14).
    from tapti_ext import NotFoundError, _call  # noqa: PLC0415

    monkeypatch.setattr(_call, "_MOST_SPECIFIC_FIRST", [("GET", "/{org}/{team}/members", (200,))])
    with MockTaptiServer() as server, Tapti(api_key=server.api_key, base_url=server.url) as tapti:
        http = tapti.raw.get_httpx_client()
        with pytest.raises(NotFoundError):  # sent: the mock serves no such path
            http.get(f"{server.url}/members" if absolute else "/members")
        with pytest.raises(InvalidInputError, match="must not be empty"):
            http.get(f"{server.url}/a//members#x" if absolute else "/a//members")


@pytest.fixture
def loopback_names_resolving_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver (a hosts file without them, a DNS answer) giving the loopback names an
    address on another host: 192.0.2.1, reserved for documentation, routed nowhere."""
    resolve = socket.getaddrinfo

    def elsewhere(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.lower() in {"localhost", "localhost.localdomain"}:
            return resolve("192.0.2.1", port, *args, **kwargs)
        return resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", elsewhere)


@pytest.mark.usefixtures("loopback_names_resolving_elsewhere")
@pytest.mark.parametrize("flavour", ["sync", "asyncio", "trio"])
@pytest.mark.parametrize("name", ["localhost", "LocalHost.localdomain"])
def test_a_loopback_name_connects_to_this_machine_only(flavour: str, name: str) -> None:
    """A name trusted as this machine (plain http allowed, no proxy) is never looked up: the
    key in clear must not follow a resolver's answer to another host."""
    with MockTaptiServer(api_key=API_KEY) as mock:
        url = f"http://{name}:{urlsplit(mock.url).port}"
        options: dict[str, Any] = {"api_key": API_KEY, "base_url": url, "max_retries": 0}
        if flavour == "sync":
            with Tapti(**options, timeout=2) as tapti:
                token = tapti.user("alice").create_sdk_token(**CALL)
        else:

            async def call() -> Any:
                async with AsyncTapti(**options, timeout=2) as tapti:
                    return await tapti.user("alice").create_sdk_token(**CALL)

            token = asyncio.run(call()) if flavour == "asyncio" else trio.run(call)
        assert token.sdk_token == mock.issued_tokens[-1]
