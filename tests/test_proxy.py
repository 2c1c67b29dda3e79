"""The API key never travels in clear to a proxy; bad network settings are named, not crashed on.

A listening socket plays the proxy and records every byte it receives. With ``HTTP_PROXY``,
``HTTPS_PROXY`` and ``ALL_PROXY`` all pointing at it, a loopback ``http://`` API is called
directly (the proxy gets no byte at all); an ``https://`` API goes through a CONNECT tunnel, so
the proxy sees the CONNECT line and TLS, never the key. Malformed proxy and certificate
variables are refused when the client is constructed (before any call), naming the variable.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import logging
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from _http import accept_each
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest, Platform, Scope

from tapti_ext import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncTapti,
    InvalidInputError,
    Tapti,
)
from tapti_ext._errors import standard_reasons
from tapti_ext.testing import MockTaptiServer

API_KEY = "sk_live_PROXYsecret_7Hq2"
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
TLS_HANDSHAKE = 0x16  # the first byte of a TLS record carrying a ClientHello


class RecordingProxy:
    """Accepts connections and records what each sends; answers a CONNECT with 200.

    It never relays: after a CONNECT it only records the first bytes of the tunnel (a TLS
    ClientHello) and closes, which is enough to see what a proxy would have seen.
    """

    def __init__(
        self,
        connect_answer: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n",
        plain_answer: bytes = b"",
    ) -> None:
        self._connect_answer = connect_answer
        self._plain_answer = plain_answer  # to a plain-http request, when given
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def received(self) -> bytes:
        return b"".join(self.connections)

    def _serve(self) -> None:
        accept_each(self._listener, self._stop, self._take)

    def _take(self, connection: socket.socket) -> None:
        with connection:
            self.connections.append(self._record(connection))

    def _record(self, connection: socket.socket) -> bytes:
        connection.settimeout(2.0)
        data = _read_head(connection)
        if data.startswith(b"CONNECT "):
            connection.sendall(self._connect_answer)
            with contextlib.suppress(OSError):
                data += connection.recv(65536)  # the start of the tunnel: a ClientHello
        elif self._plain_answer:
            connection.sendall(self._plain_answer)
        return data

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


def _read_head(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 1 << 20:
        try:
            chunk = connection.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy or certificate setting of the shell that runs the tests leaks in."""
    for name in (*PROXY_VARIABLES, "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@pytest.fixture
def proxy(clean_env: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """The recording proxy, named by every proxy variable in both spellings."""
    recording = RecordingProxy()
    try:
        for name in PROXY_VARIABLES[:3]:
            clean_env.setenv(name, recording.url)
            clean_env.setenv(name.lower(), recording.url)
        yield recording
    finally:
        recording.close()


@pytest.fixture
def api() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=API_KEY) as server:
        yield server


# --- a loopback API is never reached through a proxy --------------------------------------------


def _assert_proxy_untouched(proxy: RecordingProxy) -> None:
    seen = proxy.received
    assert API_KEY.encode() not in seen, f"the key went to the proxy in clear: {seen[:300]!r}"
    assert proxy.connections == [], f"the proxy received {seen[:300]!r}"


def test_loopback_http_goes_direct_and_the_proxy_gets_no_byte(
    proxy: RecordingProxy, api: MockTaptiServer
) -> None:
    with Tapti(api_key=API_KEY, base_url=api.url, max_retries=0) as tapti:
        try:
            token = tapti.user("user_1").create_sdk_token(**CALL).sdk_token
            raw = create_sdk_token.sync_detailed("user_2", client=tapti.raw, body=_body())
            outcome = f"{token} {raw.status_code}"
        except Exception as exc:  # judged below, once the proxy's side has been checked
            outcome = f"{type(exc).__name__}: {exc}"
    _assert_proxy_untouched(proxy)
    assert outcome.endswith(" 200"), outcome
    assert [r.user_id for r in api.requests] == ["user_1", "user_2"]


def test_localhost_name_goes_direct_too(proxy: RecordingProxy, api: MockTaptiServer) -> None:
    with Tapti(api_key=API_KEY, base_url=f"http://localhost:{api.port}", max_retries=0) as tapti:
        try:
            outcome = tapti.user("user_1").create_sdk_token(**CALL).sdk_token
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
    _assert_proxy_untouched(proxy)
    assert [r.user_id for r in api.requests] == ["user_1"], outcome


@pytest.mark.anyio
async def test_async_loopback_http_goes_direct(proxy: RecordingProxy, api: MockTaptiServer) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=api.url, max_retries=0) as tapti:
        try:
            outcome = (await tapti.user("user_1").create_sdk_token(**CALL)).sdk_token
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
    _assert_proxy_untouched(proxy)
    assert [r.user_id for r in api.requests] == ["user_1"], outcome


def _body() -> CreateSdkTokenRequest:
    return CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url="https://app.example/cb",
        redirect_url="https://app.example/done",
    )


def test_non_loopback_http_with_allow_insecure_http_goes_through_the_proxy(
    proxy: RecordingProxy,
) -> None:
    # The rule's other half (README, "Secrets"): allow_insecure_http=True accepts a plain-http
    # route to another host, and the environment's proxy is then on it, as in httpx2 and curl.
    with (
        Tapti(
            api_key=API_KEY,
            base_url="http://api.tapti.example",
            allow_insecure_http=True,
            max_retries=0,
        ) as tapti,
        pytest.raises(APIConnectionError),  # the recording proxy answers nothing
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert len(proxy.connections) == 1, proxy.connections
    head = proxy.connections[0]
    assert head.startswith(b"POST http://api.tapti.example/users/user_1/sdk-token HTTP/1.1")


# --- an https API goes through a CONNECT tunnel ------------------------------------------------


def test_https_through_https_proxy_is_a_connect_tunnel_the_key_never_in_clear(
    proxy: RecordingProxy,
) -> None:
    # The proxy answers the CONNECT, records the ClientHello and hangs up: the call fails,
    # but what the proxy saw is what any proxy would see.
    with (
        Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as tapti,
        pytest.raises(APIConnectionError),
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert len(proxy.connections) == 1, proxy.connections
    seen = proxy.connections[0]
    head, _, tunnel = seen.partition(b"\r\n\r\n")
    assert head.startswith(b"CONNECT api.tapti.example:443 HTTP/1.1\r\n"), seen[:200]
    assert tunnel, "nothing followed the CONNECT: no TLS handshake started"
    assert tunnel[0] == TLS_HANDSHAKE, f"the tunnel does not start with TLS: {tunnel[:20]!r}"
    assert API_KEY.encode() not in seen
    assert b"x-api-key" not in seen.lower()


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 200 Connection established\r\n", b"HTTP/1.1 200 Connection established\r\n\r\n"],
    ids=["cut-head", "then-closed"],
)
def test_a_proxy_that_drops_the_tunnel_after_its_200_is_retried(
    clean_env: pytest.MonkeyPatch, answer: bytes
) -> None:
    # The 200 is the proxy's, not the API's: the request never left, so it is sent again.
    proxy = RecordingProxy(connect_answer=answer)
    try:
        clean_env.setenv("HTTPS_PROXY", proxy.url)
        with (
            Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=2) as tapti,
            pytest.raises(APIConnectionError),
        ):
            tapti.user("user_1").create_sdk_token(**CALL)
    finally:
        proxy.close()
    assert len(proxy.connections) == 3, proxy.connections
    assert all(seen.startswith(b"CONNECT ") for seen in proxy.connections)


@pytest.mark.parametrize(
    ("answer", "sent"),
    [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", 1),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 3),
    ],
    ids=["407-once", "502-retried"],
)
@pytest.mark.parametrize("way", ["sync", "async"])
def test_a_proxy_refusing_its_credentials_is_not_asked_again(
    clean_env: pytest.MonkeyPatch, answer: bytes, sent: int, way: str
) -> None:
    """A 407 to CONNECT comes back the same until the proxy URL's credentials change: retrying
    it only spent the budget. A 502 (the proxy could not reach the API) may pass: retried."""
    proxy = RecordingProxy(connect_answer=answer)
    base = "https://api.tapti.example"

    async def async_call() -> None:
        async with AsyncTapti(api_key=API_KEY, base_url=base, max_retries=2) as tapti:
            await tapti.user("user_1").create_sdk_token(**CALL)

    def sync_call() -> None:
        with Tapti(api_key=API_KEY, base_url=base, max_retries=2) as tapti:
            tapti.user("user_1").create_sdk_token(**CALL)

    try:
        clean_env.setenv("HTTPS_PROXY", proxy.url.replace("//", "//me:pw-9f3Kq@"))
        with pytest.raises(APIConnectionError) as caught:
            sync_call() if way == "sync" else asyncio.run(async_call())
    finally:
        proxy.close()
    assert len(proxy.connections) == sent, proxy.connections
    message = str(caught.value)
    assert f"{sent} attempt" in message
    assert ("not retried: the proxy answered 407" in message) == (sent == 1)
    assert "pw-9f3Kq" not in message  # the proxy's password


@pytest.mark.parametrize("proxy_scheme", ["http", "https"])
def test_an_ipv6_api_host_through_an_http_proxy_is_refused_before_anything_is_sent(
    clean_env: pytest.MonkeyPatch, proxy_scheme: str
) -> None:
    """httpcore2 would ask for ``CONNECT 2001:db8::1:443``, which reads as another address
    (probe 20, L5): refused by the constructor, pointing at NO_PROXY. A SOCKS5 proxy is given
    the address as an address, and the address in NO_PROXY goes direct."""
    clean_env.setenv("HTTPS_PROXY", f"{proxy_scheme}://127.0.0.1:9")
    # "[...]x443" names no port (review 20: it was read as 443): the proxy is still the route.
    for no_proxy in ("", "[2001:db8::1]x8443"):
        clean_env.setenv("NO_PROXY", no_proxy)
        with pytest.raises(InvalidInputError, match=r"IPv6 address.*HTTPS_PROXY.*NO_PROXY"):
            Tapti(api_key=API_KEY, base_url="https://[2001:db8::1]:8443")
    clean_env.setenv("NO_PROXY", "[2001:db8::1]")
    Tapti(api_key=API_KEY, base_url="https://[2001:db8::1]:8443").close()
    if importlib.util.find_spec("socksio") is not None:
        clean_env.delenv("NO_PROXY")
        clean_env.setenv("HTTPS_PROXY", "socks5://127.0.0.1:9")
        Tapti(api_key=API_KEY, base_url="https://[2001:db8::1]:8443").close()


PROXY_USER = b"me:pw-9f3Kq"  # a proxy URL's user and password
ECHOED = base64.b64encode(PROXY_USER).decode()  # the Proxy-Authorization it was sent, echoed


def _echoing(status: bytes, body: bytes = b"") -> bytes:
    """A proxy's answer that echoes the credentials it was sent: in its reason phrase, in a
    header as they travelled (``Basic``), and in its body."""
    return (
        b"HTTP/1.1 " + status + b" bad credentials " + PROXY_USER + b"\r\nX-Echo: Basic "
        + ECHOED.encode() + b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )  # fmt: skip


def _shows_the_proxy_password(text: str) -> bool:
    return "pw-9f3Kq" in text or ECHOED in text


@pytest.mark.parametrize("door", ["own-pool", "lent-client"])
def test_a_proxys_refusal_echoing_its_credentials_is_not_quoted_nor_logged(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, door: str
) -> None:
    """A proxy may echo the credentials it was sent (probes 20, 21b; review 21): the error
    says the standard phrase for the status, in its message and its chain, through the SDK's
    pool and a lent client's alike; the DEBUG records say the standard phrase too, and mask the
    proxy URL's password and its ``Basic`` spelling, which the SDK knows for its own pool."""
    proxy = RecordingProxy(connect_answer=_echoing(b"407"))
    proxy_url = proxy.url.replace("//", f"//{PROXY_USER.decode()}@")
    caplog.set_level(logging.DEBUG)
    if door == "own-pool":
        clean_env.setenv("HTTPS_PROXY", proxy_url)
    lent = httpx2.Client(proxy=proxy_url) if door == "lent-client" else None
    try:
        with (
            Tapti(api_key=API_KEY, base_url="https://api.tapti.example", http_client=lent) as t,
            pytest.raises(APIConnectionError) as caught,
        ):
            t.user("user_1").create_sdk_token(**CALL)
    finally:
        proxy.close()
        if lent is not None:
            lent.close()
    shown = "".join(traceback.format_exception(caught.value))
    assert "connection error: 407 Proxy Authentication Required (" in shown
    assert not _shows_the_proxy_password(shown)
    records = [record.getMessage() for record in caplog.records]
    assert any("407, b'Proxy Authentication Required'" in text for text in records), records
    logged = [text for text in records if _shows_the_proxy_password(text)]
    assert not logged if door == "own-pool" else not [t for t in logged if "pw-9f3Kq" in t]


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 407 bad " + PROXY_USER + b"\x00\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad " + PROXY_USER],
    ids=["status-line", "header-line"],
)
def test_a_proxys_unreadable_answer_echoing_its_credentials_is_not_quoted(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, answer: bytes
) -> None:
    """h11 quotes a line it cannot parse; a proxy's may echo the credentials it was sent
    (review 21b): the error, its chain and the SDK's log keep h11's own words only."""
    proxy = RecordingProxy(connect_answer=answer + b"\r\n\r\n")
    caplog.set_level(logging.DEBUG)
    clean_env.setenv("HTTPS_PROXY", proxy.url.replace("//", f"//{PROXY_USER.decode()}@"))
    try:
        with (
            Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as t,
            pytest.raises(APIConnectionError) as caught,
        ):
            t.user("user_1").create_sdk_token(**CALL)
    finally:
        proxy.close()
    shown = "".join(traceback.format_exception(caught.value))
    assert "connection error: illegal " in shown
    assert not _shows_the_proxy_password(shown)
    assert not [r for r in caplog.records if _shows_the_proxy_password(r.getMessage())]


def test_logged_reason_phrases_are_the_standard_ones() -> None:
    """What the log filter writes for httpcore2's record of a head and httpx2's status line,
    whatever quotes the reason phrase holds."""
    assert standard_reasons(
        "receive_response_headers.complete return_value="
        "(b'HTTP/1.1', 407, b\"me:it's\\\"\", [(b'Via', b'1.1 p')])"
    ) == (
        "receive_response_headers.complete return_value="
        "(b'HTTP/1.1', 407, b'Proxy Authentication Required', [(b'Via', b'1.1 p')])"
    )
    assert standard_reasons('HTTP Request: GET http://a/ "HTTP/1.1 407 me:"pw" x"') == (
        'HTTP Request: GET http://a/ "HTTP/1.1 407 Proxy Authentication Required"'
    )


def test_a_short_proxy_password_is_not_masked_all_over_the_logs(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Masked wherever it appears alone, a password ``1`` made each ``HTTP/1.1`` of every
    client's DEBUG records ``HTTP/***.***``, and showed where it was (review 21)."""
    proxy = RecordingProxy(connect_answer=b"HTTP/1.1 407 No\r\nContent-Length: 0\r\n\r\n")
    caplog.set_level(logging.DEBUG)
    clean_env.setenv("HTTPS_PROXY", proxy.url.replace("//", "//me:1@"))
    try:
        with (
            Tapti(api_key=API_KEY, base_url="https://api.tapti.example") as tapti,
            pytest.raises(APIConnectionError),
        ):
            tapti.user("user_1").create_sdk_token(**CALL)
    finally:
        proxy.close()
    records = [record.getMessage() for record in caplog.records]
    assert any("(b'HTTP/1.1', 407, " in text for text in records), records


def test_a_proxys_407_to_a_plain_http_request_keeps_none_of_its_words(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """Through an HTTP proxy, a plain-http request gets the proxy's 407 as its answer: a status
    error, which quotes and keeps the server's words, the key masked; a proxy's may echo its
    credentials, so the error keeps its status and headers only (review 21)."""
    body = b'{"message": "wrong password pw-9f3Kq"}'
    proxy = RecordingProxy(plain_answer=_echoing(b"407", body))
    try:
        clean_env.setenv("HTTP_PROXY", proxy.url.replace("//", f"//{PROXY_USER.decode()}@"))
        with (
            Tapti(
                api_key=API_KEY, base_url="http://api.tapti.example", allow_insecure_http=True
            ) as tapti,
            pytest.raises(APIStatusError) as caught,
        ):
            tapti.user("user_1").create_sdk_token(**CALL)
    finally:
        proxy.close()
    error = caught.value
    assert str(error) == "407 Proxy Authentication Required"
    assert not _shows_the_proxy_password("".join(traceback.format_exception(error)))
    assert (error.body, error.response.content) == (None, b"")
    assert error.response.reason_phrase == "Proxy Authentication Required"
    assert not _shows_the_proxy_password(str(error.response.headers))  # its X-Echo is gone


@pytest.mark.parametrize("way", ["sync", "async"])
def test_tunnels_whose_handshake_failed_give_their_pool_slots_back(
    proxy: RecordingProxy, way: str
) -> None:
    """httpcore2 leaves a tunnel whose TLS handshake failed neither closed nor available: past
    the pool's 100 connections of such failures (a certificate that fails, a proxy dropping
    tunnels), every call waited out its budget for a slot and never reached the proxy."""
    calls = 105

    def sync_calls() -> None:
        with Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as tapti:
            for _ in range(calls):
                with pytest.raises(APIConnectionError) as caught:
                    tapti.user("user_1").create_sdk_token(**CALL, timeout=2)
                assert "pool timeout" not in str(caught.value)

    async def async_calls() -> None:
        base = "https://api.tapti.example"
        async with AsyncTapti(api_key=API_KEY, base_url=base, max_retries=0) as tapti:
            for _ in range(calls):
                with pytest.raises(APIConnectionError) as caught:
                    await tapti.user("user_1").create_sdk_token(**CALL, timeout=2)
                assert "pool timeout" not in str(caught.value)

    if way == "sync":
        sync_calls()
    else:
        asyncio.run(async_calls())
    assert len(proxy.connections) == calls
    assert all(seen.startswith(b"CONNECT ") for seen in proxy.connections)


def test_a_proxy_that_never_answers_connect_is_a_connect_timeout_and_retried(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """Waiting for the proxy's answer to CONNECT is connecting: it took the call's whole budget
    as a read timeout (as if the API might have the request), with no time left to retry."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def hold() -> None:  # accept, read nothing, answer nothing
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=hold, daemon=True).start()
    clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listener.getsockname()[1]}")
    started = time.monotonic()
    try:
        with (
            Tapti(api_key=API_KEY, base_url="https://api.tapti.example", timeout=6) as tapti,
            pytest.raises(APITimeoutError, match=r"\(connect timeout\)") as caught,
        ):
            tapti.user("user_1").create_sdk_token(**CALL)
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert time.monotonic() - started < 6.5
    assert "2 attempts" in str(caught.value)  # 5 s for the first, what was left for another
    assert len(held) == 2


# --- bad settings in the environment are named ------------------------------------------------


def test_socks_proxy_without_socksio_is_refused_naming_the_variable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setitem(sys.modules, "socksio", None)  # as if it were not installed
    clean_env.setenv("ALL_PROXY", "socks5://127.0.0.1:1")
    with pytest.raises(InvalidInputError, match=r"ALL_PROXY names a SOCKS proxy.*socksio"):
        Tapti(api_key=API_KEY)  # refused when constructed, before any call


@pytest.mark.parametrize(
    ("variable", "base_url"),
    [("HTTP_PROXY", "http://api.tapti.example"), ("HTTPS_PROXY", "https://api.tapti.example")],
)
def test_proxy_of_an_unsupported_scheme_is_refused_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, base_url: str
) -> None:
    clean_env.setenv(variable, "ftp://x:y")
    with pytest.raises(InvalidInputError, match=variable):
        Tapti(api_key=API_KEY, base_url=base_url, allow_insecure_http=True)


def test_missing_ssl_cert_file_is_refused_naming_the_variable(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SSL_CERT_FILE", "/nonexistent/ca-bundle.pem")
    with pytest.raises(InvalidInputError, match="SSL_CERT_FILE"):
        Tapti(api_key=API_KEY)


def test_ssl_cert_file_that_is_not_a_certificate_is_refused(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_cert = tmp_path / "notes.txt"
    not_a_cert.write_text("this is not a PEM certificate\n")
    clean_env.setenv("SSL_CERT_FILE", str(not_a_cert))
    with pytest.raises(InvalidInputError, match="SSL_CERT_FILE"):
        Tapti(api_key=API_KEY)


@pytest.mark.anyio
async def test_async_client_names_the_variable_too(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SSL_CERT_FILE", "/nonexistent/ca-bundle.pem")
    with pytest.raises(InvalidInputError, match="SSL_CERT_FILE"):
        AsyncTapti(api_key=API_KEY)


@pytest.mark.parametrize(
    "value", [" https://api.tapti.ai", "https://api.tapti.ai ", "https://api.tapti.ai\n"]
)
def test_tapti_base_url_with_stray_whitespace_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAPTI_BASE_URL", value)
    with pytest.raises(InvalidInputError, match="TAPTI_BASE_URL"):
        Tapti(api_key=API_KEY)


@pytest.mark.parametrize(
    "value", ["*:3128", "http://*:3128", "http://a b:3128", "http://pr%00xy:1"]
)
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY"])
def test_a_proxy_host_no_name_can_hold_is_refused_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    # "*" looked up as a host name reached this machine: the key would have gone there.
    clean_env.setenv(variable, value)
    with pytest.raises(InvalidInputError, match=variable):
        Tapti(api_key=API_KEY, base_url="https://api.tapti.example")


@pytest.mark.parametrize("argument", ["base_url", "portal_url"])
def test_a_host_no_name_can_hold_is_refused_in_urls_too(
    clean_env: pytest.MonkeyPatch, argument: str
) -> None:
    with pytest.raises(InvalidInputError, match=argument):
        Tapti(api_key=API_KEY, **{argument: "https://*"})


@pytest.mark.parametrize("credentials", ["alice:s3cret", ":s3cret"])
def test_proxy_credentials_are_sent_a_password_alone_too(
    clean_env: pytest.MonkeyPatch, credentials: str
) -> None:
    # httpx2 and curl send a password without a user name (a token); it was dropped: a 407.
    recording = RecordingProxy()
    try:
        clean_env.setenv("HTTPS_PROXY", f"http://{credentials}@127.0.0.1:{recording.port}")
        with (
            Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as tapti,
            pytest.raises(APIConnectionError),
        ):
            tapti.user("user_1").create_sdk_token(**CALL)
    finally:
        recording.close()
    head = recording.connections[0].split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    sent = {name.lower(): value for name, _, value in (line.partition(": ") for line in head)}
    assert sent["proxy-authorization"] == f"Basic {base64.b64encode(credentials.encode()).decode()}"


def test_a_connection_error_through_a_proxy_names_it_never_its_password(
    clean_env: pytest.MonkeyPatch, unused_port: int
) -> None:
    clean_env.setenv("HTTPS_PROXY", f"http://user:proxy-secret@127.0.0.1:{unused_port}")
    with (
        Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as tapti,
        pytest.raises(APIConnectionError) as caught,
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    message = str(caught.value)
    assert f"through the proxy in HTTPS_PROXY (127.0.0.1:{unused_port})" in message
    assert "proxy-secret" not in message
    assert "user:" not in message


@pytest.mark.parametrize(
    "value",
    ["http://alice:1234/abcd@proxy.example:3128", "http://ghp_t0ken#x@proxy.example:3128"],
)
def test_a_proxy_url_whose_credentials_spill_past_its_authority_is_refused_unquoted(
    clean_env: pytest.MonkeyPatch, value: str
) -> None:
    # Read as URLs are, "alice:1234" would be the proxy and the rest of the password its path.
    clean_env.setenv("HTTPS_PROXY", value)
    with pytest.raises(InvalidInputError, match="HTTPS_PROXY") as caught:
        Tapti(api_key=API_KEY, base_url="https://api.tapti.example")
    for part in ("alice", "1234", "abcd", "ghp_t0ken"):
        assert part not in str(caught.value)


@pytest.mark.parametrize(
    ("no_proxy", "base_url"),
    [
        ("10.0.0.0/8", "https://10.255.255.1"),
        ("*.tapti.example", "https://api.tapti.example"),
        (".tapti.example", "https://api.tapti.example"),
        ("[2001:db8::1]", "https://[2001:db8::1]"),
        ("2001:db8::/32", "https://[2001:db8::1]"),
        ("*", "https://api.tapti.example"),
        ("api.tapti.example:443", "https://api.tapti.example"),
        ("https://api.tapti.example", "https://api.tapti.example"),
    ],
)
def test_no_proxy_is_read_as_httpx2_reads_it(
    proxy: RecordingProxy, clean_env: pytest.MonkeyPatch, no_proxy: str, base_url: str
) -> None:
    clean_env.setenv("NO_PROXY", no_proxy)
    with (
        Tapti(api_key=API_KEY, base_url=base_url, max_retries=0, timeout=0.5) as tapti,
        pytest.raises(APIConnectionError),  # direct, to a host that is not there
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    _assert_proxy_untouched(proxy)


def test_an_empty_lower_case_no_proxy_wins_over_no_proxy(
    proxy: RecordingProxy, clean_env: pytest.MonkeyPatch
) -> None:
    # As urllib and httpx2 read them: the old code went direct (probe 8).
    clean_env.setenv("NO_PROXY", "api.tapti.example")
    clean_env.setenv("no_proxy", "")
    with (
        Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as tapti,
        pytest.raises(APIConnectionError),  # the recording proxy tunnels nowhere
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert proxy.connections[0].startswith(b"CONNECT api.tapti.example:443 ")


@pytest.mark.parametrize(
    "no_proxy",
    [
        "api.tapti.example:8443",
        "http://api.tapti.example",
        "other.example",
        "*example",  # a "*" is all hosts alone, or "*." and a domain (probe 20: all of .example)
        "*tapti.example",
        "api.tapti.example:443/x",  # a port that is no number (probe 20: any port)
    ],
)
def test_a_no_proxy_entry_for_another_port_or_scheme_leaves_the_call_to_the_proxy(
    proxy: RecordingProxy, clean_env: pytest.MonkeyPatch, no_proxy: str
) -> None:
    # httpx2 reads an entry's port and scheme: "api.tapti.example:8443" went direct for 443.
    clean_env.setenv("NO_PROXY", no_proxy)
    with (
        Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as tapti,
        pytest.raises(APIConnectionError),  # the recording proxy tunnels nowhere
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert proxy.connections[0].startswith(b"CONNECT api.tapti.example:443 ")


@pytest.mark.parametrize(
    ("no_proxy", "base_url", "target"),
    [
        (".tapti.example", "https://tapti.example", b"tapti.example:443"),
        ("*.tapti.example", "https://tapti.example", b"tapti.example:443"),
    ],
    ids=["dot-domain", "star-dot-domain"],
)
def test_no_proxy_entries_that_name_other_hosts_leave_the_call_to_the_proxy(
    proxy: RecordingProxy,
    clean_env: pytest.MonkeyPatch,
    no_proxy: str,
    base_url: str,
    target: bytes,
) -> None:
    # Review 20: ".tapti.example" and "*.tapti.example" name the subdomains only, as httpx2
    # reads them (the apex went direct).
    clean_env.setenv("NO_PROXY", no_proxy)
    with (
        Tapti(api_key=API_KEY, base_url=base_url, max_retries=0) as tapti,
        pytest.raises(APIConnectionError),  # the recording proxy tunnels nowhere
    ):
        tapti.user("user_1").create_sdk_token(**CALL)
    assert proxy.connections[0].startswith(b"CONNECT " + target + b" ")


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        ("http://127.0.0.2", "127.0.0.2:80"),
        ("socks5://127.0.0.2", "127.0.0.2:1080"),
        ("socks5h://127.0.0.2", "127.0.0.2:1080"),
    ],
)
def test_a_proxy_without_a_port_is_named_with_the_port_connected_to(
    clean_env: pytest.MonkeyPatch, proxy: str, shown: str
) -> None:
    """httpcore2 connects to a SOCKS proxy on 1080; the message said 80 (review 28)."""
    pytest.importorskip("socksio")
    clean_env.setenv("HTTPS_PROXY", proxy)
    with (
        Tapti(api_key=API_KEY, base_url="https://api.tapti.example", max_retries=0) as tapti,
        pytest.raises(APIConnectionError) as caught,
    ):
        tapti.user("user_1").create_sdk_token(**CALL, timeout=5)
    assert f"through the proxy in HTTPS_PROXY ({shown})" in str(caught.value)
