"""Fault injection over real HTTP: what Tapti and AsyncTapti do with each thing a server can do.

Every fault is played by ``FaultServer``, a raw-socket HTTP server on 127.0.0.1 written for this
module, so a fault can be anything bytes on a socket can be: a status, a ``Retry-After``, a body
that is not the documented shape, a body of 10 MB (with a ``Content-Length`` or chunked), a
connection closed half-way through a response or before any, a response slower than the
client's timeout, a redirect to a second server. The server counts the attempts it received;
the retry sleeps are recorded instead of slept (``Retry-After: 1`` and an HTTP date are asserted
as recorded delays). Each case asserts the documented outcome (the token, or the exact error
class), the number of attempts and the delays, for the sync and the async client alike.

docs/faults.md is the table of these faults and outcomes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Self

import httpx2
import pytest
from _fields import PORTAL_FIELD, portal_body
from _http import accept_each

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncTapti,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    SdkToken,
    Tapti,
    TaptiError,
)

API_KEY = "sk_fault_injection_key"
TOKEN = "tok_fault_injection"
PORTAL = f"https://oauth.tapti.dev?sdk_token={TOKEN}&origin=https%3A%2F%2Fapp.example%2Fdone"
CALL: dict[str, Any] = {
    "platforms": ["youtube", "tiktok"],
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
TEN_MB = 10 * 1024 * 1024
SLOW_SECONDS = 5.0  # how long a slow response takes; the client's read timeout is far shorter
READ_TIMEOUT = httpx2.Timeout(10.0, read=0.5)
# Backoff windows for retry 1 and 2: full jitter between half and all of 0.5 s doubling.
BACKOFF_1, BACKOFF_2 = (0.25, 0.5), (0.5, 1.0)


# --- the server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request the server read in full (one attempt)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Action = Callable[[socket.socket, "FaultServer"], None]


class FaultServer:
    """An HTTP/1.1 server on 127.0.0.1 playing ``actions`` in order, the last one repeating.

    Each connection carries one request; every action ends by closing the connection.
    ``received`` lists the requests read, so ``len(received)`` is the number of attempts.
    """

    def __init__(self, *actions: Action) -> None:
        self.actions = list(actions)
        self.received: list[Received] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Self:
        accepting = threading.Thread(target=self._accept, name="FaultServer", daemon=True)
        self._threads.append(accepting)
        accepting.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        with self._lock:
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()

    @property
    def attempts(self) -> int:
        return len(self.received)

    def _accept(self) -> None:
        accept_each(self._listener, self.stopping, self._take)

    def _take(self, connection: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._sockets.append(connection)
        worker = threading.Thread(target=self._serve, args=(connection,), daemon=True)
        self._threads.append(worker)
        worker.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                request = _read_request(connection)
            except OSError:
                return
            if request is None:
                return
            with self._lock:
                self.received.append(request)
                action = self.actions[min(len(self.received), len(self.actions)) - 1]
            with contextlib.suppress(OSError):  # the client may hang up first: that is the point
                action(connection, self)


def _read_request(connection: socket.socket) -> Received | None:
    reader = connection.makefile("rb")
    request_line = reader.readline(65537).decode("latin-1").strip()
    if not request_line:
        return None
    method, path, _ = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    while (line := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return Received(method, path, headers, body)


# --- actions ----------------------------------------------------------------------------------


def respond(
    status: int,
    body: bytes | str | object = b"",
    *,
    content_type: str = "application/json",
    headers: Callable[[], dict[str, str]] | dict[str, str] | None = None,
) -> Action:
    """A complete response; ``headers`` may be a function, to compute them at answer time."""
    if isinstance(body, str):
        payload = body.encode()
    elif isinstance(body, bytes):
        payload = body
    else:
        payload = json.dumps(body).encode()

    def action(connection: socket.socket, _: FaultServer) -> None:
        extra = headers() if callable(headers) else headers or {}
        head = [
            f"HTTP/1.1 {status} Fault",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(payload)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in extra.items()),
        ]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

    return action


OK = respond(200, portal_body(PORTAL))


def retry_after(value: str | Callable[[], str]) -> Callable[[], dict[str, str]]:
    return lambda: {"Retry-After": value() if callable(value) else value}


def http_date_in(seconds: float) -> Callable[[], str]:
    """An HTTP date ``seconds`` from the moment the server answers."""
    return lambda: formatdate(time.time() + seconds, usegmt=True)


def close_mid_response(connection: socket.socket, _: FaultServer) -> None:
    """Headers promising 100 bytes, 11 of them, then the connection closes."""
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"oauth_por'
    )
    connection.shutdown(socket.SHUT_RDWR)


def close_without_response(connection: socket.socket, _: FaultServer) -> None:
    connection.shutdown(socket.SHUT_RDWR)


def slow(then: Action = OK) -> Action:
    def action(connection: socket.socket, server: FaultServer) -> None:
        if not server.stopping.wait(SLOW_SECONDS):
            then(connection, server)

    return action


def huge(status: int, *, chunked: bool) -> Action:
    """A 10 MB body of one JSON string, framed by Content-Length or by chunks."""
    piece = b"a" * 65536

    def action(connection: socket.socket, _: FaultServer) -> None:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {TEN_MB}"
        connection.sendall(
            f"HTTP/1.1 {status} Big\r\nContent-Type: application/json\r\n{framing}\r\n"
            "Retry-After: 0\r\nConnection: close\r\n\r\n".encode()
        )
        # `"` + 10 MB - 2 of `a` + `"`: valid JSON, so only the size is wrong.
        remaining = TEN_MB
        chunks = [b'"' + piece[1:]]
        remaining -= 65536
        while remaining > 65536:
            chunks.append(piece)
            remaining -= 65536
        chunks.append(piece[: remaining - 1] + b'"')
        for chunk in chunks:
            if chunked:
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                connection.sendall(chunk)
        if chunked:
            connection.sendall(b"0\r\n\r\n")

    return action


# --- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A scripted server, and what the SDK must do with it."""

    name: str
    actions: tuple[Action, ...]
    outcome: type[TaptiError] | None  # None: the call returns the token
    attempts: int
    delays: list[tuple[float, float]] = field(default_factory=list)  # each within [lo, hi]
    timeout: httpx2.Timeout | None = None
    check: Callable[[Any], None] | None = None


def _retry_after_is(seconds: float) -> Callable[[Any], None]:
    def check(error: RateLimitError) -> None:
        assert error.retry_after is not None
        assert error.retry_after >= seconds

    return check


def _status_is(status: int) -> Callable[[Any], None]:
    def check(error: APIStatusError | APIResponseValidationError) -> None:
        assert error.status_code == status

    return check


def _unread_503(error: InternalServerError) -> None:
    assert error.status_code == 503
    assert error.body is None, "a body over 1 MiB is not kept"


def _too_large(error: APIResponseValidationError) -> None:
    assert error.status_code == 200
    assert "larger than" in str(error)


NOT_SHAPED = [
    ("not-json", respond(200, f"{PORTAL_FIELD}=https://x", content_type="text/plain")),
    ("html-page", respond(200, "<!doctype html><html><body>Bad gateway</body></html>",
                          content_type="text/html")),
    ("json-array", respond(200, [portal_body(PORTAL)])),
    ("json-string", respond(200, PORTAL)),
    (f"no-{PORTAL_FIELD}", respond(200, {"url": PORTAL})),
    (f"{PORTAL_FIELD}-null", respond(200, portal_body(None))),
    ("relative-url-path", respond(200, portal_body(f"/portal?sdk_token={TOKEN}"))),
    ("relative-url-no-scheme", respond(200, portal_body(f"oauth.x?sdk_token={TOKEN}"))),
    ("non-web-scheme", respond(200, portal_body(f"javascript:alert('{TOKEN}')"))),
    ("empty-body", respond(200, b"")),
]  # fmt: skip

FAULTS = [
    *(
        Fault(f"{status}-then-success", (respond(status, {"message": "down"}), OK), None, 2,
              [BACKOFF_1])
        for status in (500, 502, 503, 504, 408, 409)
    ),
    Fault("503-every-time", (respond(503, {"message": "down"}),), InternalServerError, 3,
          [BACKOFF_1, BACKOFF_2], check=_status_is(503)),
    Fault("429-retry-after-0-then-success", (respond(429, headers=retry_after("0")), OK), None, 2,
          [(0.0, 0.0)]),
    Fault("429-retry-after-1-then-success", (respond(429, headers=retry_after("1")), OK), None, 2,
          [(1.0, 1.0)]),
    Fault("429-retry-after-http-date-then-success",
          (respond(429, headers=retry_after(http_date_in(30))), OK), None, 2, [(20.0, 30.0)]),
    Fault("429-retry-after-http-date-in-the-past-then-success",
          (respond(429, headers=retry_after(http_date_in(-3600))), OK), None, 2, [(0.0, 0.0)]),
    Fault("429-retry-after-0-every-time", (respond(429, headers=retry_after("0")),),
          RateLimitError, 3, [(0.0, 0.0), (0.0, 0.0)], check=_retry_after_is(0)),
    Fault("429-retry-after-huge-no-retry", (respond(429, headers=retry_after("3600")), OK),
          RateLimitError, 1, check=_retry_after_is(3600)),
    Fault("429-retry-after-61-no-retry", (respond(429, headers=retry_after("61")), OK),
          RateLimitError, 1, check=_retry_after_is(61)),
    Fault("429-retry-after-http-date-tomorrow-no-retry",
          (respond(429, headers=retry_after(http_date_in(86400))), OK), RateLimitError, 1,
          check=_retry_after_is(80000)),
    Fault("429-without-retry-after-backs-off", (respond(429), OK), None, 2, [BACKOFF_1]),
    Fault("429-unparseable-retry-after-backs-off", (respond(429, headers=retry_after("soon")), OK),
          None, 2, [BACKOFF_1]),
    Fault("400-not-retried", (respond(400, {"message": "bad"}), OK), BadRequestError, 1,
          check=_status_is(400)),
    # Once a 2xx status arrived the token exists: no retry could create it only once.
    Fault("closed-mid-2xx-response", (close_mid_response, OK), APIResponseValidationError, 1, []),
    Fault("closed-before-responding-every-time", (close_without_response,), APIConnectionError,
          3, [BACKOFF_1, BACKOFF_2]),
    Fault("slower-than-the-timeout-every-time", (slow(),), APITimeoutError, 3,
          [BACKOFF_1, BACKOFF_2], timeout=READ_TIMEOUT),
    Fault("slower-than-the-timeout-then-success", (slow(), OK), None, 2, [BACKOFF_1],
          timeout=READ_TIMEOUT),
    *(
        Fault(f"200-{name}", (action, OK), APIResponseValidationError, 1, check=_status_is(200))
        for name, action in NOT_SHAPED
    ),
    Fault("200-10mb-content-length", (huge(200, chunked=False), OK), APIResponseValidationError,
          1, check=_too_large),
    Fault("200-10mb-chunked", (huge(200, chunked=True), OK), APIResponseValidationError, 1,
          check=_too_large),
    Fault("503-10mb-content-length", (huge(503, chunked=False),), InternalServerError, 3,
          [(0.0, 0.0), (0.0, 0.0)], check=_unread_503),
    Fault("503-10mb-chunked", (huge(503, chunked=True),), InternalServerError, 3,
          [(0.0, 0.0), (0.0, 0.0)], check=_unread_503),
]  # fmt: skip


@pytest.fixture
def attempt_log(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    """The number of attempts the SDK itself logged (one DEBUG line per attempt)."""
    caplog.set_level(logging.DEBUG, logger="tapti_ext")

    def count() -> int:
        return sum(
            1
            for record in caplog.records
            if record.name == "tapti_ext" and record.levelno == logging.DEBUG
        )

    return count


def assert_outcome(
    fault: Fault, result: SdkToken | BaseException, server: FaultServer, delays: list[float]
) -> None:
    if fault.outcome is None:
        assert isinstance(result, SdkToken), f"expected the token, got {result!r}"
        assert result.sdk_token == TOKEN
    else:
        assert type(result) is fault.outcome, f"expected {fault.outcome.__name__}, got {result!r}"
        if fault.check is not None:
            fault.check(result)
    assert server.attempts == fault.attempts
    assert all(request.headers.get("x-api-key") == API_KEY for request in server.received)
    assert len(delays) == len(fault.delays), delays
    for delay, (low, high) in zip(delays, fault.delays, strict=True):
        assert low <= delay <= high, f"delay {delay} not in [{low}, {high}]"


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_sync(fault: Fault, slept: list[float]) -> None:
    result: SdkToken | BaseException
    with FaultServer(*fault.actions) as server, Tapti(api_key=API_KEY, base_url=server.url) as sdk:
        try:
            result = sdk.user("user_1").create_sdk_token(**CALL, timeout=fault.timeout)
        except Exception as exc:  # the class is the assertion
            result = exc
    assert_outcome(fault, result, server, slept)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
async def test_async(fault: Fault, async_slept: list[float]) -> None:
    result: SdkToken | BaseException
    with FaultServer(*fault.actions) as server:
        async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:
            try:
                result = await tapti.user("user_1").create_sdk_token(**CALL, timeout=fault.timeout)
            except Exception as exc:
                result = exc
    assert_outcome(fault, result, server, async_slept)


def test_client_wide_timeout_applies_too(slept: list[float]) -> None:
    with (
        FaultServer(slow()) as server,
        Tapti(api_key=API_KEY, base_url=server.url, timeout=READ_TIMEOUT, max_retries=1) as tapti,
        pytest.raises(APITimeoutError),
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert server.attempts == 2
    assert len(slept) == 1


# --- connection refused -----------------------------------------------------------------------


def test_connection_refused_sync(
    unused_port: int, slept: list[float], attempt_log: Callable[[], int]
) -> None:
    with (
        Tapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{unused_port}") as tapti,
        pytest.raises(APIConnectionError) as info,
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert type(info.value) is APIConnectionError
    assert isinstance(info.value.__cause__, httpx2.ConnectError)
    assert attempt_log() == 3
    assert len(slept) == 2
    assert BACKOFF_1[0] <= slept[0] <= BACKOFF_1[1]
    assert BACKOFF_2[0] <= slept[1] <= BACKOFF_2[1]


@pytest.mark.anyio
async def test_connection_refused_async(
    unused_port: int, async_slept: list[float], attempt_log: Callable[[], int]
) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{unused_port}") as tapti:
        with pytest.raises(APIConnectionError) as info:
            await tapti.user("user_1").create_sdk_token(**CALL)
    assert type(info.value) is APIConnectionError
    assert attempt_log() == 3
    assert len(async_slept) == 2


# --- redirects: never followed, the key stays home ---------------------------------------------


@pytest.fixture
def elsewhere() -> Iterator[FaultServer]:
    """A second local server: the place a redirect points to. It must receive nothing."""
    with FaultServer(OK) as server:
        yield server


REDIRECTS = [301, 302, 303, 307, 308]


def redirect_to(target: FaultServer, status: int) -> Action:
    location = {"Location": f"{target.url}/users/user_1/sdk-token"}
    return respond(status, {"message": "moved"}, headers=location)


def assert_redirect_refused(
    error: APIStatusError, status: int, server: FaultServer, elsewhere: FaultServer
) -> None:
    assert type(error) is APIStatusError
    assert error.status_code == status
    assert server.attempts == 1
    assert not any("x-api-key" in request.headers for request in elsewhere.received)
    assert elsewhere.connections == 0, "the redirect was followed"


@pytest.mark.parametrize("status", REDIRECTS)
def test_redirect_is_not_followed_sync(
    status: int, elsewhere: FaultServer, slept: list[float]
) -> None:
    with (
        FaultServer(redirect_to(elsewhere, status), OK) as server,
        Tapti(api_key=API_KEY, base_url=server.url) as tapti,
        pytest.raises(APIStatusError) as info,
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert_redirect_refused(info.value, status, server, elsewhere)
    assert slept == []


@pytest.mark.anyio
@pytest.mark.parametrize("status", REDIRECTS)
async def test_redirect_is_not_followed_async(
    status: int, elsewhere: FaultServer, async_slept: list[float]
) -> None:
    with FaultServer(redirect_to(elsewhere, status), OK) as server:
        async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:
            with pytest.raises(APIStatusError) as info:
                await tapti.user("user_1").create_sdk_token(**CALL)
    assert_redirect_refused(info.value, status, server, elsewhere)
    assert async_slept == []


def test_redirect_is_not_followed_with_a_callers_http_client(elsewhere: FaultServer) -> None:
    """Even an httpx2 client that follows redirects does not carry the key to the other host."""
    with (
        FaultServer(redirect_to(elsewhere, 307), OK) as server,
        httpx2.Client(follow_redirects=True) as http,
    ):
        tapti = Tapti(api_key=API_KEY, base_url=server.url, http_client=http)
        with pytest.raises(APIStatusError) as info:
            tapti.user("user_1").create_sdk_token(**CALL)
    assert_redirect_refused(info.value, 307, server, elsewhere)
