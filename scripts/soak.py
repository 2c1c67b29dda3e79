"""Soak runs: many calls through one client, each token checked against the user it was issued for.

Issue 19's bars: after the wire-safety changes, long runs still give 0 wrong-user tokens, 0
duplicate requests and flat descriptors, also when the server drops connections at random.
docs/faults.md ("Load and soak") has the figures.

Each row starts its own raw-socket keep-alive server on 127.0.0.1 (``SoakServer``, a thread per
connection) and one client, and makes its calls, each for its own user id, from ``workers``
threads (or asyncio tasks) sharing that client. The server issues tokens that name the user and
a serial number and remembers whom it issued each one for, so a call that gets another call's
answer (a desynchronised connection) shows. With a close rate, the server closes a random share
of its answers' connections: half right after answering, without ``Connection: close`` (the
client finds out on its next use of the connection), half after reading a request and before
answering it (the server issued nothing, so the SDK's retry is safe).

Columns: ``errors`` (by type); ``wrong user``: tokens the server did not issue for the call's
user, or returned to two calls; ``duplicates``: users the server answered more than once (a
second token for one call); ``unanswered``: requests the server read and dropped (the SDK sends
them again, by design); ``closed after answering``: answers after which the server closed the
connection; ``retries``: from the SDK's INFO log; ``connects``: connections the server accepted;
``fds``: entries of ``/proc/self/fd`` before the row's server starts, the most seen during the
row, and after the client is closed and the server stopped (the server runs in this process, so
its sockets count).

Exit 1 unless every row has 0 wrong-user tokens, 0 duplicates, as many descriptors after as
before, and no error on a call the server answered (without closes: no error at all). Loopback
only; every row is bounded by ``--max-seconds``. A soak run, not a test; it judges no speed.

    python scripts/soak.py                      # the five rows, a few minutes on 2 cores
    python scripts/soak.py --rows sequential threads
    python scripts/soak.py --scale 0.05         # a quick look: 5% of the calls
    python scripts/soak.py --tls                # the same rows over https
    python scripts/soak.py --scale 0.1 --padding 921600   # answers of random sizes up to 900 KiB

With ``--tls`` the server speaks TLS (a throwaway CA made with the ``openssl`` command, which the
client trusts through ``SSL_CERT_FILE``), so that the SDK's own TLS layer (``tapti_ext._tls``)
meets the same load and the same dropped connections; a connection closed after an answer is
closed without a close_notify, as a server that crashed or timed the connection out would.

With ``--padding N`` each answer's body is padded to a random length of up to ``N`` more bytes
(drawn from the seeded generator), so that answers fill reads and end anywhere in them: the SDK
reads an answer that fills a read in larger reads sized by its ``Content-Length``
(``tapti_ext._network._LARGE_READ``).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import dataclasses
import gc
import itertools
import json
import logging
import os
import random
import re
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tapti_ext import AsyncTapti, Tapti

API_KEY = "sk_soak"
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/api/oauth/callback",
    "redirect_url": "https://app.example/dashboard",
}
_PATH = re.compile(rb"^POST /users/([^/?]+)/sdk-token ")


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    kind: str  # "sync": threads sharing a Tapti; "async": tasks sharing an AsyncTapti
    workers: int
    calls: int
    close_rate: float


ROWS = {
    row.name: row
    for row in (
        Row("sequential", "sync", 1, 50_000, 0.0),
        Row("threads", "sync", 20, 20_000, 0.0),
        Row("closes-sequential", "sync", 1, 10_000, 0.05),
        Row("closes-threads", "sync", 20, 20_000, 0.05),
        Row("closes-async", "async", 20, 20_000, 0.05),
    )
}


# --- the server --------------------------------------------------------------------------------


class SoakServer:
    """Answers ``POST /users/{id}/sdk-token`` with a token naming ``id``; drops connections at
    ``close_rate`` (half before answering, half after). Everything it did is counted."""

    def __init__(
        self, close_rate: float, seed: int, tls: ssl.SSLContext | None = None, padding: int = 0
    ) -> None:
        self._close_rate = close_rate
        self._padding = padding
        self._tls = tls
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        self.issued: dict[str, str] = {}  # token -> the user it was issued for
        self.answered: Counter[str] = Counter()  # user -> tokens issued
        self.read: Counter[str] = Counter()  # user -> requests read, answered or not
        self.received = self.unanswered = self.closed_after = self.accepted = 0
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.settimeout(0.1)  # so that the accept loop sees stop()
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._running = True
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while self._running:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(30.0)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.accepted += 1
                self._open.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            if self._tls is not None:  # the handshake here, off the accept loop
                plain, conn = conn, self._tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._open.discard(plain)
                    self._open.add(conn)
            while True:
                request, buffer = _read_request(conn, buffer)
                if request is None:
                    return
                match = _PATH.match(request)
                user = match.group(1).decode("ascii") if match else "?"
                fate = self._fate(user)
                if fate == "before":
                    return  # read, never answered: nothing issued
                conn.sendall(self._answer(user))
                if fate == "after":
                    return
        except OSError:  # ssl.SSLError too: the client left, or stop()
            return
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def _fate(self, user: str) -> str:
        with self._lock:
            self.received += 1
            self.read[user] += 1
            draw = self._rng.random()
            if draw < self._close_rate / 2:
                self.unanswered += 1
                return "before"
            if draw < self._close_rate:
                self.closed_after += 1
                return "after"
            return "keep"

    def _answer(self, user: str) -> bytes:
        with self._lock:
            token = f"tok-{user}-{next(self._serial)}"
            self.issued[token] = user
            self.answered[user] += 1
            padding = self._rng.randint(0, self._padding) if self._padding else 0
        answer = {"oauth_portal_url": f"https://oauth.tapti.dev/?sdk_token={token}"}
        if padding:
            answer["padding"] = "w" * padding
        body = json.dumps(answer).encode()
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )

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


def _read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    """(the head of the next whole request, what follows it); ``None`` when the client left."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    return head, buffer[length:]


def server_tls() -> ssl.SSLContext:
    """The server's TLS context, its certificate signed by a throwaway CA that this process's
    clients trust (``SSL_CERT_FILE``, read when each client is made)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench.tls import self_signed  # noqa: PLC0415  (only with --tls)

    folder = Path(tempfile.mkdtemp(prefix="tapti-soak-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    made = self_signed(folder)
    os.environ["SSL_CERT_FILE"] = str(made.ca)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(made.cert, made.key)
    for key in folder.glob("*key.pem"):  # loaded: no private key stays on disk meanwhile
        key.unlink()
    return context


# --- the clients -------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    user: str
    token: str | None
    error: str | None
    seconds: float


def _user(row: Row, n: int) -> str:
    return f"{row.name}-{n}"


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__
    return type(exc).__name__ + (f" <- {type(cause).__name__}" if cause else "")


def run_sync(row: Row, url: str, deadline: float) -> list[Outcome]:
    """``row.workers`` threads share one ``Tapti`` and take call numbers from one counter."""
    numbers = itertools.count()  # next() on a count is atomic in CPython
    found: list[list[Outcome]] = [[] for _ in range(row.workers)]
    with Tapti(api_key=API_KEY, base_url=url) as tapti:

        def work(mine: list[Outcome]) -> None:
            for n in numbers:
                if n >= row.calls or time.monotonic() > deadline:
                    return
                began, user = time.perf_counter(), _user(row, n)
                try:
                    token: str | None = tapti.user(user).create_sdk_token(**CALL).sdk_token
                    error = None
                except Exception as exc:  # every failure is counted, by type
                    token, error = None, _describe(exc)
                mine.append(Outcome(user, token, error, time.perf_counter() - began))

        threads = [threading.Thread(target=work, args=(mine,)) for mine in found]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [outcome for mine in found for outcome in mine]


def run_async(row: Row, url: str, deadline: float) -> list[Outcome]:
    """``row.workers`` tasks share one ``AsyncTapti`` in one event loop."""
    outcomes: list[Outcome] = []

    async def main() -> None:
        numbers = iter(range(row.calls))
        async with AsyncTapti(api_key=API_KEY, base_url=url) as tapti:

            async def work() -> None:
                for n in numbers:
                    if time.monotonic() > deadline:
                        return
                    began, user = time.perf_counter(), _user(row, n)
                    try:
                        sdk = await tapti.user(user).create_sdk_token(**CALL)
                        token, error = sdk.sdk_token, None
                    except Exception as exc:
                        token, error = None, _describe(exc)
                    outcomes.append(Outcome(user, token, error, time.perf_counter() - began))

            await asyncio.gather(*(work() for _ in range(row.workers)))

    asyncio.run(main())
    return outcomes


# --- measuring and judging ---------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class FdWatch:
    """The most descriptors seen, sampled every 50 ms from a thread of its own."""

    def __init__(self) -> None:
        self.peak = open_fds()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, open_fds())

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


class RetryLog(logging.Handler):
    """Counts the SDK's retries, from its INFO log line ("retrying ... after <reason>")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("retrying"):
            self.count += 1


def judge(row: Row, server: SoakServer, outcomes: list[Outcome]) -> dict[str, Any]:
    returned = Counter(o.token for o in outcomes if o.token is not None)
    wrong = sum(
        1
        for o in outcomes
        if o.token is not None and (server.issued.get(o.token) != o.user or returned[o.token] > 1)
    )
    errors = Counter(o.error for o in outcomes if o.error is not None)
    return {
        "row": row.name,
        "client": f"{'AsyncTapti' if row.kind == 'async' else 'Tapti'} x{row.workers}",
        "close_rate": row.close_rate,
        "calls": len(outcomes),
        "tokens": len(returned),
        "errors": sum(errors.values()),
        "error_types": dict(errors.most_common()),
        "errors_after_an_answer": sum(
            1 for o in outcomes if o.error is not None and server.answered[o.user]
        ),
        # Each failed call: its error, its requests the server read and answered, how long.
        "failed_calls": [
            (o.user, o.error, server.read[o.user], server.answered[o.user], round(o.seconds, 2))
            for o in outcomes
            if o.error is not None
        ][:20],
        "wrong_user": wrong,
        "duplicates": sum(c - 1 for c in server.answered.values() if c > 1),
        "received": server.received,
        "unanswered": server.unanswered,
        "closed_after": server.closed_after,
        "connects": server.accepted,
        "slowest": max((o.seconds for o in outcomes), default=0.0),
    }


def run_row(
    row: Row, seed: int, max_seconds: float, tls: ssl.SSLContext | None = None, padding: int = 0
) -> dict[str, Any]:
    gc.collect()
    before = open_fds()
    watch = FdWatch()
    retries = RetryLog()
    logging.getLogger("tapti_ext").addHandler(retries)
    server = SoakServer(row.close_rate, seed, tls, padding)
    began = time.monotonic()
    try:
        run: Callable[[Row, str, float], list[Outcome]] = (
            run_async if row.kind == "async" else run_sync
        )
        outcomes = run(row, server.url, began + max_seconds)
    finally:
        wall = time.monotonic() - began
        server.stop()
        logging.getLogger("tapti_ext").removeHandler(retries)
    peak = watch.stop()
    gc.collect()
    result = judge(row, server, outcomes)
    result.update(
        retries=retries.count,
        wall=round(wall, 1),
        fds=(before, peak, open_fds()),
        cut_at_cap=len(outcomes) < row.calls,
    )
    return result


def failures(result: dict[str, Any]) -> list[str]:
    before, _, after = result["fds"]
    checks = {
        "wrong-user tokens": result["wrong_user"],
        "duplicates": result["duplicates"],
        "descriptors not back": after - before,
        "errors after an answer": result["errors_after_an_answer"],
        "errors without closes": 0 if result["close_rate"] else result["errors"],
        "calls cut at the cap": int(result["cut_at_cap"]),
    }
    return [f"{name} {value}" for name, value in checks.items() if value]


_HEADER = (
    "| Row | Client | Closes | Calls | Errors | Wrong user | Duplicates | Received "
    "| Unanswered | Closed after answering | Retries | Connects | fds before / peak / after "
    "| Slowest call | Wall |"
)


def table_line(r: dict[str, Any]) -> str:
    errors = str(r["errors"]) + (
        " (" + ", ".join(f"{k} x{v}" for k, v in r["error_types"].items()) + ")"
        if r["errors"]
        else ""
    )
    closes = f"{r['close_rate']:.0%}" if r["close_rate"] else "none"
    fds = " / ".join(str(n) for n in r["fds"])
    return (
        f"| {r['row']} | {r['client']} | {closes} | {r['calls']:,} | {errors} | {r['wrong_user']} "
        f"| {r['duplicates']} | {r['received']:,} | {r['unanswered']} | {r['closed_after']} "
        f"| {r['retries']} "
        f"| {r['connects']:,} | {fds} | {r['slowest']:.2f} s | {r['wall']:.0f} s |"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every row's calls")
    parser.add_argument("--close-rate", type=float, default=None, help="override the closes rows'")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="per row")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--tls", action="store_true", help="over https (needs openssl)")
    parser.add_argument(
        "--padding", type=int, default=0, help="pad each answer by a random 0..N bytes"
    )
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10 or args.max_seconds <= 0:
        parser.error("--scale must be in (0, 10] and --max-seconds positive")
    if not 0 <= args.padding <= 1 << 20:
        parser.error("--padding must be in [0, 1048576] (the SDK's cap)")
    if args.close_rate is not None and not 0 <= args.close_rate <= 1:
        parser.error("--close-rate must be in [0, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.path.isdir("/proc/self/fd"):
        print("counting descriptors needs /proc/self/fd (Linux)", file=sys.stderr)
        return 2
    tls = server_tls() if args.tls else None
    logging.getLogger("tapti_ext").setLevel(logging.INFO)
    logging.getLogger("tapti_ext").propagate = False
    print(_HEADER + "\n|" + "---|" * _HEADER.count(" | ") + "---|", flush=True)
    results, failed = [], False
    for name in args.rows:
        row = ROWS[name]
        close_rate = (
            row.close_rate if args.close_rate is None or not row.close_rate else args.close_rate
        )
        row = dataclasses.replace(
            row, calls=max(1, round(row.calls * args.scale)), close_rate=close_rate
        )
        result = run_row(row, args.seed, args.max_seconds, tls, args.padding)
        results.append(result)
        print(table_line(result), flush=True)
        for user, error, read, answered, seconds in result["failed_calls"]:
            print(f"  failed {user}: {error}; server read {read}, answered {answered}; {seconds} s")
        for problem in failures(result):
            failed = True
            print(f"  FAIL {row.name}: {problem}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    print("FAIL" if failed else "OK", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
