"""Calls through a SOCKS5 proxy (``ALL_PROXY=socks5://...``, with socksio installed).

A SOCKS proxy's refusal and an answer that is not SOCKS are the proxy's, before anything
reaches the API: ``APIConnectionError``, retried like a connection that failed, but for a
refusal another attempt would meet again (as a 407). Once the request goes out, what arrives is
the API's again: a 2xx cut short there is never sent twice.
"""

from __future__ import annotations

import logging
import select
import socket
from collections.abc import Callable
from typing import Any

import pytest
import trustme
from test_tls import (
    KEY,
    WAYS,
    TlsServer,
    answering_over_tls,
    ca,
    call,
    serve,
    server_context,
    trust,
)

from tapti_ext import APIConnectionError, APIResponseValidationError, Tapti

pytest.importorskip("socksio")

__all__ = ["ca", "serve", "trust"]

NO_AUTHENTICATION = b"\x05\x00"
SUCCEEDED = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00"
HOST_UNREACHABLE = b"\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00"
GENERAL_FAILURE = b"\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00"
API_HOST = "api.tapti.test"  # not loopback by its name, so the proxy is used


def socks5(
    target_port: int,
    asked: list[bytes],
    *,
    greeting_answer: bytes = NO_AUTHENTICATION,
    reply: bytes = SUCCEEDED,
) -> Callable[[socket.socket], None]:
    """A SOCKS5 proxy's side of one connection: its answers as given, and after a success the
    tunnel relayed to 127.0.0.1:``target_port``, whatever host was asked for (``asked``)."""

    def handle(client: socket.socket) -> None:
        client.recv(64)  # the greeting
        client.sendall(greeting_answer)
        if greeting_answer != NO_AUTHENTICATION:
            return
        asked.append(client.recv(300))  # the CONNECT, naming the host
        client.sendall(reply)
        if reply == SUCCEEDED:
            with socket.create_connection(("127.0.0.1", target_port)) as upstream:
                relay(client, upstream)

    return handle


def relay(one: socket.socket, other: socket.socket) -> None:
    """Bytes both ways until either side closes."""
    peer = {one: other, other: one}
    while True:
        readable, _, _ = select.select(list(peer), [], [], 5)
        for side in readable:
            data = side.recv(65536)
            if not data:
                return
            peer[side].sendall(data)
        if not readable:
            return


IN_BODY = b'HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n{"oauth_'
IN_HEAD = b"HTTP/1.1 200 OK\r\nContent-Le"


def cut_2xx(requests: list[bytes], answer: bytes = IN_BODY) -> Callable[[socket.socket], None]:
    """The API: reads a request (its body ends with "}"), answers the start of a 200, closes."""

    def handle(connection: socket.socket) -> None:
        request = b""
        while not request.endswith(b"}"):
            request += connection.recv(4096)
        requests.append(request)
        connection.sendall(answer)

    return handle


@pytest.fixture
def through(monkeypatch: pytest.MonkeyPatch) -> Callable[[TlsServer], None]:
    """Send every call through ``proxy``, and nothing of the shell's proxy settings."""

    def use(proxy: TlsServer, credentials: str = "") -> None:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)
        monkeypatch.delenv("all_proxy", raising=False)
        monkeypatch.setenv("ALL_PROXY", f"socks5://{credentials}127.0.0.1:{proxy.port}")

    return use


@pytest.mark.parametrize("way", WAYS)
def test_an_https_call_through_a_socks_proxy_gets_its_token(
    ca: trustme.CA, trust: Any, serve: Any, through: Any, way: str
) -> None:
    api = serve(answering_over_tls(server_context(ca, API_HOST)))
    asked: list[bytes] = []
    trust(ca)
    through(serve(socks5(api.port, asked)))
    portal_url = call(way, f"https://{API_HOST}:{api.port}")
    assert "sdk_token=" in portal_url
    assert len(asked) == 1
    assert API_HOST.encode() in asked[0]


@pytest.mark.parametrize(
    "reply", [HOST_UNREACHABLE, GENERAL_FAILURE], ids=["unreachable", "failure"]
)
@pytest.mark.parametrize("way", WAYS)
def test_a_socks_proxys_refusal_is_a_connection_error_and_retried(
    serve: Any, through: Any, way: str, reply: bytes
) -> None:
    api = serve(cut_2xx([]))
    asked: list[bytes] = []
    proxy = serve(socks5(api.port, asked, reply=reply))
    through(proxy)
    with pytest.raises(APIConnectionError, match=r"could not connect.*3 attempts"):
        call(way, f"http://{API_HOST}:{api.port}", allow_insecure_http=True)
    assert len(asked) == 3  # max_retries=2: the API was never reached, so each try is safe
    assert api.connections == 0


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "an HTTP proxy's"),
        (b"\x05", "an HTTP proxy's"),  # cut short
        (b"\x05\x02", "wants a user and password in its URL"),
        (b"\x05\xff", "wants a user and password in its URL"),  # no method it accepts
    ],
    ids=["an-http-proxy", "cut-short", "wants-a-password", "no-method"],
)
@pytest.mark.parametrize("way", WAYS)
def test_a_socks_proxy_that_would_answer_the_same_again_is_asked_once(
    serve: Any, through: Any, way: str, answer: bytes, why: str
) -> None:
    # Like an HTTP proxy's 407: another attempt would meet the same answer.
    proxy = serve(socks5(1, [], greeting_answer=answer))
    through(proxy)
    with pytest.raises(APIConnectionError, match=f"1 attempt.*not retried: .*{why}"):
        call(way, f"http://{API_HOST}:1", allow_insecure_http=True)
    assert proxy.connections == 1


def test_a_socks_proxys_user_name_is_masked_in_the_logs(
    serve: Any, through: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Some proxies take a token as the user name (``socks5://TOKEN:x@proxy``), and httpcore2
    logs a SOCKS handshake's ``auth=`` at DEBUG: masked there as the password is (probe 39)."""
    user = "prx_live_USERNAMETOKEN42"
    proxy = serve(socks5(1, [], greeting_answer=b"\x05\xff"))
    through(proxy, f"{user}:x@")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(APIConnectionError) as caught:
        call("sync", f"http://{API_HOST}:1", allow_insecure_http=True)
    assert user not in str(caught.value)
    records = [record.getMessage() for record in caplog.records]
    assert any("setup_socks5_connection" in text and "***" in text for text in records), records
    assert not [text for text in records if user in text]


@pytest.mark.parametrize("answer", [IN_HEAD, IN_BODY], ids=["in-its-head", "in-its-body"])
@pytest.mark.parametrize("way", WAYS)
def test_a_2xx_cut_short_behind_a_socks_tunnel_is_not_sent_again(
    serve: Any, through: Any, way: str, answer: bytes
) -> None:
    # Once the request has gone out, what arrives is the API's: the proxy's part is over.
    requests: list[bytes] = []
    api = serve(cut_2xx(requests, answer))
    through(serve(socks5(api.port, [])))
    with pytest.raises(APIResponseValidationError, match="not retried"):
        call(way, f"http://{API_HOST}:{api.port}", allow_insecure_http=True)
    assert len(requests) == 1


@pytest.mark.parametrize("first", [b"\x05", b"\x01", b"CONNECT "])
def test_a_body_that_begins_like_a_proxys_handshake_is_a_body(serve: Any, first: bytes) -> None:
    # Review 20: with no proxy (a loopback API never has one), a raw body beginning 0x05 was
    # taken for a SOCKS greeting, and a 2xx cut short after it for the proxy's answer: sent
    # three times.
    requests: list[bytes] = []
    api = serve(cut_2xx(requests, IN_HEAD))
    with (
        Tapti(api_key=KEY, base_url=f"http://127.0.0.1:{api.port}", max_retries=2) as tapti,
        pytest.raises(APIResponseValidationError, match="not retried"),
    ):
        tapti.raw.get_httpx_client().post("/users/u1/sdk-token", content=first + b"x}")
    assert len(requests) == 1
