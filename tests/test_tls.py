"""HTTPS against a real TLS server on loopback, with certificates from a throwaway CA (trustme).

A call succeeds when the CA is trusted (``SSL_CERT_FILE``), and a certificate that fails
verification ends the call at once: another attempt would meet the same certificate, so
retrying only spent the budget. The message says which trust store refused it. A handshake the
server cuts short may pass on another attempt, and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trustme
from test_deadline import CALL, TOKEN_BODY, response_bytes

from tapti_ext import APIConnectionError, AsyncTapti, Tapti

KEY = "sk_tls_key_0123456789"


class TlsServer:
    """Accepts connections on 127.0.0.1 and counts them; each gets ``handle`` in a thread."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self._handle = handle
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.settimeout(5)
            self._handle(connection)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


def answering_over_tls(context: ssl.SSLContext) -> Callable[[socket.socket], None]:
    """One 200 with a token to one request, over TLS made with ``context``."""
    head, body = response_bytes(200, TOKEN_BODY, {"Connection": "close"})

    def handle(connection: socket.socket) -> None:
        with context.wrap_socket(connection, server_side=True) as tls:
            request = b""
            while b"\r\n\r\n" not in request:
                request += tls.recv(4096)
            tls.sendall(head + body)

    return handle


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], TlsServer]]:
    servers: list[TlsServer] = []

    def start(handle: Callable[[socket.socket], None]) -> TlsServer:
        servers.append(TlsServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[trustme.CA | None], None]:
    """Trust ``ca`` through SSL_CERT_FILE, or (given None) the system's store only."""

    def set_trust(ca: trustme.CA | None) -> None:
        for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        if ca is not None:
            bundle = tmp_path / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    return set_trust


def server_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


def call(way: str, base_url: str, **options: Any) -> str:
    """One call through the wrapper, sync or async: the portal URL it returns."""

    async def async_call() -> str:
        async with AsyncTapti(api_key=KEY, base_url=base_url, max_retries=2, **options) as tapti:
            token = await tapti.user("user_1").create_sdk_token(**CALL)
        return token.oauth_portal_url

    if way == "async":
        return asyncio.run(async_call())
    with Tapti(api_key=KEY, base_url=base_url, max_retries=2, **options) as tapti:
        return tapti.user("user_1").create_sdk_token(**CALL).oauth_portal_url


WAYS = ["sync", "async"]


@pytest.mark.parametrize("way", WAYS)
def test_a_call_over_https_succeeds_when_the_ca_is_in_ssl_cert_file(
    ca: trustme.CA, serve: Any, trust: Any, way: str
) -> None:
    trust(ca)
    server = serve(answering_over_tls(server_context(ca, "127.0.0.1")))
    assert call(way, f"https://127.0.0.1:{server.port}").startswith("https://")
    assert server.connections == 1


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("trusted", "hosts", "named"),
    [
        (False, ("127.0.0.1",), "the system's CA certificates"),
        (True, ("localhost",), "the CAs in SSL_CERT_FILE"),  # a certificate for another name
    ],
    ids=["unknown-ca", "other-host"],
)
def test_a_certificate_that_fails_verification_is_not_tried_again(
    ca: trustme.CA,
    serve: Any,
    trust: Any,
    way: str,
    trusted: bool,
    hosts: tuple[str, ...],
    named: str,
) -> None:
    trust(ca if trusted else None)
    server = serve(answering_over_tls(server_context(ca, *hosts)))
    with pytest.raises(APIConnectionError) as caught:
        call(way, f"https://127.0.0.1:{server.port}")
    assert server.connections == 1
    message = str(caught.value)
    assert "certificate verify failed" in message
    assert f"https://127.0.0.1:{server.port}, 1 attempt;" in message
    assert message.endswith(
        f"not retried: the server's certificate failed verification against {named}"
    )


def test_with_a_callers_client_the_message_names_its_trust(
    ca: trustme.CA, serve: Any, trust: Any
) -> None:
    trust(None)
    server = serve(answering_over_tls(server_context(ca, "127.0.0.1")))
    with httpx2.Client() as client, pytest.raises(APIConnectionError) as caught:
        call("sync", f"https://127.0.0.1:{server.port}", http_client=client)
    assert server.connections == 1
    assert str(caught.value).endswith("against the certificates your http_client trusts")


@pytest.mark.parametrize("way", WAYS)
def test_a_handshake_cut_short_is_retried(ca: trustme.CA, serve: Any, trust: Any, way: str) -> None:
    """No verdict on the certificate: the server (a restarting balancer, say) closed first."""
    trust(ca)
    server = serve(lambda connection: connection.shutdown(socket.SHUT_RDWR))
    with pytest.raises(APIConnectionError) as caught:
        call(way, f"https://127.0.0.1:{server.port}")
    assert server.connections == 3
    assert "3 attempts" in str(caught.value)
    assert "not retried" not in str(caught.value)
