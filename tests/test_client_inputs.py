"""Bad arguments raise InvalidInputError (a ValueError) naming the argument, and send nothing."""

from __future__ import annotations

import json
import math
from enum import Enum, IntEnum
from typing import Any

import httpx2
import pytest
from _fields import portal_body
from _http import snapshot

from tapti_ext import AsyncTapti, InvalidInputError, Platform, Scope, Tapti

API_KEY = "sk_test_inputs"
PORTAL = "https://oauth.tapti.dev?sdk_token=tok_inputs"
GOOD_CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/api/oauth/callback",
    "redirect_url": "https://app.example/dashboard",
}


@pytest.fixture
def sent() -> list[httpx2.Request]:
    return []


@pytest.fixture
def http(sent: list[httpx2.Request]) -> Any:
    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(snapshot(request))
        return httpx2.Response(200, json=portal_body(PORTAL))

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        yield client


def case_id(kwargs: dict[str, Any]) -> str:
    return ",".join(f"{name}={value!r}"[:40] for name, value in kwargs.items())


def assert_refused(exc: pytest.ExceptionInfo[InvalidInputError], *words: str) -> None:
    assert isinstance(exc.value, ValueError)
    message = str(exc.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# --- client construction -----------------------------------------------------------------------


class _LyingFloat(float):
    """Compares as the float it was made from, converts to another (probe 30): a check must
    read the float the SDK then uses."""

    converts_to = 0.0

    def __float__(self) -> float:
        return self.converts_to

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _HugeFloat(_LyingFloat):
    converts_to = 1e308  # a deadline past time_t: OverflowError mid-call


class _NaNFloat(_LyingFloat):
    converts_to = math.nan  # a NaN deadline: a connect that never started


CONSTRUCTION_CASES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"api_key": None}, ("TAPTI_API_KEY",)),
    ({"api_key": ""}, ("TAPTI_API_KEY",)),
    ({"api_key": "   "}, ("TAPTI_API_KEY",)),
    ({"api_key": 12345}, ("api_key",)),
    ({"api_key": "two words"}, ("api_key",)),
    ({"api_key": "ctl\x00key"}, ("api_key",)),
    ({"api_key": "sk_\u043a\u043b\u044e\u0447"}, ("api_key",)),
    ({"api_key": "k\u00e9y"}, ("api_key",)),
    ({"base_url": "ftp://api.tapti.ai"}, ("base_url",)),
    ({"base_url": "api.tapti.ai"}, ("base_url",)),
    ({"base_url": "/relative/path"}, ("base_url",)),
    ({"base_url": "https://"}, ("base_url",)),
    ({"base_url": "https://api.tapti.ai?x=1"}, ("base_url",)),
    ({"base_url": "https://api tapti.ai"}, ("base_url",)),
    ({"base_url": 42}, ("base_url",)),
    ({"base_url": "http://api.tapti.ai"}, ("base_url", "allow_insecure_http")),
    ({"base_url": "http://10.0.0.5:8080"}, ("base_url",)),
    ({"base_url": "http://localhost.evil.example"}, ("base_url",)),
    ({"base_url": "https://999.999.999.999"}, ("base_url",)),
    ({"base_url": ""}, ("base_url",)),
    ({"base_url": "https://api.tapti.ai?"}, ("base_url", "query")),
    ({"base_url": "https://api.tapti.ai#"}, ("base_url", "fragment")),
    ({"base_url": "https://user:pass@api.tapti.ai"}, ("base_url", "user name or password")),
    ({"timeout": 0}, ("timeout",)),
    ({"timeout": -1.0}, ("timeout",)),
    ({"timeout": "30"}, ("timeout",)),
    ({"timeout": True}, ("timeout",)),
    ({"timeout": float("inf")}, ("timeout", "86400")),
    ({"timeout": float("nan")}, ("timeout",)),
    ({"timeout": 10**400}, ("timeout",)),
    ({"timeout": 1e300}, ("timeout",)),
    ({"timeout": httpx2.Timeout(-1)}, ("timeout", "connect")),
    ({"timeout": httpx2.Timeout(5, read=-3)}, ("timeout", "read")),
    ({"timeout": httpx2.Timeout(float("nan"))}, ("timeout",)),
    ({"timeout": _HugeFloat(1.0)}, ("timeout",)),
    ({"timeout": _NaNFloat(1.0)}, ("timeout",)),
    ({"timeout": httpx2.Timeout(5, read=_NaNFloat(1.0))}, ("timeout", "read")),
    ({"max_retries": -1}, ("max_retries",)),
    ({"max_retries": 1.5}, ("max_retries",)),
    ({"max_retries": True}, ("max_retries",)),
    ({"max_retries": "2"}, ("max_retries",)),
    ({"portal_url": "not a url"}, ("portal_url",)),
    ({"portal_url": "ftp://oauth.tapti.dev"}, ("portal_url",)),
    ({"portal_url": "oauth.tapti.dev"}, ("portal_url",)),
    ({"portal_url": ""}, ("portal_url",)),
    ({"platforms": []}, ("platforms",)),
    ({"platforms": "myspace"}, ("platforms", "myspace", "youtube", "tiktok")),
    ({"scopes": ["profile_read", "nope"]}, ("scopes", "nope", "profile_read")),
    ({"scopes": 7}, ("scopes",)),
    ({"callback_url": "not-a-url"}, ("callback_url",)),
    ({"redirect_url": "https://exa mple.com"}, ("redirect_url",)),
    ({"http_client": object()}, ("http_client",)),
    ({"base_url": "https://api.tapti.ai./v1"}, ("base_url", "dot", "https://api.tapti.ai./v1")),
    ({"base_url": "https://api.tapti.ai\u3002"}, ("base_url", "dot")),
    ({"base_url": "https://api.tapti.ai\uff0e:443"}, ("base_url", "dot")),
    ({"http_client": "https://api.tapti.ai"}, ("http_client",)),
]


@pytest.mark.parametrize(
    ("kwargs", "words"), CONSTRUCTION_CASES, ids=[case_id(k) for k, _ in CONSTRUCTION_CASES]
)
@pytest.mark.parametrize("client_class", [Tapti, AsyncTapti])
def test_bad_construction_argument(
    client_class: type[Tapti] | type[AsyncTapti], kwargs: dict[str, Any], words: tuple[str, ...]
) -> None:
    arguments = {"api_key": API_KEY, **kwargs}
    with pytest.raises(InvalidInputError) as exc:
        client_class(**arguments)
    assert_refused(exc, *words)


def test_api_key_with_whitespace_is_not_quoted_back() -> None:
    with pytest.raises(InvalidInputError) as exc:
        Tapti(api_key="sk_live_SECRET part")
    assert "SECRET" not in str(exc.value)


def test_wrong_kind_of_http_client_is_refused() -> None:
    with httpx2.Client() as sync_client, pytest.raises(InvalidInputError, match="http_client"):
        AsyncTapti(api_key=API_KEY, http_client=sync_client)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://127.0.0.1:4010",
        "http://127.0.0.2",
        "http://[::1]:9000",
        "https://api.example.com/v1",
    ],
)
def test_loopback_http_and_https_base_urls_are_accepted(base_url: str) -> None:
    with Tapti(api_key=API_KEY, base_url=base_url) as tapti:
        assert tapti.base_url == base_url.rstrip("/")


def test_plain_http_to_remote_host_allowed_only_when_asked(http: httpx2.Client) -> None:
    tapti = Tapti(
        api_key=API_KEY,
        base_url="http://api.internal.example",
        allow_insecure_http=True,
        http_client=http,
    )
    assert tapti.base_url == "http://api.internal.example"


# --- environment -------------------------------------------------------------------------------


def test_api_key_from_environment(
    monkeypatch: pytest.MonkeyPatch, http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    monkeypatch.setenv("TAPTI_API_KEY", "sk_from_env")
    Tapti(http_client=http).user("u1").create_sdk_token(**GOOD_CALL)
    assert sent[0].headers["x-api-key"] == "sk_from_env"


def test_api_key_argument_beats_environment(
    monkeypatch: pytest.MonkeyPatch, http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    monkeypatch.setenv("TAPTI_API_KEY", "sk_from_env")
    Tapti(api_key="sk_from_arg", http_client=http).user("u1").create_sdk_token(**GOOD_CALL)
    assert sent[0].headers["x-api-key"] == "sk_from_arg"


def test_empty_api_key_in_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPTI_API_KEY", "")
    with pytest.raises(InvalidInputError) as exc:
        Tapti()
    assert_refused(exc, "TAPTI_API_KEY")


def test_base_url_from_environment(
    monkeypatch: pytest.MonkeyPatch, http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    monkeypatch.setenv("TAPTI_BASE_URL", "https://staging.tapti.example/api/")
    tapti = Tapti(api_key=API_KEY, http_client=http)
    tapti.user("u1").create_sdk_token(**GOOD_CALL)
    assert str(sent[0].url) == "https://staging.tapti.example/api/users/u1/sdk-token"


def test_base_url_argument_beats_environment(
    monkeypatch: pytest.MonkeyPatch, http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    monkeypatch.setenv("TAPTI_BASE_URL", "https://staging.tapti.example")
    tapti = Tapti(api_key=API_KEY, base_url="https://eu.tapti.example", http_client=http)
    tapti.user("u1").create_sdk_token(**GOOD_CALL)
    assert sent[0].url.host == "eu.tapti.example"


def test_insecure_base_url_from_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPTI_BASE_URL", "http://api.tapti.example")
    with pytest.raises(InvalidInputError) as exc:
        Tapti(api_key=API_KEY)
    assert_refused(exc, "TAPTI_BASE_URL")  # the message names where the value came from


def test_portal_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPTI_PORTAL_URL", "https://portal.example/start")
    with Tapti(api_key=API_KEY) as tapti:
        assert tapti.portal_url == "https://portal.example/start"
        assert tapti.oauth_portal_url("tok") == "https://portal.example/start?sdk_token=tok"


def test_bad_portal_url_in_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPTI_PORTAL_URL", "portal.example")
    with pytest.raises(InvalidInputError) as exc:
        Tapti(api_key=API_KEY)
    assert_refused(exc, "TAPTI_PORTAL_URL")  # the variable, not an argument never passed


# --- call arguments ----------------------------------------------------------------------------

BAD_USER_IDS: list[object] = [
    "",
    "   ",
    "\t\n",
    ".",
    "..",
    "user\x00id",
    "user\nid",
    "user\rid",
    "user\x7fid",
    "user\x85id",
    "\ud800",
    "user\udfffid",
    "u" * 1025,
    True,
    1.5,
    b"user_123",
    ["user_123"],
]


@pytest.mark.parametrize("user_id", BAD_USER_IDS)
def test_bad_user_id_in_user(
    user_id: object, http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    with pytest.raises(InvalidInputError) as exc:
        tapti.user(user_id).create_sdk_token(**GOOD_CALL)  # type: ignore[arg-type]
    assert_refused(exc, "user id")
    assert sent == []


@pytest.mark.parametrize("user_id", BAD_USER_IDS)
def test_bad_user_id_in_js_form(
    user_id: object, http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    with pytest.raises(InvalidInputError) as exc:
        tapti.user().create_sdk_token(user_id, **GOOD_CALL)  # type: ignore[arg-type]
    assert_refused(exc, "user id")
    assert sent == []


def test_no_user_id_at_all(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    with pytest.raises(InvalidInputError) as exc:
        tapti.user().create_sdk_token(**GOOD_CALL)
    assert_refused(exc, "user id")
    assert sent == []


def test_user_id_given_twice(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    with pytest.raises(InvalidInputError) as exc:
        tapti.user("a").create_sdk_token("b", **GOOD_CALL)
    assert_refused(exc, "user id")
    assert sent == []


CALL_CASES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"platforms": []}, ("platforms", "empty")),
    ({"platforms": ()}, ("platforms",)),
    ({"platforms": "myspace"}, ("platforms", "myspace", "youtube", "tiktok", "instagram")),
    ({"platforms": ["youtube", "myspace"]}, ("platforms", "myspace", "youtube")),
    ({"platforms": [None]}, ("platforms", "youtube")),
    ({"platforms": 5}, ("platforms",)),
    ({"platforms": b"youtube"}, ("platforms",)),
    ({"platforms": {"youtube": True}}, ("platforms",)),
    ({"platforms": [["youtube"]]}, ("platforms",)),
    ({"platforms": [Scope.PROFILE_READ]}, ("platforms",)),
    ({"platforms": ""}, ("platforms",)),
    ({"scopes": []}, ("scopes", "empty")),
    ({"scopes": "profile"}, ("scopes", "profile_read", "content_write")),
    ({"scopes": [Platform.YOUTUBE]}, ("scopes",)),
    ({"scopes": 1}, ("scopes",)),
    ({"callback_url": ""}, ("callback_url",)),
    ({"callback_url": "/api/oauth/callback"}, ("callback_url",)),
    ({"callback_url": "//app.example/cb"}, ("callback_url",)),
    ({"callback_url": "ftp://app.example/cb"}, ("callback_url",)),
    ({"callback_url": "javascript:alert(1)"}, ("callback_url",)),
    ({"callback_url": "https://"}, ("callback_url",)),
    ({"callback_url": "https://app example.com/cb"}, ("callback_url",)),
    ({"callback_url": "https://app.example/c b"}, ("callback_url",)),
    ({"callback_url": "https://app.example/cb\n"}, ("callback_url",)),
    ({"callback_url": "https://app.example/\x00"}, ("callback_url",)),
    ({"callback_url": "https://app.example:99999/cb"}, ("callback_url",)),
    ({"callback_url": "http://[::1"}, ("callback_url",)),
    # An empty user name, which httpx2's form of a non-ASCII URL drops: refused as written.
    ({"callback_url": "https://@evil.example/\u00e9"}, ("callback_url", "user name")),
    ({"redirect_url": "https://@evil.example/"}, ("redirect_url", "user name")),
    ({"callback_url": 123}, ("callback_url",)),
    ({"redirect_url": "app.example/dashboard"}, ("redirect_url",)),
    ({"redirect_url": "mailto:someone@app.example"}, ("redirect_url",)),
    ({"redirect_url": "https://app.example/\tx"}, ("redirect_url",)),
    ({"redirect_url": ["https://app.example"]}, ("redirect_url",)),
    ({"callback_url": "https://app.example/\ud800"}, ("callback_url",)),
    ({"redirect_url": "https://\udfff.example/"}, ("redirect_url",)),
    ({"timeout": 0}, ("timeout",)),
    ({"timeout": -5}, ("timeout",)),
    ({"timeout": "1"}, ("timeout",)),
]


@pytest.mark.parametrize("raw", [False, True], ids=["token", "with_raw_response"])
@pytest.mark.parametrize(("override", "words"), CALL_CASES, ids=[case_id(k) for k, _ in CALL_CASES])
def test_bad_call_argument(
    override: dict[str, Any],
    words: tuple[str, ...],
    raw: bool,
    http: httpx2.Client,
    sent: list[httpx2.Request],
) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    calls = tapti.with_raw_response if raw else tapti
    with pytest.raises(InvalidInputError) as exc:
        calls.user("user_123").create_sdk_token(**{**GOOD_CALL, **override})
    assert_refused(exc, *words)
    assert sent == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("override", "words"), CALL_CASES[::3], ids=[case_id(k) for k, _ in CALL_CASES[::3]]
)
async def test_bad_call_argument_async(override: dict[str, Any], words: tuple[str, ...]) -> None:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(snapshot(request))
        return httpx2.Response(200, json=portal_body(PORTAL))

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        tapti = AsyncTapti(api_key=API_KEY, http_client=http)
        with pytest.raises(InvalidInputError) as exc:
            await tapti.user("user_123").create_sdk_token(**{**GOOD_CALL, **override})
        assert_refused(exc, *words)
        with pytest.raises(InvalidInputError):
            await tapti.user(".").create_sdk_token(**GOOD_CALL)
    assert sent == []


# --- client-level defaults ---------------------------------------------------------------------


def test_defaults_fill_a_bare_call(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http, **GOOD_CALL)
    token = tapti.user("user_123").create_sdk_token()
    assert token.platforms == (Platform.YOUTUBE,)
    assert token.scopes == (Scope.PROFILE_READ,)
    assert len(sent) == 1


def test_call_arguments_beat_defaults(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http, **GOOD_CALL)
    tapti.user("user_123").create_sdk_token(
        platforms="tiktok", redirect_url="https://app.example/other"
    )
    body = json.loads(sent[0].content)
    assert body["user_platforms"] == ["TIKTOK"]
    assert body["enabled_scopes"] == ["PROFILE_READ"]
    assert body["redirect_url"] == "https://app.example/other"
    assert body["callback_url"] == GOOD_CALL["callback_url"]


@pytest.mark.parametrize(
    ("defaults", "missing"),
    [
        ({}, ["platforms", "scopes", "callback_url", "redirect_url"]),
        ({"platforms": "youtube"}, ["scopes", "callback_url", "redirect_url"]),
        ({"platforms": "youtube", "scopes": "profile_read"}, ["callback_url", "redirect_url"]),
        ({k: v for k, v in GOOD_CALL.items() if k != "redirect_url"}, ["redirect_url"]),
    ],
)
def test_missing_values_are_named(
    defaults: dict[str, Any], missing: list[str], http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http, **defaults)
    with pytest.raises(InvalidInputError) as exc:
        tapti.user("user_123").create_sdk_token()
    assert_refused(exc, *missing)
    present = [name for name in GOOD_CALL if name not in missing]
    for name in present:
        assert name not in str(exc.value)
    assert sent == []


def test_empty_base_url_in_environment_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPTI_BASE_URL", "")
    assert Tapti(api_key=API_KEY).base_url == "https://api.tapti.ai"


def test_credentials_in_base_url_are_not_quoted_back() -> None:
    with pytest.raises(InvalidInputError) as exc:
        Tapti(api_key=API_KEY, base_url="https://user:hunter2secret@api.tapti.ai")
    assert "hunter2secret" not in str(exc.value)


def test_longest_allowed_user_id_is_sent(http: httpx2.Client, sent: list[httpx2.Request]) -> None:
    tapti = Tapti(api_key=API_KEY, http_client=http)
    tapti.user("u" * 1024).create_sdk_token(**GOOD_CALL)
    assert sent[0].url.raw_path == b"/users/" + b"u" * 1024 + b"/sdk-token"


class _StrId(str, Enum):  # noqa: UP042  (the old mixin, whose str() is "_StrId.ALICE")
    ALICE = "user_alice"


class _IntId(IntEnum):
    BOB = 42


@pytest.mark.parametrize(
    ("user_id", "segment"), [(_StrId.ALICE, b"user_alice"), (_IntId.BOB, b"42")]
)
def test_enum_user_ids_are_sent_by_value(
    http: httpx2.Client, sent: list[httpx2.Request], user_id: object, segment: bytes
) -> None:
    Tapti(api_key=API_KEY, http_client=http).user(user_id).create_sdk_token(**GOOD_CALL)  # type: ignore[arg-type]
    assert sent[0].url.raw_path == b"/users/" + segment + b"/sdk-token"


def test_int_user_id_too_long_to_print_is_refused(
    http: httpx2.Client, sent: list[httpx2.Request]
) -> None:
    # Not in BAD_USER_IDS: pytest cannot print it as a test id either.
    with pytest.raises(InvalidInputError, match="user id"):
        Tapti(api_key=API_KEY, http_client=http).user(10**5000)
    assert sent == []


@pytest.mark.parametrize("flag", ["allow_insecure_http", "propagate_trace_context"])
@pytest.mark.parametrize("value", ["false", "off", 0, 1, 1.0, [0], None])
def test_a_flag_must_be_a_bool(flag: str, value: object) -> None:
    # "false" is truthy: taken as True, it sent the key over plain http to another machine.
    for client in (Tapti, AsyncTapti):
        with pytest.raises(InvalidInputError, match=f"^{flag} must be True or False"):
            client(api_key=API_KEY, base_url="http://api.example.com", **{flag: value})


@pytest.mark.parametrize(
    "call",
    [
        lambda huge: (
            Tapti(api_key=API_KEY)
            .user("u1")
            .create_sdk_token(
                platforms=huge,
                scopes="profile_read",
                callback_url="https://a.example/cb",
                redirect_url="https://a.example/r",
            )
        ),
        lambda huge: Tapti(api_key=API_KEY).oauth_portal_url("tok", platform=huge),
        lambda huge: Tapti(api_key=API_KEY, scopes=[huge]),
    ],
    ids=["platforms", "portal-platform", "scopes"],
)
def test_an_unknown_platform_or_scope_is_quoted_in_short(call: Any) -> None:
    huge = "x" * 1_000_000  # a visitor's ?platform= can be any size
    with pytest.raises(InvalidInputError) as caught:
        call(huge)
    assert len(str(caught.value)) < 400, len(str(caught.value))
    assert "unknown value 'xxx" in str(caught.value)


@pytest.mark.parametrize("look_alike", ["t\u0131ktok", "in\u017ftagram", "\uff59outube"])
def test_a_look_alike_of_a_platform_name_is_refused(look_alike: str) -> None:
    """A dotless i or a long s: str.upper() turns both into the ASCII letter; fullwidth too."""
    with pytest.raises(InvalidInputError, match="unknown value"):
        Tapti(api_key=API_KEY).oauth_portal_url("tok", platform=look_alike)
    with pytest.raises(InvalidInputError, match="unknown value"):
        Tapti(api_key=API_KEY, platforms=[look_alike])


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_an_unknown_value_whose_repr_fails_is_named_by_its_type() -> None:
    with pytest.raises(InvalidInputError, match="unknown value of type _Unprintable"):
        Tapti(api_key=API_KEY, platforms=[_Unprintable()])


class _EqualToAnyClass(type):
    def __eq__(cls, other: object) -> bool:
        return True

    __hash__ = type.__hash__


class _NotAList(metaclass=_EqualToAnyClass):
    pass


def test_a_class_that_says_it_equals_list_is_not_taken_for_one() -> None:
    # The fast path for a list of platforms compares types by identity: a metaclass's __eq__
    # cannot make an object pass for a list and fail later as a bare TypeError (review 16).
    assert type(_NotAList()) in (list, tuple)  # the premise: "in" compares by __eq__
    with pytest.raises(InvalidInputError, match=r"^platforms must be a value or a list of values"):
        Tapti(api_key=API_KEY, platforms=_NotAList())


def test_an_enum_value_is_found_exactly_before_in_any_case() -> None:
    # A spec may one day hold two values that differ only in case: each is its own by its
    # exact spelling, and any other spelling finds the first (review 13, L3).
    from enum import StrEnum  # noqa: PLC0415

    from tapti_ext import _inputs  # noqa: PLC0415

    class Mode(StrEnum):
        MIXED = "Fast"
        UPPER = "FAST"

    assert _inputs.enum_member(Mode, "Fast", "mode") is Mode.MIXED
    assert _inputs.enum_member(Mode, "FAST", "mode") is Mode.UPPER
    assert _inputs.enum_member(Mode, " fast ", "mode") is Mode.MIXED


def test_an_int_enum_is_read_by_its_number_written_out() -> None:
    """`tapti api` reads an integer enum option through the same reader: it refused every value
    ('1' is not one of 1, 2) once the reader was shared (review 31)."""
    from tapti_ext import _inputs  # noqa: PLC0415

    class Level(IntEnum):
        ONE = 1
        TWO = 2

    assert _inputs.enum_member(Level, " 2 ", "level") is Level.TWO
    with pytest.raises(InvalidInputError, match="level"):
        _inputs.enum_member(Level, "3", "level")
