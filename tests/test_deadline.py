"""``timeout=`` in seconds bounds the whole call, over real sockets (issue 12, "Time").

A number given as ``timeout=`` is the most a call may take end to end: connecting, sending,
every read, every retry and every wait between attempts. These tests play servers that httpx2's
per-operation timeouts cannot stop on their own (headers or a body trickled one byte every
0.5 s, a server that accepts and never answers) and ``Retry-After`` waits that would run past the
budget, and check that every call with ``timeout=2`` ends within 2.5 s of wall time, for
``Tapti`` and ``AsyncTapti``, with the budget set on the client and, separately, on the call.
Nothing is slept in place of the SDK: these are the real waits, measured around the call only.

Around the rule: a caller's ``http_client=`` keeps its own timeout unless ``timeout=`` is given
to the SDK too; a call's ``timeout=`` overrides the client's; an ``httpx2.Timeout`` object keeps
httpx2's per-operation meaning (a slow trickle is not cut at its total).

``Server`` here is shared with ``tests/test_only_tapti_errors.py``. Every trickle stops after
``TRICKLE_CAP`` seconds and sends the rest at once, so an SDK that waits a trickle out still
ends (and fails these tests by its clock) instead of hanging the suite; the module's timeout
bounds the ``Retry-After: 59.9`` cases the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Self

import httpcore2
import httpx2
import pytest
from _frames import chain_frames
from _http import accept_each

from tapti_ext import (
    APIConnectionError,
    APITimeoutError,
    AsyncTapti,
    InternalServerError,
    RateLimitError,
    SdkToken,
    Tapti,
    TaptiError,
    _network,
)

# A call that waited out a trickle or a 59.9 s Retry-After fails by this, not by hanging.
pytestmark = pytest.mark.timeout(15)

API_KEY = "sk_deadline_key"
TOKEN = "tok_deadline"
PORTAL = f"https://oauth.tapti.dev?sdk_token={TOKEN}"
TOKEN_BODY = json.dumps({"oauth_portal_url": PORTAL}).encode()
CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
BUDGET = 2.0  # the timeout= every budget test passes
LIMIT = 2.5  # ... and the wall time within which every such call must end
TRICKLE_EVERY = 0.5  # seconds between two trickled bytes
TRICKLE_CAP = 3.0  # a trickle then sends the rest at once: past LIMIT, so it never decides a test
FOREVER = 30.0  # "never answers": until the server stops, far past any test's bound


# --- the server -------------------------------------------------------------------------------


class StoppedError(Exception):
    """The server is closing: a handler's wait ends here."""


Handler = Callable[[socket.socket, "Server"], None]


class Server:
    """An HTTP/1.1 server on 127.0.0.1, one thread per connection, keep-alive allowed.

    It plays ``handlers`` for the requests it reads, in order, the last one repeating, and
    counts them (``attempts``). A handler writes a whole response, or a fault; waits go through
    ``pause`` so that ``close`` ends them at once. ``close`` shuts every connection down, joins
    the threads and closes every socket.
    """

    def __init__(self, *handlers: Handler) -> None:
        self._handlers = handlers
        self._received = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._request = threading.local()  # per connection thread: the request being answered
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # how often the accept loop looks at `stopping`
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Self:
        self._start(self._accept)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def attempts(self) -> int:
        """The requests read so far, each in full."""
        with self._lock:
            return self._received

    def request_line(self) -> str:
        """The request line a handler is answering (it runs on its connection's thread)."""
        return str(self._request.line)

    def pause(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise StoppedError

    def close(self) -> None:
        self.stopping.set()
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        accept_each(self._listener, self.stopping, self._take)

    def _take(self, connection: socket.socket) -> None:
        connection.settimeout(None)
        with self._lock:
            self._connections.append(connection)
        self._start(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            # Trickled bytes leave one at a time rather than waiting for Nagle's algorithm.
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not self.stopping.is_set():
                try:
                    self._request.line = _read_request(reader)
                    if not self._request.line:
                        return
                    with self._lock:
                        self._received += 1
                        handler = self._handlers[min(self._received, len(self._handlers)) - 1]
                    handler(connection, self)
                except (OSError, StoppedError):  # the client hung up, or the server is closing
                    return


def _read_request(reader: IO[bytes]) -> str:
    """Read one request (line, headers, body) off the connection; its line, ``""`` at its end."""
    request_line = reader.readline(65537).strip().decode("latin-1")
    if not request_line:
        return ""
    length = 0
    while (line := reader.readline(65537)) not in {b"\r\n", b"\n", b""}:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    reader.read(length)
    return request_line


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start a ``Server`` playing the given handlers; every one started is closed at the end."""
    with contextlib.ExitStack() as servers:
        yield lambda *handlers: servers.enter_context(Server(*handlers))


# --- what the servers say ---------------------------------------------------------------------


def response_bytes(
    status: int, body: bytes = TOKEN_BODY, headers: dict[str, str] | None = None
) -> tuple[bytes, bytes]:
    """The head (status line and headers, up to the blank line) and the body of a response."""
    lines = [
        f"HTTP/1.1 {status} Scripted",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body


def padded_json(answer: dict[str, Any], size: int) -> bytes:
    """``answer`` as JSON of exactly ``size`` bytes: a ``padding`` member makes up the rest."""
    bare = json.dumps({**answer, "padding": ""}).encode()
    return json.dumps({**answer, "padding": "w" * (size - len(bare))}).encode()


def answer_of_length(answer: dict[str, Any], total: int) -> bytes:
    """A 200 of exactly ``total`` bytes, head and body, its body ``answer`` padded."""
    size = total - len(response_bytes(200, b"")[0])
    for _ in range(3):  # the body's size changes the Content-Length's digits
        head, body = response_bytes(200, padded_json(answer, size))
        size += total - len(head) - len(body)
    assert len(head) + len(body) == total
    return head + body


def respond(
    status: int, body: bytes = TOKEN_BODY, headers: dict[str, str] | None = None
) -> Handler:
    head, payload = response_bytes(status, body, headers)

    def handler(connection: socket.socket, _: Server) -> None:
        connection.sendall(head + payload)

    return handler


OK = respond(200)


def trickle(
    connection: socket.socket, server: Server, data: bytes, every: float, cap: float
) -> None:
    """Send ``data`` a byte every ``every`` seconds; after ``cap`` seconds, the rest at once."""
    started = time.monotonic()
    for index in range(len(data)):
        if time.monotonic() - started >= cap:
            connection.sendall(data[index:])
            return
        connection.sendall(data[index : index + 1])
        server.pause(every)


def trickled(
    status: int = 200,
    body: bytes = TOKEN_BODY,
    headers: dict[str, str] | None = None,
    *,
    part: str,
    every: float = TRICKLE_EVERY,
    cap: float = TRICKLE_CAP,
) -> Handler:
    """A response whose ``part`` ("head" or "body") trickles; the other part is sent whole."""
    head, payload = response_bytes(status, body, headers)

    def handler(connection: socket.socket, server: Server) -> None:
        if part == "head":
            trickle(connection, server, head, every, cap)
            connection.sendall(payload)
        else:
            connection.sendall(head)
            trickle(connection, server, payload, every, cap)

    return handler


def never_answers(_: socket.socket, server: Server) -> None:
    """Read the request, then say nothing until the server closes."""
    server.pause(FOREVER)


def answers_after(seconds: float, then: Handler = OK) -> Handler:
    def handler(connection: socket.socket, server: Server) -> None:
        server.pause(seconds)
        then(connection, server)

    return handler


# --- calling the SDK, sync or async, and timing the call ---------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one call returned or raised, and how long it took (the call alone)."""

    result: SdkToken | BaseException
    seconds: float

    def error(self, expected: type[TaptiError]) -> Any:
        """The error, checked to be exactly ``expected``."""
        assert type(self.result) is expected, (
            f"expected {expected.__name__}, got {self.result!r} after {self.seconds:.2f} s"
        )
        return self.result

    def token(self) -> SdkToken:
        assert isinstance(self.result, SdkToken), (
            f"expected the token, got {self.result!r} after {self.seconds:.2f} s"
        )
        return self.result


FLAVOURS = ["sync", "async"]


def measure(
    flavour: str,
    url: str,
    *,
    client: dict[str, Any] | None = None,
    call: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
) -> Outcome:
    """One ``create_sdk_token`` through ``Tapti`` or ``AsyncTapti`` (``flavour``).

    ``client`` and ``call`` are keyword arguments for the client and the call; ``http``, when
    given, those of an ``httpx2.Client`` (or ``AsyncClient``) passed as ``http_client=``. The
    clients are created and closed here; only the call is timed.
    """
    if flavour == "sync":
        return _measure_sync(url, client or {}, call or {}, http)
    return asyncio.run(_measure_async(url, client or {}, call or {}, http))


def _measure_sync(
    url: str, client: dict[str, Any], call: dict[str, Any], http: dict[str, Any] | None
) -> Outcome:
    with contextlib.ExitStack() as stack:
        if http is not None:
            client = {**client, "http_client": stack.enter_context(httpx2.Client(**http))}
        tapti = stack.enter_context(Tapti(api_key=API_KEY, base_url=url, **client))
        started = time.monotonic()
        try:
            result: SdkToken | BaseException = tapti.user("user_1").create_sdk_token(**CALL, **call)
        except Exception as exc:  # the class is what the test asserts
            result = exc
        return Outcome(result, time.monotonic() - started)


async def _measure_async(
    url: str, client: dict[str, Any], call: dict[str, Any], http: dict[str, Any] | None
) -> Outcome:
    async with contextlib.AsyncExitStack() as stack:
        if http is not None:
            http_client = await stack.enter_async_context(httpx2.AsyncClient(**http))
            client = {**client, "http_client": http_client}
        tapti = await stack.enter_async_context(AsyncTapti(api_key=API_KEY, base_url=url, **client))
        started = time.monotonic()
        try:
            result: SdkToken | BaseException = await tapti.user("user_1").create_sdk_token(
                **CALL, **call
            )
        except Exception as exc:
            result = exc
        return Outcome(result, time.monotonic() - started)


# --- timeout=2: every call ends within 2.5 s --------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A scripted server, and how a call with ``timeout=2`` must end against it."""

    name: str
    handlers: tuple[Handler, ...]
    error: type[TaptiError]
    attempts: int  # the requests the server must have received
    within: float = LIMIT  # the call ends before this many seconds
    at_least: float = 0.0  # ... and not before this many (the budget, not something else, ended it)
    max_retries: int = 2
    retry_after: float | None = None  # a RateLimitError's retry_after


def retry_after(value: str) -> dict[str, str]:
    return {"Retry-After": value}


DOWN = json.dumps({"message": "down"}).encode()
SLOW_DOWN = json.dumps({"message": "slow down"}).encode()
# A request the budget cuts short: the whole budget went into it.
SPENT = BUDGET - 0.2

CASES = [
    Case("headers-trickled", (trickled(part="head"),), APITimeoutError, 1, at_least=SPENT),
    Case("body-trickled", (trickled(part="body"),), APITimeoutError, 1, at_least=SPENT),
    Case("accepts-never-answers", (never_answers,), APITimeoutError, 1, at_least=SPENT),
    # The second attempt's reads get only the ~1 s the first attempt and its wait left.
    Case("503-retry-after-1-then-never-answers",
         (respond(503, DOWN, retry_after("1")), never_answers), APITimeoutError, 2,
         at_least=SPENT),
    # Attempt 2 ends just past 1 s: another 1 s wait would end past the budget, so the SDK
    # raises at once what it would have raised after the last attempt. A call that waited
    # would end at 2 s or later, hence `within`; max_retries leaves the budget to decide.
    Case("503-retry-after-1-forever", (respond(503, DOWN, retry_after("1")),),
         InternalServerError, 2, within=1.9, max_retries=5),
    Case("429-retry-after-1-forever", (respond(429, SLOW_DOWN, retry_after("1")),),
         RateLimitError, 2, within=1.9, max_retries=5, retry_after=1.0),
    Case("503-retry-after-59.9", (respond(503, DOWN, retry_after("59.9")),),
         InternalServerError, 1, within=1.0),
    Case("429-retry-after-59.9", (respond(429, SLOW_DOWN, retry_after("59.9")),),
         RateLimitError, 1, within=1.0, retry_after=59.9),
    # The status arrived: the error says what the server answered, at the budget's end.
    Case("503-body-trickled-retry-after-0",
         (trickled(503, DOWN, retry_after("0"), part="body"),), InternalServerError, 1,
         at_least=SPENT),
]  # fmt: skip


@pytest.mark.parametrize("where", ["client", "call"])
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_timeout_in_seconds_bounds_the_whole_call(
    case: Case, flavour: str, where: str, serve: Callable[..., Server]
) -> None:
    server = serve(*case.handlers)
    client: dict[str, Any] = {"max_retries": case.max_retries}
    call: dict[str, Any] = {}
    (client if where == "client" else call)["timeout"] = BUDGET
    outcome = measure(flavour, server.url, client=client, call=call)
    error = outcome.error(case.error)
    assert case.at_least <= outcome.seconds < case.within, (
        f"the call took {outcome.seconds:.2f} s, not within [{case.at_least}, {case.within})"
    )
    assert server.attempts == case.attempts
    if case.retry_after is not None:
        assert error.retry_after == case.retry_after


# --- a caller's http_client, per-call timeouts, httpx2.Timeout ---------------------------------

SLOW_ANSWER = 1.0  # seconds before answers_after()'s server sends the token


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_callers_http_client_keeps_its_own_timeout(
    flavour: str, serve: Callable[..., Server]
) -> None:
    server = serve(answers_after(SLOW_ANSWER))
    outcome = measure(flavour, server.url, client={"max_retries": 0}, http={"timeout": 0.3})
    outcome.error(APITimeoutError)
    assert outcome.seconds < 0.8, "the caller's 0.3 s timeout was not the one applied"
    assert server.attempts == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_timeout_given_to_the_sdk_too_replaces_the_callers(
    flavour: str, serve: Callable[..., Server]
) -> None:
    server = serve(answers_after(SLOW_ANSWER))
    client = {"max_retries": 0, "timeout": BUDGET}
    outcome = measure(flavour, server.url, client=client, http={"timeout": 0.3})
    assert outcome.token().sdk_token == TOKEN
    assert outcome.seconds >= SLOW_ANSWER - 0.1


@pytest.mark.parametrize(
    ("client", "http"),
    [({"timeout": 0.5}, None), ({}, {"timeout": 0.3})],
    ids=["sdk-client-timeout", "http-client-timeout"],
)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_call_timeout_overrides_the_clients(
    flavour: str,
    client: dict[str, Any],
    http: dict[str, Any] | None,
    serve: Callable[..., Server],
) -> None:
    """A client timeout shorter than the answer takes; the call's own, longer, wins."""
    server = serve(answers_after(SLOW_ANSWER))
    outcome = measure(
        flavour,
        server.url,
        client={**client, "max_retries": 0},
        call={"timeout": BUDGET},
        http=http,
    )
    assert outcome.token().sdk_token == TOKEN
    assert server.attempts == 1


@pytest.mark.parametrize("asked", [0.5, httpx2.Timeout(0.5)], ids=["seconds", "httpx2.Timeout"])
@pytest.mark.parametrize("way", ["sync", "async"])
def test_raw_httpx_clients_request_timeout_is_obeyed(
    way: str, asked: Any, serve: Callable[..., Server]
) -> None:
    """``tapti.raw.get_httpx_client().get(..., timeout=0.5)`` ran to the client's own timeout
    (30 s by default, 6 s here), as if not given; plain httpx2 stops at 0.5 s."""
    server = serve(never_answers)
    options = {"api_key": API_KEY, "base_url": server.url, "timeout": 6, "max_retries": 0}

    async def send_async() -> None:
        async with AsyncTapti(**options) as tapti:
            await tapti.raw.get_async_httpx_client().get("/x", timeout=asked)

    def send() -> None:
        if way == "async":
            asyncio.run(send_async())
            return
        with Tapti(**options) as tapti:
            tapti.raw.get_httpx_client().get("/x", timeout=asked)

    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        send()
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_httpx_timeout_keeps_its_per_operation_meaning(
    flavour: str, serve: Callable[..., Server]
) -> None:
    """``httpx2.Timeout(1.0)`` bounds each read: a body that takes 2 s, a byte every 0.3 s, is
    read to its end (each read waits 0.3 s), not cut at 1 s in total."""
    server = serve(trickled(part="body", every=0.3, cap=2.0))
    client = {"timeout": httpx2.Timeout(1.0), "max_retries": 0}
    outcome = measure(flavour, server.url, client=client)
    assert outcome.token().sdk_token == TOKEN
    assert 1.5 <= outcome.seconds < 10.0
    assert server.attempts == 1


# --- the name lookup is inside the budget too -------------------------------------------------

SLOW_NAME = "slow-resolver.tapti.test"


def without_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@contextlib.contextmanager
def alarm_raising(exception: BaseException, after: float) -> Iterator[None]:
    """The program's own ``SIGALRM`` handler raising ``exception`` ``after`` seconds in."""
    with handler_raising(signal.SIGALRM, exception):
        signal.setitimer(signal.ITIMER_REAL, after)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def handler_raising(signum: signal.Signals, exception: BaseException) -> Iterator[None]:
    """The program's own handler of ``signum``, raising ``exception``."""

    def handler(signum: int, frame: object) -> None:
        raise exception

    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def assert_chain_unchanged(exception: BaseException) -> None:
    """A program's exception raised with no chain leaves with none added: never its own cause
    (a loop walking ``__cause__`` to the root would never end), nor the ``from None`` that
    httpcore2's pool re-raises it with (its ``__suppress_context__``)."""
    assert exception.__cause__ is None
    assert exception.__context__ is None
    assert not exception.__suppress_context__


def assert_no_local_holds_the_key(exc: BaseException) -> None:
    """No frame of the traceback, of any exception in the cause and context chain, holds a
    local whose repr (or whose items' reprs) shows the key."""
    for frame in chain_frames(exc):
        for name, value in frame.f_locals.items():
            shown = [repr(value)]
            if isinstance(value, (list, tuple, dict)):
                shown += [repr(item) for item in value]
            assert not any(API_KEY in text for text in shown), f"{name} holds the key"


@pytest.fixture
def slow_resolver(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``SLOW_NAME`` resolves to 127.0.0.1 after the seconds the test appends (a resolver
    retrying a dead nameserver: glibc waits 5 s a try); no proxy variable applies."""
    delays: list[float] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == SLOW_NAME:
            time.sleep(delays[-1] if delays else 0.0)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    without_proxy_variables(monkeypatch)
    return delays


def test_a_slow_name_lookup_is_bounded_by_the_timeout(
    serve: Callable[..., Server], slow_resolver: list[float]
) -> None:
    server = serve(OK)
    url = server.url.replace("127.0.0.1", SLOW_NAME)
    slow_resolver.append(FOREVER / 10)  # 3 s, far past the budget
    started = time.monotonic()
    with (
        Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, timeout=BUDGET) as tapti,
        pytest.raises(APITimeoutError),
    ):
        tapti.user("alice").create_sdk_token(**CALL)
    assert time.monotonic() - started < LIMIT
    assert server.attempts == 0
    slow_resolver.append(0.0)  # a quick lookup then finds the server
    with Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, timeout=BUDGET) as tapti:
        assert tapti.user("alice").create_sdk_token(**CALL).sdk_token
    assert server.attempts == 1


def lookup_threads(ignored: frozenset[threading.Thread] = frozenset()) -> int:
    """The SDK's name-lookup threads alive, but for ``ignored`` (those of earlier tests)."""
    alive = threading.enumerate()
    return sum(t.name == "tapti-name-lookup" and t not in ignored for t in alive)


def test_calls_waiting_on_a_slow_name_share_one_lookup(
    serve: Callable[..., Server], slow_resolver: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old code started a thread per attempt, each left running: 700 under load (probe 8).
    server = serve(OK)
    url = server.url.replace("127.0.0.1", SLOW_NAME)
    slow_resolver.append(1.5)
    # Every call joins, however long a loaded machine takes (the next test is the window's).
    monkeypatch.setattr(_network, "_JOINED_FOR", FOREVER)
    earlier = frozenset(threading.enumerate())
    peak: list[int] = []
    errors: list[str] = []

    def calls(tapti: Tapti) -> None:
        for _ in range(3):
            try:
                tapti.user("alice").create_sdk_token(**CALL, timeout=0.2)
            except TaptiError as exc:
                errors.append(type(exc).__name__)
            peak.append(lookup_threads(earlier))

    with Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, max_retries=1) as tapti:
        workers = [threading.Thread(target=calls, args=(tapti,)) for _ in range(10)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert errors == ["APITimeoutError"] * 30
    assert max(peak) == 1
    assert server.attempts == 0


def test_a_lookup_that_was_slow_once_does_not_hold_up_later_calls(
    serve: Callable[..., Server], slow_resolver: list[float]
) -> None:
    """A lost query waits out glibc's 5 s; a call a moment later asks again and is answered,
    instead of joining the stuck lookup and timing out with it."""
    server = serve(OK)
    url = server.url.replace("127.0.0.1", SLOW_NAME)
    slow_resolver.append(FOREVER / 10)  # this lookup's query was lost
    with Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, max_retries=0) as tapti:
        first = time.monotonic()
        with pytest.raises(APITimeoutError):
            tapti.user("alice").create_sdk_token(**CALL, timeout=0.5)
        time.sleep(max(0.0, first + _network._JOINED_FOR + 0.2 - time.monotonic()))  # past it
        slow_resolver.append(0.0)  # the next query is answered at once
        started = time.monotonic()
        assert tapti.user("bob").create_sdk_token(**CALL, timeout=0.5).sdk_token
    assert time.monotonic() - started < 0.5
    assert server.attempts == 1


class JobCancelledError(RuntimeError):
    """A program's own exception, from its signal handler: CPython raises RuntimeError itself."""


@pytest.mark.parametrize(
    ("refusal", "raised"),
    [
        (RuntimeError("can't start new thread"), APIConnectionError),  # a container's pids limit
        (KeyboardInterrupt(), KeyboardInterrupt),  # the user's Ctrl-C, landing just there
        (JobCancelledError("by the supervisor"), JobCancelledError),  # a program's own subclass
        *(  # 3.13: CPython's own subclass, at the interpreter's shutdown
            [(PythonFinalizationError("shutting down"), APIConnectionError)]  # noqa: F821
            if sys.version_info >= (3, 13)
            else []
        ),
    ],
    ids=[
        "thread_limit",
        "interrupted",
        "programs_runtime_error",
        *(["finalizing"] if sys.version_info >= (3, 13) else []),
    ],
)
def test_a_lookup_thread_that_cannot_start_leaves_the_name_usable(
    serve: Callable[..., Server],
    slow_resolver: list[float],
    monkeypatch: pytest.MonkeyPatch,
    refusal: BaseException,
    raised: type[BaseException],
) -> None:
    server = serve(OK)
    url = server.url.replace("127.0.0.1", SLOW_NAME)
    start = threading.Thread.start

    def start_unless_a_lookup(thread: threading.Thread) -> None:
        if thread.name == "tapti-name-lookup":
            raise refusal
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_unless_a_lookup)
    with (
        Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, max_retries=1) as tapti,
        pytest.raises(raised) as caught,
    ):
        tapti.user("alice").create_sdk_token(**CALL, timeout=BUDGET)
    if raised is APIConnectionError:
        assert "no thread could be started" in str(caught.value)
    monkeypatch.setattr(threading.Thread, "start", start)
    # The next call looks the name up afresh, at once: no lookup is left that no thread ends.
    started = time.monotonic()
    with Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True) as tapti:
        assert tapti.user("alice").create_sdk_token(**CALL, timeout=BUDGET).sdk_token
    assert time.monotonic() - started < 1.0
    assert server.attempts == 1


FORKED_LOOKUP = textwrap.dedent(
    """
    import os, socket, sys, threading, time
    from tapti_ext import Tapti
    from tapti_ext._network import _addresses

    real, slow = socket.getaddrinfo, [5.0]

    def getaddrinfo(host, *args, **kwargs):
        if host == "slow.tapti.test":
            time.sleep(slow[0])
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        _addresses("slow.tapti.test", 80, 0.1)  # leaves a lookup under way in this process
    except Exception as exc:
        print("parent:", type(exc).__name__)
    slow[0] = 0.0
    pid = os.fork()
    if pid == 0:  # the parent's lookup has no thread here: the child looks the name up itself
        try:
            print("child:", _addresses("slow.tapti.test", 80, 2.0), flush=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_wait_on_its_parents_lookup() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORKED_LOOKUP],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split("\n")[:2] == ["parent: ConnectTimeout", "child: ['127.0.0.1']"]


TWO_ADDRESSES = "two-addresses.tapti.test"


@pytest.fixture
def dead_first_address(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], str]]:
    """A URL for a port: ``TWO_ADDRESSES`` resolves to 127.0.0.2 and then 127.0.0.1, and
    127.0.0.2 drops every connection attempt to that port (its listener's queue is full, and
    Linux then ignores the SYN: a firewalled address, a node gone from the network)."""
    opened: list[socket.socket] = []
    real = socket.getaddrinfo

    def url_for(port: int) -> str:
        listener = socket.socket()
        opened.append(listener)
        listener.bind(("127.0.0.2", port))
        listener.listen(0)
        for _ in range(3):
            filler = socket.socket()
            opened.append(filler)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.2", port))
        with socket.socket() as probe:
            probe.settimeout(0.3)
            with contextlib.suppress(OSError):
                probe.connect(("127.0.0.2", port))
                pytest.skip("this system answers a full listen queue: no address drops SYNs")
        return f"http://{TWO_ADDRESSES}:{port}"

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != TWO_ADDRESSES:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in DEAD_THEN_LIVE]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    without_proxy_variables(monkeypatch)
    yield url_for
    for sock in opened:
        sock.close()


DEAD_THEN_LIVE = ("127.0.0.2", "127.0.0.1")


def test_an_address_that_drops_connection_attempts_is_passed_over(
    serve: Callable[..., Server], dead_first_address: Callable[[int], str]
) -> None:
    # The old code retried the first address only: every call failed after the budget.
    server = serve(OK)
    url = dead_first_address(int(server.url.rsplit(":", 1)[1]))
    timeout = httpx2.Timeout(10.0, connect=0.5)
    started = time.monotonic()
    with Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, timeout=timeout) as tapti:
        assert tapti.user("alice").create_sdk_token(**CALL).sdk_token
    assert 0.4 < time.monotonic() - started < 3.0  # one connect timeout, then the next address
    assert server.attempts == 1


@pytest.mark.parametrize("timeout", [None, 10.0], ids=["no_limit", "numeric"])
def test_the_systems_connect_timeout_is_the_sdks_timeout_error(
    slept: list[float], monkeypatch: pytest.MonkeyPatch, timeout: float | None
) -> None:
    """The kernel giving up on a host that never answered (ETIMEDOUT, after ~127 s) raises a
    ``TimeoutError`` with an errno: the connection's failure, retried, never the program's."""
    tried: list[object] = []

    def create_connection(address: object, *args: Any, **kwargs: Any) -> socket.socket:
        tried.append(address)
        raise OSError(errno.ETIMEDOUT, "Connection timed out")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    without_proxy_variables(monkeypatch)
    with (
        Tapti(api_key=API_KEY, base_url="http://127.0.0.1:9", timeout=timeout) as tapti,
        pytest.raises(APITimeoutError, match="3 attempts"),
    ):
        tapti.user("alice").create_sdk_token(**CALL)
    assert len(tried) == 3
    assert len(slept) == 2


def test_a_programs_timeout_while_connecting_is_not_taken_for_a_dead_address(
    serve: Callable[..., Server], dead_first_address: Callable[[int], str]
) -> None:
    server = serve(OK)
    url = dead_first_address(int(server.url.rsplit(":", 1)[1]))
    alarm = TimeoutError("the program's alarm")
    with (
        Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, timeout=10) as tapti,
        alarm_raising(alarm, 0.3),
        pytest.raises(TimeoutError) as info,
    ):
        tapti.user("alice").create_sdk_token(**CALL)
    assert info.value is alarm
    assert_chain_unchanged(info.value)  # not chained to the ConnectTimeout it caused
    assert_no_local_holds_the_key(info.value)
    assert server.attempts == 0  # neither the next address nor a retry


# --- a signal CPython could not show the main thread at once ----------------------------------


class ProgramStopped(BaseException):
    """What the program's own signal handler raises (a SIGTERM handler's exit, say)."""


def signalled_in_this_thread(first: Handler, after: float = 0.0) -> Handler:
    """Play ``first``, wait ``after`` seconds, then raise ``SIGUSR1`` in the server's own thread.

    CPython's C handler runs in that thread and only marks the signal pending; the Python handler
    waits for the main thread's next bytecode. A main thread blocked in a system call is not
    woken: the state a signal leaves when it lands in the few instructions between the main
    thread's last check and the call's start (the CLI's Ctrl-C, lost until the answer came).
    """

    def handler(connection: socket.socket, server: Server) -> None:
        first(connection, server)
        server.pause(after)
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        server.pause(FOREVER)

    return handler


def quiet(_: socket.socket, __: Server) -> None:
    """Say nothing yet (``signalled_in_this_thread`` waits after it)."""


def stopped_within(tapti: Tapti, stopped: BaseException, waiting_in: str) -> None:
    """The call ends with the program's ``stopped``, as raised, well before the wait it was
    pending in would have ended. The bound is a liveness check with a wide margin, not a speed
    goal: without the slices the handler waits for that whole wait (8 s or 10 s here)."""
    started = time.monotonic()
    with handler_raising(signal.SIGUSR1, stopped), pytest.raises(ProgramStopped) as info:
        tapti.user("alice").create_sdk_token(**CALL)
    seconds = time.monotonic() - started
    assert info.value is stopped
    assert seconds < 4.0, f"the handler waited {seconds:.1f} s, for {waiting_in} to end"
    assert_chain_unchanged(info.value)  # no timeout of the SDK's in it
    assert_no_local_holds_the_key(info.value)


@pytest.mark.parametrize(
    ("first", "waiting_in"),
    [(quiet, "the read of the answer"), (respond(503, DOWN, retry_after("8")), "the retry wait")],
    ids=["read", "retry-wait"],
)
def test_a_pending_signal_reaches_the_main_threads_call_within_half_a_second(
    serve: Callable[..., Server], first: Handler, waiting_in: str
) -> None:
    """The main thread waits for the socket, and for a retry, in slices of at most half a second
    (``_network._SIGNAL_SLICE``), so a pending signal's handler runs within one."""
    server = serve(signalled_in_this_thread(first, after=0.5))
    stopped = ProgramStopped("the program's handler")
    with Tapti(api_key=API_KEY, base_url=server.url, allow_insecure_http=True, timeout=10) as tapti:
        stopped_within(tapti, stopped, waiting_in)


def test_a_pending_signal_reaches_a_call_waiting_for_a_name_lookup(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same while the main thread waits for the lookup thread, which raises the signal."""
    server = serve(OK)
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == SLOW_NAME:  # in the lookup thread
            time.sleep(0.5)
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
            time.sleep(8.0)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    without_proxy_variables(monkeypatch)
    url = server.url.replace("127.0.0.1", SLOW_NAME)
    stopped = ProgramStopped("the program's handler")
    with Tapti(api_key=API_KEY, base_url=url, allow_insecure_http=True, timeout=10) as tapti:
        stopped_within(tapti, stopped, "the name lookup")


@pytest.mark.parametrize("at", [0.497, 0.5005, 1.003], ids=["before", "after", "second"])
def test_a_programs_timeout_at_a_slices_end_is_the_programs(
    serve: Callable[..., Server], at: float
) -> None:
    """A ``SIGALRM`` handler's own ``TimeoutError`` near the end of a slice of the main thread's
    wait comes out as raised, and ends the call: a slice raises nothing when it ends, so nothing
    tells a program's timeout from the slice's by the time that passed (review 32)."""
    server = serve(answers_after(2.0))
    alarm = TimeoutError("the program's alarm")
    with (
        Tapti(api_key=API_KEY, base_url=server.url, allow_insecure_http=True, timeout=10) as tapti,
        alarm_raising(alarm, at),
        pytest.raises(TimeoutError) as info,
    ):
        tapti.user("alice").create_sdk_token(**CALL)
    assert info.value is alarm
    assert_chain_unchanged(info.value)


def test_the_main_threads_wait_on_a_closed_socket_is_the_reads_error() -> None:
    """A socket closed under the stream (another thread closing it during a TLS handshake):
    the read meets it as in every other thread, ``ReadError``, not ``poll``'s ``ValueError``
    for descriptor -1 (review 33)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        inner = httpcore2.SyncBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        stream = _network._sliced(inner)  # made while the socket is open, as at connect time
        assert isinstance(stream, _network._RawStream)
        inner.get_extra_info("socket").close()
        with pytest.raises(httpcore2.ReadError):
            stream.read(100, 1.0)


@pytest.mark.parametrize("raised", [ValueError, UnicodeError], ids=lambda kind: kind.__name__)
def test_a_programs_value_error_during_a_tls_handshake_is_the_programs(
    raised: type[ValueError],
) -> None:
    """A ``SIGALRM`` handler raising a ``ValueError`` while the main thread waits for the
    server's TLS hello: it comes out as raised, as a ``TimeoutError`` does. The handshake turned
    every ``ValueError`` into ``APIConnectionError``, for the ``ssl`` module's refusal of a
    server name, which only making the TLS object raises (review 33)."""
    alarm = raised("the program's alarm")
    assert_raised_as_is(alarm_during_a_silent_handshake(alarm), alarm)


def alarm_during_a_silent_handshake(alarm: BaseException) -> BaseException:
    """What a call raises when ``alarm`` is raised by the program's ``SIGALRM`` handler while
    the call waits for a server's TLS hello (its own hello waits in the listener's backlog)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}"
        with (
            Tapti(api_key=API_KEY, base_url=url, max_retries=0, timeout=10) as tapti,
            alarm_raising(alarm, 0.3),
            pytest.raises(BaseException) as info,
        ):
            tapti.user("alice").create_sdk_token(**CALL)
    return info.value


def assert_raised_as_is(raised: BaseException, alarm: BaseException) -> None:
    assert raised is alarm, repr(raised)
    assert_chain_unchanged(raised)


class HandshakeRead:
    """A raw stream whose first read ends after ``after`` seconds with httpcore2's
    ``ReadTimeout`` caused by ``cause``: what httpcore2 makes of a ``TimeoutError`` raised inside
    its ``recv``, by the socket's own timeout or by a program's signal handler landing there."""

    def __init__(self, cause: TimeoutError, after: float = 0.0) -> None:
        self.cause, self.after, self.closed = cause, after, False

    def _read(self) -> bytes:
        time.sleep(self.after)
        raise httpcore2.ReadTimeout(str(self.cause)) from self.cause

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._read()

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        pass  # the hello, which no answer comes for

    def close(self) -> None:
        self.closed = True


class AsyncHandshakeRead(HandshakeRead):
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # type: ignore[override]
        return self._read()

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # type: ignore[override]
        pass

    async def aclose(self) -> None:
        self.close()


def _start_tls(kind: str, inner: HandshakeRead, timeout: float) -> None:
    context = ssl.create_default_context()
    if kind == "sync":
        _network._Stream(inner, ()).start_tls(context, "localhost", timeout)
    else:
        stream = _network._AsyncStream(inner, ())
        asyncio.run(stream.start_tls(context, "localhost", timeout))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_programs_timeout_during_a_tls_handshake_is_the_programs(kind: str) -> None:
    """A ``TimeoutError`` a program's signal handler raises inside the handshake's raw read,
    long before the handshake's time is up: the program's, as raised, not the SDK's connect
    timeout, which was retried and the call went on to return a token (probe 34)."""
    alarm = TimeoutError("the program's alarm")
    inner = (HandshakeRead if kind == "sync" else AsyncHandshakeRead)(alarm)
    with pytest.raises(TimeoutError) as info:
        _start_tls(kind, inner, 5.0)
    assert info.value is alarm
    assert_chain_unchanged(info.value)
    assert inner.closed


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_handshakes_own_timeout_stays_a_connect_timeout(kind: str) -> None:
    """The socket's own ``TimeoutError`` (no errno either) once the handshake's time is up."""
    own = TimeoutError("timed out")
    inner = (HandshakeRead if kind == "sync" else AsyncHandshakeRead)(own, after=0.2)
    with pytest.raises(httpcore2.ConnectTimeout) as info:
        _start_tls(kind, inner, 0.2)
    assert info.value.__cause__ is own
    assert inner.closed


@pytest.mark.parametrize(
    "alarm",
    [TimeoutError("the program's alarm"), ConnectionResetError("the program's alarm")],
    ids=lambda alarm: type(alarm).__name__,
)
def test_a_programs_error_inside_a_handshakes_recv_leaves_the_call_as_raised(
    alarm: OSError, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole client, the main thread reading in one piece (as on Windows or with green
    sockets), so the handler raises inside the handshake's ``recv``: the program's exception
    leaves the call with its chain as raised. httpcore2's pool re-raises it ``from None``,
    and the handshake showed the attempt no chain to give back (review 35)."""
    monkeypatch.setattr(_network, "_poller_of", lambda sock: None)
    assert_raised_as_is(alarm_during_a_silent_handshake(alarm), alarm)
