"""Every exception that leaves a public call is a ``TaptiError`` (issue 12, "Only TaptiErrors").

Each case below used to raise something raw (a ``RuntimeError`` from httpx2 or httpcore2), to
retry what must not be retried, or to lose the server's message. All run over real sockets on
127.0.0.1 against ``Server`` from ``tests/test_deadline.py``, which counts the requests it read:
"nothing reached the server" and "exactly one request" are asserted from its side.

The environment variables read at construction (proxies, ``SSL_CERT_FILE``) are tested with the
proxy tests, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from test_deadline import API_KEY, CALL, FLAVOURS, OK, TOKEN, TOKEN_BODY, Server, measure, respond

from tapti_ext import (
    APIResponseValidationError,
    AsyncTapti,
    AuthenticationError,
    SdkToken,
    Tapti,
    TaptiError,
)

pytestmark = pytest.mark.timeout(30)

POLL_LIMIT = 5.0  # seconds a test waits for the server to see a request


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start a ``Server`` playing the given handlers; every one started is closed at the end."""
    with contextlib.ExitStack() as servers:
        yield lambda *handlers: servers.enter_context(Server(*handlers))


def wait_for_request(server: Server) -> None:
    """Block until the server has read a request (bounded: fails after ``POLL_LIMIT``)."""
    deadline = time.monotonic() + POLL_LIMIT
    while server.attempts == 0:
        assert time.monotonic() < deadline, "the server received no request"
        time.sleep(0.01)


async def await_request(server: Server) -> None:
    deadline = time.monotonic() + POLL_LIMIT
    while server.attempts == 0:
        assert time.monotonic() < deadline, "the server received no request"
        await asyncio.sleep(0.01)


def assert_tapti_error(result: object) -> TaptiError:
    assert isinstance(result, TaptiError), f"expected a TaptiError, got {result!r}"
    return result


# --- one AsyncTapti, two event loops -----------------------------------------------------------


# The client's keep-alive connection from the first loop cannot be closed once that loop is
# gone, whatever the SDK does: its sockets are reported unclosed when collected. They are
# collected here (gc.collect below), under this filter, rather than in some later test.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_async_client_in_a_second_asyncio_run(serve: Callable[..., Server]) -> None:
    """Either the call works in the second loop, or it is refused with a TaptiError before any
    byte is sent; never a raw RuntimeError, never an error after the server issued a token."""
    server = serve(OK)  # keep-alive: the connection outlives the first loop, as with a real API
    tapti = AsyncTapti(api_key=API_KEY, base_url=server.url)

    async def create() -> SdkToken:
        return await tapti.user("user_1").create_sdk_token(**CALL)

    try:
        assert asyncio.run(create()).sdk_token == TOKEN
        assert server.attempts == 1
        try:
            second: SdkToken | Exception = asyncio.run(create())
        except Exception as exc:  # asserted below
            second = exc
        if isinstance(second, SdkToken):
            assert second.sdk_token == TOKEN
            assert server.attempts == 2
        else:
            error = assert_tapti_error(second)
            assert server.attempts == 1, f"{error!r} came after the request reached the server"
            assert "loop" in str(error), f"the message does not say why: {error}"
        asyncio.run(tapti.close())
    finally:
        gc.collect()


def test_async_client_created_outside_a_loop_works_under_trio(
    serve: Callable[..., Server],
) -> None:
    trio = pytest.importorskip("trio")
    server = serve(OK)
    tapti = AsyncTapti(api_key=API_KEY, base_url=server.url)

    async def create() -> SdkToken:
        async with tapti:
            return await tapti.user("user_1").create_sdk_token(**CALL)

    assert trio.run(create).sdk_token == TOKEN
    assert server.attempts == 1


# --- closing a client while a call waits to retry ----------------------------------------------

# Long enough that the close below lands in the wait, short enough for a quick test.
RETRY_AFTER = {"Retry-After": "2"}
CLOSE_AFTER = 0.3  # seconds after the first request reached the server
DOWN = json.dumps({"message": "down"}).encode()


def test_sync_client_closed_from_another_thread_during_the_retry_wait(
    serve: Callable[..., Server],
) -> None:
    server = serve(respond(503, DOWN, RETRY_AFTER))
    tapti = Tapti(api_key=API_KEY, base_url=server.url, max_retries=2)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(tapti.user("user_1").create_sdk_token(**CALL))
        except BaseException as exc:  # any class is an answer: asserted below
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    try:
        wait_for_request(server)
        time.sleep(CLOSE_AFTER)
        tapti.close()
    finally:
        caller.join(timeout=10)
    assert not caller.is_alive(), "the call did not end"
    assert_tapti_error(outcome[0])
    assert server.attempts == 1, "a closed client sent a request"


def test_async_client_closed_from_another_task_during_the_retry_wait(
    serve: Callable[..., Server],
) -> None:
    server = serve(respond(503, DOWN, RETRY_AFTER))

    async def main() -> object:
        tapti = AsyncTapti(api_key=API_KEY, base_url=server.url, max_retries=2)
        call = asyncio.create_task(tapti.user("user_1").create_sdk_token(**CALL))
        try:
            await await_request(server)
            await asyncio.sleep(CLOSE_AFTER)
        finally:
            await tapti.close()
        closed_at = time.monotonic()
        try:
            return await asyncio.wait_for(call, timeout=10)
        except Exception as exc:  # asserted below
            waits.append(time.monotonic() - closed_at)
            return exc

    waits: list[float] = []
    assert_tapti_error(asyncio.run(main()))
    assert server.attempts == 1, "a closed client sent a request"
    assert waits[0] < 1.0, "close() did not end the retry wait at once"


# --- a 2xx whose framing is broken --------------------------------------------------------------


def conflicting_lengths(connection: socket.socket, _: Server) -> None:
    """A 200 status line, then two Content-Length headers that disagree: no way to read it."""
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(TOKEN_BODY)}\r\nContent-Length: {len(TOKEN_BODY) + 7}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + TOKEN_BODY
    )
    connection.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_broken_framing_on_a_200_is_not_retried(flavour: str, serve: Callable[..., Server]) -> None:
    """Once a 2xx arrived the token may exist: asking again (3 times, by default) would issue
    more tokens. One request, and a validation error."""
    server = serve(conflicting_lengths, OK)
    outcome = measure(flavour, server.url, client={"max_retries": 2})
    assert isinstance(outcome.result, APIResponseValidationError), (
        f"expected APIResponseValidationError, got {outcome.result!r}"
    )
    assert server.attempts == 1


# --- a caller's raise_for_status event hook -----------------------------------------------------


# As httpx2's docs show for a hook that needs the body: read it first.
def _raise_for_status(response: httpx2.Response) -> None:
    response.read()
    response.raise_for_status()


async def _araise_for_status(response: httpx2.Response) -> None:
    await response.aread()
    response.raise_for_status()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_reading_raise_for_status_hook_keeps_the_servers_message(
    flavour: str, serve: Callable[..., Server]
) -> None:
    server = serve(respond(401, json.dumps({"message": "bad key"}).encode()))
    hook: Any = _raise_for_status if flavour == "sync" else _araise_for_status
    outcome = measure(flavour, server.url, http={"event_hooks": {"response": [hook]}})
    error = outcome.error(AuthenticationError)
    assert error.status_code == 401
    assert "bad key" in str(error)
    assert server.attempts == 1


# --- a caller's http_client closed before the call ----------------------------------------------


def test_a_closed_callers_http_client_is_a_tapti_error(serve: Callable[..., Server]) -> None:
    server = serve(respond(OK))
    http = httpx2.Client()
    http.close()
    with (
        Tapti(api_key=API_KEY, base_url=server.url, http_client=http) as tapti,
        pytest.raises(TaptiError, match=r"http_client .* is closed"),
    ):
        tapti.user("u1").create_sdk_token(**CALL)
    assert server.attempts == 0


def test_a_closed_callers_async_http_client_is_a_tapti_error(serve: Callable[..., Server]) -> None:
    server = serve(respond(OK))

    async def run() -> None:
        http = httpx2.AsyncClient()
        await http.aclose()
        async with AsyncTapti(api_key=API_KEY, base_url=server.url, http_client=http) as tapti:
            with pytest.raises(TaptiError, match=r"http_client .* is closed"):
                await tapti.user("u1").create_sdk_token(**CALL)

    asyncio.run(run())
    assert server.attempts == 0
