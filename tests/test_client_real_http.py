"""Tapti and AsyncTapti over real HTTP, against a server this test starts on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import types
from collections import UserString
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from _fields import portal_body
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest
from test_deadline import FOREVER as DEADLINE_FOREVER
from test_deadline import Server as DeadlineServer
from test_deadline import response_bytes

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AsyncTapti,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    Tapti,
    TaptiError,
)
from tapti_ext._client import _HEADERS as SDK_HEADERS
from tapti_ext.testing import MockTaptiServer

API_KEY = "sk_test_real_http"
PORTAL = "https://oauth.tapti.dev?sdk_token=tok%2Breal&origin=https%3A%2F%2Fapp.example"
CALL: dict[str, Any] = {
    "platforms": ["youtube", "tiktok"],
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
SLOW_SECONDS = 5.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    header_list: list[tuple[str, str]] = field(default_factory=list)  # as sent, in order


@dataclass
class Server:
    """What the test sees of the server: its URL, what it received, what it will do next.

    ``script`` holds one step per request, played in order (then "ok" forever): an int status,
    "ok", "close" (read the request, then drop the connection without a byte), or "slow"
    (answer only after ``SLOW_SECONDS`` or when the test ends).
    """

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_step(self) -> int | str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        with state.lock:
            state.received.append(
                Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                    list(self.headers.items()),
                )
            )
        step = state.next_step()
        if step == "close":
            self.close_connection = True
            return
        if step == "slow":
            state.release.wait(SLOW_SECONDS)
            step = "ok"
        if step == "ok":
            self._answer(200, portal_body(PORTAL))
        else:
            self._answer(int(step), {"message": f"scripted {step}"})

    def _answer(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", f"req_{len(self.server.state.received)}")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    # Handler threads are joined on close, so none outlives its test.
    daemon_threads = False
    block_on_close = True
    state: Server

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) makes the late answer fail: expected, not news.
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    http_server = _HTTPServer(("127.0.0.1", 0), _Handler)
    state = Server(url=f"http://127.0.0.1:{http_server.server_address[1]}")
    http_server.state = state
    thread = threading.Thread(target=http_server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        http_server.shutdown()
        http_server.server_close()
        thread.join()


EXPECTED_BODY = {
    "user_platforms": ["YOUTUBE", "TIKTOK"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
EXPECTED_MODEL = CreateSdkTokenRequest.from_dict(EXPECTED_BODY)


def assert_received_call(received: Received, user_segment: str = "user_123") -> None:
    assert received.method == "POST"
    assert received.path == f"/users/{user_segment}/sdk-token"
    assert received.headers["x-api-key"] == API_KEY
    assert received.headers["content-type"] == "application/json"
    assert received.body == EXPECTED_BODY


def test_sync_call(server: Server) -> None:
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        token = tapti.user("user_123").create_sdk_token(**CALL)
        again = tapti.user("a/b c").create_sdk_token(**CALL)
    assert token.oauth_portal_url == PORTAL
    assert token.sdk_token == "tok+real"
    assert token.origin == "https://app.example"
    assert again.sdk_token == "tok+real"
    assert len(server.received) == 2
    assert_received_call(server.received[0])
    assert_received_call(server.received[1], "a%2Fb%20c")


def test_sync_raw_response(server: Server) -> None:
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        raw = tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
    assert raw.status_code == 200
    assert raw.request_id == "req_1"
    assert raw.parse().sdk_token == "tok+real"


def assert_shown_request_is_the_sent_one(request: httpx2.Request, received: Received) -> None:
    """The request an error or a raw response shows is the one the server got, less the key."""
    assert request.method == received.method
    assert request.url == httpx2.URL(f"http://127.0.0.1:{request.url.port}{received.path}")
    assert json.loads(request.content) == received.body
    shown = {k.lower(): v for k, v in request.headers.items()}
    assert "x-api-key" not in shown  # the SDK's own pool adds the key below httpx2
    assert shown == {k: v for k, v in received.headers.items() if k != "x-api-key"}


def test_errors_and_raw_responses_show_the_request_sent(server: Server) -> None:
    server.script = [404, 200]  # then a 200 without the portal URL
    with Tapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
        with pytest.raises(NotFoundError) as missing:
            tapti.user("user_123").create_sdk_token(**CALL)
        with pytest.raises(APIResponseValidationError) as misshapen:
            tapti.user("user_123").create_sdk_token(**CALL)
        raw = tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
    assert_shown_request_is_the_sent_one(missing.value.response.request, server.received[0])
    assert_shown_request_is_the_sent_one(misshapen.value.response.request, server.received[1])
    assert_shown_request_is_the_sent_one(raw.http_response.request, server.received[2])


def as_httpx2_builds_it(url: str, extra_headers: dict[str, str] | None = None) -> list[Any]:
    """The headers ``httpx2.Request(json=...)`` makes of the call (what the SDK built before it
    sent its requests' parts itself), then the key, which the SDK's own pool adds last."""
    built = httpx2.Request(
        "POST",
        f"{url}/users/user_123/sdk-token",
        json=EXPECTED_BODY,
        headers={**SDK_HEADERS, **(extra_headers or {})},
    )
    return [*built.headers.multi_items(), ("x-api-key", API_KEY)]


@pytest.mark.parametrize(
    "extra_headers",
    [None, {"content-type": "application/json; charset=utf-8", "x-trace": "t-1"}],
)
def test_the_wire_headers_are_those_httpx2_would_build(
    server: Server, extra_headers: dict[str, str] | None
) -> None:
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        tapti.user("user_123").create_sdk_token(**CALL, extra_headers=extra_headers)
        tapti.call(create_sdk_token, "user_123", body=EXPECTED_MODEL, extra_headers=extra_headers)
    expected = as_httpx2_builds_it(server.url, extra_headers)
    for received in server.received:
        assert [(k.lower(), v) for k, v in received.header_list] == [
            (k.lower(), v) for k, v in expected
        ]


@pytest.mark.anyio
async def test_async_wire_headers_are_those_httpx2_would_build(server: Server) -> None:
    extra = {"Content-Type": "application/json; charset=utf-8"}
    async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:
        await tapti.user("user_123").create_sdk_token(**CALL, extra_headers=extra)
    expected = as_httpx2_builds_it(server.url, extra)
    assert [(k.lower(), v) for k, v in server.received[0].header_list] == [
        (k.lower(), v) for k, v in expected
    ]


# Ids and base paths at the edges of what the SDK sends as written, without httpx2 parsing it.
_IDS = ["user_123", "a/b", "a%2Fb", "é", "a.b", "..a", "~x", "a b", "a?b#c", "[1]", "x" * 1024]
_IDS += ["é" * 1024]  # past the length the SDK sends without parsing
_BASE_PATHS = ["", "/v1", "/v1/", "/a/./b", "/a/../v2", "/%7Ev1"]


@pytest.mark.parametrize("base_path", _BASE_PATHS)
def test_the_request_target_is_the_one_httpx2_makes_of_the_url(
    server: Server, base_path: str
) -> None:
    with Tapti(api_key=API_KEY, base_url=server.url + base_path) as tapti:
        for user_id in _IDS:
            raw = tapti.with_raw_response.user(user_id).create_sdk_token(**CALL)
            spec = create_sdk_token._get_kwargs(user_id, body=EXPECTED_MODEL)
            expected = httpx2.URL(tapti.base_url + spec["url"])  # base_url: no trailing "/"
            assert server.received[-1].path == expected.raw_path.decode()
            assert raw.http_response.request.url == expected


@pytest.mark.parametrize("user_id", ["user_123", "a/b", "a%2Fb/.."])
def test_an_undocumented_2xx_is_refused_whatever_the_id_holds(server: Server, user_id: str) -> None:
    # The operation is recognised on the path as sent: an id's "/" is escaped there, and would
    # split a segment of the decoded path.
    server.script = [201]
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti,
        pytest.raises(APIResponseValidationError, match="status 201 is not an answer"),
    ):
        tapti.user(user_id).create_sdk_token(**CALL)


def _operation_at(path: Any) -> types.ModuleType:
    """An operation whose generated ``_get_kwargs`` gives ``path`` as it is."""
    operation = types.ModuleType("tapti_api_client.api.users.at_path")
    operation._get_kwargs = lambda: {"method": "post", "url": path, "json": EXPECTED_BODY}  # type: ignore[attr-defined]
    operation._parse_response = lambda *, client, response: None  # type: ignore[attr-defined]
    return operation


@pytest.mark.parametrize(
    "path",
    [
        *("/users/a%zz/x", "/users/100%/x", "/users/%41/x", "/users/[1]/x", "/a/../users/x"),
        *("/a/./x/", "/a/.x", "/a/ b", "//x", "/a{b}", "/a`b", "/a<b>", '/a"b', "/é", "users/x"),
    ],
)
def test_a_path_httpx2_would_rewrite_is_sent_as_httpx2_writes_it(server: Server, path: str) -> None:
    with Tapti(api_key=API_KEY, base_url=server.url + "/v1") as tapti:
        tapti.call(_operation_at(path))
    assert server.received[0].path == httpx2.URL(f"{server.url}/v1{path}").raw_path.decode()


@pytest.mark.parametrize("path", [UserString("/users/x/sdk-token"), {"/x": 1}, b"/x", 7])
def test_a_path_that_is_no_str_is_refused_before_sending(server: Server, path: Any) -> None:
    # A str look-alike once passed the as-written checks and went out, then failed raw where
    # the request was shown; a dict raised KeyError on Python 3.12+.
    with (
        Tapti(api_key=API_KEY, base_url=server.url) as tapti,
        pytest.raises(InvalidInputError, match="cannot be built"),
    ):
        tapti.call(_operation_at(path))
    assert server.received == []


def test_a_path_too_long_for_httpx2_is_refused_before_sending(server: Server) -> None:
    with (
        Tapti(api_key=API_KEY, base_url=server.url) as tapti,
        pytest.raises(InvalidInputError, match="cannot be built"),
    ):
        tapti.call(_operation_at("/" + "x" * 70_000))
    assert server.received == []


def test_a_header_parameter_that_is_no_str_is_refused_before_sending(server: Server) -> None:
    # What openapi-python-client writes for a header parameter: the value, unconverted.
    def _get_kwargs(id: str, *, x_tag: Any) -> dict[str, Any]:
        return {
            "method": "post",
            "url": f"/users/{id}/sdk-token",
            "json": EXPECTED_BODY,
            "headers": {"X-Tag": x_tag, "Content-Type": "application/json"},
        }

    operation = types.ModuleType("tapti_api_client.api.users.tag_user")
    operation._get_kwargs = _get_kwargs  # type: ignore[attr-defined]
    operation._parse_response = lambda *, client, response: None  # type: ignore[attr-defined]
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        for value in (123, None):
            with pytest.raises(InvalidInputError, match="cannot be built"):
                tapti.call(operation, "user_123", x_tag=value)
    assert server.received == []


def test_extra_query_is_added_to_an_operations_own_query(server: Server) -> None:
    # An operation with query parameters, as the generator writes one: the caller's extra_query
    # is merged over them (it used to replace the URL's query, losing ``b``, then lose to them).
    def _get_kwargs(id: str) -> dict[str, Any]:
        return {
            "method": "post",
            "url": f"/users/{id}/sdk-token",
            "params": {"a": "1", "z": "2"},
            "json": EXPECTED_BODY,
        }

    operation = types.ModuleType("tapti_api_client.api.users.listed")
    operation._get_kwargs = _get_kwargs  # type: ignore[attr-defined]
    operation._parse_response = lambda *, client, response: None  # type: ignore[attr-defined]
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        tapti.call(operation, "user_123", extra_query={"a": "X", "b": "3"})
    assert server.received[0].path == "/users/user_123/sdk-token?a=X&z=2&b=3"


@pytest.mark.anyio
async def test_async_errors_and_raw_responses_show_the_request_sent(server: Server) -> None:
    server.script = [404]
    async with AsyncTapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
        with pytest.raises(NotFoundError) as missing:
            await tapti.user("user_123").create_sdk_token(**CALL)
        raw = await tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
    assert_shown_request_is_the_sent_one(missing.value.response.request, server.received[0])
    assert_shown_request_is_the_sent_one(raw.http_response.request, server.received[1])


@pytest.mark.anyio
async def test_async_call(server: Server) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:
        token = await tapti.user("user_123").create_sdk_token(**CALL)
    assert token.oauth_portal_url == PORTAL
    assert token.sdk_token == "tok+real"
    assert len(server.received) == 1
    assert_received_call(server.received[0])


def test_503_then_200_is_retried(server: Server, slept: list[float]) -> None:
    server.script = [503]
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        token = tapti.user("user_123").create_sdk_token(**CALL)
    assert token.sdk_token == "tok+real"
    assert len(server.received) == 2
    assert len(slept) == 1
    assert 0.25 <= slept[0] <= 0.5
    for received in server.received:
        assert_received_call(received)


@pytest.mark.anyio
async def test_async_503_then_200_is_retried(server: Server, async_slept: list[float]) -> None:
    server.script = [503, 503]
    async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:
        token = await tapti.user("user_123").create_sdk_token(**CALL)
    assert token.sdk_token == "tok+real"
    assert len(server.received) == 3
    assert len(async_slept) == 2


def test_dropped_connection_is_connection_error_after_retries(
    server: Server, slept: list[float]
) -> None:
    server.script = ["close", "close", "close"]
    with (
        Tapti(api_key=API_KEY, base_url=server.url) as tapti,
        pytest.raises(APIConnectionError) as info,
    ):
        tapti.user("user_123").create_sdk_token(**CALL)
    assert type(info.value) is APIConnectionError
    assert len(server.received) == 3
    assert len(slept) == 2


def test_dropped_connection_then_success(server: Server, slept: list[float]) -> None:
    server.script = ["close"]
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        token = tapti.user("user_123").create_sdk_token(**CALL)
    assert token.sdk_token == "tok+real"
    assert len(server.received) == 2


def test_slow_response_beyond_call_timeout(server: Server, slept: list[float]) -> None:
    # A number is the whole call's budget: once it is spent there is no time for a retry.
    server.script = ["slow", "slow"]
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=1) as tapti,
        pytest.raises(APITimeoutError) as info,
    ):
        tapti.user("user_123").create_sdk_token(**CALL, timeout=0.2)
    assert isinstance(info.value, APIConnectionError)
    assert len(server.received) == 1
    assert slept == []


def test_slow_response_beyond_per_read_timeout_is_retried(
    server: Server, slept: list[float]
) -> None:
    # An httpx2.Timeout keeps httpx2's meaning: each read is bounded, and a timed-out read retried.
    server.script = ["slow", "slow"]
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=1) as tapti,
        pytest.raises(APITimeoutError),
    ):
        tapti.user("user_123").create_sdk_token(**CALL, timeout=httpx2.Timeout(0.2))
    assert len(server.received) == 2
    assert len(slept) == 1


@pytest.mark.anyio
async def test_async_slow_response_beyond_call_timeout(
    server: Server, async_slept: list[float]
) -> None:
    server.script = ["slow"]
    async with AsyncTapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
        with pytest.raises(APITimeoutError):
            await tapti.user("user_123").create_sdk_token(**CALL, timeout=0.2)
    assert len(server.received) == 1
    assert async_slept == []


def test_nothing_listening_is_connection_error(slept: list[float]) -> None:
    # Bind a port, then free it: nothing listens there for the duration of the call.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        Tapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}") as tapti,
        pytest.raises(APIConnectionError),
    ):
        tapti.user("user_123").create_sdk_token(**CALL)
    assert len(slept) == 2


def test_close_from_another_thread_ends_calls_in_flight_without_touching_freed_sockets() -> None:
    # close() closed the sockets of calls other threads were reading: they failed with EBADF,
    # or polled a descriptor number the process had handed to another socket meanwhile, and
    # hung for their whole timeout with their answer unread.
    timeout = 6.0
    failures: list[str] = []
    with MockTaptiServer(api_key=API_KEY) as server:
        for iteration in range(40):
            tapti = Tapti(api_key=API_KEY, base_url=server.url, max_retries=0, timeout=timeout)
            start = threading.Barrier(9)

            def call(tapti: Tapti = tapti, start: threading.Barrier = start) -> None:
                start.wait()
                began = time.monotonic()
                try:
                    tapti.user("u1").create_sdk_token(**CALL)
                except TaptiError as exc:
                    if "Bad file descriptor" in str(exc):
                        failures.append(f"EBADF: {exc}")
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                if time.monotonic() - began > timeout / 2:
                    failures.append("a call hung after close()")

            threads = [threading.Thread(target=call, daemon=True) for _ in range(8)]
            for thread in threads:
                thread.start()
            start.wait()
            time.sleep((iteration % 30) * 0.0001)
            tapti.close()
            for thread in threads:
                thread.join(timeout * 2)
            if failures:
                break
    assert failures == []


def test_close_from_another_thread_ends_a_tls_handshake_at_once() -> None:
    """A call in another thread shaking hands with a server that never answers its hello:
    close() shuts its connection down, as it does a read's (review 33). Before, it closed the
    descriptor under the handshake, which waited out its 5 s and could read a socket the
    process had given that number meanwhile."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}"
        tapti = Tapti(api_key=API_KEY, base_url=url, max_retries=0, timeout=30)
        ended: list[tuple[BaseException, float]] = []

        def call() -> None:
            began = time.monotonic()
            try:
                tapti.user("u1").create_sdk_token(**CALL)
            except BaseException as exc:  # the class is asserted below
                ended.append((exc, time.monotonic() - began))

        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        connection, _ = listener.accept()  # the hello comes, and no answer
        with connection:
            time.sleep(0.3)
            tapti.close()
            caller.join(10)
    [(error, seconds)] = ended
    assert isinstance(error, TaptiError), repr(error)
    assert seconds < 2.5, f"the handshake ended {seconds:.1f} s in"


def _half_a_success(connection: socket.socket, server: DeadlineServer) -> None:
    head, body = response_bytes(200)
    connection.sendall(head + body[:10])
    server.pause(DEADLINE_FOREVER)


async def _closed_meanwhile_async(base_url: str) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=base_url, max_retries=2) as tapti:
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: loop.create_task(tapti.aclose()))
        await tapti.user("user_123").create_sdk_token(**CALL)


def _closed_meanwhile(base_url: str, way: str) -> None:
    """One call, the client closed 0.3 s into it: from a task (async) or a thread (sync)."""
    if way == "async":
        asyncio.run(_closed_meanwhile_async(base_url))
        return
    tapti = Tapti(api_key=API_KEY, base_url=base_url, max_retries=2)
    threading.Timer(0.3, tapti.close).start()
    tapti.user("user_123").create_sdk_token(**CALL)


@pytest.mark.parametrize("way", ["sync", "async"])
def test_closing_the_client_while_a_success_arrives_says_so_not_the_server(way: str) -> None:
    """close() from another thread (or task) while a 2xx body is read: the message blamed the
    server ("peer closed connection without sending complete message body"; async, only
    "ReadError"), though it was the client that shut the socket."""
    closed = "the client was closed during the call, while a successful response was read"
    with DeadlineServer(_half_a_success) as server, pytest.raises(APIResponseValidationError) as e:
        _closed_meanwhile(server.url, way)
    assert str(e.value) == f"{closed} (not retried: a token may exist)"
    assert e.value.response.status_code == 200
    assert server.attempts == 1


def _half_a_refusal(connection: socket.socket, server: DeadlineServer) -> None:
    head, body = response_bytes(401, b'{"message": "who are you"}')
    connection.sendall(head + body[:5])
    server.pause(DEADLINE_FOREVER)


@pytest.mark.parametrize("way", ["sync", "async"])
def test_closing_the_client_while_an_error_arrives_keeps_the_status_error(way: str) -> None:
    """The status line said what happened: the close that cut its body changes nothing."""
    with DeadlineServer(_half_a_refusal) as server, pytest.raises(AuthenticationError) as e:
        _closed_meanwhile(server.url, way)
    assert e.value.status_code == 401
    assert server.attempts == 1
