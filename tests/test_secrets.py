"""The API key and SDK tokens never show in a repr, a str, an exception, a traceback or a log."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from _http import snapshot

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncTapti,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Tapti,
    TaptiError,
    UnprocessableEntityError,
)

API_KEY = "sk_live_7hG2kQ9zX4secretKEY"
SDK_TOKEN = "stk_Qm9vYmFy+/=&%42tokenSECRET"
PORTAL = f"https://oauth.tapti.dev?sdk_token={quote_plus(SDK_TOKEN)}&origin=https%3A%2F%2Fa.b"
SECRETS = (API_KEY, SDK_TOKEN, quote_plus(SDK_TOKEN), quote(SDK_TOKEN, safe=""))
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
LOGGERS = ("tapti_ext", "httpx", "httpcore")


@pytest.fixture(autouse=True)
def _no_sleep(slept: list[float]) -> None:
    """Retries wait for nothing here (the conftest fixture records the delays)."""


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret found in {where}: {text!r}"


def assert_logs_clean(logs: pytest.LogCaptureFixture) -> None:
    for record in logs.records:
        assert_clean(record.getMessage(), f"log message of {record.name}")
        assert_clean(str(record.msg), f"log format of {record.name}")
        assert_clean(repr(record.args), f"log args of {record.name}")


def assert_object_clean(obj: object) -> None:
    assert_clean(repr(obj), f"repr of {type(obj).__name__}")
    assert_clean(str(obj), f"str of {type(obj).__name__}")


def assert_exception_clean(exc: BaseException) -> None:
    assert_object_clean(exc)
    assert_clean("".join(traceback.format_exception(exc)), f"traceback of {type(exc).__name__}")
    for value in vars(exc).values():
        if isinstance(value, str):
            assert_clean(value, f"attribute of {type(exc).__name__}")


def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"oauth_portal_url": PORTAL}, headers={"x-request-id": "r1"})


# --- success -----------------------------------------------------------------------------------


def test_success_leaks_nothing(logs: pytest.LogCaptureFixture) -> None:
    with httpx.Client(transport=httpx.MockTransport(ok)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http)
        user = tapti.user("user_123")
        token = user.create_sdk_token(**CALL)
        raw_response = tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
        parsed = raw_response.parse()
        raw_client = tapti.raw
        for obj in (tapti, user, token, raw_response, parsed, raw_client, tapti.with_raw_response):
            assert_object_clean(obj)
        raw_client.get_httpx_client().close()
    assert token.sdk_token == SDK_TOKEN, "the test must use a token the SDK did receive"
    debug_lines = [r for r in logs.records if r.name == "tapti_ext" and r.levelno == logging.DEBUG]
    assert len(debug_lines) == 2, "one debug line per attempt"
    assert any(r.name == "httpx" for r in logs.records), "httpx logging was not captured"
    assert_logs_clean(logs)


def test_owned_client_and_raw_client_leak_nothing() -> None:
    with Tapti(api_key=API_KEY) as tapti:
        assert tapti._http.headers["x-api-key"] == API_KEY
        assert_object_clean(tapti)
        assert_object_clean(tapti.raw)
        assert_object_clean(tapti.raw.with_headers({"x-extra": "1"}))


@pytest.mark.anyio
async def test_async_success_leaks_nothing(logs: pytest.LogCaptureFixture) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(ok)) as http:
        tapti = AsyncTapti(api_key=API_KEY, http_client=http)
        token = await tapti.user("user_123").create_sdk_token(**CALL)
        raw_response = await tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
        for obj in (tapti, tapti.user("u"), token, raw_response, raw_response.parse()):
            assert_object_clean(obj)
    async with AsyncTapti(api_key=API_KEY) as owned:
        assert_object_clean(owned)
        assert_object_clean(owned.raw)
    assert token.sdk_token == SDK_TOKEN
    assert_logs_clean(logs)


# --- failures ----------------------------------------------------------------------------------


def _status(status: int, body: object = None) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json=body if body is not None else {"message": "refused"},
            headers={"x-request-id": "r2", "retry-after": "0"},
        )

    return answer


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_: httpx.Request) -> httpx.Response:
        raise exc

    return answer


FAILURES: list[tuple[Callable[[httpx.Request], httpx.Response], type[TaptiError], int]] = [
    (_status(400), BadRequestError, 1),
    (_status(401, {"message": f"invalid api key {API_KEY}"}), AuthenticationError, 1),
    (_status(403, {"error": {"message": f"key {API_KEY} may not"}}), PermissionDeniedError, 1),
    (_status(404), NotFoundError, 1),
    (_status(409), ConflictError, 3),
    (_status(422, {"detail": f"bad x-api-key: {API_KEY}"}), UnprocessableEntityError, 1),
    (_status(429), RateLimitError, 3),
    (_status(500), InternalServerError, 3),
    (_status(302), APIStatusError, 1),
    (
        _status(200, {"oauth_portal_url": f"oauth.tapti.dev?sdk_token={SDK_TOKEN}"}),
        APIResponseValidationError,
        1,
    ),
    (_status(200, {"oauth_portal_url": f"javascript:{SDK_TOKEN}"}), APIResponseValidationError, 1),
    (_status(200, [PORTAL]), APIResponseValidationError, 1),
    (_raise(httpx.ConnectError("connection refused")), APIConnectionError, 3),
    (_raise(httpx.ReadTimeout("read timed out")), APITimeoutError, 3),
]


@pytest.mark.parametrize(("answer", "error_class", "attempts"), FAILURES)
def test_failures_leak_nothing(
    answer: Callable[[httpx.Request], httpx.Response],
    error_class: type[TaptiError],
    attempts: int,
    logs: pytest.LogCaptureFixture,
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(snapshot(request))
        return answer(request)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http)
        with pytest.raises(error_class) as info:
            tapti.user("user_123").create_sdk_token(**CALL)
    assert type(info.value) is error_class
    assert len(sent) == attempts
    assert sent[0].headers["x-api-key"] == API_KEY
    assert_exception_clean(info.value)
    assert_object_clean(tapti)
    debug_lines = [r for r in logs.records if r.name == "tapti_ext" and r.levelno == logging.DEBUG]
    assert len(debug_lines) == attempts, "one debug line per attempt"
    assert_logs_clean(logs)


def test_server_echoing_the_key_is_redacted_but_message_kept() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": f"unknown key {API_KEY}"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http)
        with pytest.raises(AuthenticationError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert "unknown key" in str(info.value)
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Tapti(api_key=f"{API_KEY} trailing words"),
        lambda: Tapti(api_key=f"{API_KEY}\x00"),
        lambda: Tapti(api_key=API_KEY, base_url=f"http://remote.example/{API_KEY}"),
        lambda: Tapti(api_key=API_KEY).user(f"{API_KEY}\n"),
    ],
)
def test_invalid_input_errors_leak_nothing(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidInputError) as info:
        make()
    assert_exception_clean(info.value)


@pytest.mark.parametrize(
    "key", ["sk_live_\u043a\u043b\u044e\u0447_secret", "sk_live_caf\u00e9_secret"]
)
def test_non_ascii_api_key_is_refused_without_echo(key: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Tapti(api_key=key)
    text = repr(info.value) + str(info.value) + "".join(traceback.format_exception(info.value))
    assert key not in text


def test_retries_log_one_debug_line_per_attempt(logs: pytest.LogCaptureFixture) -> None:
    answers = iter([503, 429, 200])

    def handler(_: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 200:
            return ok(_)
        return httpx.Response(status, headers={"retry-after": "0"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        token = Tapti(api_key=API_KEY, http_client=http).user("u").create_sdk_token(**CALL)
    assert_object_clean(token)
    mine = [r for r in logs.records if r.name == "tapti_ext"]
    assert len([r for r in mine if r.levelno == logging.DEBUG]) == 3
    assert_logs_clean(logs)


# --- over a real socket, with httpcore logging too ---------------------------------------------


class _TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps({"oauth_portal_url": PORTAL}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_real_http_leaks_nothing(server_url: str, logs: pytest.LogCaptureFixture) -> None:
    with Tapti(api_key=API_KEY, base_url=server_url) as tapti:
        token = tapti.user("user_123").create_sdk_token(**CALL)
        assert_object_clean(tapti)
        assert_object_clean(tapti.raw)
    assert token.sdk_token == SDK_TOKEN
    assert_object_clean(token)
    assert any(r.name.startswith("httpcore") for r in logs.records), "httpcore not captured"
    assert_logs_clean(logs)


@pytest.mark.anyio
async def test_async_real_http_leaks_nothing(
    server_url: str, logs: pytest.LogCaptureFixture
) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=server_url) as tapti:
        token = await tapti.user("user_123").create_sdk_token(**CALL)
    assert token.sdk_token == SDK_TOKEN
    assert any(r.name.startswith("httpcore") for r in logs.records), "httpcore not captured"
    assert_logs_clean(logs)


def test_request_kept_by_errors_and_raw_responses_has_the_key_masked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/users/denied"):
            return httpx.Response(403, json={"message": "no"})
        return ok(request)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http)
        raw = tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
        with pytest.raises(PermissionDeniedError) as info:
            tapti.user("denied").create_sdk_token(**CALL)
    for request in (raw.http_response.request, info.value.response.request):
        assert request.headers["x-api-key"] == "***"
        assert_clean(repr(request.headers), "request headers")
        assert_clean(repr(list(request.headers.raw)), "raw request headers")
