"""Bad input never reaches the server: a corpus of invalid calls, and generated user ids.

Every row of the corpus (user ids, platforms, scopes, URLs, argument types, base URLs, client
settings, portal platforms) is run against a real ``MockTaptiServer`` and must raise
``InvalidInputError`` whose message names the bad argument, with zero requests reaching the
server: the mock recorded nothing and no httpx2 transport was even asked to send. Call rows run
through ``Tapti``, ``AsyncTapti`` and ``with_raw_response``; construction rows through both
client classes.

The property test feeds Hypothesis-generated user ids (any Unicode, controls, lone surrogates,
dots, slashes, percent signs, ints) to the client: each is either refused up front, for a reason
the SDK documents, or sent as exactly one path segment that the server decodes back to the same id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx2
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tapti_ext import (
    AsyncTapti,
    InvalidInputError,
    Platform,
    Scope,
    SdkToken,
    Tapti,
    oauth_portal_url,
)
from tapti_ext.testing import MockTaptiServer

API_KEY = "sk_corpus_key"
GOOD: dict[str, Any] = {
    "platforms": ["youtube", "tiktok"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/api/oauth/callback",
    "redirect_url": "https://app.example/dashboard",
}


@pytest.fixture(scope="module")
def server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch, server: MockTaptiServer) -> list[httpx2.Request]:
    """Every request any httpx2 transport is asked to send during the test (none, we hope)."""
    server.clear()
    sent: list[httpx2.Request] = []
    sync_send = httpx2.HTTPTransport.handle_request
    async_send = httpx2.AsyncHTTPTransport.handle_async_request

    def record(self: httpx2.HTTPTransport, request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return sync_send(self, request)

    async def record_async(self: httpx2.AsyncHTTPTransport, request: httpx2.Request) -> Any:
        sent.append(request)
        return await async_send(self, request)

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", record)
    monkeypatch.setattr(httpx2.AsyncHTTPTransport, "handle_async_request", record_async)
    return sent


def assert_refused(
    info: pytest.ExceptionInfo[InvalidInputError],
    words: tuple[str, ...],
    server: MockTaptiServer,
    sends: list[httpx2.Request],
) -> None:
    assert type(info.value) is InvalidInputError
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not named in {message!r}"
    assert sends == [], "a request was handed to httpx2"
    assert server.requests == [], "a request reached the server"


# --- call rows: one bad argument in an otherwise good call ---------------------------------------

NO_ID = object()  # tapti.user().create_sdk_token(**call): no id anywhere
TWICE = object()  # tapti.user("u1").create_sdk_token("u2", **call)


@dataclass(frozen=True)
class CallRow:
    name: str
    words: tuple[str, ...]
    user_id: Any = "user_1"
    override: dict[str, Any] = field(default_factory=dict)

    def call_args(self) -> dict[str, Any]:
        return {**GOOD, **self.override}


def missing(name: str) -> dict[str, Any]:
    return {name: None}  # None means "use the client's default", and there is none


CALL_ROWS = [
    # user ids
    CallRow("id-empty", ("user id",), ""),
    CallRow("id-blank", ("user id",), "   "),
    CallRow("id-tab-only", ("user id",), "\t"),
    CallRow("id-dot", ("user id",), "."),
    CallRow("id-dot-dot", ("user id",), ".."),
    CallRow("id-nul", ("user id",), "a\x00b"),
    CallRow("id-newline", ("user id",), "user\n1"),
    CallRow("id-del", ("user id",), "user\x7f"),
    CallRow("id-c1-control", ("user id",), "user\x85"),
    CallRow("id-lone-surrogate", ("user id",), "user\ud800"),
    CallRow("id-bool", ("user id", "bool"), True),
    CallRow("id-float", ("user id", "float"), 3.5),
    CallRow("id-bytes", ("user id", "bytes"), b"user_1"),
    CallRow("id-list", ("user id", "list"), ["user_1"]),
    CallRow("id-none-anywhere", ("user id",), NO_ID),
    CallRow("id-given-twice", ("user id",), TWICE),
    # platforms
    CallRow("platform-unknown", ("platforms", "myspace", "youtube"),
            override={"platforms": "myspace"}),
    CallRow("platform-one-unknown-of-two", ("platforms", "friendster"),
            override={"platforms": ["youtube", "friendster"]}),
    CallRow("platform-empty-list", ("platforms", "empty"), override={"platforms": []}),
    CallRow("platform-empty-string", ("platforms",), override={"platforms": ""}),
    CallRow("platform-int", ("platforms", "int"), override={"platforms": 42}),
    CallRow("platform-int-item", ("platforms", "42"), override={"platforms": [42]}),
    CallRow("platform-dict", ("platforms", "dict"), override={"platforms": {"youtube": True}}),
    CallRow("platform-bytes", ("platforms", "bytes"), override={"platforms": b"youtube"}),
    CallRow("platform-a-scope", ("platforms",), override={"platforms": [Scope.PROFILE_READ]}),
    CallRow("platform-spelled-with-space", ("platforms",), override={"platforms": "you tube"}),
    CallRow("platform-missing", ("platforms",), override=missing("platforms")),
    # scopes
    CallRow("scope-unknown", ("scopes", "admin", "profile_read"), override={"scopes": "admin"}),
    CallRow("scope-empty-tuple", ("scopes", "empty"), override={"scopes": ()}),
    CallRow("scope-none-item", ("scopes", "None"), override={"scopes": ["profile_read", None]}),
    CallRow("scope-a-platform", ("scopes",), override={"scopes": Platform.YOUTUBE}),
    CallRow("scope-with-space", ("scopes",), override={"scopes": "profile read"}),
    CallRow("scope-float", ("scopes", "float"), override={"scopes": 3.14}),
    CallRow("scope-missing", ("scopes",), override=missing("scopes")),
    # URLs
    CallRow("callback-words", ("callback_url",), override={"callback_url": "not a url"}),
    CallRow("callback-ftp", ("callback_url",), override={"callback_url": "ftp://app.example/cb"}),
    CallRow("callback-relative", ("callback_url",), override={"callback_url": "/api/oauth/cb"}),
    CallRow("callback-no-host", ("callback_url",), override={"callback_url": "https://"}),
    CallRow("callback-int", ("callback_url", "int"), override={"callback_url": 123}),
    CallRow("callback-trailing-newline", ("callback_url",),
            override={"callback_url": "https://app.example/cb\n"}),
    CallRow("callback-bad-ipv6", ("callback_url",), override={"callback_url": "https://[::1/cb"}),
    CallRow("callback-bad-port", ("callback_url",),
            override={"callback_url": "https://app.example:99999/cb"}),
    CallRow("callback-missing", ("callback_url",), override=missing("callback_url")),
    CallRow("redirect-javascript", ("redirect_url",),
            override={"redirect_url": "javascript:alert(1)"}),
    CallRow("redirect-empty", ("redirect_url",), override={"redirect_url": ""}),
    CallRow("redirect-space-in-host", ("redirect_url",),
            override={"redirect_url": "https://app example/done"}),
    CallRow("redirect-lone-surrogate", ("redirect_url",),
            override={"redirect_url": "https://app.example/\ud800"}),
    CallRow("redirect-bytes", ("redirect_url", "bytes"),
            override={"redirect_url": b"https://app.example/done"}),
    CallRow("redirect-missing", ("redirect_url",), override=missing("redirect_url")),
    # other argument types
    CallRow("timeout-zero", ("timeout",), override={"timeout": 0}),
    CallRow("timeout-negative", ("timeout",), override={"timeout": -1.5}),
    CallRow("timeout-string", ("timeout",), override={"timeout": "5"}),
    CallRow("timeout-bool", ("timeout",), override={"timeout": True}),
]  # fmt: skip


def make_call(tapti: Tapti | AsyncTapti, row: CallRow, *, raw: bool = False) -> Any:
    front: Any = tapti.with_raw_response if raw else tapti
    if row.user_id is NO_ID:
        return front.user().create_sdk_token(**row.call_args())
    if row.user_id is TWICE:
        return front.user("user_1").create_sdk_token("user_2", **row.call_args())
    return front.user(row.user_id).create_sdk_token(**row.call_args())


@pytest.mark.parametrize("row", CALL_ROWS, ids=lambda row: row.name)
def test_sync_call_refused(
    row: CallRow, server: MockTaptiServer, sends: list[httpx2.Request]
) -> None:
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti,
        pytest.raises(InvalidInputError) as info,
    ):
        make_call(tapti, row)
    assert_refused(info, row.words, server, sends)


@pytest.mark.parametrize("row", CALL_ROWS, ids=lambda row: row.name)
def test_raw_response_call_refused(
    row: CallRow, server: MockTaptiServer, sends: list[httpx2.Request]
) -> None:
    with (
        Tapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti,
        pytest.raises(InvalidInputError) as info,
    ):
        make_call(tapti, row, raw=True)
    assert_refused(info, row.words, server, sends)


@pytest.mark.anyio
@pytest.mark.parametrize("row", CALL_ROWS, ids=lambda row: row.name)
async def test_async_call_refused(
    row: CallRow, server: MockTaptiServer, sends: list[httpx2.Request]
) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
        with pytest.raises(InvalidInputError) as info:
            await make_call(tapti, row)
    assert_refused(info, row.words, server, sends)


# --- construction rows: a bad client setting ------------------------------------------------------

SERVER_URL = "{server}"  # replaced by the running server's URL


@dataclass(frozen=True)
class ClientRow:
    name: str
    words: tuple[str, ...]
    settings: dict[str, Any]


CLIENT_ROWS = [
    ClientRow("base-url-ftp", ("base_url",), {"base_url": "ftp://127.0.0.1:21"}),
    ClientRow("base-url-no-scheme", ("base_url",), {"base_url": "127.0.0.1:8080"}),
    ClientRow("base-url-query", ("base_url", "query"), {"base_url": SERVER_URL + "?debug=1"}),
    ClientRow("base-url-fragment", ("base_url",), {"base_url": SERVER_URL + "#top"}),
    ClientRow("base-url-remote-http", ("base_url", "allow_insecure_http"),
              {"base_url": "http://api.tapti.ai"}),
    ClientRow("base-url-lookalike-loopback", ("base_url",),
              {"base_url": "http://localhost.evil.example"}),
    ClientRow("base-url-int", ("base_url", "int"), {"base_url": 8080}),
    ClientRow("base-url-bad-port", ("base_url",), {"base_url": "http://127.0.0.1:notaport"}),
    ClientRow("base-url-space", ("base_url",), {"base_url": SERVER_URL + "/a b"}),
    ClientRow("api-key-empty", ("api_key",), {"api_key": ""}),
    ClientRow("api-key-two-words", ("api_key",), {"api_key": "sk two"}),
    ClientRow("api-key-int", ("api_key", "int"), {"api_key": 12345}),
    ClientRow("api-key-non-ascii", ("api_key",), {"api_key": "sk_cl\u00e9"}),
    ClientRow("max-retries-negative", ("max_retries",), {"max_retries": -1}),
    ClientRow("max-retries-bool", ("max_retries",), {"max_retries": True}),
    ClientRow("max-retries-float", ("max_retries",), {"max_retries": 1.5}),
    ClientRow("client-timeout-zero", ("timeout",), {"timeout": 0}),
    ClientRow("portal-url-ftp", ("portal_url",), {"portal_url": "ftp://portal.example"}),
    ClientRow("default-platform-unknown", ("platforms", "myspace"), {"platforms": ["myspace"]}),
    ClientRow("default-scope-unknown", ("scopes",), {"scopes": "everything"}),
    ClientRow("default-callback-relative", ("callback_url",), {"callback_url": "cb"}),
    ClientRow("default-redirect-int", ("redirect_url",), {"redirect_url": 7}),
    ClientRow("http-client-wrong-kind", ("http_client",), {"http_client": "httpx2.Client"}),
]  # fmt: skip


def client_settings(row: ClientRow, server: MockTaptiServer) -> dict[str, Any]:
    settings = {"api_key": API_KEY, "base_url": server.url, **row.settings}
    if isinstance(settings["base_url"], str):
        settings["base_url"] = settings["base_url"].replace(SERVER_URL, server.url)
    return settings


@pytest.mark.parametrize("row", CLIENT_ROWS, ids=lambda row: row.name)
def test_sync_client_refused(
    row: ClientRow, server: MockTaptiServer, sends: list[httpx2.Request]
) -> None:
    with pytest.raises(InvalidInputError) as info:
        Tapti(**client_settings(row, server))
    assert_refused(info, row.words, server, sends)


@pytest.mark.anyio
@pytest.mark.parametrize("row", CLIENT_ROWS, ids=lambda row: row.name)
async def test_async_client_refused(
    row: ClientRow, server: MockTaptiServer, sends: list[httpx2.Request]
) -> None:
    with pytest.raises(InvalidInputError) as info:
        AsyncTapti(**client_settings(row, server))
    assert_refused(info, row.words, server, sends)


def test_async_http_client_given_to_the_sync_client_is_refused(
    server: MockTaptiServer, sends: list[httpx2.Request]
) -> None:
    http = httpx2.AsyncClient()
    with pytest.raises(InvalidInputError) as info:
        Tapti(api_key=API_KEY, base_url=server.url, http_client=http)  # type: ignore[arg-type]
    assert_refused(info, ("http_client", "AsyncClient"), server, sends)


# --- portal rows: portal platforms and bare tokens ---------------------------------------------

TOKEN = SdkToken(
    "https://oauth.tapti.dev?sdk_token=tok_1&origin=https%3A%2F%2Fapp.example",
    (Platform.YOUTUBE,),
    (Scope.PROFILE_READ,),
)
PORTAL_ROWS: list[tuple[str, tuple[str, ...], Callable[[Tapti], object]]] = [
    ("portal-platform-unknown", ("platform", "myspace"),
     lambda _: oauth_portal_url("tok_1", platform="myspace")),
    ("portal-platform-int", ("platform",), lambda _: oauth_portal_url("tok_1", platform=7)),  # type: ignore[arg-type]
    ("portal-platform-empty", ("platform",), lambda _: oauth_portal_url("tok_1", platform="")),
    ("portal-token-empty", ("sdk_token",), lambda _: oauth_portal_url("", platform="youtube")),
    ("portal-token-none", ("sdk_token",), lambda _: oauth_portal_url(None)),  # type: ignore[arg-type]
    ("portal-url-relative", ("portal_url",),
     lambda _: oauth_portal_url("tok_1", portal_url="/portal")),
    ("client-portal-platform-unknown", ("platform",),
     lambda tapti: tapti.oauth_portal_url("tok_1", platform="orkut")),
    ("token-portal-platform-not-its-own", ("platform", "tiktok", "youtube"),
     lambda _: TOKEN.portal_url(platform="tiktok")),
    ("token-portal-platform-unknown", ("platform", "myspace"),
     lambda _: TOKEN.portal_url(platform="myspace")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("words", "make"), [row[1:] for row in PORTAL_ROWS], ids=[row[0] for row in PORTAL_ROWS]
)
def test_portal_url_refused(
    words: tuple[str, ...],
    make: Callable[[Tapti], object],
    server: MockTaptiServer,
    sends: list[httpx2.Request],
) -> None:
    with (
        Tapti(api_key=API_KEY, base_url=server.url) as tapti,
        pytest.raises(InvalidInputError) as info,
    ):
        make(tapti)
    assert_refused(info, words, server, sends)


def test_the_corpus_is_large_enough() -> None:
    rows = len(CALL_ROWS) + len(CLIENT_ROWS) + len(PORTAL_ROWS) + 1
    assert rows >= 40
    names = [row.name for row in CALL_ROWS] + [row.name for row in CLIENT_ROWS]
    names += [row[0] for row in PORTAL_ROWS]
    assert len(names) == len(set(names)), "row names must be unique"


def test_the_same_calls_fixed_do_reach_the_server(server: MockTaptiServer) -> None:
    """The control: with the bad argument replaced, the call goes out and succeeds."""
    server.clear()
    with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
        token = tapti.user("user_1").create_sdk_token(**GOOD)
    assert token.sdk_token == server.issued_tokens[0]
    assert len(server.requests) == 1


# --- generated user ids -------------------------------------------------------------------------

_ID_CHARACTERS = st.one_of(
    st.characters(),  # any Unicode scalar value but surrogates
    st.characters(categories=["Cc", "Cs", "Zs", "Zl", "Zp"]),  # controls, surrogates, spaces
    st.sampled_from("./%?#&+=;:@[]~\\"),  # what could break a path if not encoded
)
USER_IDS = st.one_of(
    st.text(_ID_CHARACTERS, max_size=40),
    st.sampled_from([".", "..", "...", "%2e%2e", "%2F", "a/../b", "?x=1", "#frag", " . "]),
    st.integers(),
)


def refused_for_a_documented_reason(user_id: str | int) -> bool:
    """Blank, a dot segment, a control character or a lone surrogate: nothing else."""
    text = str(user_id)
    return (
        not text.strip()
        or text in {".", ".."}
        or any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)
        or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    )


@pytest.fixture(scope="module")
def property_client(server: MockTaptiServer) -> Iterator[Tapti]:
    with Tapti(api_key=API_KEY, base_url=server.url, max_retries=0) as tapti:
        yield tapti


@settings(max_examples=200, deadline=None)
@given(user_id=USER_IDS)
def test_user_id_is_refused_or_round_trips_as_one_segment(
    user_id: str | int, server: MockTaptiServer, property_client: Tapti
) -> None:
    server.clear()
    if refused_for_a_documented_reason(user_id):
        event("refused up front")
        with pytest.raises(InvalidInputError, match="user id"):
            property_client.user(user_id).create_sdk_token(**GOOD)
        assert server.requests == []
        return
    event("sent")
    token = property_client.user(user_id).create_sdk_token(**GOOD)  # refusing it fails the test
    (recorded,) = server.requests
    assert recorded.status == 200
    raw_path = recorded.path.partition("?")[0]
    root, users, segment, suffix = raw_path.split("/")
    assert (root, users, suffix) == ("", "users", "sdk-token"), raw_path
    assert segment, raw_path
    assert unquote(segment, errors="strict") == str(user_id)
    assert recorded.user_id == str(user_id)
    assert token.sdk_token == server.issued_tokens[-1]
