"""Every failure maps to one class of the TaptiError hierarchy, with the response's details."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from _fields import PORTAL_FIELD, portal_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    SdkToken,
    Tapti,
    TaptiError,
    UnprocessableEntityError,
)
from tapti_ext.testing import MockTaptiServer

API_KEY = "sk_test_errors"
PORTAL = "https://oauth.tapti.dev?sdk_token=tok_errors"
CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture(autouse=True)
def no_sleep(slept: list[float]) -> list[float]:
    return slept


class Recorder:
    """A MockTransport handler that answers with one response and counts the requests."""

    def __init__(self, answer: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.answer(request)


def call(handler: Handler, *, max_retries: int = 0, **client_args: Any) -> Any:
    transport = httpx2.MockTransport(handler)
    with httpx2.Client(transport=transport, **client_args) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http, max_retries=max_retries)
        return tapti.user("user_123").create_sdk_token(**CALL)


def raises(handler: Handler, expected: type[Exception], **kwargs: Any) -> Any:
    with pytest.raises(expected) as info:
        call(handler, **kwargs)
    return info.value


# --- status codes ------------------------------------------------------------------------------

STATUS_CLASSES: list[tuple[int, type[APIStatusError]]] = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, InternalServerError),
    (503, InternalServerError),
    (504, InternalServerError),
    (599, InternalServerError),
]


@pytest.mark.parametrize(("status", "error_class"), STATUS_CLASSES)
def test_status_maps_to_error_class(status: int, error_class: type[APIStatusError]) -> None:
    handler = Recorder(
        lambda _: httpx2.Response(
            status, json={"message": "nope here"}, headers={"x-request-id": "req_7"}
        )
    )
    error = raises(handler, error_class)
    assert type(error) is error_class
    assert isinstance(error, APIStatusError)
    assert isinstance(error, TaptiError)
    assert error.status_code == status
    assert error.body == {"message": "nope here"}
    assert error.request_id == "req_7"
    assert isinstance(error.response, httpx2.Response)
    assert error.response.status_code == status
    assert str(status) in str(error)
    assert "nope here" in str(error)
    assert len(handler.requests) == 1


@pytest.mark.parametrize("status", [405, 406, 408, 410, 413, 418, 451, 300, 301, 302, 303, 304])
def test_other_statuses_are_plain_api_status_error(status: int) -> None:
    handler = Recorder(lambda _: httpx2.Response(status, json={"error": "other"}))
    error = raises(handler, APIStatusError)
    assert type(error) is APIStatusError
    assert error.status_code == status
    assert str(status) in str(error)
    assert "other" in str(error)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("client_follows", [False, True])
def test_redirects_are_not_followed(status: int, client_follows: bool) -> None:
    handler = Recorder(
        lambda request: (
            httpx2.Response(status, headers={"location": "https://evil.example/steal"})
            if request.url.host == "api.tapti.ai"
            else httpx2.Response(200, json=portal_body(PORTAL))
        )
    )
    error = raises(handler, APIStatusError, follow_redirects=client_follows)
    assert type(error) is APIStatusError
    assert error.status_code == status
    assert [r.url.host for r in handler.requests] == ["api.tapti.ai"]
    assert str(error).endswith(
        "; a redirect to https://evil.example/steal, which the SDK does not follow:"
        " is the base URL right?"
    )


def test_a_redirects_location_is_quoted_without_secrets_and_bounded() -> None:
    """It says where the answer pointed (it was only the status line), as a refused URL is
    quoted: no credentials, no query value or fragment (a one-time code, a signature), the key
    masked in the path too, 100 characters at most."""
    location = (
        f"https://user:pa55word@x.example/{API_KEY}/{'a' * 300}"
        "?access_token=at_secret&sdk_token=tok_secret#frag_secret"
    )
    handler = Recorder(lambda _: httpx2.Response(302, headers={"location": location}))
    message = str(raises(handler, APIStatusError))
    assert "a redirect to https://x.example/***/aaa" in message
    for secret in (API_KEY, "pa55word", "at_secret", "tok_secret", "frag_secret", "a" * 120):
        assert secret not in message
    short = Recorder(lambda _: httpx2.Response(302, headers={"location": location[-60:]}))
    assert "a redirect to aaaa?access_token=***&sdk_token=***#***, which" in str(
        raises(short, APIStatusError)
    )


def test_a_2xx_the_spec_does_not_document_is_not_a_token() -> None:
    # The spec documents 200 only: another 2xx is not the documented answer, and is not
    # retried either (the server did something).
    recorder = Recorder(lambda _: httpx2.Response(201, json=portal_body(PORTAL)))
    with pytest.raises(APIResponseValidationError, match="201"):
        call(recorder)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"message": "m1", "error": "e1", "detail": "d1"}, "m1"),
        ({"error": "e2", "detail": "d2"}, "e2"),
        ({"detail": "d3"}, "d3"),
        ({"error": {"message": "nested m4"}}, "nested m4"),
        ({"message": "", "error": "e5"}, "e5"),
    ],
)
def test_message_has_status_and_server_message(body: dict[str, Any], said: str) -> None:
    error = raises(Recorder(lambda _: httpx2.Response(422, json=body)), UnprocessableEntityError)
    message = str(error)
    assert "422" in message
    assert said in message
    for other in ("m1", "e1", "d1", "e2", "d2"):
        if other != said:
            assert other not in message
    assert error.body == body


def test_text_body_is_kept_as_text() -> None:
    error = raises(
        Recorder(lambda _: httpx2.Response(502, text="<html>Bad gateway</html>")),
        InternalServerError,
    )
    assert error.body == "<html>Bad gateway</html>"
    assert "502" in str(error)


def test_empty_body_and_no_request_id() -> None:
    error = raises(Recorder(lambda _: httpx2.Response(404)), NotFoundError)
    assert error.body is None
    assert error.request_id is None
    assert "404" in str(error)


def test_deeply_nested_error_body_is_still_a_status_error() -> None:
    error = raises(Recorder(lambda _: httpx2.Response(400, content=b"[" * 100_000)), TaptiError)
    assert type(error) is BadRequestError
    assert error.status_code == 400


def test_invalid_utf8_body_does_not_escape_as_decode_error() -> None:
    error = raises(
        Recorder(lambda _: httpx2.Response(400, content=b"\xff\xfe{not json")), BadRequestError
    )
    assert isinstance(error.body, str)


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("2.5", 2.5), (None, None)])
def test_rate_limit_error_retry_after(header: str | None, expected: float | None) -> None:
    headers = {} if header is None else {"retry-after": header}
    error = raises(
        Recorder(lambda _: httpx2.Response(429, json={"message": "slow down"}, headers=headers)),
        RateLimitError,
    )
    assert error.retry_after == expected
    assert "slow down" in str(error)


class _DeclaredHugeStream(httpx2.SyncByteStream):
    """A body whose Content-Length claims more than the SDK will read."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"message": "big"}'


def _huge(status: int) -> Handler:
    return Recorder(
        lambda _: httpx2.Response(
            status, headers={"content-length": str(10 * 1024 * 1024)}, stream=_DeclaredHugeStream()
        )
    )


def test_huge_success_body_is_a_validation_error() -> None:
    error = raises(_huge(200), APIResponseValidationError)
    assert error.status_code == 200


@pytest.mark.parametrize(
    ("status", "error_class"), [(400, BadRequestError), (503, InternalServerError)]
)
def test_huge_error_body_is_still_a_status_error(
    status: int, error_class: type[APIStatusError]
) -> None:
    error = raises(_huge(status), TaptiError)
    assert type(error) is error_class
    assert error.status_code == status


# --- 2xx bodies that are not the documented shape ----------------------------------------------

INVALID_SUCCESS: list[tuple[dict[str, Any], str]] = [
    ({"text": "<html>ok</html>"}, "not json"),
    ({"content": b"\xff\xfe\x00"}, "not json"),
    ({"content": b""}, "not json"),
    ({"json": ["https://oauth.tapti.dev?sdk_token=x"]}, "list"),
    ({"json": "https://oauth.tapti.dev?sdk_token=x"}, "str"),
    ({"content": b"null"}, "nonetype"),
    ({"json": 42}, "int"),
    ({"json": {}}, PORTAL_FIELD),
    ({"json": {"url": PORTAL}}, PORTAL_FIELD),
    ({"json": portal_body(None)}, PORTAL_FIELD),
    ({"json": portal_body(5)}, PORTAL_FIELD),
    ({"json": portal_body("")}, PORTAL_FIELD),
    ({"json": portal_body("/portal?sdk_token=x")}, "absolute"),
    ({"json": portal_body("oauth.tapti.dev?sdk_token=x")}, "absolute"),
    ({"json": portal_body("ftp://oauth.tapti.dev?sdk_token=x")}, "absolute"),
    ({"json": portal_body("javascript:alert(1)")}, "absolute"),
    ({"json": portal_body("https://")}, "absolute"),
    ({"json": portal_body("https:///x?sdk_token=x")}, "absolute"),
    ({"json": portal_body("https://[::1?sdk_token=x")}, PORTAL_FIELD),
    ({"json": portal_body("https://[zz]/?sdk_token=x")}, PORTAL_FIELD),
    ({"content": b"[" * 100_000}, "json"),
]


@pytest.mark.parametrize(
    ("response_args", "said"),
    INVALID_SUCCESS,
    ids=[repr(next(iter(args.values())))[:40] for args, _ in INVALID_SUCCESS],
)
def test_bad_success_body_is_a_validation_error(response_args: dict[str, Any], said: str) -> None:
    handler = Recorder(
        lambda _: httpx2.Response(200, headers={"x-request-id": "req_v"}, **response_args)
    )
    error = raises(handler, APIResponseValidationError)
    assert type(error) is APIResponseValidationError
    assert isinstance(error, TaptiError)
    assert not isinstance(error, KeyError | json.JSONDecodeError)
    assert error.status_code == 200
    assert error.request_id == "req_v"
    assert said in str(error).lower()
    assert len(handler.requests) == 1


def test_validation_error_through_raw_response_parse() -> None:
    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"nope": 1})

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http)
        raw = tapti.with_raw_response.user("u").create_sdk_token(**CALL)
        assert raw.status_code == 200
        with pytest.raises(APIResponseValidationError):
            raw.parse()


# --- no response at all ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.ConnectError("connection refused"),
        httpx2.ReadError("connection reset"),
        httpx2.WriteError("broken pipe"),
        httpx2.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
def test_transport_failure_is_connection_error(exc: httpx2.RequestError) -> None:
    def handler(_: httpx2.Request) -> httpx2.Response:
        raise exc

    error = raises(handler, APIConnectionError)
    assert type(error) is APIConnectionError
    assert isinstance(error, TaptiError)
    assert error.__cause__ is exc


def test_a_request_h11_refuses_to_send_is_invalid_input_and_not_retried() -> None:
    def refuse(_: httpx2.Request) -> httpx2.Response:
        raise httpx2.LocalProtocolError("bad")

    recorder = Recorder(refuse)
    error = raises(recorder, InvalidInputError)
    assert str(error) == "the request cannot be sent: bad"
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.ConnectTimeout("connect"),
        httpx2.ReadTimeout("read"),
        httpx2.WriteTimeout("write"),
        httpx2.PoolTimeout("pool"),
    ],
)
def test_timeout_is_api_timeout_error(exc: httpx2.TimeoutException) -> None:
    def handler(_: httpx2.Request) -> httpx2.Response:
        raise exc

    error = raises(handler, APITimeoutError)
    assert isinstance(error, APIConnectionError)
    assert "timed out" in str(error)


# --- async -------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error_class"),
    [
        (lambda: httpx2.Response(401, json={"message": "bad key"}), AuthenticationError),
        (lambda: httpx2.Response(302, headers={"location": "https://x.example"}), APIStatusError),
        (lambda: httpx2.Response(200, text="nope"), APIResponseValidationError),
        (lambda: httpx2.Response(503), InternalServerError),
    ],
)
async def test_async_errors(
    answer: Callable[[], httpx2.Response], error_class: type[TaptiError]
) -> None:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return answer()

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        tapti = AsyncTapti(api_key=API_KEY, http_client=http, max_retries=0)
        with pytest.raises(error_class) as info:
            await tapti.user("u").create_sdk_token(**CALL)
    assert type(info.value) is error_class
    assert len(sent) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (httpx2.ConnectError("refused"), APIConnectionError),
        (httpx2.ReadTimeout("slow"), APITimeoutError),
    ],
)
async def test_async_transport_errors(
    exc: httpx2.RequestError, error_class: type[APIConnectionError]
) -> None:
    def handler(_: httpx2.Request) -> httpx2.Response:
        raise exc

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        tapti = AsyncTapti(api_key=API_KEY, http_client=http, max_retries=0)
        with pytest.raises(error_class) as info:
            await tapti.user("u").create_sdk_token(**CALL)
    assert type(info.value) is error_class


# --- whatever the server sends, only TaptiError comes out ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
portal_like = st.builds(
    lambda scheme, rest: portal_body(scheme + rest),
    st.sampled_from(["https://", "http://", "", "ftp://", "https:"]),
    st.text(alphabet=st.sampled_from("[]:@/?#%=&.aZ0 \x00\u00e9"), max_size=30)
    | st.text(max_size=30),
)
bodies = (
    st.binary(max_size=64)
    | json_values.map(lambda v: json.dumps(v).encode())
    | portal_like.map(lambda v: json.dumps(v).encode())
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=st.integers(100, 599), body=bodies)
def test_any_response_gives_a_token_or_a_tapti_error(status: int, body: bytes) -> None:
    handler = Recorder(lambda _: httpx2.Response(status, content=body))
    outcome: object
    try:
        outcome = call(handler)
    except TaptiError as error:  # anything else escapes and fails the test
        outcome = error
    success = 200 <= status < 300
    if isinstance(outcome, TaptiError):
        assert isinstance(outcome, APIResponseValidationError if success else APIStatusError)
    else:
        assert success
        assert isinstance(outcome, SdkToken)
        assert outcome.oauth_portal_url == json.loads(body)[PORTAL_FIELD]


# --- bodies read with a cap, whatever their framing -------------------------------------------


def _gzip_answer(status: int, payload: bytes) -> Handler:
    compressed = gzip.compress(payload)
    return lambda _: httpx2.Response(
        status,
        content=compressed,
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )


def test_compressed_body_is_decoded_and_parsed() -> None:
    payload = json.dumps(portal_body(PORTAL)).encode()
    token = call(_gzip_answer(200, payload))
    assert token.oauth_portal_url == PORTAL


def test_compressed_body_that_expands_past_the_cap_is_refused() -> None:
    bomb = json.dumps(portal_body("a" * (20 << 20))).encode()  # 20 MiB of text, ~20 KiB gzipped
    error = raises(_gzip_answer(200, bomb), APIResponseValidationError)
    assert "larger than" in str(error)


def test_compressed_error_body_is_decoded_into_the_status_error() -> None:
    error = raises(_gzip_answer(404, b'{"message": "no such user"}'), NotFoundError)
    assert error.body == {"message": "no such user"}
    assert "no such user" in str(error)


# --- a caller's event hooks ---------------------------------------------------------------------


def test_raise_for_status_event_hook_still_gives_the_typed_error(
    tapti_mock: MockTaptiServer,
) -> None:
    def raise_for_status(response: httpx2.Response) -> None:
        response.raise_for_status()

    with httpx2.Client(event_hooks={"response": [raise_for_status]}) as http:
        tapti = Tapti(api_key="not-the-key", base_url=tapti_mock.url, http_client=http)
        with pytest.raises(AuthenticationError) as info:
            tapti.user("u").create_sdk_token(**CALL)
        assert http.event_hooks["response"] == [raise_for_status]  # the SDK added no hook
    assert info.value.status_code == 401
    assert info.value.request_id == "req_1"
    # httpx2 closed the response unread when the caller's hook raised: no body to quote.
    assert info.value.body is None


def test_a_hook_that_reads_the_body_keeps_it_for_the_error(tapti_mock: MockTaptiServer) -> None:
    def read_then_raise(response: httpx2.Response) -> None:
        response.read()
        response.raise_for_status()

    with httpx2.Client(event_hooks={"response": [read_then_raise]}) as http:
        tapti = Tapti(api_key="not-the-key", base_url=tapti_mock.url, http_client=http)
        with pytest.raises(AuthenticationError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert info.value.body == {"message": "invalid or missing API key"}
    assert "invalid or missing API key" in str(info.value)


@pytest.mark.anyio
async def test_async_raise_for_status_event_hook_still_gives_the_typed_error(
    tapti_mock: MockTaptiServer,
) -> None:
    async def raise_for_status(response: httpx2.Response) -> None:
        response.raise_for_status()

    async with httpx2.AsyncClient(event_hooks={"response": [raise_for_status]}) as http:
        tapti = AsyncTapti(api_key="not-the-key", base_url=tapti_mock.url, http_client=http)
        with pytest.raises(AuthenticationError):
            await tapti.user("u").create_sdk_token(**CALL)


# --- text that cannot be sent ------------------------------------------------------------------


def test_portal_url_with_a_lone_surrogate_is_a_validation_error() -> None:
    # json.dumps writes the lone surrogate as the escape \udcff, which json.loads gives back.
    body = json.dumps(portal_body("https://oauth.tapti.dev?sdk_token=abc&origin=\udcff")).encode()
    error = raises(lambda _: httpx2.Response(200, content=body), APIResponseValidationError)
    assert "oauth_portal_url holds whitespace, control characters or invalid text" in str(error)


def test_short_api_key_is_not_redacted_out_of_ordinary_words() -> None:
    answer = lambda _: httpx2.Response(401, json={"message": "API key rejected"})  # noqa: E731
    with httpx2.Client(transport=httpx2.MockTransport(answer)) as http:
        tapti = Tapti(api_key="k", http_client=http, max_retries=0)
        with pytest.raises(AuthenticationError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert "API key rejected" in str(info.value)


# --- whatever the server sends back --------------------------------------------------------------


@pytest.mark.parametrize("charset", ["hex", "rot13", "base64", "idna", "no-such-charset"])
def test_error_body_in_an_odd_charset_is_still_a_status_error(charset: str) -> None:
    answer = lambda _: httpx2.Response(  # noqa: E731
        400, content=b"\xff oops", headers={"content-type": f"text/plain; charset={charset}"}
    )
    error = raises(answer, BadRequestError)
    assert isinstance(error.body, str)


def test_key_echoed_in_headers_or_reason_is_masked_in_the_message() -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        key = request.headers["x-api-key"]
        return httpx2.Response(
            400,
            headers={"x-request-id": key},
            extensions={"reason_phrase": b"bad key " + key.encode()},
        )

    error = raises(answer, BadRequestError)
    assert API_KEY not in str(error)
    assert "***" in str(error)


def test_short_key_echoed_alone_is_masked() -> None:
    answer = lambda _: httpx2.Response(401, json={"message": "bad key k7: API key rejected"})  # noqa: E731
    with httpx2.Client(transport=httpx2.MockTransport(answer)) as http:
        tapti = Tapti(api_key="k7", http_client=http, max_retries=0)
        with pytest.raises(AuthenticationError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert str(info.value) == (
        "401 Unauthorized: bad key ***: API key rejected; "
        "the API key came from the api_key argument"
    )
