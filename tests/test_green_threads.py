"""Green threads: one sync client shared by a gevent worker's greenlets, and eventlet's sockets.

gunicorn's ``--preload`` imports the app, and with it the SDK, before its gevent worker patches
``threading``. The SDK took every greenlet for the main thread then, as it asked which thread a
call runs in at its import: they shared the main thread's own pool, which it retires after an
exception it did not raise (probe 21). Each child here runs greenlets against the project's
mock, one of them cut short by a ``gevent.Timeout``, and says what each call got; the mock
counts the requests per user.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tapti_ext import _network
from tapti_ext.testing import MockTaptiServer

VICTIMS = 8
CHILD = textwrap.dedent(
    """
    import json, sys
    if sys.argv[2] == "after":
        from tapti_ext import Tapti
    from gevent import monkey
    monkey.patch_all()
    import gevent
    from tapti_ext import Tapti, TaptiError

    CALL = dict(platforms="youtube", scopes="profile_read",
                callback_url="https://app.example/cb", redirect_url="https://app.example/done")
    tapti = Tapti(api_key="test-key", base_url=sys.argv[1], timeout=10)

    def victim(index):
        try:
            return tapti.user(f"victim{index}").create_sdk_token(**CALL).oauth_portal_url[:8]
        except TaptiError as exc:
            return f"{type(exc).__name__}: {exc}"

    def interrupted():
        try:
            with gevent.Timeout(0.3):
                tapti.user("interrupted").create_sdk_token(**CALL)
        except gevent.Timeout:
            return "the Timeout passed through"
        except BaseException as exc:
            return f"{type(exc).__name__}: {exc}"
        return "no Timeout"

    victims = [gevent.spawn(victim, index) for index in range(int(sys.argv[3]))]
    gevent.sleep(0.1)  # every victim's request is sent and waits for its answer
    cut = gevent.spawn(interrupted)
    gevent.joinall([*victims, cut], timeout=20)
    tapti.close()
    print(json.dumps({"victims": [job.value for job in victims], "interrupted": cut.value}))
    """
)


@pytest.fixture
def server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer() as mock:
        yield mock


@pytest.mark.parametrize("patched", ["after", "before"], ids=["patched-after-import", "first"])
def test_a_greenlets_timeout_leaves_the_others_calls_alone(
    server: MockTaptiServer, tmp_path: Path, patched: str
) -> None:
    """Closing the shared pool under the other greenlets sent each of their requests again
    (two tokens per call) or lost the answer arriving; each greenlet is a thread of its own
    now, none the main thread, whenever gevent patched."""
    server.delay_next(0.8, count=VICTIMS + 1)  # every answer, the interrupted call's too
    script = tmp_path / "green.py"
    script.write_text(CHILD, encoding="utf-8")
    argv = [sys.executable, str(script), server.url, patched, str(VICTIMS)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["interrupted"] == "the Timeout passed through"
    assert said["victims"] == ["https://"] * VICTIMS, said["victims"]
    sent = Counter(request.path.split("/")[2] for request in server.requests)
    assert sent == {"interrupted": 1, **{f"victim{index}": 1 for index in range(VICTIMS)}}


class GreenSocketShape:
    """eventlet's green socket as ``close()`` meets it: its class has no ``shutdown``, its
    instances hand every call to the socket they wrap (``fd``)."""

    def __init__(self, wrapped: socket.socket) -> None:
        self.fd = wrapped

    def __getattr__(self, name: str) -> object:
        return getattr(self.fd, name)


class _Inner:
    """httpcore2's sync stream as the SDK's ``_Stream`` wraps it, over a green socket."""

    def __init__(self, sock: GreenSocketShape) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self.sock.recv(max_bytes)
        return data

    def close(self) -> None:
        self.sock.close()


def test_a_green_socket_in_use_is_shut_down_by_close() -> None:
    """``close()`` with a call in flight shuts its connection down to wake the call: through
    the socket class, that raised ``AttributeError`` out of ``close()`` under eventlet, left the
    call to wait out its timeout and the pool's other sockets open (probe 21)."""
    ours, peer = socket.socketpair()
    with ours, peer:
        stream = _network._Stream(_Inner(GreenSocketShape(ours)), ())
        read: list[bytes] = []
        reader = threading.Thread(target=lambda: read.append(stream.read(100)), daemon=True)
        reader.start()
        time.sleep(0.2)  # the read waits: the peer sends nothing
        stream.close()
        reader.join(5)
        assert read == [b""]  # woken by the shutdown, not by a timeout
        assert ours.fileno() == -1  # and closed as the read left it


SOCKET_ONLY = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_socket()  # threading unpatched: every greenlet runs in the main thread
    import gevent
    from gevent.server import StreamServer
    from tapti_ext import InternalServerError, Tapti

    def answer(sock, address):
        while sock.recv(65536):
            gevent.sleep(0.1)
            sock.sendall(b"HTTP/1.1 500 Oops\\r\\nContent-Type: application/json\\r\\n"
                         b"Content-Length: 2\\r\\n\\r\\n{}")

    server = StreamServer(("127.0.0.1", 0), answer)
    server.start()
    url = f"http://127.0.0.1:{server.server_port}"
    with Tapti(api_key="k", base_url=url, allow_insecure_http=True, timeout=3, max_retries=0) as t:
        try:
            t.user("u").create_sdk_token(platforms="youtube", scopes="profile_read",
                                         callback_url="https://app.example/cb",
                                         redirect_url="https://app.example/done")
        except InternalServerError:
            print("answered")
    """
)


def test_green_sockets_with_threading_unpatched_wait_cooperatively(tmp_path: Path) -> None:
    """``patch_socket()`` alone (grequests patches so): every greenlet has the main thread's id,
    and the main thread's wait for an answer (``_network._RawStream``) must not use the
    system's ``poll`` on a green socket, which stops every greenlet: the server in the same
    process never answered, and the call timed out (review 33)."""
    script = tmp_path / "socket_only.py"
    script.write_text(SOCKET_ONLY, encoding="utf-8")
    argv = [sys.executable, str(script)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "answered", done.stderr[-3000:]
