"""What an adversarial review found, each pinned by a test: hostile servers, inputs, settings.

Every case ends in a ``TaptiError`` (or ``InvalidInputError`` before sending), never a raw
exception, a second token, or the key in a message or a frame's locals.
"""

from __future__ import annotations

import inspect
import socket
import sys
import traceback
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trustme
from tapti_api_client.api.users import create_sdk_token as operation
from tapti_api_client.models import CreateSdkTokenRequest
from tapti_api_client.types import UNSET, Unset
from test_deadline import Server, serve
from test_escape_hatches import BODY, CALL

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    AsyncTapti,
    InvalidInputError,
    Tapti,
    TaptiError,
)
from tapti_ext._client import _check_models
from tapti_ext.testing import MockTaptiServer

__all__ = ["serve"]  # the fixture, imported for pytest

KEY = "tk_live_hostile_0123456789"


def sends(data: bytes) -> Callable[[socket.socket, Server], None]:
    def handler(connection: socket.socket, _: Server) -> None:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_RDWR)

    return handler


@pytest.fixture
def mock() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=KEY) as server:
        yield server


# --- no retry once a 2xx arrived, even after interim answers ------------------------------------

INTERIM_THEN_BROKEN_200 = (
    b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Le"
)


def test_a_2xx_after_an_interim_answer_is_never_retried(serve: Callable[..., Server]) -> None:
    server = serve(sends(INTERIM_THEN_BROKEN_200))
    with (
        Tapti(api_key=KEY, base_url=server.url, max_retries=2) as tapti,
        pytest.raises(APIResponseValidationError),
    ):
        tapti.user("u1").create_sdk_token(**CALL)
    assert server.attempts == 1  # another attempt would have issued a second token


@pytest.mark.anyio
async def test_async_a_2xx_after_an_interim_answer_is_never_retried(
    serve: Callable[..., Server],
) -> None:
    server = serve(sends(INTERIM_THEN_BROKEN_200))
    async with AsyncTapti(api_key=KEY, base_url=server.url, max_retries=2) as tapti:
        with pytest.raises(APIResponseValidationError):
            await tapti.user("u1").create_sdk_token(**CALL)
    assert server.attempts == 1


# --- the key: never in a message, nor in the locals of a frame an error reporter prints ---------


def test_a_key_echoed_in_a_malformed_header_is_redacted(serve: Callable[..., Server]) -> None:
    echo = f"HTTP/1.1 200 OK\r\nx-api-key {KEY.upper()}\r\n\r\n".encode()
    server = serve(sends(echo))
    with (
        Tapti(api_key=KEY, base_url=server.url, max_retries=0) as tapti,
        pytest.raises(TaptiError) as info,
    ):
        tapti.user("u1").create_sdk_token(**CALL)
    assert KEY.lower() not in str(info.value).lower()


def test_no_frame_of_a_failed_call_holds_the_key(serve: Callable[..., Server]) -> None:
    def stall(_: socket.socket, server: Server) -> None:
        server.pause(5)

    server = serve(stall)
    with (
        Tapti(api_key=KEY, base_url=server.url, max_retries=0, timeout=0.3) as tapti,
        pytest.raises(APIConnectionError) as info,
    ):
        tapti.user("u1").create_sdk_token(**CALL)
    # What Sentry, `pytest --showlocals` and rich tracebacks print: every frame's locals.
    # httpcore2's frames hold the request headers (as bytes, while writing them); the SDK clears
    # the locals of every frame below the call, whichever operation failed.
    cleared = 0
    for cause in causes(info.value):
        tb = cause.__traceback__
        while tb is not None:
            assert tb.tb_frame.f_locals == {}, tb.tb_frame.f_code.co_name
            cleared += 1
            tb = tb.tb_next
    assert cleared > 3  # httpcore2's frames were there, and were cleared
    text = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert KEY not in text


def causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current = exc.__cause__ or exc.__context__
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def test_a_huge_request_id_is_shortened_in_the_message(mock: MockTaptiServer) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(503, headers={"x-request-id": "r" * 100_000})

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key=KEY, http_client=http, max_retries=0)
        with pytest.raises(TaptiError) as info:
            tapti.user("u1").create_sdk_token(**CALL)
    assert len(str(info.value)) < 500
    # The attribute is bounded too: it reaches spans and logs; a real id is far shorter.
    assert getattr(info.value, "request_id", "") == "r" * 200 + "..."


# --- inputs refused before a byte is sent -------------------------------------------------------


@pytest.mark.parametrize(
    "extras",
    [
        {"extra_query": {"q": "\ud800"}},
        {"extra_query": {"q": "x" * 70_000}},
        {
            "extra_body": {
                "deep": __import__("functools").reduce(lambda a, _: [a], range(100_000), [])
            }
        },
        {"extra_headers": {"x-a": "one\r\nx-injected: two"}},
        {"extra_headers": {"bad name": "v"}},
        {"extra_headers": {"content-length": "0"}},
    ],
    ids=["surrogate-query", "huge-query", "deep-body", "crlf-value", "bad-name", "framing"],
)
def test_extras_that_cannot_be_sent_are_refused(
    mock: MockTaptiServer, extras: dict[str, Any]
) -> None:
    with Tapti(api_key=KEY, base_url=mock.url) as tapti, pytest.raises(InvalidInputError):
        tapti.user("u1").create_sdk_token(**CALL, **extras)
    assert mock.requests == []


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("u1",), {"body": {"user_platforms": ["YOUTUBE"]}}),  # a dict, not the model
        (("u1",), {"body": None}),
        ((None,), {"body": BODY}),  # would be sent as the user "None"
        ((object(),), {"body": BODY}),
        (("..",), {"body": BODY}),  # would change the path
    ],
    ids=["dict-body", "no-body", "none-id", "object-id", "dot-dot"],
)
def test_call_refuses_bad_arguments(
    mock: MockTaptiServer, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with Tapti(api_key=KEY, base_url=mock.url) as tapti, pytest.raises(InvalidInputError):
        tapti.call(operation, *args, **kwargs)
    assert mock.requests == []


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        (
            {"body": {"user_platforms": ["YOUTUBE"]}},
            "create_sdk_token body must be a CreateSdkTokenRequest (from tapti_api_client.models),"
            " not dict: CreateSdkTokenRequest.from_dict(...) makes one from a dict",
        ),
        (
            {"bodyy": BODY},  # misspelt: named before the missing body
            "create_sdk_token: no argument named 'bodyy'; it takes id, body",
        ),
    ],
    ids=["dict-body", "misspelt"],
)
def test_call_says_what_an_argument_should_be_in_the_callers_terms(
    mock: MockTaptiServer, kwargs: dict[str, Any], said: str
) -> None:
    with Tapti(api_key=KEY, base_url=mock.url) as tapti, pytest.raises(InvalidInputError) as info:
        tapti.call(operation, "u1", **kwargs)
    assert str(info.value) == said
    assert mock.requests == []


def test_an_int_id_beyond_the_digit_limit(mock: MockTaptiServer) -> None:
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(InvalidInputError):
            Tapti(api_key=KEY, base_url=mock.url).user(10**700)
    finally:
        sys.set_int_max_str_digits(limit)


def test_call_turns_deeply_nested_json_into_a_validation_error() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    body = b'{"oauth_portal_url": ' + deep + b"}"
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, content=body))
    with httpx2.Client(transport=transport) as http:
        tapti = Tapti(api_key=KEY, http_client=http, max_retries=0)
        with pytest.raises(APIResponseValidationError):
            tapti.call(operation, "u1", body=BODY)


# --- tapti.raw --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["callback_url", "redirect_url"])
def test_a_url_the_sdk_only_passes_on_may_hold_a_host_httpx2_cannot_decode(
    mock: MockTaptiServer, field: str
) -> None:
    """Browsers open these, httpx2 never resolves them: the base URL's IDNA check is not theirs."""
    with Tapti(api_key=KEY, base_url=mock.url) as tapti:
        call = {**CALL, field: "https://my_app.xn--bcher-kva.example/done"}
        assert tapti.user("u1").create_sdk_token(**call).sdk_token


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["kxn--.example", "api_1.xn--bcher-kva.example"])
async def test_a_raw_url_whose_host_httpx2_cannot_decode_is_invalid_input(
    mock: MockTaptiServer, host: str
) -> None:
    with Tapti(api_key=KEY, base_url=mock.url) as tapti, pytest.raises(InvalidInputError):
        tapti.raw.get_httpx_client().get(f"https://{host}/v1")
    async with AsyncTapti(api_key=KEY, base_url=mock.url) as atapti:
        with pytest.raises(InvalidInputError):
            await atapti.raw.get_async_httpx_client().get(f"https://{host}/v1")


def _circular() -> dict[str, Any]:
    looped: dict[str, Any] = {}
    looped["self"] = looped
    return looped


RAW_BUILD_REFUSALS: dict[str, tuple[Callable[[str], str], dict[str, Any]]] = {
    "a bad port": (lambda url: url.replace("127.0.0.1:", "127.0.0.1:9.:"), {}),
    "a header beyond ASCII": (str, {"headers": {"x-note": "\u20ac"}}),
    "a set in json=": (str, {"json": {"a": {1, 2}}}),
    "NaN in json=": (str, {"json": {"a": float("nan")}}),
    "a circular json=": (str, {"json": _circular()}),
    "content= that is no bytes": (str, {"content": 123}),
    "params= that is no mapping": (str, {"params": 5}),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", RAW_BUILD_REFUSALS)
async def test_what_httpx2_cannot_build_through_raw_is_invalid_input(
    mock: MockTaptiServer, case: str
) -> None:
    """These came out as httpx2.InvalidURL, UnicodeEncodeError, TypeError or ValueError, past
    an ``except TaptiError``; nothing was sent, then as now."""
    spoil, kwargs = RAW_BUILD_REFUSALS[case]
    url = spoil(f"{mock.url}/users/u1/sdk-token")
    refused = r"cannot be built .*nothing was sent"
    with (
        Tapti(api_key=KEY, base_url=mock.url) as tapti,
        pytest.raises(InvalidInputError, match=refused),
    ):
        tapti.raw.get_httpx_client().post(url, **kwargs)
    async with AsyncTapti(api_key=KEY, base_url=mock.url) as atapti:
        with pytest.raises(InvalidInputError, match=refused):
            await atapti.raw.get_async_httpx_client().post(url, **kwargs)
    assert mock.requests == []


@pytest.mark.anyio
async def test_a_raw_method_or_url_of_the_wrong_kind_is_invalid_input(
    mock: MockTaptiServer,
) -> None:
    """A bytes or int URL raised TypeError; a method beyond ASCII, the SDK's own TypeError."""
    cases: list[tuple[Any, Any]] = [
        ("POST", b"/x"),
        ("POST", 5),
        ("G\u00c9T", "/x"),
        (b"GET", "/x"),
    ]
    with Tapti(api_key=KEY, base_url=mock.url) as tapti:
        for method, url in cases:
            with pytest.raises(InvalidInputError):
                tapti.raw.get_httpx_client().request(method, url)
    async with AsyncTapti(api_key=KEY, base_url=mock.url) as atapti:
        for method, url in cases:
            with pytest.raises(InvalidInputError):
                await atapti.raw.get_async_httpx_client().request(method, url)
    assert mock.requests == []


def test_raw_misuse_is_a_tapti_error(mock: MockTaptiServer) -> None:
    with Tapti(api_key=KEY, base_url=mock.url) as tapti:
        with pytest.raises(InvalidInputError):
            tapti.raw.get_async_httpx_client()
        with pytest.raises(InvalidInputError):
            tapti.raw.with_headers(None)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            tapti.raw.with_headers({1: 2})  # type: ignore[dict-item]
        tapti.raw.get_httpx_client().close()  # closes nothing: the pool is tapti's
        assert operation.sync_detailed("u1", client=tapti.raw, body=BODY).status_code == 200


# --- settings from the environment ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "base_url"),
    [
        ("TAPTI_BASE_URL", "https://xn--", None),
        # "xn--" inside a label: httpx2 IDNA-decodes the whole host, which raised idna's errors.
        ("TAPTI_BASE_URL", "https://kxn--.example", None),
        ("TAPTI_BASE_URL", "https://api_1.xn--bcher-kva.example", None),
        ("HTTPS_PROXY", "http://xn--:1", "https://api.example"),
        # httpx2 accepts any port; the socket took 99999 for 34463 (sync), or raised (async).
        ("HTTPS_PROXY", "http://127.0.0.1:99999", "https://api.example"),
        ("HTTPS_PROXY", "http://127.0.0.1:0", "https://api.example"),
        ("SSL_CERT_DIR", "/nonexistent/certs", "https://api.example"),
    ],
)
def test_unusable_settings_are_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, base_url: str | None
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(InvalidInputError, match=variable):
        Tapti(api_key=KEY, base_url=base_url)


def test_a_key_log_file_that_cannot_be_opened_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Python's ssl opens ``SSLKEYLOGFILE`` while it reads the CA file ``SSL_CERT_FILE`` names
    (probe 19): the message named the CA file, which was fine."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text(trustme.CA().cert_pem.bytes().decode(), encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "missing" / "keys.log"))
    with pytest.raises(InvalidInputError, match=r"^SSLKEYLOGFILE cannot be used") as info:
        Tapti(api_key=KEY, base_url="https://api.example")
    assert "keys.log" in str(info.value)
    assert "SSL_CERT_FILE" not in str(info.value)


@pytest.mark.parametrize(
    "base_url", ["https://xn--", "https://kxn--.example", "https://api_1.xn--bcher-kva.example"]
)
def test_an_idna_error_in_base_url_is_refused_naming_the_host(base_url: str) -> None:
    for client in (Tapti, AsyncTapti):
        with pytest.raises(InvalidInputError, match="base_url") as info:
            client(api_key=KEY, base_url=base_url)
        assert base_url.partition("//")[2] in str(info.value)


def test_an_empty_lower_case_proxy_variable_wins(
    monkeypatch: pytest.MonkeyPatch, unused_port: int
) -> None:
    # As urllib and httpx2 read them: https_proxy="" means no proxy, whatever HTTPS_PROXY says.
    monkeypatch.setenv("https_proxy", "")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{unused_port}")
    from tapti_ext._pool import PoolSettings  # noqa: PLC0415

    assert PoolSettings("https://api.example").proxy is None


def _list_body(*, body: list[CreateSdkTokenRequest]) -> dict[str, Any]: ...
def _union_body(*, body: CreateSdkTokenRequest | Unset = UNSET) -> dict[str, Any]: ...
def _model_or_dict_body(*, body: CreateSdkTokenRequest | dict[str, Any]) -> dict[str, Any]: ...


@pytest.mark.parametrize(
    ("builder", "value", "refused"),
    [
        (_list_body, [BODY], False),  # list[Model]: not judged (only a class or a union of them)
        (_union_body, BODY, False),
        (_union_body, UNSET, False),
        (_union_body, {"user_platforms": []}, True),
        (_model_or_dict_body, {"user_platforms": []}, False),  # a dict type in the union
    ],
    ids=["list-of-models", "union-model", "union-unset", "union-dict", "model-or-dict"],
)
def test_model_arguments_are_judged_only_by_annotations_that_say_a_model(
    builder: Any, value: object, refused: bool
) -> None:
    """What a future generated builder may take: a model only where its annotation says so."""
    signature = inspect.signature(builder, eval_str=True)  # as the generated code has them
    check = partial(_check_models, signature, {"body": value}, "an_operation")
    if refused:
        with pytest.raises(InvalidInputError, match="body must be a CreateSdkTokenRequest"):
            check()
    else:
        check()
