"""The API key and SDK tokens never show in a repr, a str, an exception, a traceback or a log."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import pickle
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import attrs
import httpx2
import pytest
from _frames import chain_frames
from _http import snapshot
from tapti_api_client.models import CreateSdkTokenRequest

import tapti_ext
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
    oauth_portal_url,
)
from tapti_ext.testing import MockTaptiServer

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
LOGGERS = ("tapti_ext", "httpx2", "httpcore2")


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


def ok(_: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json={"oauth_portal_url": PORTAL}, headers={"x-request-id": "r1"})


# --- success -----------------------------------------------------------------------------------


def test_success_leaks_nothing(logs: pytest.LogCaptureFixture) -> None:
    with httpx2.Client(transport=httpx2.MockTransport(ok)) as http:
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
    assert any(r.name == "httpx2" for r in logs.records), "httpx2 logging was not captured"
    assert_logs_clean(logs)


def test_owned_client_and_raw_client_leak_nothing() -> None:
    with Tapti(api_key=API_KEY) as tapti:
        # The key is added below httpx2: no httpx2 object of the SDK's ever holds it.
        assert "x-api-key" not in tapti.raw.get_httpx_client().headers
        assert_object_clean(tapti)
        assert_object_clean(tapti.raw)
        assert_object_clean(tapti.raw.with_headers({"x-extra": "1"}))


@pytest.mark.anyio
async def test_async_success_leaks_nothing(logs: pytest.LogCaptureFixture) -> None:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(ok)) as http:
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


def _status(status: int, body: object = None) -> Callable[[httpx2.Request], httpx2.Response]:
    def answer(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status,
            json=body if body is not None else {"message": "refused"},
            headers={"x-request-id": "r2", "retry-after": "0"},
        )

    return answer


def _raise(exc: Exception) -> Callable[[httpx2.Request], httpx2.Response]:
    def answer(_: httpx2.Request) -> httpx2.Response:
        raise exc

    return answer


FAILURES: list[tuple[Callable[[httpx2.Request], httpx2.Response], type[TaptiError], int]] = [
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
    (_raise(httpx2.ConnectError("connection refused")), APIConnectionError, 3),
    (_raise(httpx2.ReadTimeout("read timed out")), APITimeoutError, 3),
]


@pytest.mark.parametrize(("answer", "error_class", "attempts"), FAILURES)
def test_failures_leak_nothing(
    answer: Callable[[httpx2.Request], httpx2.Response],
    error_class: type[TaptiError],
    attempts: int,
    logs: pytest.LogCaptureFixture,
) -> None:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(snapshot(request))
        return answer(request)

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
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
    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, json={"message": f"unknown key {API_KEY}"})

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http)
        with pytest.raises(AuthenticationError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert "unknown key" in str(info.value)
    assert API_KEY not in str(info.value)


@pytest.mark.timeout(60)
def test_a_key_of_html_special_characters_is_masked_without_backtracking() -> None:
    # HTML names "&" as &amp; and &AMP;: matched both ways, each such character of the key
    # doubled the ways to try a body full of &amp; (2**24 here: hours, not milliseconds).
    key = "&" * 24 + "kX"
    spelled = "&amp;" * 24 + "kX"
    body = {"message": f"{'&amp;' * 300} {spelled} {key}"}

    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(400, json=body)

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key=key, http_client=http, max_retries=0)
        with pytest.raises(BadRequestError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert info.value.body == {"message": f"{'&amp;' * 300} *** ***"}


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

    def handler(_: httpx2.Request) -> httpx2.Response:
        status = next(answers)
        if status == 200:
            return ok(_)
        return httpx2.Response(status, headers={"retry-after": "0"})

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        token = Tapti(api_key=API_KEY, http_client=http).user("u").create_sdk_token(**CALL)
    assert_object_clean(token)
    mine = [r for r in logs.records if r.name == "tapti_ext"]
    assert len([r for r in mine if r.levelno == logging.DEBUG]) == 3
    assert_logs_clean(logs)


def test_log_lines_show_the_path_as_sent(logs: pytest.LogCaptureFixture) -> None:
    """Decoded, a path showed what escapes hide: a key written with escapes, a line break."""
    answers = iter([503, 200])

    def handler(request: httpx2.Request) -> httpx2.Response:
        return ok(request) if next(answers) == 200 else httpx2.Response(503)

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http, max_retries=1)
        tapti.user("a b/c").create_sdk_token(**CALL)
    lines = [r.getMessage() for r in logs.records if r.name == "tapti_ext"]
    assert any(line.startswith("retrying POST /users/a%20b%2Fc/sdk-token") for line in lines)
    assert all("a b" not in line for line in lines), lines


# --- over a real socket, with httpcore2 logging too ---------------------------------------------


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
    assert any(r.name.startswith("httpcore2") for r in logs.records), "httpcore2 not captured"
    assert_logs_clean(logs)


@pytest.mark.anyio
async def test_async_real_http_leaks_nothing(
    server_url: str, logs: pytest.LogCaptureFixture
) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=server_url) as tapti:
        token = await tapti.user("user_123").create_sdk_token(**CALL)
    assert token.sdk_token == SDK_TOKEN
    assert any(r.name.startswith("httpcore2") for r in logs.records), "httpcore2 not captured"
    assert_logs_clean(logs)


def test_request_kept_by_errors_and_raw_responses_has_the_key_masked() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.startswith("/users/denied"):
            return httpx2.Response(403, json={"message": "no"})
        return ok(request)

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http)
        raw = tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
        with pytest.raises(PermissionDeniedError) as info:
            tapti.user("denied").create_sdk_token(**CALL)
    for request in (raw.http_response.request, info.value.response.request):
        assert request.headers["x-api-key"] == "***"
        assert_clean(repr(request.headers), "request headers")
        assert_clean(repr(list(request.headers.raw)), "raw request headers")


# --- no public object reachable from a client shows the key -------------------------------------
# Walks everything a user can reach from Tapti, AsyncTapti and tapti.raw: the clients, the httpx2
# clients behind tapti.raw and its copies, their headers, raw responses, tokens (and the
# generated response on them), errors with their request and response, following public
# attributes a few levels deep. repr() and str() of each must never hold the key (httpx2 masks
# only Authorization in a repr of headers); tapti.raw's ``token`` field included, since error
# reporters (rich, structlog) print an attrs object field by field.

_WALK_DEPTH = 4
_WALK_LIMIT = 5000
_LEAF_TYPES = (str, bytes, int, float, bool, type(None))


def _public_values(obj: object) -> Iterator[tuple[str, object]]:
    if isinstance(obj, dict):
        yield from ((f"[{key!r}]", value) for key, value in obj.items())
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        yield from ((f"[{i}]", value) for i, value in enumerate(obj))
        return
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # a property that needs state (an unread body...): nothing to see
            continue
        if callable(value) and not isinstance(value, (httpx2.Headers, dict)):
            continue
        yield name, value


def assert_nothing_reachable_shows_the_key(roots: dict[str, object]) -> int:
    """Check every object reachable from ``roots``; returns how many were checked."""
    seen: set[int] = set()
    todo = [(name, obj, 0) for name, obj in roots.items()]
    while todo and len(seen) < _WALK_LIMIT:
        where, obj, depth = todo.pop()
        if id(obj) in seen or isinstance(obj, type) or inspect.ismodule(obj):
            continue
        seen.add(id(obj))
        if isinstance(obj, bytes):
            obj = obj.decode("latin-1")
        assert API_KEY not in repr(obj), f"the key is in repr({where}): {obj!r}"
        assert API_KEY not in str(obj), f"the key is in str({where})"
        if depth < _WALK_DEPTH and not isinstance(obj, _LEAF_TYPES):
            todo.extend((f"{where}.{n}", value, depth + 1) for n, value in _public_values(obj))
    return len(seen)


def assert_no_serialised_form_holds_the_key(roots: dict[str, object]) -> int:
    """What serialisers that read an attrs class's fields (``attrs.asdict``, cattrs) and
    ``__getstate__`` make of each root: no key, ``repr=False`` fields included (probe 39).
    Returns how many roots were serialised."""
    serialised = 0
    for where, obj in roots.items():
        forms = []
        if attrs.has(type(obj)):
            forms += [attrs.asdict(obj), attrs.astuple(obj)]
        if callable(getattr(obj, "__getstate__", None)):
            # What refuses to give its state hands no key on that way.
            with contextlib.suppress(TypeError):
                forms.append(obj.__getstate__())
        for form in forms:
            assert API_KEY not in repr(form), f"a serialised {where} holds the key: {form!r}"
        serialised += bool(forms)
    return serialised


def assert_no_pickle_holds_the_key(roots: dict[str, object]) -> int:
    """Pickle each root that pickles (a result store, a task queue, a cache would): its bytes
    hold no key, private attributes included. Returns how many pickled."""
    pickled = 0
    for where, obj in roots.items():
        try:
            data = pickle.dumps(obj)
        except (TypeError, AttributeError, pickle.PicklingError):
            continue  # what cannot be pickled cannot hand the key on that way
        assert API_KEY.encode() not in data, f"pickle.dumps({where}) holds the key"
        pickled += 1
    return pickled


def _generated_body() -> Any:
    from tapti_api_client.models import Platform, Scope  # noqa: PLC0415

    return CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url="https://app.example/cb",
        redirect_url="https://app.example/done",
    )


def _sync_roots(tapti: Tapti, errors: dict[str, BaseException]) -> dict[str, object]:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415

    raw = tapti.raw
    token = tapti.user("user_123").create_sdk_token(**CALL)
    raw_response = tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
    copies = {
        "raw.with_headers()": raw.with_headers({"x-extra": "1"}),
        "raw.with_timeout()": raw.with_timeout(httpx2.Timeout(5.0)),
        "raw.with_cookies()": raw.with_cookies({"c": "1"}),
    }
    roots: dict[str, object] = {
        "tapti": tapti,
        "tapti.raw": raw,
        "tapti.raw.get_httpx_client()": raw.get_httpx_client(),
        "tapti.raw.get_httpx_client().headers": raw.get_httpx_client().headers,
        "token": token,
        "token.response": getattr(token, "response", None),
        "with_raw_response": raw_response,
        "with_raw_response.parse()": raw_response.parse(),
        "generated sync_detailed()": create_sdk_token.sync_detailed(
            "user_123", client=raw, body=_generated_body()
        ),
    }
    for name, copy in copies.items():
        roots[name] = copy
        roots[f"{name}.get_httpx_client()"] = copy.get_httpx_client()
        roots[f"{name}.get_httpx_client().headers"] = copy.get_httpx_client().headers
        roots[f"{name} sync_detailed()"] = create_sdk_token.sync_detailed(
            "user_123", client=copy, body=_generated_body()
        )
    roots.update({f"error {name}": exc for name, exc in errors.items()})
    for name, exc in errors.items():
        for part in ("request", "response"):
            roots[f"error {name}.{part}"] = getattr(exc, part, None)
    for copy in copies.values():
        copy.get_httpx_client().close()
    return roots


def _sync_errors(tapti: Tapti, server: MockTaptiServer, unused_port: int) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    # (A server echoing the key is its own content, kept as sent: test_server_echoing_the_key.)
    server.fail_next(1, status=403, body={"message": "this key may not"})
    with pytest.raises(PermissionDeniedError) as denied:
        tapti.user("u").create_sdk_token(**CALL)
    errors["403"] = denied.value
    with (
        Tapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{unused_port}", max_retries=0) as dead,
        pytest.raises(APIConnectionError) as refused,
    ):
        dead.user("u").create_sdk_token(**CALL)
    errors["connection"] = refused.value
    server.fail_next(1, status=200, body={"oauth_portal_url": 42})
    with pytest.raises(APIResponseValidationError) as invalid:
        tapti.user("u").create_sdk_token(**CALL)
    errors["validation"] = invalid.value
    return errors


def test_no_object_reachable_from_tapti_shows_the_key(unused_port: int) -> None:
    with (
        MockTaptiServer(api_key=API_KEY) as server,
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti,
    ):
        errors = _sync_errors(tapti, server, unused_port)
        roots = _sync_roots(tapti, errors)
        # Pickled first: the walk reads properties that httpx2 caches (a response's cookie
        # jar, which holds a lock), and that pickle then refuses.
        assert assert_no_pickle_holds_the_key(roots) >= 10
        again = pickle.loads(pickle.dumps(roots["with_raw_response"]))
        assert again.parse() == roots["with_raw_response.parse()"]
        assert again.request_id == roots["with_raw_response"].request_id  # type: ignore[attr-defined]
        checked = assert_nothing_reachable_shows_the_key(roots)
        assert assert_no_serialised_form_holds_the_key(roots) >= 5
        assert roots["token.response"] is not None, "SdkToken.response: the generated response"
    assert checked > 100, f"the walk saw only {checked} objects"
    assert server.requests[-1].user_id == "user_123", "the calls must have been answered"


def test_no_object_reachable_from_tapti_with_a_callers_http_client_shows_the_key(
    unused_port: int,
) -> None:
    with MockTaptiServer(api_key=API_KEY) as server, httpx2.Client() as http:
        tapti = Tapti(api_key=API_KEY, base_url=server.url, http_client=http, max_retries=0)
        errors = _sync_errors(tapti, server, unused_port)
        roots = {**_sync_roots(tapti, errors), "http_client": http, "headers": http.headers}
        assert_nothing_reachable_shows_the_key(roots)
        tapti.close()


@pytest.mark.anyio
async def test_no_object_reachable_from_async_tapti_shows_the_key() -> None:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415

    with MockTaptiServer(api_key=API_KEY) as server:
        async with AsyncTapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
            raw = tapti.raw
            token = await tapti.user("user_123").create_sdk_token(**CALL)
            raw_response = await tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
            server.fail_next(1, status=401)
            with pytest.raises(AuthenticationError) as denied:
                await tapti.user("u").create_sdk_token(**CALL)
            generated = await create_sdk_token.asyncio_detailed(
                "user_123", client=raw, body=_generated_body()
            )
            copy = raw.with_headers({"x-extra": "1"})
            copy_response = await create_sdk_token.asyncio_detailed(
                "user_123", client=copy, body=_generated_body()
            )
            roots: dict[str, object] = {
                "tapti": tapti,
                "tapti.raw": raw,
                "tapti.raw.get_async_httpx_client()": raw.get_async_httpx_client(),
                "headers": raw.get_async_httpx_client().headers,
                "token": token,
                "token.response": getattr(token, "response", None),
                "with_raw_response": raw_response,
                "error": denied.value,
                "error.request": denied.value.response.request,
                "error.response": denied.value.response,
                "generated asyncio_detailed()": generated,
                "raw.with_headers()": copy,
                "copy httpx2 client": copy.get_async_httpx_client(),
                "copy headers": copy.get_async_httpx_client().headers,
                "copy asyncio_detailed()": copy_response,
            }
            assert assert_no_pickle_holds_the_key(roots) >= 5  # first: see the sync test
            assert_nothing_reachable_shows_the_key(roots)
            assert assert_no_serialised_form_holds_the_key(roots) >= 3
            await copy.get_async_httpx_client().aclose()
    assert generated.status_code == 200
    assert copy_response.status_code == 200


def _holds(value: object, secret: str) -> bool:
    """Whether ``value``, or an attribute or item of it one level down, is or shows ``secret``."""
    inner = [value]
    if isinstance(value, list | tuple | set | frozenset):
        inner += list(value)
    elif isinstance(value, dict):
        inner += [*value.keys(), *value.values()]
    for slot in getattr(type(value), "__slots__", ()):
        inner.append(getattr(value, slot, None))
    inner += list(getattr(value, "__dict__", {}).values())
    return any(item == secret or (isinstance(item, str) and secret in item) for item in inner)


@pytest.mark.parametrize(
    "extras",
    [{"extra_body": {"n": float("nan")}}, {"extra_query": {"q": "\ud800"}}],
    ids=["extra_body", "extra_query"],
)
def test_a_request_refused_while_built_leaves_no_key_in_frame_locals(
    extras: dict[str, Any],
) -> None:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415

    body = _generated_body()
    with Tapti(api_key=API_KEY, base_url="http://127.0.0.1:9") as tapti:  # nothing is sent
        for call in (
            lambda: tapti.user("u1").create_sdk_token(**CALL, **extras),
            lambda: tapti.call(create_sdk_token, "u1", body=body, **extras),
        ):
            with pytest.raises(InvalidInputError) as caught:
                call()
            held = [
                f"{frame.f_code.co_name}: {name}"
                for frame, _ in traceback.walk_tb(caught.value.__traceback__.tb_next)
                for name, value in frame.f_locals.items()
                if _holds(value, API_KEY)
            ]
            assert held == []


# --- a refused URL argument, quoted in its error -----------------------------------------------

REFUSED_URLS: dict[str, Callable[[], object]] = {
    "callback_url, a token in its query": lambda: (
        Tapti(api_key=API_KEY, base_url="http://127.0.0.1:1")
        .user("u1")
        .create_sdk_token(
            platforms=["youtube"],
            scopes=["profile_read"],
            callback_url="ftp://x/?sdk_token=tok-secret-1",
            redirect_url="https://a.example/r",
        )
    ),
    "redirect_url, the key in its query": lambda: Tapti(
        api_key=API_KEY, base_url="http://127.0.0.1:1", redirect_url=f"https://x:99999/?k={API_KEY}"
    ),
    "portal_url, a token in its query and fragment": lambda: oauth_portal_url(
        "t", portal_url="ftp://x/?sdk_token=tok-secret-1#sdk_token=tok-secret-1"
    ),
    "base_url, the key in its path": lambda: Tapti(
        api_key=API_KEY, base_url=f"https://x:99999/{API_KEY}"
    ),
    "base_url, credentials and the key": lambda: Tapti(
        api_key=API_KEY, base_url=f"ftp://user:pw@x/{API_KEY.lower()}?a=1&b"
    ),
}


@pytest.mark.parametrize("refused", REFUSED_URLS.values(), ids=REFUSED_URLS.keys())
def test_a_refused_url_is_quoted_without_a_token_a_key_or_credentials(
    refused: Callable[[], object],
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        refused()
    message = str(caught.value)
    assert "://x" in message  # still says which URL
    for secret in ("tok-secret-1", API_KEY.lower(), "user", "pw"):
        assert secret not in message.lower()


# --- what error reporters read in a failed call's frames ----------------------------------------
#
# Sentry's pure_eval, stackprinter and IPython's verbose tracebacks evaluate what a frame's source
# names (``call.secret``, ``self._settings.api_key``); every reporter prints a frame's arguments
# (a key passed by mistake in ``extra_headers``). After a call fails, no frame of the SDK's keeps
# anything but its door's own bookkeeping (probe 13).

_DOOR_LOCALS = {"handling", "method"}  # public_door's: the caller's exception, the method
_SDK = Path(tapti_ext.__file__).parent


def _sdk_frames_with_locals(exc: BaseException) -> dict[str, list[str]]:
    """Each SDK frame in ``exc``'s traceback and chain that keeps more than its door's locals."""
    kept = (
        (frame.f_code.co_qualname, sorted(set(frame.f_locals) - _DOOR_LOCALS))
        for frame in chain_frames(exc)
        if Path(frame.f_code.co_filename).is_relative_to(_SDK)
    )
    return {name: names for name, names in kept if names}


_FAILURES: dict[str, Callable[[MockTaptiServer], dict[str, Any]]] = {
    "401": lambda mock: mock.fail_next(1, status=401) or {},
    "500": lambda mock: mock.fail_next(1, status=500) or {},
    "2xx without its field": lambda mock: mock.fail_next(1, status=200, body={"x": 1}) or {},
    "the key in extra_headers": lambda _: {"extra_headers": {"x-api-key": API_KEY}},
}


_UNRAISED = {("raw", "the key in extra_headers")}  # tapti.raw sends any header it is given


def _doors(tapti: Tapti, extra: dict[str, Any]) -> dict[str, Callable[[], object]]:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415

    body = _generated_body()
    return {
        "wrapper": lambda: tapti.user("u1").create_sdk_token(**CALL, **extra),
        "with_raw_response": lambda: (
            tapti.with_raw_response.user("u1").create_sdk_token(**CALL, **extra).parse()
        ),
        "call": lambda: tapti.call(create_sdk_token, "u1", body=body, **extra),
        "raw": lambda: create_sdk_token.sync_detailed(
            "u1", client=tapti.raw.with_headers(extra.get("extra_headers", {})), body=body
        ),
    }


@pytest.mark.parametrize("failure", list(_FAILURES))
@pytest.mark.parametrize("door", ["wrapper", "with_raw_response", "call", "raw"])
def test_a_failed_call_leaves_no_sdk_frame_with_locals(failure: str, door: str) -> None:
    with (
        MockTaptiServer(api_key=API_KEY) as mock,
        Tapti(api_key=API_KEY, base_url=mock.url, max_retries=0) as tapti,
    ):
        extra = _FAILURES[failure](mock)
        make = _doors(tapti, extra)[door]
        del extra
        try:
            outcome = make()
        except Exception as exc:  # tapti.raw: a KeyError of the generated parser's, as documented
            caught: BaseException = exc
        else:
            assert (door, failure) in _UNRAISED, outcome
            return
    assert _sdk_frames_with_locals(caught) == {}


@pytest.mark.parametrize(
    "request_args",
    [
        {"url": "/users/%2e%2e/sdk-token", "headers": {"x-api-key": API_KEY}},  # a path refused
        {"url": "/users/u1/sdk-token", "json": {"callback_url": f"https://a.example/?k={API_KEY}"}},
        {"url": "/users/u1/sdk-token", "params": 5, "headers": {"x-api-key": API_KEY}},
    ],
    ids=["refused-path", "key-in-body", "unbuildable"],
)
@pytest.mark.parametrize("kind", [Tapti, AsyncTapti])
def test_a_refused_request_through_raws_httpx2_client_leaves_no_sdk_frame_with_locals(
    request_args: dict[str, Any], kind: type[Tapti] | type[AsyncTapti]
) -> None:
    """Its ``build_request`` is a door too (probe 39); httpx2's own frames above it, which
    were given the arguments, are the caller's to keep or not."""
    with MockTaptiServer(api_key=API_KEY) as mock:
        tapti = kind(api_key=API_KEY, base_url=mock.url, max_retries=0)
        raw = tapti.raw
        http = raw.get_httpx_client() if isinstance(tapti, Tapti) else raw.get_async_httpx_client()

        def send() -> None:
            sent = http.send(http.build_request("POST", **request_args))
            if isinstance(http, httpx2.AsyncClient):
                asyncio.run(sent)

        try:
            with pytest.raises(InvalidInputError) as refused:
                send()
        finally:
            tapti.close() if isinstance(tapti, Tapti) else asyncio.run(tapti.aclose())
        assert mock.requests == []
    assert _sdk_frames_with_locals(refused.value) == {}


@pytest.mark.anyio
@pytest.mark.parametrize("failure", list(_FAILURES))
async def test_a_failed_async_call_leaves_no_sdk_frame_with_locals(failure: str) -> None:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415

    body = _generated_body()
    with MockTaptiServer(api_key=API_KEY) as mock:
        async with AsyncTapti(api_key=API_KEY, base_url=mock.url, max_retries=0) as tapti:
            for door in ("wrapper", "call"):
                extra = _FAILURES[failure](mock)
                made = (
                    tapti.user("u1").create_sdk_token(**CALL, **extra)
                    if door == "wrapper"
                    else tapti.call(create_sdk_token, "u1", body=body, **extra)
                )
                with pytest.raises(TaptiError) as caught:
                    await made
                del extra
                assert _sdk_frames_with_locals(caught.value) == {}, door


def test_a_refused_constructor_and_connection_leave_no_sdk_frame_with_locals(
    unused_port: int,
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        Tapti(api_key=API_KEY, base_url="ftp://api.example")
    assert _sdk_frames_with_locals(refused.value) == {}
    with pytest.raises(InvalidInputError) as no_platform:
        oauth_portal_url(SDK_TOKEN, platform="myspace")
    assert _sdk_frames_with_locals(no_platform.value) == {}
    with (
        Tapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{unused_port}", max_retries=0) as tapti,
        pytest.raises(APIConnectionError) as unreachable,
    ):
        tapti.user("u1").create_sdk_token(**CALL)
    assert _sdk_frames_with_locals(unreachable.value) == {}


def test_rich_shows_masked_models_and_raw_client_masked() -> None:
    # rich (and structlog through it) print an attrs object field by field, past its repr.
    pretty = pytest.importorskip("rich.pretty")
    with (
        MockTaptiServer(api_key=API_KEY) as mock,
        Tapti(api_key=API_KEY, base_url=mock.url) as tapti,
    ):
        token = tapti.user("u1").create_sdk_token(**CALL)
        issued = mock.issued_tokens[-1]
        shown = pretty.pretty_repr(token.response)
        raw = pretty.pretty_repr(tapti.raw)
    assert "sdk_token=***" in shown
    assert issued not in shown
    assert "token='***'" in raw
    assert API_KEY not in raw


def test_no_portal_url_stays_in_urllibs_cache() -> None:
    # urllib.parse.urlsplit keeps its last 128 answers (3.11+): an SDK token parsed there would
    # outlive its SdkToken (probe 13). A lookup of the same text would hit the cache.
    from urllib.parse import urlsplit  # noqa: PLC0415

    transport = httpx2.MockTransport(ok)
    with Tapti(api_key=API_KEY, http_client=httpx2.Client(transport=transport)) as tapti:
        token = tapti.user("u1").create_sdk_token(**CALL)
        shown = [token.oauth_portal_url, token.portal_url(platform="youtube"), str(token)]
    hits = urlsplit.cache_info().hits
    for url in shown:
        urlsplit(url)
    assert urlsplit.cache_info().hits == hits


def test_without_urllibs_cache_urls_are_split_alike(tmp_path: Path) -> None:
    """The SDK reaches past that cache through ``urlsplit.__wrapped__``, which is there only
    while CPython caches; an uncached ``urlsplit`` is used as it is (nothing to reach past)."""
    script = tmp_path / "uncached.py"
    script.write_text(
        textwrap.dedent(
            """
            import urllib.parse
            urllib.parse.urlsplit = urllib.parse.urlsplit.__wrapped__  # as before 3.11
            from tapti_ext import _errors
            from tapti_ext.testing import MockTaptiServer
            from tapti_ext import Tapti
            assert _errors.split_url is urllib.parse.urlsplit
            with MockTaptiServer() as mock, Tapti(mock.api_key, base_url=mock.url) as tapti:
                token = tapti.user("u1").create_sdk_token(
                    platforms="youtube", scopes="profile_read",
                    callback_url="https://app.example/cb", redirect_url="https://app.example/done",
                )
            print(token.sdk_token == mock.issued_tokens[0], token.portal_url(platform="youtube"))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    issued, portal_url = done.stdout.split()
    assert issued == "True"
    assert portal_url.startswith("https://oauth.tapti.dev")
    assert portal_url.endswith("&platform=youtube")
