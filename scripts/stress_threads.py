"""Many threads sharing one client: stress the sync connection pool over loopback.

Issue 12 ("Many threads on one client") found encode/httpcore#1110 on httpcore 1.0.9: its sync
pool could close a connection already handed to a request, so that request's socket was closed
under it (``[Errno 9] Bad file descriptor``, a read blocked until the timeout, a request sent
twice after a retried ``APIConnectionError``). httpcore2 keeps a connection reserved by a queued
request out of every close, so the SDK no longer patches its pool. This script keeps measuring
that promise on the stack the SDK runs on; docs/faults.md has the numbers, old and new.

``--threads`` threads share one client and make ``--calls`` calls in total, in batches of
``--batch``, against a loopback server the script starts itself: ``MockTaptiServer``
(``--server mock``) or a minimal raw-socket keep-alive server (``--server raw``). Every call
uses its own user id, so the server can tell a request that arrived twice. Per batch it prints:

- the wall time, and the requests the server received against the calls made (``duplicates``:
  ids seen more than once; ``missing``: ids never seen, which a failed call may be);
- ``connects``: TCP connections the client opened (keep-alive churn shows here);
- ``handed-over closes``: connections the pool closed while a pending request held them (the
  #1110 hazard, counted even when it did no harm). A diagnostic read from httpcore2's private
  pool state; when those names are gone it prints "not available" and the rest still runs;
- the errors callers saw, by type and errno; ``in the pool``: what httpcore2 raised, including
  what the SDK then retried; the SDK's retries (from its log); the slowest call and the calls
  slower than ``--stall`` seconds.

It stops issuing calls after ``--seconds``, and exits 1 when it saw a duplicate, an error (to
the caller or in the pool), a stalled call or a missing request; 2 when a call was still hanging
at the hard cap (``--seconds`` plus what one call may take), leaving at once.

    python scripts/stress_threads.py                                  # Tapti as it is, 60 s
    python scripts/stress_threads.py --driver httpx2                  # httpx2's default limits
    python scripts/stress_threads.py --driver httpx2 --max-connections 20 --max-keepalive 20
    python scripts/stress_threads.py --max-keepalive 20               # Tapti(http_client=...)
    python scripts/stress_threads.py --driver httpx2 --serialize      # one call at a time

Pool options: ``--max-connections``, ``--max-keepalive`` (an int, or ``none``) and
``--keepalive-expiry`` (seconds, or ``none``). For ``--driver httpx2`` they default to httpx2's
(100, 20, 5.0). For ``--driver tapti`` the SDK builds its own pool unless one of them is given;
then it gets ``http_client=httpx2.Client(limits=..., timeout=...)``. ``--timeout`` defaults to
the SDK's 30 s for both drivers. ``--switch-interval`` lowers ``sys.setswitchinterval`` to make
thread switches, and so any race, more frequent.

Loopback only, bounded in time and count; a stress run, not a test, and it judges no speed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpcore2
import httpx2

API_KEY = "sk_stress_threads"
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/api/oauth/callback",
    "redirect_url": "https://app.example/dashboard",
}
# Exactly what the SDK sends for CALL, for the plain httpx2 driver.
BODY = {
    "user_platforms": ["YOUTUBE"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": CALL["callback_url"],
    "redirect_url": CALL["redirect_url"],
}
HTTPX_DEFAULT_LIMITS = httpx2.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0
)
SDK_DEFAULT_TIMEOUT = 30.0  # the SDK's default, so that a hung read looks as it does there
_UNSET: Any = object()  # a pool option not given on the command line ("none" means no limit)
_PATH = re.compile(r"^/users/([^/?]+)/sdk-token")
_ERRNO = re.compile(r"\[Errno (\d+)\]")


# --- servers ---------------------------------------------------------------------------------


class Server(Protocol):
    url: str

    def take_counts(self) -> tuple[Counter[str], int]:
        """(requests per call id, connections accepted) since the last call; then reset."""
        ...

    def stop(self) -> None: ...


class MockServer:
    """``MockTaptiServer``, the SDK's own test server (one thread per connection, in process)."""

    def __init__(self) -> None:
        from tapti_ext.testing import MockTaptiServer  # noqa: PLC0415

        self._mock = MockTaptiServer(api_key=API_KEY).start()
        self.url = self._mock.url

    def take_counts(self) -> tuple[Counter[str], int]:
        # Called between batches, when no call is in flight; clear() keeps memory flat.
        requests = self._mock.requests
        self._mock.clear()
        return Counter(str(r.user_id) for r in requests), -1  # the mock does not count accepts

    def stop(self) -> None:
        self._mock.stop()


_RAW_REPLY_BODY = json.dumps(
    {"oauth_portal_url": "https://oauth.tapti.dev?sdk_token=stress&origin=https%3A%2F%2Fa.example"}
).encode()
_RAW_REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(_RAW_REPLY_BODY)).encode() + b"\r\n\r\n" + _RAW_REPLY_BODY
)


class RawServer:
    """A minimal keep-alive HTTP/1.1 server on raw sockets: one thread per connection.

    Far less work per request than ``http.server``, so the client's pool is what is measured.
    It reads the head up to the blank line and ``Content-Length`` bytes of body, answers 200
    with a fixed portal URL (after ``delay`` seconds, to play an API's latency), and closes a
    connection idle for ``idle_timeout`` seconds.
    """

    def __init__(self, idle_timeout: float = 30.0, delay: float = 0.0) -> None:
        self._idle_timeout = idle_timeout
        self._delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._accepted = 0
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._running = True
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        # A timeout, because closing a socket does not wake a thread blocked in accept() on it.
        self._listener.settimeout(0.1)
        while self._running:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)  # accepted sockets inherit the listener's timeout
            with self._lock:
                self._accepted += 1
                self._open.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(self._idle_timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    continue
                head, buffer = buffer[:head_end], buffer[head_end + 4 :]
                length = _content_length(head)
                while len(buffer) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                buffer = buffer[length:]
                self._record(head)
                if self._delay:
                    time.sleep(self._delay)  # an API's latency, where one matters
                conn.sendall(_RAW_REPLY)
        except OSError:
            return  # idle timeout, reset, or stop()
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def _record(self, head: bytes) -> None:
        target = head.split(b"\r\n", 1)[0].split(b" ")
        path = target[1].decode("latin-1") if len(target) > 1 else ""
        match = _PATH.match(path)
        with self._lock:
            self._counts[match.group(1) if match else path] += 1

    def take_counts(self) -> tuple[Counter[str], int]:
        with self._lock:
            counts, accepted = self._counts, self._accepted
            self._counts, self._accepted = Counter(), 0
        return counts, accepted

    def stop(self) -> None:
        self._running = False
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


# --- instrumentation -------------------------------------------------------------------------


class ConnectCounter:
    """Counts the TCP connections httpcore2 opens in this process (every driver goes through
    ``httpcore2.SyncBackend.connect_tcp``: the SDK's backend wraps one), so that keep-alive
    churn shows even where the server cannot count accepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        original = httpcore2.SyncBackend.connect_tcp

        def connect_tcp(backend: httpcore2.SyncBackend, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._count += 1
            return original(backend, *args, **kwargs)

        httpcore2.SyncBackend.connect_tcp = connect_tcp  # type: ignore[method-assign,assignment]

    def take(self) -> int:
        with self._lock:
            count, self._count = self._count, 0
        return count


def _pool_classes() -> list[Any]:
    """``httpcore2.ConnectionPool`` and every subclass imported so far (its proxy pools), so
    that a probe also sees a method a subclass overrides."""
    found: list[Any] = []
    pending: list[Any] = [httpcore2.ConnectionPool]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _wrap_method(name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``name`` on each pool class that defines it with ``make(original)``."""
    for cls in _pool_classes():
        if name in vars(cls):
            setattr(cls, name, make(vars(cls)[name]))


# The private names HandoverProbe reads: httpcore2's pool pass, its queue, a queued request's
# connection. Checked before wrapping; any missing turns the probe off, not the run.
_PROBE_PASS = "_assign_requests_to_connections"
_PROBE_QUEUE = "_requests"


def _probe_available() -> bool:
    # httpcore2 re-labels its public classes' __module__; a method keeps its defining module.
    module = sys.modules.get(getattr(httpcore2.ConnectionPool.handle_request, "__module__", ""))
    request_class = getattr(module, "PoolRequest", None)
    pool = httpcore2.ConnectionPool()
    try:
        queue = getattr(pool, _PROBE_QUEUE, None)
        return (
            callable(getattr(pool, _PROBE_PASS, None))
            and isinstance(queue, list)
            and request_class is not None
            and "connection" in vars(request_class(httpcore2.Request("GET", "http://x/")))
        )
    finally:
        pool.close()


class HandoverProbe:
    """Counts the pool's closes of a connection a pending request already holds (the #1110
    hazard: closed before that request starts, it is re-queued; after, the request's socket is
    closed under it). httpcore2's pass keeps such connections out of its closes, so this should
    read 0. A diagnostic on private state: ``available`` is False (and ``take()`` None) when
    httpcore2 no longer has the names it reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._local = threading.local()
        self.available = _probe_available()
        if self.available:
            _wrap_method(_PROBE_PASS, self._wrap)

    def _wrap(self, original: Callable[[Any], list[Any]]) -> Callable[[Any], list[Any]]:
        def assign(pool: Any) -> list[Any]:
            # A subclass's pass that calls its base's is counted once, at the outer call.
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            try:
                closing = original(pool)
            finally:
                self._local.depth = depth
            if closing and depth == 0:
                queue = getattr(pool, _PROBE_QUEUE, ())
                held = {id(getattr(r, "connection", None)) for r in queue} - {id(None)}
                hits = sum(id(connection) in held for connection in closing)
                if hits:
                    with self._lock:
                        self._count += hits
            return closing

        return assign

    def take(self) -> int | None:
        if not self.available:
            return None
        with self._lock:
            count, self._count = self._count, 0
        return count


class PoolErrors:
    """Counts what ``httpcore2.ConnectionPool.handle_request`` raised, by type and errno: the
    failures under the SDK's retries, which the caller never sees."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: Counter[str] = Counter()
        self._local = threading.local()
        _wrap_method("handle_request", self._wrap)

    def _wrap(self, original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def handle_request(pool: Any, request: Any) -> Any:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            try:
                return original(pool, request)
            except Exception as exc:
                if depth == 0:  # counted once when a subclass calls its base
                    with self._lock:
                        self._errors[describe(exc)] += 1
                raise
            finally:
                self._local.depth = depth

        return handle_request

    def take(self) -> Counter[str]:
        with self._lock:
            errors, self._errors = self._errors, Counter()
        return errors


class RetryLog(logging.Handler):
    """Counts the SDK's retries by reason, from its INFO log ("retrying ... after <reason>")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "retry" in message.lower():
            self.reasons[message.rpartition(" after ")[2] or message] += 1

    def take(self) -> Counter[str]:
        reasons, self.reasons = self.reasons, Counter()
        return reasons


def describe(exc: BaseException) -> str:
    """An error's type chain and errno, e.g. ``APIConnectionError <- ReadError [Errno 9]``."""
    names: list[str] = []
    errno = ""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(names) < 6:
        seen.add(id(current))
        if type(current).__name__ not in names:
            names.append(type(current).__name__)
        if not errno:
            match = _ERRNO.search(str(current))
            number = getattr(current, "errno", None)
            errno = (
                f"[Errno {match.group(1)}]" if match else (f"[Errno {number}]" if number else "")
            )
        current = current.__cause__ or current.__context__
    return " <- ".join(names) + (f" {errno}" if errno else "")


# --- drivers ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Driver:
    call: Callable[[int], None]
    close: Callable[[], None]
    description: str


def _given(value: Any, default: Any) -> Any:
    return default if value is _UNSET else value


def _limits(args: argparse.Namespace) -> httpx2.Limits:
    d = HTTPX_DEFAULT_LIMITS
    return httpx2.Limits(
        max_connections=_given(args.max_connections, d.max_connections),
        max_keepalive_connections=_given(args.max_keepalive, d.max_keepalive_connections),
        keepalive_expiry=_given(args.keepalive_expiry, d.keepalive_expiry),
    )


def _limits_text(limits: httpx2.Limits) -> str:
    return (
        f"max_connections={limits.max_connections} "
        f"max_keepalive_connections={limits.max_keepalive_connections} "
        f"keepalive_expiry={limits.keepalive_expiry}"
    )


def httpx_driver(args: argparse.Namespace, url: str) -> Driver:
    limits = _limits(args)
    timeout = SDK_DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    client = httpx2.Client(
        base_url=url, limits=limits, timeout=timeout, headers={"x-api-key": API_KEY}
    )

    def call(n: int) -> None:
        response = client.post(f"/users/c{n}/sdk-token", json=BODY)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        if "oauth_portal_url" not in response.json():  # parse it, as the SDK would
            raise RuntimeError("no oauth_portal_url")

    return Driver(call, client.close, f"httpx2.Client {_limits_text(limits)} timeout={timeout}")


def tapti_driver(args: argparse.Namespace, url: str) -> Driver:
    from tapti_ext import Tapti  # noqa: PLC0415

    options: dict[str, Any] = {"api_key": API_KEY, "base_url": url, "allow_insecure_http": True}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    pool = "the SDK's own pool"
    own: httpx2.Client | None = None
    if any(
        value is not _UNSET
        for value in (args.max_connections, args.max_keepalive, args.keepalive_expiry)
    ):
        limits = _limits(args)
        timeout = SDK_DEFAULT_TIMEOUT if args.timeout is None else args.timeout
        own = httpx2.Client(limits=limits, timeout=timeout)
        options["http_client"] = own
        pool = f"http_client=httpx2.Client({_limits_text(limits)})"
    tapti = Tapti(**options)

    def call(n: int) -> None:
        tapti.user(f"c{n}").create_sdk_token(**CALL)

    def close() -> None:
        tapti.close()
        if own is not None:
            own.close()

    return Driver(call, close, f"Tapti ({pool}, timeout={tapti.timeout!r})")


def serialized(driver: Driver) -> Driver:
    """Every call under one lock: the bluntest workaround (one request at a time)."""
    lock = threading.Lock()

    def call(n: int) -> None:
        with lock:
            driver.call(n)

    return Driver(call, driver.close, driver.description + ", serialized by a lock")


# --- the run ---------------------------------------------------------------------------------


@dataclasses.dataclass
class WorkerStats:
    calls: int = 0
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    slowest: float = 0.0
    stalls: int = 0


@dataclasses.dataclass
class BatchResult:
    index: int
    calls: int
    wall: float
    received: int
    duplicates: int
    missing: int
    connects: int
    handovers: int | None  # None: the probe is not available on this httpcore2
    accepted: int
    errors: dict[str, int]
    retries: dict[str, int]
    pool_errors: dict[str, int]
    slowest: float
    stalls: int

    def line(self) -> str:
        rate = self.calls / self.wall if self.wall else 0.0
        accepted = f", server accepted {self.accepted}" if self.accepted >= 0 else ""
        handovers = "not available" if self.handovers is None else self.handovers
        errors = ", ".join(f"{k} x{v}" for k, v in self.errors.items()) or "none"
        text = (
            f"batch {self.index:3d}: {self.calls} calls in {self.wall:6.2f} s ({rate:5.0f}/s) | "
            f"server got {self.received} (duplicates {self.duplicates}, missing {self.missing}) | "
            f"connects {self.connects}{accepted}, handed-over closes {handovers} | "
            f"slowest {self.slowest:.2f} s, stalls {self.stalls} | errors: {errors}"
        )
        if self.retries:
            text += " | retries: " + ", ".join(f"{k} x{v}" for k, v in self.retries.items())
        if self.pool_errors:
            text += " | in the pool: " + ", ".join(f"{k} x{v}" for k, v in self.pool_errors.items())
        return text


class Runner:
    """Persistent worker threads (like a web server's), released batch by batch by barriers."""

    def __init__(self, args: argparse.Namespace, driver: Driver) -> None:
        self.args = args
        self.driver = driver
        self.stats = [WorkerStats() for _ in range(args.threads)]
        self.start = threading.Barrier(args.threads + 1)
        self.end = threading.Barrier(args.threads + 1)
        self.stop = False
        self.deadline = 0.0
        self.counter: Iterator[int] = iter(())
        self.batch_end = 0
        self.threads = [
            threading.Thread(target=self._work, args=(i,), daemon=True, name=f"stress-{i}")
            for i in range(args.threads)
        ]

    def _work(self, index: int) -> None:
        while True:
            self.start.wait()
            if self.stop:
                return
            stats = self.stats[index]
            for n in self.counter:
                if n >= self.batch_end or time.monotonic() > self.deadline:
                    break
                self._one(n, stats)
            self.end.wait()

    def _one(self, n: int, stats: WorkerStats) -> None:
        began = time.perf_counter()
        try:
            self.driver.call(n)
        except Exception as exc:  # every failure is counted, by type
            stats.errors[describe(exc)] += 1
        elapsed = time.perf_counter() - began
        stats.calls += 1
        stats.slowest = max(stats.slowest, elapsed)
        if self.args.stall and elapsed > self.args.stall:
            stats.stalls += 1

    def run_batch(self, first: int, size: int, hard_cap: float) -> bool:
        """Run calls [first, first+size); False when a call was still hanging at the cap."""
        self.stats = [WorkerStats() for _ in range(self.args.threads)]
        self.counter = itertools.count(first)  # next() on a count is atomic in CPython
        self.batch_end = first + size
        self.start.wait()
        try:
            self.end.wait(timeout=max(1.0, hard_cap - time.monotonic()))
        except threading.BrokenBarrierError:
            return False
        return True


@dataclasses.dataclass
class Probes:
    connects: ConnectCounter
    retries: RetryLog
    handovers: HandoverProbe
    pool_errors: PoolErrors


def collect(
    index: int, first: int, wall: float, runner: Runner, server: Server, probes: Probes
) -> BatchResult:
    counts, accepted = server.take_counts()
    stats = runner.stats
    calls = sum(s.calls for s in stats)
    errors: Counter[str] = Counter()
    for s in stats:
        errors.update(s.errors)
    expected = {f"c{n}" for n in range(first, first + calls)}
    return BatchResult(
        index=index,
        calls=calls,
        wall=wall,
        received=sum(counts.values()),
        duplicates=sum(c - 1 for c in counts.values() if c > 1),
        missing=len(expected - counts.keys()),
        connects=probes.connects.take(),
        handovers=probes.handovers.take(),
        accepted=accepted,
        errors=dict(errors.most_common()),
        retries=dict(probes.retries.take().most_common()),
        pool_errors=dict(probes.pool_errors.take().most_common()),
        slowest=max((s.slowest for s in stats), default=0.0),
        stalls=sum(s.stalls for s in stats),
    )


def _count_or_none(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def _seconds_or_none(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", choices=("httpx2", "tapti"), default="tapti")
    parser.add_argument("--server", choices=("mock", "raw"), default="mock")
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200_000, help="calls in total (a cap)")
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="no call starts after this")
    parser.add_argument("--timeout", type=float, default=None, help="per call; default 30 s")
    parser.add_argument("--max-retries", type=int, default=None, help="tapti only")
    parser.add_argument("--max-connections", type=_count_or_none, default=_UNSET)
    parser.add_argument("--max-keepalive", type=_count_or_none, default=_UNSET)
    parser.add_argument("--keepalive-expiry", type=_seconds_or_none, default=_UNSET)
    parser.add_argument("--serialize", action="store_true", help="one call at a time (a lock)")
    parser.add_argument(
        "--stall", type=float, default=5.0, help="a call slower is a stall (0: off)"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval: smaller switches threads more often, widening races",
    )
    parser.add_argument("--server-idle-timeout", type=float, default=30.0, help="raw server only")
    parser.add_argument(
        "--server-delay", type=float, default=0.0, help="raw server only: seconds per answer"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.batch < 1 or args.calls < 1 or args.seconds <= 0:
        parser.error("--threads, --batch, --calls and --seconds must be positive")
    return args


def _call_budget(args: argparse.Namespace) -> float:
    """The longest one call may take: every attempt's timeout plus the SDK's waits (<= 8 s)."""
    timeout = SDK_DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    attempts = (
        1 if args.driver == "httpx2" else 1 + (2 if args.max_retries is None else args.max_retries)
    )
    return attempts * (timeout + 8.0) + 5.0


def run(args: argparse.Namespace) -> int:
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    server: Server = (
        MockServer()
        if args.server == "mock"
        else RawServer(args.server_idle_timeout, args.server_delay)
    )
    driver = (httpx_driver if args.driver == "httpx2" else tapti_driver)(args, server.url)
    # After the driver, so that every pool class the driver loads (proxy pools) is wrapped too.
    probes = Probes(ConnectCounter(), RetryLog(), HandoverProbe(), PoolErrors())
    sdk_log = logging.getLogger("tapti_ext")
    sdk_log.addHandler(probes.retries)
    sdk_log.setLevel(logging.INFO)
    sdk_log.propagate = False
    if args.serialize:
        driver = serialized(driver)
    print(f"{args.threads} threads, {driver.description}", flush=True)
    print(
        f"server: {args.server} at {server.url}; httpcore2 {httpcore2.__version__}, "
        f"httpx2 {httpx2.__version__}, Python {sys.version.split()[0]}",
        flush=True,
    )
    if not probes.handovers.available:
        print("handed-over closes: not available (httpcore2's pool state has changed)", flush=True)
    runner = Runner(args, driver)
    for thread in runner.threads:
        thread.start()
    began = time.monotonic()
    runner.deadline = began + args.seconds
    hard_cap = runner.deadline + _call_budget(args)
    results: list[BatchResult] = []
    hung = False
    first = 0
    while first < args.calls and time.monotonic() < runner.deadline:
        size = min(args.batch, args.calls - first)
        t0 = time.perf_counter()
        if not runner.run_batch(first, size, hard_cap):
            hung = True
            break
        result = collect(len(results) + 1, first, time.perf_counter() - t0, runner, server, probes)
        results.append(result)
        print(result.line(), flush=True)
        first += result.calls
    return finish(args, runner, driver, server, results, hung, time.monotonic() - began)


def finish(
    args: argparse.Namespace,
    runner: Runner,
    driver: Driver,
    server: Server,
    results: list[BatchResult],
    hung: bool,
    elapsed: float,
) -> int:
    summary = summarize(results, hung, elapsed)
    print(json.dumps(summary["totals"]), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": _jsonable(args), **summary}, indent=2) + "\n")
    failed = hung or any(
        summary["totals"][k] for k in ("duplicates", "errors", "pool_errors", "stalls", "missing")
    )
    print("FAIL" if failed else "OK", flush=True)
    if hung:
        # A thread is blocked in a read no close can wake (the defect itself): leave at once.
        os._exit(2)
    runner.stop = True
    runner.start.wait()
    for thread in runner.threads:
        thread.join()
    driver.close()
    server.stop()
    return 1 if failed else 0


def summarize(results: list[BatchResult], hung: bool, elapsed: float) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    pool_errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
        pool_errors.update(r.pool_errors)
    walls = sorted(r.wall for r in results)
    totals = {
        "batches": len(results),
        "calls": sum(r.calls for r in results),
        "received": sum(r.received for r in results),
        "duplicates": sum(r.duplicates for r in results),
        "missing": sum(r.missing for r in results),
        "errors": sum(errors.values()),
        "error_types": dict(errors.most_common()),
        "pool_errors": sum(pool_errors.values()),
        "pool_error_types": dict(pool_errors.most_common()),
        "stalls": sum(r.stalls for r in results),
        "connects": sum(r.connects for r in results),
        "handed_over_closes": None
        if any(r.handovers is None for r in results)
        else sum(r.handovers or 0 for r in results),
        "batch_wall_median": walls[len(walls) // 2] if walls else None,
        "batch_wall_max": walls[-1] if walls else None,
        "slowest_call": max((r.slowest for r in results), default=None),
        "hung_at_cap": hung,
        "elapsed": round(elapsed, 2),
    }
    return {"totals": totals, "batches": [dataclasses.asdict(r) for r in results]}


def _jsonable(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: ("default" if v is _UNSET else str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
    }


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
