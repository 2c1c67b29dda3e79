"""The happy path, sync and async: the exact request sent and the token handed back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx2
import pytest
from _fields import portal_body, portal_of
from _http import PoolRecorder, snapshot
from tapti_api_client import AuthenticatedClient
from tapti_api_client.api.users import create_sdk_token as generated_create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest, CreateSdkTokenResponse

from tapti_ext import (
    APIResponse,
    AsyncTapti,
    InvalidInputError,
    Platform,
    Scope,
    SdkToken,
    Tapti,
    TaptiError,
)
from tapti_ext.testing import MockTaptiServer

API_KEY = "sk_test_calls"
BASE = "https://api.tapti.ai"
PORTAL = "https://oauth.tapti.dev?sdk_token=tok%2Bcalls%3D&origin=https%3A%2F%2Fapp.example"
CALLBACK = "https://app.example/api/oauth/callback"
REDIRECT = "https://app.example/dashboard/accounts"
CALL: dict[str, Any] = {
    "platforms": ["youtube", Platform.TIKTOK],
    "scopes": ["profile_read"],
    "callback_url": CALLBACK,
    "redirect_url": REDIRECT,
}
# httpx2's own default, which a caller's client keeps unless timeout= is given to the SDK too.
HTTPX_DEFAULT_TIMEOUT = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


def assert_budget(timeouts: dict[str, float], seconds: float) -> None:
    """Each operation gets what is left of a whole-call budget of ``seconds`` (connect <= 5 s)."""
    assert seconds - 0.5 < timeouts["read"] <= seconds
    assert timeouts["write"] == timeouts["pool"] == timeouts["read"]
    assert timeouts["connect"] == min(timeouts["read"], 5.0)


@pytest.fixture
def sent() -> list[httpx2.Request]:
    return []


@pytest.fixture
def handler(sent: list[httpx2.Request]) -> Callable[[httpx2.Request], httpx2.Response]:
    def handle(request: httpx2.Request) -> httpx2.Response:
        sent.append(snapshot(request))
        return httpx2.Response(200, json=portal_body(PORTAL), headers={"x-request-id": "req_42"})

    return handle


@pytest.fixture
def http(handler: Callable[[httpx2.Request], httpx2.Response]) -> Iterator[httpx2.Client]:
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        yield client


@pytest.fixture
def tapti(http: httpx2.Client) -> Tapti:
    return Tapti(api_key=API_KEY, http_client=http)


def body_of(request: httpx2.Request) -> Any:
    return json.loads(request.content)


def assert_documented_request(
    request: httpx2.Request, path: str = "/users/user_123/sdk-token"
) -> None:
    assert request.method == "POST"
    assert request.url.scheme == "https"
    assert request.url.host == "api.tapti.ai"
    assert request.url.raw_path.decode() == path
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("tapti-python/")
    assert body_of(request) == {
        "user_platforms": ["YOUTUBE", "TIKTOK"],
        "enabled_scopes": ["PROFILE_READ"],
        "callback_url": CALLBACK,
        "redirect_url": REDIRECT,
    }


def assert_token(token: SdkToken) -> None:
    assert isinstance(token, SdkToken)
    assert token.oauth_portal_url == PORTAL
    assert token.sdk_token == "tok+calls="
    assert token.origin == "https://app.example"
    assert token.platforms == (Platform.YOUTUBE, Platform.TIKTOK)
    assert token.scopes == (Scope.PROFILE_READ,)


# --- sync ----------------------------------------------------------------------------------------


def test_create_sdk_token(tapti: Tapti, sent: list[httpx2.Request]) -> None:
    token = tapti.user("user_123").create_sdk_token(**CALL)
    assert len(sent) == 1
    assert_documented_request(sent[0])
    assert_token(token)


def test_create_sdk_token_alias_is_the_same_method(
    tapti: Tapti, sent: list[httpx2.Request]
) -> None:
    token = tapti.user("user_123").createSDKToken(**CALL)
    assert_documented_request(sent[0])
    assert_token(token)


@pytest.mark.parametrize("method", ["create_sdk_token", "createSDKToken"])
def test_js_form_user_id_on_the_call(method: str, tapti: Tapti, sent: list[httpx2.Request]) -> None:
    token = getattr(tapti.user(), method)("user_123", **CALL)
    assert_documented_request(sent[0])
    assert_token(token)


@pytest.mark.parametrize(
    ("user_id", "segment"),
    [
        ("a/b", "a%2Fb"),
        ("../admin", "..%2Fadmin"),
        ("x?y=1#z", "x%3Fy%3D1%23z"),
        ("100%", "100%25"),
        ("has space", "has%20space"),
        ("émile+ü", "%C3%A9mile%2B%C3%BC"),
        ("a;b,c:d@e", "a%3Bb%2Cc%3Ad%40e"),
        (123, "123"),
        (0, "0"),
    ],
)
def test_user_id_is_one_percent_encoded_segment(
    user_id: str | int, segment: str, tapti: Tapti, sent: list[httpx2.Request]
) -> None:
    tapti.user(user_id).create_sdk_token(**CALL)
    assert_documented_request(sent[0], path=f"/users/{segment}/sdk-token")


@pytest.mark.parametrize(
    ("platforms", "scopes", "sent_platforms", "sent_scopes"),
    [
        ("YouTube", "PROFILE_READ", ["YOUTUBE"], ["PROFILE_READ"]),
        (Platform.X, Scope.CONTENT_WRITE, ["X"], ["CONTENT_WRITE"]),
        (
            ["tiktok", "TIKTOK", Platform.TIKTOK, "youtube"],
            ("profile_read", Scope.PROFILE_READ, "Content_Read"),
            ["TIKTOK", "YOUTUBE"],
            ["PROFILE_READ", "CONTENT_READ"],
        ),
        (
            (p for p in ["instagram", " linkedin "]),
            {"analytics_read"},
            ["INSTAGRAM", "LINKEDIN"],
            ["ANALYTICS_READ"],
        ),
    ],
)
def test_enum_or_string_any_case_deduplicated_in_order(
    platforms: Any,
    scopes: Any,
    sent_platforms: list[str],
    sent_scopes: list[str],
    tapti: Tapti,
    sent: list[httpx2.Request],
) -> None:
    token = tapti.user("user_123").create_sdk_token(
        platforms=platforms, scopes=scopes, callback_url=CALLBACK, redirect_url=REDIRECT
    )
    body = body_of(sent[0])
    assert body["user_platforms"] == sent_platforms
    assert body["enabled_scopes"] == sent_scopes
    assert [p.value for p in token.platforms] == sent_platforms
    assert [s.value for s in token.scopes] == sent_scopes


def test_callers_client_keeps_its_own_timeout(tapti: Tapti, sent: list[httpx2.Request]) -> None:
    tapti.user("user_123").create_sdk_token(**CALL)
    assert sent[0].extensions["timeout"] == HTTPX_DEFAULT_TIMEOUT


@pytest.fixture
def own_pool(monkeypatch: pytest.MonkeyPatch) -> PoolRecorder:
    """The SDK's own pool, answering without a network (the real one is tested over sockets)."""
    return PoolRecorder(json.dumps(portal_body(PORTAL)).encode()).install(monkeypatch)


def test_default_timeout_is_a_30_second_budget_on_the_own_pool(own_pool: PoolRecorder) -> None:
    with Tapti(api_key=API_KEY) as tapti:
        tapti.user("user_123").create_sdk_token(**CALL)
    assert tapti.timeout == 30.0
    assert_budget(own_pool.last.extensions["timeout"], 30.0)


@pytest.mark.parametrize("timeout", [1.5, 2])
def test_per_call_number_is_a_budget(
    timeout: float, tapti: Tapti, sent: list[httpx2.Request]
) -> None:
    tapti.user("user_123").create_sdk_token(**CALL, timeout=timeout)
    tapti.user("user_123").create_sdk_token(**CALL)
    assert_budget(sent[0].extensions["timeout"], float(timeout))
    assert sent[1].extensions["timeout"] == HTTPX_DEFAULT_TIMEOUT


def test_per_call_httpx_timeout_keeps_per_operation_meaning(
    tapti: Tapti, sent: list[httpx2.Request]
) -> None:
    tapti.user("user_123").create_sdk_token(**CALL, timeout=httpx2.Timeout(9.0, connect=1.0))
    assert sent[0].extensions["timeout"] == {"connect": 1.0, "read": 9.0, "write": 9.0, "pool": 9.0}


def test_client_timeout_applies_to_calls(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    Tapti(api_key=API_KEY, http_client=http, timeout=7).user("u").create_sdk_token(**CALL)
    assert_budget(sent[0].extensions["timeout"], 7.0)


def test_the_timeout_property_says_which_limit_applies() -> None:
    """A caller's client keeps its own timeout unless one is given, ``None`` (no limit) too:
    the property said None while that client's 0.5 s applied, and then ``None`` given was
    taken for none given."""
    own = httpx2.Timeout(0.5, connect=0.2)
    with httpx2.Client(timeout=own) as http:
        assert Tapti(api_key=API_KEY, http_client=http).timeout == own
        assert Tapti(api_key=API_KEY, http_client=http, timeout=None).timeout is None
        lent = Tapti(api_key=API_KEY, http_client=http, timeout=7)
        assert lent.timeout == 7
        assert lent.with_options(timeout=None).timeout is None
        http.timeout = httpx2.Timeout(3.0)  # read as it is at each call
        assert Tapti(api_key=API_KEY, http_client=http).timeout == httpx2.Timeout(3.0)
    with Tapti(api_key=API_KEY, timeout=None) as tapti:  # the SDK's own pool: no limit at all
        assert tapti.timeout is None


def test_base_url_path_prefix_is_kept(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http, base_url="https://gw.example/tapti/v1/")
    tapti.user("user_123").create_sdk_token(**CALL)
    assert str(sent[0].url) == "https://gw.example/tapti/v1/users/user_123/sdk-token"


def test_users_http_client_keeps_its_headers_and_stays_open(
    handler: Callable[[httpx2.Request], httpx2.Response], sent: list[httpx2.Request]
) -> None:
    with httpx2.Client(
        transport=httpx2.MockTransport(handler), headers={"x-trace": "mine"}
    ) as http:
        with Tapti(api_key=API_KEY, http_client=http) as tapti:
            tapti.user("user_123").create_sdk_token(**CALL)
        assert "x-api-key" not in http.headers
        assert http.headers["x-trace"] == "mine"
        assert not http.is_closed
        tapti.close()
        assert not http.is_closed
        http.post("https://other.example/")
    assert sent[0].headers["x-api-key"] == API_KEY
    assert sent[0].headers["x-trace"] == "mine"
    assert "x-api-key" not in sent[1].headers


def test_owned_client_is_closed_by_context_manager_and_close() -> None:
    with Tapti(api_key=API_KEY) as tapti:
        pass
    other = Tapti(api_key=API_KEY)
    other.close()
    for closed in (tapti, other):
        with pytest.raises(TaptiError, match="closed"):
            closed.user("u").create_sdk_token(**CALL)


def test_context_manager_returns_the_client(http: httpx2.Client) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    with tapti as entered:
        assert entered is tapti


def test_owned_pool_carries_base_url_and_headers(own_pool: PoolRecorder) -> None:
    with Tapti(api_key=API_KEY) as tapti:
        token = tapti.user("user_123").create_sdk_token(**CALL)
    assert_documented_request(own_pool.last)
    assert_token(token)


def test_with_raw_response(tapti: Tapti, sent: list[httpx2.Request]) -> None:
    raw = tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
    assert isinstance(raw, APIResponse)
    assert isinstance(raw.http_response, httpx2.Response)
    assert raw.status_code == 200
    assert raw.headers["x-request-id"] == "req_42"
    assert raw.request_id == "req_42"
    token = raw.parse()
    assert_token(token)
    assert raw.parse() is token
    assert_documented_request(sent[0])


def test_with_raw_response_js_form(tapti: Tapti, sent: list[httpx2.Request]) -> None:
    raw = tapti.with_raw_response.user().createSDKToken("user_123", **CALL)
    assert_token(raw.parse())
    assert_documented_request(sent[0])


# --- tapti.raw: the generated client -------------------------------------------------------------


def test_raw_is_the_generated_client_on_the_same_pool(own_pool: PoolRecorder) -> None:
    with Tapti(api_key=API_KEY, timeout=11) as tapti:
        raw = tapti.raw
        assert isinstance(raw, AuthenticatedClient)
        assert tapti.raw is raw
        assert "x-api-key" not in raw.get_httpx_client().headers
        response = generated_create_sdk_token.sync_detailed(
            "user_9",
            client=raw,
            body=CreateSdkTokenRequest(
                user_platforms=[Platform.YOUTUBE],
                enabled_scopes=[Scope.PROFILE_READ],
                callback_url=CALLBACK,
                redirect_url=REDIRECT,
            ),
        )
    assert response.status_code == 200
    assert isinstance(response.parsed, CreateSdkTokenResponse)
    assert portal_of(response.parsed) == PORTAL
    request = own_pool.last
    assert request.headers["x-api-key"] == API_KEY
    assert_budget(request.extensions["timeout"], 11.0)
    assert body_of(request)["user_platforms"] == ["YOUTUBE"]


def raw_call(raw: AuthenticatedClient) -> Any:
    return generated_create_sdk_token.sync_detailed(
        "user_9",
        client=raw,
        body=CreateSdkTokenRequest(
            user_platforms=[Platform.YOUTUBE],
            enabled_scopes=[Scope.PROFILE_READ],
            callback_url=CALLBACK,
            redirect_url=REDIRECT,
        ),
    )


def test_raw_with_users_http_client_sends_through_it_without_the_key_on_it(
    http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http, base_url="https://eu.tapti.example")
    raw = tapti.raw
    assert isinstance(raw, AuthenticatedClient)
    assert raw.get_httpx_client() is not http
    assert raw_call(raw).status_code == 200
    assert str(sent[0].url) == "https://eu.tapti.example/users/user_9/sdk-token"
    assert sent[0].headers["x-api-key"] == API_KEY
    assert "x-api-key" not in http.headers
    tapti.close()
    assert not http.is_closed


def test_raw_calls_end_with_the_client(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    raw = tapti.raw
    tapti.close()
    with pytest.raises(TaptiError, match="closed"):
        raw_call(raw)
    assert sent == []


# --- async ---------------------------------------------------------------------------------------


@pytest.fixture
async def async_tapti(
    handler: Callable[[httpx2.Request], httpx2.Response],
) -> Any:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        yield AsyncTapti(api_key=API_KEY, http_client=http)


@pytest.mark.anyio
async def test_async_create_sdk_token(async_tapti: AsyncTapti, sent: list[httpx2.Request]) -> None:
    token = await async_tapti.user("user_123").create_sdk_token(**CALL)
    assert_documented_request(sent[0])
    assert_token(token)
    token = await async_tapti.user().createSDKToken("user_123", **CALL)
    assert_token(token)
    assert_documented_request(sent[1])
    assert len(sent) == 2


@pytest.mark.anyio
async def test_async_int_user_id_and_encoding(
    async_tapti: AsyncTapti, sent: list[httpx2.Request]
) -> None:
    await async_tapti.user(77).create_sdk_token(**CALL)
    await async_tapti.user("a/b c").create_sdk_token(**CALL)
    assert sent[0].url.raw_path == b"/users/77/sdk-token"
    assert sent[1].url.raw_path == b"/users/a%2Fb%20c/sdk-token"


@pytest.mark.anyio
async def test_async_defaults_and_timeout(
    handler: Callable[[httpx2.Request], httpx2.Response], sent: list[httpx2.Request]
) -> None:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        tapti = AsyncTapti(api_key=API_KEY, http_client=http, **CALL)
        token = await tapti.user("user_123").create_sdk_token(timeout=3)
        await tapti.user("user_123").create_sdk_token()
    assert_token(token)
    assert_documented_request(sent[0])
    assert_budget(sent[0].extensions["timeout"], 3.0)
    assert sent[1].extensions["timeout"] == HTTPX_DEFAULT_TIMEOUT


@pytest.mark.anyio
async def test_async_with_raw_response(async_tapti: AsyncTapti) -> None:
    raw = await async_tapti.with_raw_response.user("user_123").create_sdk_token(**CALL)
    assert isinstance(raw, APIResponse)
    assert raw.status_code == 200
    assert raw.request_id == "req_42"
    assert_token(raw.parse())


@pytest.mark.anyio
async def test_async_users_client_not_closed_nor_given_the_key(
    handler: Callable[[httpx2.Request], httpx2.Response],
) -> None:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        async with AsyncTapti(api_key=API_KEY, http_client=http) as tapti:
            await tapti.user("user_123").create_sdk_token(**CALL)
        await tapti.close()
        assert not http.is_closed
        assert "x-api-key" not in http.headers


@pytest.mark.anyio
async def test_async_owned_client_closed_by_context_manager_and_close() -> None:
    async with AsyncTapti(api_key=API_KEY) as tapti:
        pass
    other = AsyncTapti(api_key=API_KEY)
    await other.close()
    for closed in (tapti, other):
        with pytest.raises(TaptiError, match="closed"):
            await closed.user("u").create_sdk_token(**CALL)


@pytest.mark.anyio
async def test_async_raw_shares_the_pool() -> None:
    async with AsyncTapti(api_key=API_KEY) as tapti:
        assert isinstance(tapti.raw, AuthenticatedClient)
        assert "x-api-key" not in tapti.raw.get_async_httpx_client().headers


@pytest.mark.anyio
async def test_async_owned_pool_carries_base_url_and_headers(own_pool: PoolRecorder) -> None:
    async with AsyncTapti(api_key=API_KEY) as tapti:
        token = await tapti.user("user_123").create_sdk_token(**CALL)
    assert_documented_request(own_pool.last)
    assert_token(token)


@pytest.mark.anyio
async def test_async_raw_calls_end_with_the_client(
    handler: Callable[[httpx2.Request], httpx2.Response], sent: list[httpx2.Request]
) -> None:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        tapti = AsyncTapti(api_key=API_KEY, http_client=http)
        raw = tapti.raw
        await tapti.close()
        with pytest.raises(TaptiError, match="closed"):
            await generated_create_sdk_token.asyncio_detailed(
                "u",
                client=raw,
                body=CreateSdkTokenRequest(
                    user_platforms=[Platform.YOUTUBE],
                    enabled_scopes=[Scope.PROFILE_READ],
                    callback_url=CALLBACK,
                    redirect_url=REDIRECT,
                ),
            )
        assert not http.is_closed
    assert sent == []


# --- the client after close, and its read-only settings -----------------------------------------


def test_a_closed_client_raises_a_tapti_error(
    http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    tapti = Tapti(api_key=API_KEY)
    tapti.close()
    with pytest.raises(TaptiError, match="closed"):
        tapti.user("u").create_sdk_token(**CALL)
    assert sent == []


def test_a_closed_client_cannot_be_entered_again() -> None:
    """As httpx2: the mistake shows where it is made, not at the first call inside."""
    with Tapti(api_key=API_KEY) as tapti:
        pass
    with pytest.raises(TaptiError, match="this Tapti is closed; create a new one"), tapti:
        pass

    async def reenter() -> None:
        async with AsyncTapti(api_key=API_KEY) as async_tapti:
            pass
        with pytest.raises(TaptiError, match="this AsyncTapti is closed"):
            async with async_tapti:
                pass

    asyncio.run(reenter())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("base_url", "http://evil.example"),
        ("timeout", 1.0),
        ("max_retries", 9),
        ("portal_url", "x"),
    ],
)
def test_settings_are_read_only(tapti: Tapti, name: str, value: object) -> None:
    with pytest.raises(AttributeError):
        setattr(tapti, name, value)


# --- tapti.raw rides on the pool without changing or closing it ---------------------------------


def test_raw_with_headers_leaves_the_shared_pool_alone(tapti_mock: MockTaptiServer) -> None:
    with Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url) as tapti:
        copy = tapti.raw.with_headers({"x-api-key": "another-key"})
        assert copy is not tapti.raw
        assert "another-key" not in repr(copy)
        tapti.user("u").create_sdk_token(**CALL)  # a changed key on the pool would get a 401
    assert [r.status for r in tapti_mock.requests] == [200]


def test_leaving_a_with_block_on_raw_does_not_close_the_tapti_client(
    tapti_mock: MockTaptiServer,
) -> None:
    tapti = Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url)
    with tapti.raw:
        pass
    assert raw_call(tapti.raw).status_code == 200
    tapti.close()
    with pytest.raises(TaptiError, match="closed"):
        raw_call(tapti.raw)


@pytest.mark.anyio
async def test_async_raw_refuses_the_sync_functions() -> None:
    async with AsyncTapti(api_key=API_KEY) as tapti:
        with pytest.raises(InvalidInputError, match="asyncio"):
            tapti.raw.get_httpx_client()
        assert isinstance(tapti.raw.get_async_httpx_client(), httpx2.AsyncClient)


def test_sync_raw_refuses_the_async_functions(tapti: Tapti) -> None:
    with pytest.raises(InvalidInputError, match="sync"):
        tapti.raw.get_async_httpx_client()


@pytest.mark.anyio
async def test_a_raw_client_copied_by_attrs_evolve_is_refused_for_what_it_is(
    tapti_mock: MockTaptiServer,
) -> None:
    # Probe 20: each copy was told it was the other kind's raw client.
    async with AsyncTapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url) as async_tapti:
        with pytest.raises(InvalidInputError, match=r"not attrs\.evolve\(\)"):
            attrs.evolve(async_tapti.raw, base_url="http://127.0.0.1:1").get_async_httpx_client()
    with Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url) as tapti:
        copied = attrs.evolve(tapti.raw, base_url="http://127.0.0.1:1")
        with pytest.raises(InvalidInputError, match=r"not attrs\.evolve\(\)"):
            copied.get_httpx_client()
        with pytest.raises(InvalidInputError, match="serves the generated sync functions"):
            copied.get_async_httpx_client()
