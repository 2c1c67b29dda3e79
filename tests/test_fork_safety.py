"""After ``os.fork()`` each process gets its own user's token, over its own connections.

A client that made one call before the fork (gunicorn ``--preload``, Celery prefork, a fork
``multiprocessing.Pool``) holds a keep-alive socket that exists in both processes. The server
here answers ``tok-for-<user id>`` after 20 ms, so a parent and a child calling at once overlap
on the wire; it runs in its own process (no thread of ours exists at a fork) and records which
client port each user's request came from, so the tests also see *which connection* carried it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest, Platform, Scope

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    AsyncTapti,
    Tapti,
    TaptiError,
)
from tapti_ext.testing import MockTaptiServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

API_KEY = "sk_test_fork_key"
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
TIMEOUT = 5.0  # a process reading another's answer would otherwise wait 30 s
CHILD_WAIT = 15.0
FORK_TRIALS = 50
MAX_FAILURES = 3  # enough to show a defect; the remaining trials would only cost time

_SERVER = r"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

DELAY = float(sys.argv[1])
log, lock = [], threading.Lock()

connections = iter(range(1, 1 << 62))  # one number per accepted connection

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API

    def setup(self):
        # Not the client's port: the kernel hands a closed connection's port to a new one
        # (a child's, once it exited), which would read as two processes sharing one.
        super().setup()
        with lock:
            self.serial = next(connections)

    def _send(self, body):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        parts = self.path.split("/")
        user = unquote(parts[2]) if len(parts) == 4 and parts[1] == "users" else ""
        with lock:
            log.append({"user": user, "connection": self.serial})
        time.sleep(DELAY)
        url = "https://portal.example/?sdk_token=tok-for-" + user
        self._send(json.dumps({"oauth_portal_url": url}).encode())

    def do_GET(self):
        with lock:
            self._send(json.dumps(log).encode())

    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()  # serve until the test closes our stdin
"""


@dataclass(frozen=True)
class TokenServer:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> list[dict[str, Any]]:
        """Every request so far: ``{"user": ..., "connection": <its number>}``, oldest first."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/log")
            entries: list[dict[str, Any]] = json.loads(connection.getresponse().read())
            return entries
        finally:
            connection.close()

    def connections_of(self, predicate: Callable[[str], bool]) -> set[int]:
        return {entry["connection"] for entry in self.log() if predicate(entry["user"])}


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, "0.02"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        yield TokenServer(int(process.stdout.readline()))
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()


# --- what a process holds --------------------------------------------------------------------


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def sockets_to(port: int) -> set[int]:
    """Inodes of this process's open TCP sockets whose peer is ``port`` (the client side)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, closed since
            continue
        if target.startswith("socket:["):
            mine.add(int(target[len("socket:[") : -1]))
    found = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    peer_port = int(fields[2].rsplit(":", 1)[1], 16)
                    inode = int(fields[9])
                    if inode in mine and peer_port == port:
                        found.add(inode)
        except FileNotFoundError:  # no IPv6 on this machine
            continue
    return found


def token_of(result: Any) -> str:
    return str(result.sdk_token)


# --- running a child -------------------------------------------------------------------------


def fork_child(body: Callable[[], dict[str, Any]]) -> tuple[int, int]:
    """Fork; the child runs ``body``, writes its JSON report to a pipe and ``os._exit``s."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads; none of ours are running,
        # but an interpreter may keep a helper thread. The test is about fork: it must fork.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(read_end)
            try:
                report = body()
            except BaseException as exc:
                report = {"error": f"{type(exc).__name__}: {exc}", "error_type": _kinds(exc)}
            os.write(write_end, json.dumps(report).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def _kinds(exc: BaseException) -> list[str]:
    return [cls.__name__ for cls in type(exc).__mro__]


def wait_child(pid: int, read_end: int) -> dict[str, Any]:
    """The child's report, or why there is none; the child is always reaped."""
    data = b""
    deadline = time.monotonic() + CHILD_WAIT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        if not data:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if not data:
        return {"error": f"no report from the child within {CHILD_WAIT} s (status {status})"}
    report: dict[str, Any] = json.loads(data)
    return report


# --- (a) parent and child call at once, 50 times ---------------------------------------------


def test_parent_and_child_calling_at_once_each_get_their_own_token(server: TokenServer) -> None:
    failures: list[str] = []
    with Tapti(api_key=API_KEY, base_url=server.url, timeout=TIMEOUT, max_retries=0) as tapti:
        assert token_of(tapti.user("warm").create_sdk_token(**CALL)) == "tok-for-warm"
        fds_before = fd_count()
        for trial in range(FORK_TRIALS):
            failures += _one_trial(tapti, server, trial)
            if len(failures) >= MAX_FAILURES:
                break
        # The parent's own pool kept working through every child, with no descriptor leaked.
        assert token_of(tapti.user("last").create_sdk_token(**CALL)) == "tok-for-last"
        fds_after = fd_count()
    assert not failures, "\n".join(failures)
    assert fds_after == fds_before, f"the parent holds {fds_after - fds_before} more fds"
    children = server.connections_of(lambda user: user.startswith("child"))
    parents = server.connections_of(lambda user: not user.startswith("child"))
    assert not children & parents, "a child sent on a connection its parent opened"


def _one_trial(tapti: Tapti, server: TokenServer, trial: int) -> list[str]:
    before = f"before{trial}"
    assert token_of(tapti.user(before).create_sdk_token(**CALL)) == f"tok-for-{before}"
    inherited = sockets_to(server.port)
    if not inherited:
        return [f"trial {trial}: no keep-alive connection open before the fork"]

    def child() -> dict[str, Any]:
        fds_at_fork = fd_count()
        first = token_of(tapti.user(f"child{trial}").create_sdk_token(**CALL))
        left = len(inherited & sockets_to(server.port))
        fds_first = fd_count()
        second = token_of(tapti.user(f"child{trial}b").create_sdk_token(**CALL))
        return {"tokens": [first, second], "inherited_left": left, "fds_at_fork": fds_at_fork,
                "fds": [fds_first, fd_count()]}  # fmt: skip

    pid, pipe = fork_child(child)
    problems = []
    try:
        mine = token_of(tapti.user(f"parent{trial}").create_sdk_token(**CALL))
    except TaptiError as exc:
        mine = f"{type(exc).__name__}: {exc}"
    report = wait_child(pid, pipe)
    if mine != f"tok-for-parent{trial}":
        problems.append(f"trial {trial}: the parent got {mine!r}")
    if report.get("tokens") != [f"tok-for-child{trial}", f"tok-for-child{trial}b"]:
        problems.append(f"trial {trial}: the child got {report}")
    elif report["inherited_left"]:
        problems.append(f"trial {trial}: the child still holds the parent's socket: {report}")
    elif report["fds"][1] != report["fds"][0]:
        problems.append(f"trial {trial}: the child's fds grew between calls: {report}")
    after = f"after{trial}"
    try:
        again = token_of(tapti.user(after).create_sdk_token(**CALL))
    except TaptiError as exc:
        again = f"{type(exc).__name__}: {exc}"
    if again != f"tok-for-{after}":
        problems.append(f"trial {trial}: after the child ran, the parent got {again!r}")
    return problems


# --- (b) a fork multiprocessing.Pool ------------------------------------------------------------

_POOL_CLIENT: Tapti | None = None


def _pool_call(user_id: str) -> tuple[str, str | None, str | None]:
    """Runs in a pool worker, on the client the parent made (and used) before forking."""
    assert _POOL_CLIENT is not None
    try:
        token = _POOL_CLIENT.user(user_id).create_sdk_token(**CALL)
    except Exception as exc:  # reported, not raised: exceptions may not pickle back
        return user_id, None, f"{type(exc).__name__}: {exc}"
    return user_id, token.sdk_token, None


def test_fork_pool_workers_get_their_own_users_tokens(server: TokenServer) -> None:
    global _POOL_CLIENT  # noqa: PLW0603  (how a preloaded app hands its client to workers)
    users = [f"pool{i}" for i in range(200)]
    with Tapti(api_key=API_KEY, base_url=server.url, timeout=TIMEOUT, max_retries=0) as tapti:
        assert token_of(tapti.user("pool-warm").create_sdk_token(**CALL)) == "tok-for-pool-warm"
        _POOL_CLIENT = tapti
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # as in fork_child
                pool = multiprocessing.get_context("fork").Pool(4)
            try:
                results = pool.map(_pool_call, users, chunksize=1)
            finally:
                pool.close()
                pool.join()
        finally:
            _POOL_CLIENT = None
        assert token_of(tapti.user("pool-after").create_sdk_token(**CALL)) == "tok-for-pool-after"
    wrong = [r for r in results if r[1] != f"tok-for-{r[0]}"]
    assert not wrong, f"{len(wrong)} of {len(users)} calls got another answer: {wrong[:5]}"


# --- (c) AsyncTapti: parent loop, then a new loop in the child ---------------------------------


def test_async_client_in_a_forked_child_with_a_new_loop(server: TokenServer) -> None:
    loop = asyncio.new_event_loop()  # kept open across the fork: the parent goes on with it
    tapti = AsyncTapti(api_key=API_KEY, base_url=server.url, timeout=TIMEOUT, max_retries=0)

    async def get(user_id: str) -> str:
        return token_of(await tapti.user(user_id).create_sdk_token(**CALL))

    failures = []
    try:
        assert loop.run_until_complete(get("async-warm")) == "tok-for-async-warm"
        for trial in range(10):
            inherited = sockets_to(server.port)

            def child(trial: int = trial, inherited: set[int] = inherited) -> dict[str, Any]:
                token = asyncio.run(get(f"child-async{trial}"))
                return {"token": token, "inherited_left": len(inherited & sockets_to(server.port))}

            pid, pipe = fork_child(child)
            mine = loop.run_until_complete(get(f"parent-async{trial}"))
            report = wait_child(pid, pipe)
            if mine != f"tok-for-parent-async{trial}":
                failures.append(f"trial {trial}: the parent got {mine!r}")
            if report.get("token") != f"tok-for-child-async{trial}" or report["inherited_left"]:
                failures.append(f"trial {trial}: the child reported {report}")
    finally:
        loop.run_until_complete(tapti.close())
        loop.close()
    assert not failures, "\n".join(failures)
    children = server.connections_of(lambda user: user.startswith("child-async"))
    parents = server.connections_of(lambda user: "async" in user and not user.startswith("child"))
    assert not children & parents, "a child sent on a connection its parent opened"


def test_an_async_client_that_waited_to_retry_retries_in_a_forked_child() -> None:
    """Its wait's event belonged to the parent's loop: the child's first retry raised asyncio's
    raw ``RuntimeError`` (bound to a different event loop), one request sent (probe 40)."""
    with MockTaptiServer(api_key=API_KEY) as mock:
        tapti = AsyncTapti(api_key=API_KEY, base_url=mock.url, timeout=TIMEOUT)

        async def get(user_id: str) -> str:
            return token_of(await tapti.user(user_id).create_sdk_token(**CALL))

        mock.fail_next(1, retry_after=0)
        asyncio.run(get("parent"))  # a 503, a wait, a retry: the event is made
        mock.fail_next(1, retry_after=0)
        report = wait_child(*fork_child(lambda: {"token": asyncio.run(get("child"))}))
        asyncio.run(tapti.close())
    assert report.get("token") == mock.issued_tokens[-1], report
    assert [r.user_id for r in mock.requests] == ["parent", "parent", "child", "child"]


def test_a_forked_childs_first_async_pool_is_its_own(server: TokenServer) -> None:
    """A client the parent never used: the child's first pool was made under the parent's
    generation, so the next call took it for the parent's and set it aside, open for the life
    of the process, and a second event loop was let in (probe 40)."""
    tapti = AsyncTapti(api_key=API_KEY, base_url=server.url, timeout=TIMEOUT, max_retries=0)

    async def get(user_id: str) -> str:
        return token_of(await tapti.user(user_id).create_sdk_token(**CALL))

    def child() -> dict[str, Any]:
        report = {"first": asyncio.run(get("fresh-a"))}
        try:
            report["second"] = asyncio.run(get("fresh-b"))
        except TaptiError as exc:
            report["second"] = str(exc)
        asyncio.run(tapti.close())  # the first loop has ended: its sockets are released here
        return {**report, "open": len(sockets_to(server.port))}

    report = wait_child(*fork_child(child))
    assert report.get("first") == "tok-for-fresh-a", report
    assert "first used in another event loop" in report["second"], report
    assert report["open"] == 0, report


# --- (d) the generated client, tapti.raw, and its copies ----------------------------------------


def _raw_token(client: Any, user_id: str) -> str:
    body = CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url="https://app.example/cb",
        redirect_url="https://app.example/done",
    )
    try:
        response = create_sdk_token.sync_detailed(user_id, client=client, body=body)
    except Exception as exc:  # the generated functions raise httpx2's errors as they are
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200 or response.parsed is None:
        return f"status {response.status_code}"
    url = getattr(response.parsed, "oauth_portal_url", "")
    return str(url).rsplit("sdk_token=", 1)[-1]


def test_raw_client_and_its_copies_after_fork(server: TokenServer) -> None:
    failures = []
    with Tapti(api_key=API_KEY, base_url=server.url, timeout=TIMEOUT, max_retries=0) as tapti:
        raw = tapti.raw
        copy = raw.with_headers({"x-trace": "fork-test"})
        clients = {"raw": raw, "copy": copy}
        for trial in range(8):
            for name, client in clients.items():
                assert _raw_token(client, f"{name}-warm{trial}") == f"tok-for-{name}-warm{trial}"

            def child(trial: int = trial) -> dict[str, Any]:
                return {n: _raw_token(c, f"child-{n}{trial}") for n, c in clients.items()}

            pid, pipe = fork_child(child)
            mine = {n: _raw_token(c, f"parent-{n}{trial}") for n, c in clients.items()}
            report = wait_child(pid, pipe)
            for name in clients:
                if mine[name] != f"tok-for-parent-{name}{trial}":
                    failures.append(f"trial {trial}: parent {name} got {mine[name]!r}")
                if report.get(name) != f"tok-for-child-{name}{trial}":
                    failures.append(f"trial {trial}: child {name} reported {report}")
        with copy:  # a copy owns its pool: closing it is the caller's job
            pass
    assert not failures, "\n".join(failures)
    children = server.connections_of(lambda user: user.startswith("child-"))
    parents = server.connections_of(lambda user: "warm" in user or user.startswith("parent-"))
    assert not children & parents, "a child sent on a connection its parent opened"


# --- (e) a caller's http_client cannot be made safe: it is refused ------------------------------


def test_callers_http_client_used_after_fork_is_refused_before_sending(
    server: TokenServer,
) -> None:
    with httpx2.Client(timeout=TIMEOUT) as http:
        tapti = Tapti(api_key=API_KEY, base_url=server.url, http_client=http, max_retries=0)
        assert token_of(tapti.user("own-warm").create_sdk_token(**CALL)) == "tok-for-own-warm"

        def child() -> dict[str, Any]:
            token = token_of(tapti.user("own-child").create_sdk_token(**CALL))
            return {"token": token}

        pid, pipe = fork_child(child)
        report = wait_child(pid, pipe)
        # The parent's client is the parent's: it still works there.
        assert token_of(tapti.user("own-after").create_sdk_token(**CALL)) == "tok-for-own-after"
        tapti.close()
    assert "token" not in report, f"the child sent on the parent's client: {report}"
    kinds = report.get("error_type", [])
    assert "TaptiError" in kinds, report
    sent_errors = (APIConnectionError, APIStatusError, APIResponseValidationError)
    assert not {cls.__name__ for cls in sent_errors} & set(kinds), (
        f"the error must come before sending, not from a send: {report}"
    )
    assert "fork" in report["error"].lower(), f"the message should say why: {report}"
    users = [entry["user"] for entry in server.log()]
    assert "own-child" not in users, "the child's request reached the server"


def test_a_tapti_made_in_the_child_on_the_parents_http_client_is_refused(
    server: TokenServer,
) -> None:
    # The guard followed the Tapti object: a child making its own Tapti on the parent's
    # httpx2 client (which holds the parent's kept-alive connection) sent on that connection.
    with httpx2.Client(timeout=TIMEOUT) as http:
        tapti = Tapti(api_key=API_KEY, base_url=server.url, http_client=http, max_retries=0)
        assert token_of(tapti.user("own-warm2").create_sdk_token(**CALL)) == "tok-for-own-warm2"

        def child() -> dict[str, Any]:
            made_here = Tapti(api_key=API_KEY, base_url=server.url, http_client=http)
            return {"token": token_of(made_here.user("own-child2").create_sdk_token(**CALL))}

        pid, pipe = fork_child(child)
        report = wait_child(pid, pipe)
        tapti.close()
    assert "token" not in report, f"the child sent on the parent's client: {report}"
    assert "TaptiError" in report.get("error_type", []), report
    assert "after forking" in report["error"], report
    assert "or the Tapti client" not in report["error"], report  # that advice was wrong
    assert "own-child2" not in [entry["user"] for entry in server.log()]
