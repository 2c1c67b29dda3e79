"""What the SDK does not know yet, reachable anyway: extra_*, with_options, call() and raw.

Over real HTTP against the project's mock, with httpx2.MockTransport only where a body must be
exactly wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import http.server
import json
import pickle
import threading
import traceback
import types
from collections.abc import Callable, Iterator
from http import cookiejar
from importlib import resources
from typing import Any, ClassVar

import httpx2
import pytest
from tapti_api_client.api.users import create_sdk_token as operation
from tapti_api_client.models import CreateSdkTokenRequest, CreateSdkTokenResponse, Platform, Scope

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AsyncTapti,
    AuthenticationError,
    InternalServerError,
    InvalidInputError,
    SdkToken,
    Tapti,
    TaptiError,
    _cookies,
    oauth_portal_url,
)
from tapti_ext.testing import MockTaptiServer

CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
BODY = CreateSdkTokenRequest(
    user_platforms=[Platform.YOUTUBE],
    enabled_scopes=[Scope.PROFILE_READ],
    callback_url="https://app.example/cb",
    redirect_url="https://app.example/done",
)


@pytest.fixture
def server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key="key-escape") as mock:
        yield mock


@pytest.fixture
def tapti(server: MockTaptiServer) -> Iterator[Tapti]:
    with Tapti(api_key=server.api_key, base_url=server.url, max_retries=0) as client:
        yield client


def test_extras_are_merged_into_the_generated_request(
    tapti: Tapti, server: MockTaptiServer
) -> None:
    token = tapti.user("u1").create_sdk_token(
        **CALL,
        extra_body={"expires_in": 900},
        extra_headers={"x-trace-id": "t-1"},
        extra_query={"dry_run": "1"},
    )
    assert isinstance(token, SdkToken)
    sent = server.requests[-1]
    assert sent.json["expires_in"] == 900
    assert sent.json["user_platforms"] == ["YOUTUBE"]  # the generated body is kept
    assert sent.headers["x-trace-id"] == "t-1"
    assert sent.path == "/users/u1/sdk-token?dry_run=1"


class _NamesWhatItLacks(dict[str, Any]):
    # With its own __iter__, dict() reads a subclass through keys(), then each key.
    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> Any:
        return ["x-missing"]


@pytest.mark.parametrize("extra", ["extra_headers", "extra_query", "extra_body"])
def test_an_extra_that_cannot_be_read_is_a_typed_error(
    tapti: Tapti, server: MockTaptiServer, extra: str
) -> None:
    # Review 16 (pre-existing): a raw KeyError came out of reading it; nothing may be sent.
    with pytest.raises(InvalidInputError, match=rf"^{extra} could not be read as a mapping"):
        tapti.user("u1").create_sdk_token(**CALL, **{extra: _NamesWhatItLacks(a="1")})
    assert server.requests == []


REPLACEMENTS = {
    "user_platforms": ["TIKTOK"],
    "enabled_scopes": [],
    "callback_url": "https://evil.example/cb",
    "redirect_url": "javascript:alert(1)",
}


@pytest.mark.parametrize("field", REPLACEMENTS)
def test_extra_body_cannot_set_a_field_create_sdk_token_has_an_argument_for(
    tapti: Tapti, server: MockTaptiServer, field: str
) -> None:
    """It was sent, past the checks its argument has, and the token described the request as
    the arguments had it (platforms YOUTUBE, while the API was asked for TIKTOK)."""
    extra = {field: REPLACEMENTS[field]}
    with pytest.raises(InvalidInputError, match=f"extra_body must not set {field}"):
        tapti.user("u1").create_sdk_token(**CALL, extra_body=extra)
    with pytest.raises(InvalidInputError, match=f"extra_body must not set {field}"):
        asyncio.run(_async_create(server, extra))
    assert server.requests == []


async def _async_create(server: MockTaptiServer, extra: dict[str, Any]) -> SdkToken:
    async with AsyncTapti(api_key=server.api_key, base_url=server.url) as tapti:
        return await tapti.user("u1").create_sdk_token(**CALL, extra_body=extra)


class _Hiding(dict[str, Any]):
    """A mapping that denies holding what it holds."""

    def __contains__(self, key: object) -> bool:
        return False


class _Unequal(str):
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    "extra",
    [
        {"REDIRECT_URL": "javascript:alert(1)"},
        {"redirectUrl": "javascript:alert(1)"},
        {"redirect_url ": "javascript:alert(1)"},
        _Hiding(redirect_url="javascript:alert(1)"),
    ],
    ids=["upper case", "camel case", "trailing space", "a mapping that hides it"],
)
def test_extra_body_cannot_set_an_argument_field_in_another_spelling(
    tapti: Tapti, server: MockTaptiServer, extra: dict[str, Any]
) -> None:
    """A server matching names loosely (Go's encoding/json ignores case) reads the last one."""
    with pytest.raises(InvalidInputError, match="extra_body must not set redirect_url"):
        tapti.user("u1").create_sdk_token(**CALL, extra_body=extra)
    with pytest.raises(InvalidInputError, match="plain str"):
        tapti.user("u1").create_sdk_token(
            **CALL, extra_body={_Unequal("redirect_url"): "javascript:alert(1)"}
        )
    assert server.requests == []


def test_the_argument_fields_are_named_by_the_spec() -> None:
    """Renamed in the spec, a stale name would guard nothing."""
    from tapti_ext._client import _ARGUMENT_FIELDS  # noqa: PLC0415

    # The JSON copy of openapi/tapti.yaml the package carries (make check-generated keeps it so).
    copy = resources.files("tapti_ext.testing") / "_openapi.json"
    request = json.loads(copy.read_text(encoding="utf-8"))["components"]["schemas"][
        "CreateSdkTokenRequest"
    ]
    assert set(_ARGUMENT_FIELDS) <= set(request["properties"])


@pytest.mark.parametrize(
    "refused",
    [
        {"extra_query": {"k": "v", "big": "x" * 70_000}},
        {"extra_body": {"s": {1, 2}}},
        {"user_id": ".."},
    ],
    ids=["a query too long", "a body JSON cannot hold", "a bad user id"],
)
def test_a_refusal_after_the_extras_were_read_leaves_them_in_no_frame(
    tapti: Tapti, server: MockTaptiServer, refused: dict[str, Any]
) -> None:
    key = server.api_key
    extras = {
        "extra_headers": {"x-note": key},
        **{k: v for k, v in refused.items() if k != "user_id"},
    }
    with pytest.raises(InvalidInputError) as caught:  # the id, checked after the extras
        tapti.user().create_sdk_token(refused.get("user_id", "u1"), **CALL, **extras)
    assert not _sdk_locals_showing(caught.value, key)
    assert server.requests == []


def test_call_sends_the_body_model_as_given_with_extra_body_over_it(
    tapti: Tapti, server: MockTaptiServer
) -> None:
    """``call()`` checks no field of a model the caller built: extra_body is theirs to merge."""
    tapti.call(operation, "u1", body=BODY, extra_body={"callback_url": "https://b.example/cb"})
    assert server.requests[-1].json["callback_url"] == "https://b.example/cb"


def _sdk_locals_showing(exc: BaseException, secret: str) -> list[str]:
    """The locals whose repr shows ``secret`` in the frames below the call (docs/errors.md):
    the SDK's frames after the public method's, which holds the caller's own arguments."""
    frames = [
        frame
        for frame, _ in traceback.walk_tb(exc.__traceback__)
        if "tapti_ext" in frame.f_code.co_filename
    ]
    return [
        f"{frame.f_code.co_name}: {name}"
        for frame in frames[1:]
        for name, value in frame.f_locals.items()
        if secret in repr(value)
    ]


def test_a_header_name_holding_the_key_is_refused_without_quoting_it(
    tapti: Tapti, server: MockTaptiServer
) -> None:
    key = server.api_key
    long_key = "sk_live_" + "A1b2" * 30  # longer than the quote: masked before it is cut
    with (
        MockTaptiServer(api_key=long_key) as keyed,
        Tapti(api_key=long_key, base_url=keyed.url) as other,
    ):
        for client, secret in ((tapti, key), (other, long_key)):
            for send in (
                lambda h, c=client: c.user("u1").create_sdk_token(**CALL, extra_headers=h),
                lambda h, c=client: c.call(operation, "u1", body=BODY, extra_headers=h),
            ):
                with pytest.raises(InvalidInputError, match="not a valid header name") as caught:
                    send({f"x-api-key: {secret}": "1"})
                assert secret[:12] not in str(caught.value)
                assert not _sdk_locals_showing(caught.value, secret)
        assert keyed.requests == []
    assert server.requests == []


# In any case, and with "_" for "-": CGI and WSGI servers read x_api_key as x-api-key (probe 39),
# and lighttpd and Apache 2.2 x.api.key or X+Api+Key too (review 37).
@pytest.mark.parametrize(
    "name", ["x-api-key", "X-API-Key", "x_api_key", "X_Api-Key", "x.api.key", "X+Api+Key"]
)
def test_extra_headers_can_never_replace_the_key(
    tapti: Tapti, server: MockTaptiServer, name: str
) -> None:
    with pytest.raises(InvalidInputError, match=r"(?i)x-api-key"):
        tapti.user("u1").create_sdk_token(**CALL, extra_headers={name: "another"})
    assert server.requests == []


@pytest.mark.parametrize(
    ("extras", "match"),
    [
        ({"extra_body": ["not", "a", "mapping"]}, "extra_body"),
        ({"extra_headers": {"x-n": 1}}, "extra_headers"),
        ({"extra_body": {"when": object()}}, "^extra_body cannot be sent as JSON"),
    ],
)
def test_bad_extras_are_refused_before_sending(
    tapti: Tapti, server: MockTaptiServer, extras: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        tapti.user("u1").create_sdk_token(**CALL, **extras)
    assert server.requests == []


@pytest.mark.parametrize(
    "headers",
    [{"\x1b[31m" + "n" * 100_000: "v"}, {"n" * 100_000: "caf\u00e9"}],
    ids=["a long name with an escape", "a long name with a bad value"],
)
def test_a_refused_header_name_is_quoted_bounded_and_printable(
    tapti: Tapti, server: MockTaptiServer, headers: dict[str, str]
) -> None:
    """The whole name was quoted: a 100,082-character message."""
    with pytest.raises(InvalidInputError, match="extra_headers") as caught:
        tapti.user("u1").create_sdk_token(**CALL, extra_headers=headers)
    assert len(str(caught.value)) < 300
    assert "\x1b" not in str(caught.value)
    assert server.requests == []


def test_with_options_shares_the_pool_and_changes_only_what_it_names(
    tapti: Tapti, server: MockTaptiServer
) -> None:
    patient = tapti.with_options(max_retries=2, timeout=7)
    assert (patient.max_retries, patient.timeout) == (2, 7.0)
    assert (tapti.max_retries, tapti.timeout) == (0, 30.0)
    assert patient.base_url == tapti.base_url
    server.fail_next(1, status=503, retry_after=0)
    assert isinstance(patient.user("u1").create_sdk_token(**CALL), SdkToken)  # retried
    patient.close()  # the pool stays the original's
    assert isinstance(tapti.user("u2").create_sdk_token(**CALL), SdkToken)
    assert [r.status for r in server.requests] == [503, 200, 200]


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
@pytest.mark.parametrize("kind", [Tapti, AsyncTapti])
def test_a_copied_client_shares_the_pool_and_closing_it_leaves_the_original_open(
    server: MockTaptiServer, make_copy: Any, kind: type[Tapti] | type[AsyncTapti]
) -> None:
    """``with copy.copy(tapti):`` closed the original's pool; a deep copy raised a raw
    ``TypeError`` about a lock or a socket (async: only after the first call)."""

    async def twice_async(client: AsyncTapti) -> None:
        await client.user("u1").create_sdk_token(**CALL)
        async with make_copy(client) as copied:
            await copied.user("u2").create_sdk_token(**CALL)
        await client.user("u3").create_sdk_token(**CALL)
        await client.aclose()

    client = kind(api_key=server.api_key, base_url=server.url, max_retries=0)
    if isinstance(client, AsyncTapti):
        asyncio.run(twice_async(client))
    else:
        client.user("u1").create_sdk_token(**CALL)
        with make_copy(client) as copied:
            copied.user("u2").create_sdk_token(**CALL)
        client.user("u3").create_sdk_token(**CALL)
        client.close()
    assert [r.user_id for r in server.requests] == ["u1", "u2", "u3"]


@pytest.mark.parametrize("kind", [Tapti, AsyncTapti])
def test_a_client_refuses_pickling_in_words(
    server: MockTaptiServer, kind: type[Tapti] | type[AsyncTapti]
) -> None:
    client = kind(api_key=server.api_key, base_url=server.url)
    with pytest.raises(TypeError, match=f"cannot pickle '{kind.__name__}' object: it holds a "):
        pickle.dumps(client)
    with pytest.raises(TypeError, match="make a client in each process"):
        pickle.dumps(client.with_options(max_retries=1))
    with pytest.raises(TypeError, match=r"cannot pickle tapti\.raw: it sends through"):
        pickle.dumps(client.raw)
    # What walks the client's attributes (a serialiser, __getstate__) finds the key there too.
    with pytest.raises(TypeError, match="cannot pickle a client's settings: they hold the API "):
        pickle.dumps(vars(client))
    with pytest.raises(TypeError, match="cannot pickle a client's pipeline: it holds the API key"):
        pickle.dumps(vars(client)["_pipeline"])
    if isinstance(client, Tapti):  # an AsyncTapti that never sent holds no socket
        client.close()


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy])
def test_a_copy_of_tapti_raw_sends_through_the_same_pool(
    server: MockTaptiServer, make_copy: Callable[[Any], Any]
) -> None:
    """As with_headers() makes one; it said "cannot pickle" before (probe 27)."""
    with Tapti(api_key=server.api_key, base_url=server.url) as tapti:
        copied = make_copy(tapti.raw)
        assert copied is not tapti.raw
        copied._headers["x-copy"] = "1"  # its own mappings: the original's stay as they were
        assert "x-copy" not in tapti.raw._headers
        assert "token='***'" in repr(copied)
        answer = copied.get_httpx_client().post("/users/u1/sdk-token", json=BODY.to_dict())
        assert answer.status_code == 200
    assert [r.user_id for r in server.requests] == ["u1"]
    assert server.requests[0].headers["x-api-key"] == "***"  # sent, and masked in the record


def test_a_raw_response_pickles_parsed_and_refuses_when_it_cannot_parse(
    tapti: Tapti, server: MockTaptiServer
) -> None:
    answered = tapti.with_raw_response.user("u1").create_sdk_token(**CALL)
    assert pickle.loads(pickle.dumps(answered)).parse() == answered.parse()
    server.fail_next(1, status=200, body={"oauth_portal_url": 42})
    unparsable = tapti.with_raw_response.user("u1").create_sdk_token(**CALL)
    with pytest.raises(TypeError, match="cannot pickle an APIResponse whose body does not parse"):
        pickle.dumps(unparsable)


def test_with_options_checks_its_arguments(tapti: Tapti) -> None:
    with pytest.raises(InvalidInputError, match="max_retries"):
        tapti.with_options(max_retries=-1)
    with pytest.raises(InvalidInputError, match="timeout"):
        tapti.with_options(timeout=-5)


def test_call_runs_any_generated_operation(tapti: Tapti, server: MockTaptiServer) -> None:
    parsed = tapti.call(operation, "u7", body=BODY)
    assert isinstance(parsed, CreateSdkTokenResponse)
    assert server.requests[-1].user_id == "u7"
    assert server.requests[-1].headers["x-api-key"] == "***"  # the mock masks what it records


def test_call_raises_typed_errors(server: MockTaptiServer) -> None:
    with (
        Tapti(api_key="wrong", base_url=server.url) as tapti,
        pytest.raises(AuthenticationError),
    ):
        tapti.call(operation, "u7", body=BODY)
    with pytest.raises(InvalidInputError, match="operation"):
        Tapti(api_key="k", base_url=server.url).call(httpx2, "u7")  # type: ignore[arg-type]
    with (
        Tapti(api_key="k", base_url=server.url) as tapti,
        pytest.raises(InvalidInputError, match="create_sdk_token"),
    ):
        tapti.call(operation, "u7", bogus=1)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b"[]",
        b"{}",
        b'{"sdk_token": "tok"}',
        b'{"oauth_portal_url": 5}',
        b'{"oauth_portal_url": null}',
        b'{"oauth_portal_url": true}',
        b'{"oauth_portal_url": {"url": ["https://p.example?sdk_token=t"]}}',
    ],
    ids=["html", "array", "empty-object", "old-shape", "int", "null", "bool", "object"],
)
def test_call_turns_a_misshapen_2xx_into_a_validation_error(body: bytes) -> None:
    """The generated ``from_dict`` takes a field's value whatever it is: ``tapti.call`` gave a
    model whose ``oauth_portal_url: str`` held an int, None or a dict (probe 35)."""
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=body))
    with httpx2.Client(transport=transport) as http:
        tapti = Tapti(api_key="k", http_client=http, max_retries=0)
        with pytest.raises(APIResponseValidationError):
            tapti.call(operation, "u1", body=BODY)
        with pytest.raises(APIResponseValidationError):
            tapti.user("u1").create_sdk_token(**CALL)


@pytest.mark.parametrize(
    "request_spec",
    [{"method": "get"}, {"method": 5, "url": "/x"}, {"url": "/x"}],
    ids=["no-url", "int-method", "no-method"],
)
def test_call_refuses_an_operation_whose_request_has_no_method_or_url(
    request_spec: dict[str, object],
) -> None:
    """A hand-made operation module: a ``KeyError`` or ``AttributeError`` reached the caller
    raw (probe 35), where every other bad shape of its request is ``InvalidInputError``."""
    hand_made = types.ModuleType("hand_made")
    hand_made._get_kwargs = lambda: dict(request_spec)  # type: ignore[attr-defined]
    hand_made._parse_response = operation._parse_response  # type: ignore[attr-defined]
    sent: list[httpx2.Request] = []
    transport = httpx2.MockTransport(lambda request: sent.append(request) or httpx2.Response(200))
    with (
        httpx2.Client(transport=transport) as http,
        Tapti(api_key="k", http_client=http) as tapti,
        pytest.raises(InvalidInputError, match=r"no method .* or no url"),
    ):
        tapti.call(hand_made)  # type: ignore[call-overload]
    assert sent == []


class _ShiftyFloat(float):
    """A path value whose text changes once it has been read (probe 39)."""

    reads = 0

    def __str__(self) -> str:
        _ShiftyFloat.reads += 1
        return "1.5" if _ShiftyFloat.reads == 1 else ".."


def test_call_sends_a_typed_path_value_as_it_was_checked(
    tapti: Tapti, server: MockTaptiServer
) -> None:
    """``tapti.call`` checked one ``str()`` of a float (UUID, date) path value and the
    generated builder sent another: ``..`` took the key to ``POST /sdk-token``."""
    tapti.call(operation, _ShiftyFloat(1.5), body=BODY)
    assert _ShiftyFloat.reads == 1
    assert server.requests[-1].user_id == "1.5"


def test_raw_gets_retries_and_typed_errors(server: MockTaptiServer) -> None:
    with Tapti(api_key=server.api_key, base_url=server.url, max_retries=1) as tapti:
        server.fail_next(1, status=502, body=b"<html>bad gateway</html>")
        response = operation.sync_detailed("u1", client=tapti.raw, body=BODY)
        assert response.status_code == 200  # the 502 was retried
        server.fail_next(2, status=502, body=b"<html>bad gateway</html>")
        with pytest.raises(InternalServerError):
            operation.sync_detailed("u1", client=tapti.raw, body=BODY)
        copy = tapti.raw.with_headers({"x-api-key": "ignored", "x-extra": "1"})
        assert operation.sync_detailed("u1", client=copy, body=BODY).status_code == 200
        assert server.requests[-1].headers["x-extra"] == "1"
    with (
        Tapti(api_key="wrong", base_url=server.url) as tapti,
        pytest.raises(AuthenticationError),
    ):
        operation.sync_detailed("u1", client=tapti.raw, body=BODY)


@pytest.mark.parametrize("value", ["a\r\nx-injected: 1", "a\x00b"])
def test_raw_header_value_that_cannot_be_sent_is_invalid_input(
    server: MockTaptiServer, value: str
) -> None:
    with Tapti(api_key=server.api_key, base_url=server.url, max_retries=2) as tapti:
        sent_before = len(server.requests)
        with pytest.raises(InvalidInputError, match="cannot be sent"):
            operation.sync_detailed(
                "u1", client=tapti.raw.with_headers({"x-extra": value}), body=BODY
            )
        assert len(server.requests) == sent_before  # refused once, before any request


PATH = "/users/u1/sdk-token"


def _raw_post(
    server: MockTaptiServer,
    kind: type[Tapti] | type[AsyncTapti],
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    """One POST through ``tapti.raw``'s httpx2 client, sync or async: ``body``, or (None) a
    stream of ``{}``, whose length is known only as it is sent."""

    async def send_async(tapti: AsyncTapti) -> None:
        async def stream() -> Any:
            yield b"{}"

        try:
            client = tapti.raw.get_async_httpx_client()
            await client.post(PATH, content=stream() if body is None else body, headers=headers)
        finally:
            await tapti.aclose()

    tapti = kind(api_key=server.api_key, base_url=server.url, max_retries=2)
    if isinstance(tapti, AsyncTapti):
        asyncio.run(send_async(tapti))
        return
    with tapti:
        content = iter([b"{}"]) if body is None else body
        tapti.raw.get_httpx_client().post(PATH, content=content, headers=headers)


@pytest.mark.parametrize("declared", ["1", "10", "ten"])
@pytest.mark.parametrize("kind", [Tapti, AsyncTapti])
def test_raw_content_length_the_body_disagrees_with_is_refused_before_sending(
    server: MockTaptiServer, declared: str, kind: type[Tapti] | type[AsyncTapti]
) -> None:
    """Was a raw ``h11.LocalProtocolError``, the head and part of the body already sent."""
    said = declared if declared.isdigit() else "something else"
    with pytest.raises(InvalidInputError, match=f"Content-Length header says {said} but"):
        _raw_post(server, kind, {"content-length": declared}, b'{"callback_url":"x"}')
    assert server.requests == []


@pytest.mark.parametrize("kind", [Tapti, AsyncTapti])
def test_raw_streamed_body_shorter_than_declared_is_invalid_input(
    server: MockTaptiServer, kind: type[Tapti] | type[AsyncTapti]
) -> None:
    """Known only as it is sent: h11 refuses it midway, which httpcore2 does not map."""
    with pytest.raises(InvalidInputError, match="cannot be sent: Too little data"):
        _raw_post(server, kind, {"content-length": "100"}, None)


KEY_IN_URL_DOORS: dict[str, Any] = {
    "extra_query": lambda t, key: t.user("u1").create_sdk_token(**CALL, extra_query={"k": key}),
    "user id": lambda t, key: t.user(f"u-{key}").create_sdk_token(**CALL),
    "call()": lambda t, key: t.call(operation, key, body=BODY),
    "raw, encoded": lambda t, key: t.raw.get_httpx_client().get("/x", params={"k": key}),
    "raw, as written": lambda t, key: t.raw.get_httpx_client().get(f"/x/{key}"),
    "raw, every byte escaped": lambda t, key: t.raw.get_httpx_client().get(f"/x/{_escaped(key)}"),
    "raw, some bytes escaped": lambda t, key: t.raw.get_httpx_client().get(
        f"/x/{key[:3]}{_escaped(key[3:6]).lower()}{key[6:]}"
    ),
    "raw, escaped in the query": lambda t, key: t.raw.get_httpx_client().get(
        f"/x?k={_escaped(key)}"
    ),
    "raw, escaped twice": lambda t, key: t.raw.get_httpx_client().get(
        f"/x/{_escaped(key).replace('%', '%25')}"
    ),
}


def _escaped(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


# A key of characters a URL never escapes, whose quote() is itself, and one with some it does.
KEYS = ["sk_live_SECRETKEY123456", "sk+live/key=0123456789"]


_ARGUMENT_OF = {"TAPTI_BASE_URL": "base_url", "TAPTI_PORTAL_URL": "portal_url"}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("source", ["base_url", "TAPTI_BASE_URL", "portal_url", "TAPTI_PORTAL_URL"])
@pytest.mark.parametrize("spelling", ["written out", "escaped", "escaped twice"])
def test_a_base_or_portal_url_holding_the_api_key_is_refused_by_the_constructor(
    key: str, source: str, spelling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base URL holding it was refused at the first call before; escaped, it was sent, and
    logged decoded. A portal URL holding it was accepted: every portal URL built on it gave
    the key to a browser."""
    escaped = _escaped(key)
    written = {"written out": key, "escaped": escaped, "escaped twice": escaped.replace("%", "%25")}
    url = f"http://127.0.0.1:9/{written[spelling]}"
    if source in _ARGUMENT_OF:
        monkeypatch.setenv(source, url)
    arguments = {} if source in _ARGUMENT_OF else {source: url}
    for kind in (Tapti, AsyncTapti):
        with pytest.raises(InvalidInputError, match=f"{source} holds the API key") as caught:
            kind(api_key=key, **arguments)
        assert key not in str(caught.value)
        assert escaped not in str(caught.value)
    if "portal" in source.lower():  # the function, which makes no client: the environment's key
        monkeypatch.setenv("TAPTI_API_KEY", key)
        with pytest.raises(InvalidInputError, match=f"{source} holds the API key") as caught:
            oauth_portal_url("tok", **arguments)
        assert key not in str(caught.value)


def test_a_malformed_portal_url_holding_the_api_key_is_not_quoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Judged before its form, whose message quotes it (a missing scheme quoted the key)."""
    key = KEYS[0]
    monkeypatch.setenv("TAPTI_API_KEY", key)
    with pytest.raises(InvalidInputError, match="portal_url holds the API key") as caught:
        oauth_portal_url("tok", portal_url=f"portal.example/{key}")
    assert key not in str(caught.value)


def _body_with(key: str, field: str) -> CreateSdkTokenRequest:
    return CreateSdkTokenRequest.from_dict(
        {**BODY.to_dict(), field: f"https://app.example/cb?k={key}"}
    )


def _through_your_own_client(tapti: Tapti, key: str) -> None:
    with (
        httpx2.Client() as yours,
        Tapti(api_key=key, base_url=tapti.base_url, http_client=yours) as lent,
    ):
        lent.user("u1").create_sdk_token(**{**CALL, "callback_url": f"https://a/{key}"})


def _with_default_redirect(tapti: Tapti, key: str) -> None:
    redirect = f"https://app.example/{key}/done"
    with Tapti(api_key=key, base_url=tapti.base_url, redirect_url=redirect) as other:
        other.user("u1").create_sdk_token(**{k: v for k, v in CALL.items() if k != "redirect_url"})


# The callback and redirect URLs go from the API to browsers (their history, the Referer).
KEY_IN_BODY_DOORS: dict[str, Any] = {
    "callback_url": lambda t, key: t.user("u1").create_sdk_token(
        **{**CALL, "callback_url": f"https://app.example/cb?k={key}"}
    ),
    "redirect_url, escaped": lambda t, key: t.user("u1").create_sdk_token(
        **{**CALL, "redirect_url": f"https://app.example/done#{_escaped(key)}"}
    ),
    "the constructor's default": _with_default_redirect,
    "your own http_client": _through_your_own_client,
    "with_raw_response": lambda t, key: t.with_raw_response.user("u1").create_sdk_token(
        **{**CALL, "redirect_url": f"https://a/{key}"}
    ),
    "extra_body": lambda t, key: t.user("u1").create_sdk_token(**CALL, extra_body={"note": key}),
    "call()": lambda t, key: t.call(operation, "u1", body=_body_with(key, "callback_url")),
    "raw, generated": lambda t, key: operation.sync_detailed(
        "u1", client=t.raw, body=_body_with(key, "redirect_url")
    ),
    "raw, httpx2": lambda t, key: t.raw.get_httpx_client().post(
        "/users/u1/sdk-token", json={**BODY.to_dict(), "callback_url": key}
    ),
    "raw, slashes escaped": lambda t, key: t.raw.get_httpx_client().post(
        "/users/u1/sdk-token",
        content=json.dumps({**BODY.to_dict(), "callback_url": key}).replace("/", "\\/"),
    ),
}


# A key JSON writes otherwise (\" and, as some serialisers do, \/), which the server reads back.
JSON_ESCAPED_KEY = 'sk_live_AB"CD/12345678'


@pytest.mark.parametrize(
    ("where", "door", "key"),
    [("URL", door, key) for door in KEY_IN_URL_DOORS for key in KEYS]
    + [("body", door, key) for door in KEY_IN_BODY_DOORS for key in [*KEYS, JSON_ESCAPED_KEY]],
)
def test_a_request_holding_the_api_key_is_refused_before_sending(
    where: str, door: str, key: str
) -> None:
    """The key put in a query or a path (by mistake) stayed in ``exc.request.url`` and in every
    repr of the request, where errors, logs and traces show it; written with escapes, the
    server still reads it. In the body, it was sent, and the API would pass a callback or
    redirect URL holding it on to every browser it sent there."""
    doors = KEY_IN_URL_DOORS if where == "URL" else KEY_IN_BODY_DOORS
    with (
        MockTaptiServer(api_key=key) as keyed,
        Tapti(api_key=key, base_url=keyed.url) as tapti,
        pytest.raises(InvalidInputError, match=f"this request's {where} holds it") as caught,
    ):
        doors[door](tapti, key)
    assert keyed.requests == []
    assert key not in str(caught.value)


def test_a_key_too_short_to_look_for_is_sent_in_a_body_like_any_text() -> None:
    """A key under 8 characters (a test's) stands in common words: not looked for, as in URLs."""
    with (
        MockTaptiServer(api_key="k1") as keyed,
        Tapti(api_key="k1", base_url=keyed.url) as tapti,
    ):
        tapti.user("u1").create_sdk_token(**{**CALL, "callback_url": "https://app.example/k1"})
    assert len(keyed.requests) == 1


async def _raw_async_post(tapti: AsyncTapti, key: str) -> None:
    body = {**BODY.to_dict(), "callback_url": key}
    await tapti.raw.get_async_httpx_client().post("/users/u1/sdk-token", json=body)


@pytest.mark.parametrize("where", ["URL", "body", "raw body"])
def test_a_request_holding_the_api_key_is_refused_async(where: str) -> None:
    key = "sk_async_key_0123"
    holding = (
        {"extra_query": {"k": key}} if where == "URL" else {"callback_url": f"https://a/{key}"}
    )

    async def send() -> None:
        async with AsyncTapti(api_key=key, base_url=keyed.url) as tapti:
            if where == "raw body":
                await _raw_async_post(tapti, key)
            else:
                await tapti.user("u1").create_sdk_token(**{**CALL, **holding})

    with MockTaptiServer(api_key=key) as keyed:
        said = where.rpartition(" ")[2]
        with pytest.raises(InvalidInputError, match=f"this request's {said} holds it"):
            asyncio.run(send())
        assert keyed.requests == []


def test_raw_connection_error_keeps_no_key(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    with (
        Tapti(api_key="sk_live_secret_value", base_url=url, max_retries=0) as tapti,
        pytest.raises(APIConnectionError) as info,
    ):
        operation.sync_detailed("u1", client=tapti.raw, body=BODY)
    request = info.value.request
    assert request is not None
    assert "sk_live_secret_value" not in repr(request.headers)
    assert "x-api-key" not in request.headers


@pytest.mark.anyio
async def test_async_escape_hatches(server: MockTaptiServer) -> None:
    async with AsyncTapti(api_key=server.api_key, base_url=server.url) as tapti:
        quick = tapti.with_options(max_retries=0)
        token = await quick.user("u1").create_sdk_token(**CALL, extra_body={"expires_in": 60})
        parsed = await tapti.call(operation, "u2", body=BODY)
        raw = await operation.asyncio_detailed("u3", client=tapti.raw, body=BODY)
    assert isinstance(token, SdkToken)
    assert isinstance(parsed, CreateSdkTokenResponse)
    assert raw.status_code == 200
    assert server.requests[0].json["expires_in"] == 60
    assert [r.user_id for r in server.requests] == ["u1", "u2", "u3"]


# --- raw carries no state from one user's call to the next -------------------------------------


class _SetsCookies(http.server.BaseHTTPRequestHandler):
    """Answers every user with a token and a session cookie; records the Cookie each call sent."""

    protocol_version = "HTTP/1.1"
    sent: ClassVar[list[tuple[str, str | None]]] = []
    header_lines: ClassVar[list[list[tuple[str, str]]]] = []  # each request's, duplicates kept

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        user = self.path.split("/")[2]
        self.sent.append((user, self.headers.get("Cookie")))
        self.header_lines.append(list(self.headers.items()))
        url = f"https://oauth.tapti.dev/?sdk_token=tok_{user}"
        body = json.dumps({"oauth_portal_url": url}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", f"session=of-{user}; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def cookie_server() -> Iterator[str]:
    _SetsCookies.sent, _SetsCookies.header_lines = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SetsCookies)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("lent", [False, True], ids=["own_pool", "callers_client"])
def test_an_extra_header_replaces_the_sdks_own_in_any_case(cookie_server: str, lent: bool) -> None:
    # The SDK's user-agent and accept-encoding went out beside a caller's User-Agent and
    # Accept-Encoding: two of each, which servers and proxies read as they like (review 16).
    with (
        httpx2.Client() as http,
        Tapti(
            api_key="key-raw", base_url=cookie_server, http_client=http if lent else None
        ) as tapti,
    ):
        tapti.user("alice").create_sdk_token(
            **CALL, extra_headers={"User-Agent": "mine/1", "Accept-Encoding": "identity"}
        )
    (lines,) = _SetsCookies.header_lines

    def sent(name: str) -> list[str]:
        return [value for key, value in lines if key.lower() == name]

    assert sent("user-agent") == ["mine/1"]
    assert sent("accept-encoding") == ["identity"]


@pytest.mark.parametrize("cookies", [{}, {"lb": "7"}], ids=["none", "with_cookies"])
def test_raw_sends_no_cookie_an_earlier_answer_set(
    cookie_server: str, cookies: dict[str, str]
) -> None:
    with Tapti(api_key="key-raw", base_url=cookie_server, max_retries=0) as tapti:
        raw = tapti.raw.with_cookies(cookies) if cookies else tapti.raw
        for user in ("alice", "bob"):
            assert operation.sync_detailed(user, client=raw, body=BODY).status_code == 200
    expected = "lb=7" if cookies else None
    assert _SetsCookies.sent == [("alice", expected), ("bob", expected)]


def test_async_raw_sends_no_cookie_an_earlier_answer_set(cookie_server: str) -> None:
    async def run() -> None:
        async with AsyncTapti(api_key="key-raw", base_url=cookie_server, max_retries=0) as tapti:
            for user in ("alice", "bob"):
                response = await operation.asyncio_detailed(user, client=tapti.raw, body=BODY)
                assert response.status_code == 200

    asyncio.run(run())
    assert _SetsCookies.sent == [("alice", None), ("bob", None)]


@pytest.mark.parametrize("cookies", [{}, {"lb": "7"}], ids=["none", "callers_own"])
def test_a_callers_client_sends_its_own_cookies_never_one_an_answer_set(
    cookie_server: str, cookies: dict[str, str]
) -> None:
    with (
        httpx2.Client(cookies=cookies) as http,
        Tapti(api_key="key-raw", base_url=cookie_server, max_retries=0, http_client=http) as tapti,
    ):
        tapti.user("alice").create_sdk_token(**CALL)
        tapti.user("bob").create_sdk_token(**CALL)
        tapti.with_raw_response.user("carol").create_sdk_token(**CALL)
    expected = "lb=7" if cookies else None
    assert _SetsCookies.sent == [("alice", expected), ("bob", expected), ("carol", expected)]


def _later_client_sends(http: httpx2.Client, cookie_server: str) -> None:
    """Alice's call through one Tapti client, then bob's through a second one made over the same
    http_client (another tenant's key, or one Tapti per request)."""
    for user, key in (("alice", "key-tenant-a"), ("bob", "key-tenant-b")):
        with Tapti(api_key=key, base_url=cookie_server, max_retries=0, http_client=http) as tapti:
            tapti.user(user).create_sdk_token(**CALL)


@pytest.mark.parametrize(
    ("cookies", "host"),
    [({}, "127.0.0.1"), ({"lb": "7"}, "127.0.0.1"), ({}, "localhost")],
    ids=["none", "callers_own", "dotless_host"],  # a host the jar files as "localhost.local"
)
def test_an_answers_cookie_stays_out_of_the_callers_jar(
    cookie_server: str, cookies: dict[str, str], host: str
) -> None:
    with httpx2.Client(cookies=cookies) as http:
        _later_client_sends(http, cookie_server.replace("127.0.0.1", host))
        assert dict(http.cookies) == cookies
    expected = "lb=7" if cookies else None
    assert _SetsCookies.sent == [("alice", expected), ("bob", expected)]


def test_an_answers_cookie_stays_out_of_the_callers_async_jar(cookie_server: str) -> None:
    async def run() -> dict[str, str]:
        async with httpx2.AsyncClient() as http:
            for user in ("alice", "bob"):
                async with AsyncTapti(
                    api_key="key-async", base_url=cookie_server, max_retries=0, http_client=http
                ) as tapti:
                    await tapti.user(user).create_sdk_token(**CALL)
            return dict(http.cookies)

    assert asyncio.run(run()) == {}
    assert _SetsCookies.sent == [("alice", None), ("bob", None)]


def test_cookies_the_program_sets_meanwhile_for_other_hosts_stay(cookie_server: str) -> None:
    """Only answers to the SDK's calls are refused: the program's own cookies, set through the
    same client while a call is under way (here from a response hook), are its business."""

    def hook(response: httpx2.Response) -> None:
        http.cookies.set("theirs", "1", domain="shop.example", path="/")

    with httpx2.Client(event_hooks={"response": [hook]}) as http:
        _later_client_sends(http, cookie_server)
        assert [(c.domain, c.name) for c in http.cookies.jar] == [("shop.example", "theirs")]
    assert _SetsCookies.sent == [("alice", None), ("bob", None)]


def test_a_client_made_while_an_answer_is_in_does_not_copy_its_cookie(cookie_server: str) -> None:
    """A response hook that awaits holds alice's answer in: bob's AsyncTapti, made meanwhile
    over the same client, copied her cookie from the jar when it was taken out only after the
    send (review 11: 199 calls of 200)."""

    async def run() -> None:
        answered, release = asyncio.Event(), asyncio.Event()

        async def hook(response: httpx2.Response) -> None:  # an async logging hook, say
            if not answered.is_set():
                answered.set()
                await release.wait()

        async with httpx2.AsyncClient(event_hooks={"response": [hook]}) as http:

            async def alice() -> None:
                async with AsyncTapti(
                    api_key="key-a", base_url=cookie_server, max_retries=0, http_client=http
                ) as tapti:
                    await tapti.user("alice").create_sdk_token(**CALL)

            first = asyncio.create_task(alice())
            await answered.wait()  # alice's answer is in, her Set-Cookie read
            async with AsyncTapti(
                api_key="key-b", base_url=cookie_server, max_retries=0, http_client=http
            ) as tapti:
                release.set()
                await first
                await tapti.user("bob").create_sdk_token(**CALL)

    asyncio.run(run())
    assert _SetsCookies.sent == [("alice", None), ("bob", None)]


def test_the_programs_own_requests_through_a_lent_client_keep_their_cookies(
    cookie_server: str,
) -> None:
    """Only answers to the SDK's calls are refused: the program's own requests, one with
    another service's x-api-key too, store their cookies as before."""
    with httpx2.Client() as http:
        _later_client_sends(http, cookie_server)
        http.post(f"{cookie_server}/users/own/x", content=b"")
        assert [c.value for c in http.cookies.jar] == ["of-own"]
        http.post(f"{cookie_server}/users/svc/x", content=b"", headers={"x-api-key": "other"})
        assert [c.value for c in http.cookies.jar] == ["of-svc"]  # the same cookie, set anew


def test_two_threads_first_calls_over_a_fresh_client_store_no_answers_cookie(
    cookie_server: str,
) -> None:
    """Review 12: both threads read the program's policy before either stood the SDK's in
    front of it; one key then went to a policy the jar no longer used, and its answer's cookie
    was stored (here every time: the program's policy waits until both have read it)."""
    both_read = threading.Barrier(2, timeout=2)

    class ProgramPolicy(cookiejar.DefaultCookiePolicy):
        def __bool__(self) -> bool:
            with contextlib.suppress(threading.BrokenBarrierError):
                both_read.wait()
            return True

    with httpx2.Client(cookies=cookiejar.CookieJar(ProgramPolicy())) as http:
        tapti = [
            Tapti(api_key=key, base_url=cookie_server, max_retries=0, http_client=http)
            for key in ("key-a", "key-b")
        ]
        threads = [
            threading.Thread(target=client.user(user).create_sdk_token, kwargs=CALL)
            for client, user in zip(tapti, ("alice", "bob"), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert list(http.cookies.jar) == []
        policy = getattr(http.cookies.jar, _cookies.JAR_POLICY)
        assert isinstance(policy.policy, ProgramPolicy)  # the program's own, still consulted
        assert not policy.calls  # no key is kept once its call ends


def test_the_sdks_policy_keeps_httpx2s_indexed_cookie_lookup(cookie_server: str) -> None:
    """httpx2's jar finds a request's cookies by index only for a policy whose class matches
    domains as DefaultCookiePolicy does; a program's own matching is still asked."""
    asked: list[str] = []

    class Matching(cookiejar.DefaultCookiePolicy):
        def domain_return_ok(self, domain: str, request: Any) -> bool:
            asked.append(domain)
            return super().domain_return_ok(domain, request)

    for policy in (cookiejar.DefaultCookiePolicy(), Matching()):
        with httpx2.Client(cookies=cookiejar.CookieJar(policy)) as http:
            _later_client_sends(http, cookie_server)
            http.cookies.set("theirs", "1", domain="127.0.0.1", path="/")
            http.post(f"{cookie_server}/users/own/x", content=b"")
            standing = getattr(http.cookies.jar, _cookies.JAR_POLICY)
            indexed = cookiejar.DefaultCookiePolicy.domain_return_ok
            assert (type(standing).domain_return_ok is indexed) is (type(policy) is not Matching)
            assert copy.copy(standing).policy is policy  # copies without recursing
    assert asked  # the program's own matching was asked for its own request
    assert ("own", "theirs=1") in _SetsCookies.sent


def test_the_jars_policy_is_where_the_sdk_reads_it() -> None:
    """http.cookiejar has no public getter for a jar's policy; the SDK reads ``_policy``."""
    policy = cookiejar.DefaultCookiePolicy(blocked_domains=["blocked.example"])
    jar = cookiejar.CookieJar(policy)
    assert getattr(jar, _cookies.JAR_POLICY) is policy


def test_without_the_jars_policy_attribute_answers_cookies_stay_out_still(
    cookie_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should ``_policy`` be renamed, the SDK stands in front of a default policy instead (a
    program's own is then lost): answers' cookies still never reach the jar."""
    monkeypatch.setattr(_cookies, "JAR_POLICY", "_renamed_policy")
    with httpx2.Client(cookies={"lb": "7"}) as http:
        _later_client_sends(http, cookie_server)
        http.post(f"{cookie_server}/users/own/x", content=b"")
        assert sorted(c.value for c in http.cookies.jar) == ["7", "of-own"]
    assert _SetsCookies.sent[:2] == [("alice", "lb=7"), ("bob", "lb=7")]


def test_a_callers_default_framing_header_does_not_go_beside_the_sdks(
    server: MockTaptiServer,
) -> None:
    """A default Transfer-Encoding on the caller's client beside the SDK's Content-Length would
    frame the body twice (a request a front end could split); the SDK's framing wins, as it
    does over a default Content-Length or Host."""
    defaults = {
        "Transfer-Encoding": "chunked",
        "Content-Length": "5",
        "Content-Encoding": "gzip",  # would mislabel the SDK's plain JSON
        "Expect": "100-continue",
        "X-Team": "growth",
    }
    with (
        httpx2.Client(headers=defaults) as http,
        Tapti(api_key=server.api_key, base_url=server.url, max_retries=0, http_client=http) as t,
    ):
        t.user("u1").create_sdk_token(**CALL)
    sent = server.requests[-1]
    assert sent.status == 200  # the mock answers 400 or 411 to a body framed twice
    sent_names = {name.lower() for name in sent.headers}
    assert not sent_names & {"transfer-encoding", "content-encoding", "expect"}
    assert sent.headers["x-team"] == "growth"


@pytest.mark.parametrize("door", ["lent-client-default", "raw"])
def test_a_header_a_server_reads_as_the_key_never_goes_beside_it(
    server: MockTaptiServer, door: str
) -> None:
    """``X_Api_Key`` is ``x-api-key`` to a CGI or WSGI server (probe 39): as a lent client's
    default header or in a request through ``tapti.raw`` it is left out, as ``x-api-key`` is,
    and the call goes with the SDK's key alone."""
    other = {"X_Api_Key": "another-tenants-key"}
    with httpx2.Client(headers=other if door != "raw" else None) as http:
        lent = http if door != "raw" else None
        with Tapti(api_key=server.api_key, base_url=server.url, http_client=lent) as tapti:
            if door == "raw":
                tapti.raw.get_httpx_client().post(PATH, json=BODY.to_dict(), headers=other)
            else:
                tapti.user("u1").create_sdk_token(**CALL)
    sent = server.requests[-1]
    assert sent.status == 200
    assert "another-tenants-key" not in str(sent.headers)
    assert [name.lower() for name in sent.headers if "api" in name.lower()] == ["x-api-key"]


@pytest.mark.parametrize("how", ["constructor", "call", "with_options", "raw"])
def test_timeout_none_beside_your_http_client_means_no_limit(
    server: MockTaptiServer, how: str
) -> None:
    """``None`` is "no limit" there too; it was taken for none given, and the client's own
    0.3 s applied."""
    server.delay_next(0.6)
    given = None if how == "constructor" else 10.0
    with (
        httpx2.Client(timeout=0.3) as http,
        Tapti(
            api_key=server.api_key,
            base_url=server.url,
            max_retries=0,
            http_client=http,
            timeout=given,
        ) as tapti,
    ):
        if how == "raw":
            raw = tapti.with_options(timeout=None).raw
            assert operation.sync_detailed("u1", client=raw, body=BODY).status_code == 200
            return
        client = tapti.with_options(timeout=None) if how == "with_options" else tapti
        per_call: dict[str, Any] = {"timeout": None} if how == "call" else {}
        assert client.user("u1").create_sdk_token(**CALL, **per_call).sdk_token


def test_your_http_clients_own_timeout_applies_when_the_sdk_is_given_none(
    server: MockTaptiServer,
) -> None:
    async def run() -> None:
        async with (
            httpx2.AsyncClient(timeout=0.3) as http,
            AsyncTapti(
                api_key=server.api_key, base_url=server.url, max_retries=0, http_client=http
            ) as tapti,
        ):
            server.delay_next(0.6)
            with pytest.raises(APITimeoutError):  # after the client's own 0.3 s
                await tapti.user("u1").create_sdk_token(**CALL)
            server.delay_next(0.6)
            async with AsyncTapti(
                api_key=server.api_key, base_url=server.url, http_client=http, timeout=None
            ) as unlimited:
                assert (await unlimited.user("u2").create_sdk_token(**CALL)).sdk_token

    asyncio.run(run())


def test_a_lent_async_client_is_refused_in_a_second_event_loop(server: MockTaptiServer) -> None:
    """Its pooled connections belong to the loop that opened them: an AsyncTapti per loop over
    one shared AsyncClient raised httpx2's raw RuntimeError, at times after sending."""
    http = httpx2.AsyncClient(limits=httpx2.Limits(max_keepalive_connections=0))  # none left

    async def one_call() -> str:
        async with AsyncTapti(
            api_key=server.api_key, base_url=server.url, http_client=http
        ) as tapti:
            return (await tapti.user("u1").create_sdk_token(**CALL)).sdk_token

    assert asyncio.run(one_call())
    sent = len(server.requests)
    with pytest.raises(TaptiError, match="another event loop") as caught:
        asyncio.run(one_call())
    assert type(caught.value) is TaptiError
    assert len(server.requests) == sent  # refused before sending
