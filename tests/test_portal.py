"""SdkToken and oauth_portal_url: parsing, building, masking; URL round trips as properties."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tapti_api_client.models import CreateSdkTokenResponse

from tapti_ext import (
    DEFAULT_PORTAL_URL,
    AsyncTapti,
    InvalidInputError,
    Platform,
    Scope,
    SdkToken,
    Tapti,
    oauth_portal_url,
)

TOKEN = "tok+/=&%secret"
ENCODED = "tok%2B%2F%3D%26%25secret"
ORIGIN = "https://app.example/dashboard"
URL = f"https://oauth.tapti.dev?sdk_token={ENCODED}&origin=https%3A%2F%2Fapp.example%2Fdashboard"


def make(
    url: str = URL,
    platforms: tuple[Platform, ...] = (Platform.YOUTUBE, Platform.TIKTOK),
    scopes: tuple[Scope, ...] = (Scope.PROFILE_READ,),
) -> SdkToken:
    return SdkToken(url, platforms, scopes)


# --- SdkToken ----------------------------------------------------------------------------------


def test_token_fields_parsed_from_the_query() -> None:
    token = make()
    assert token.oauth_portal_url == URL
    assert token.sdk_token == TOKEN
    assert token.origin == ORIGIN
    assert token.platforms == (Platform.YOUTUBE, Platform.TIKTOK)
    assert token.scopes == (Scope.PROFILE_READ,)


@pytest.mark.parametrize(
    ("url", "sdk_token", "origin"),
    [
        ("https://oauth.tapti.dev?sdk_token=abc", "abc", None),
        ("https://oauth.tapti.dev/p?a=1&sdk_token=a+b&origin=o", "a b", "o"),
    ],
)
def test_token_fields(url: str, sdk_token: str, origin: str | None) -> None:
    token = make(url)
    assert token.sdk_token == sdk_token
    assert token.origin == origin


@pytest.mark.parametrize(
    "url",
    [
        "https://oauth.tapti.dev",
        "https://oauth.tapti.dev/",
        "https://oauth.tapti.dev?origin=https%3A%2F%2Fx.example",
        "https://oauth.tapti.dev?sdk_token=",
    ],
)
def test_a_token_always_has_an_sdk_token(url: str) -> None:
    # sdk_token is a str, never None: a portal URL without one is not a token.
    with pytest.raises(InvalidInputError, match="sdk_token"):
        make(url)


def test_a_token_built_by_hand_takes_what_the_client_takes() -> None:
    # Platforms and scopes are read as create_sdk_token reads them: names, members, one or many.
    token = SdkToken(URL, platforms=["youtube", "TikTok"], scopes="profile_read")  # type: ignore[arg-type]
    assert token == make()
    assert token.platforms == (Platform.YOUTUBE, Platform.TIKTOK)
    assert "profile_read" in repr(token).lower()
    assert token.portal_url(platform="tiktok").endswith("platform=tiktok")
    unknown = SdkToken(URL, (), [])  # rebuilt from a stored URL: what was asked is not known
    assert (unknown.platforms, unknown.scopes) == ((), ())
    # Any platform then (review 29): it raised "not one of this token's platforms ()".
    assert unknown.portal_url(platform="tiktok").endswith("platform=tiktok")
    with pytest.raises(InvalidInputError, match="platform"):
        unknown.portal_url(platform="myspace")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "platforms", "scopes", "match"),
    [
        (1.5, ["youtube"], ["profile_read"], "oauth_portal_url"),
        (["x"], ["youtube"], ["profile_read"], "oauth_portal_url"),
        (URL, ["myspace"], ["profile_read"], "platforms"),
        (URL, ["youtube"], [None], "scopes"),
        (URL, None, ["profile_read"], "platforms"),
        (URL + "&sdk_token=other", ["youtube"], ["profile_read"], "more than one sdk_token"),
    ],
)
def test_a_token_built_by_hand_is_checked(
    url: object, platforms: object, scopes: object, match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        SdkToken(url, platforms, scopes)  # type: ignore[arg-type]


def test_portal_url_without_platform_is_exactly_the_api_url() -> None:
    odd = "https://oauth.tapti.dev/x?b=2&sdk_token=a%2Bb&a=1"
    assert make(odd).portal_url() == odd


@pytest.mark.parametrize("platform", ["youtube", "YouTube", " YOUTUBE ", Platform.YOUTUBE])
def test_portal_url_adds_platform(platform: str | Platform) -> None:
    url = make().portal_url(platform=platform)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "oauth.tapti.dev", "")
    assert parse_qs(parts.query) == {
        "sdk_token": [TOKEN],
        "origin": [ORIGIN],
        "platform": ["youtube"],
    }


def test_portal_url_replaces_any_platform_and_keeps_the_rest() -> None:
    base = "https://oauth.tapti.dev/start?platform=tiktok&sdk_token=t&x=1&platform=x&y="
    url = make(base).portal_url(platform="youtube")
    assert parse_qsl(urlsplit(url).query, keep_blank_values=True) == [
        ("sdk_token", "t"),
        ("x", "1"),
        ("y", ""),
        ("platform", "youtube"),
    ]
    assert urlsplit(url).path == "/start"


def test_portal_url_leaves_the_token_untouched() -> None:
    token = make()
    token.portal_url(platform="tiktok")
    assert token.oauth_portal_url == URL


@pytest.mark.parametrize("platform", ["myspace", "", "you tube", 3])
def test_portal_url_unknown_platform(platform: object) -> None:
    with pytest.raises(InvalidInputError) as exc:
        make().portal_url(platform=platform)  # type: ignore[arg-type]
    assert isinstance(exc.value, ValueError)
    assert "platform" in str(exc.value)
    assert "youtube" in str(exc.value)
    assert "instagram" in str(exc.value)


@pytest.mark.parametrize("platform", ["instagram", Platform.X, "facebook"])
def test_portal_url_platform_not_among_the_tokens(platform: str | Platform) -> None:
    with pytest.raises(InvalidInputError) as exc:
        make().portal_url(platform=platform)
    message = str(exc.value)
    assert "platform" in message
    assert "youtube" in message
    assert "tiktok" in message


def test_repr_and_str_mask_the_token() -> None:
    token = make()
    for text in (repr(token), str(token), f"{token}", f"{token!r}"):
        assert TOKEN not in text
        assert ENCODED not in text
        assert "secret" not in text
        assert "sdk_token=***" in text
        assert "oauth.tapti.dev" in text
        assert "app.example" in text
        assert "YOUTUBE" in text


def test_repr_of_url_without_query() -> None:
    assert "https://oauth.tapti.dev?sdk_token=***" in repr(
        make("https://oauth.tapti.dev?sdk_token=t")
    )


# --- oauth_portal_url --------------------------------------------------------------------------


def test_oauth_portal_url_default() -> None:
    assert DEFAULT_PORTAL_URL == "https://oauth.tapti.dev"
    assert oauth_portal_url("abc") == "https://oauth.tapti.dev?sdk_token=abc"
    assert (
        oauth_portal_url("abc", platform="youtube")
        == "https://oauth.tapti.dev?sdk_token=abc&platform=youtube"
    )
    assert (
        oauth_portal_url("abc", Platform.TIKTOK)
        == "https://oauth.tapti.dev?sdk_token=abc&platform=tiktok"
    )


def test_oauth_portal_url_encodes_the_token() -> None:
    url = oauth_portal_url(TOKEN, platform="x")
    assert url == f"https://oauth.tapti.dev?sdk_token={ENCODED}&platform=x"
    assert parse_qs(urlsplit(url).query) == {"sdk_token": [TOKEN], "platform": ["x"]}


def test_oauth_portal_url_with_portal_argument() -> None:
    assert (
        oauth_portal_url("abc", portal_url="https://portal.example/start?brand=acme")
        == "https://portal.example/start?brand=acme&sdk_token=abc"
    )


def test_oauth_portal_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPTI_PORTAL_URL", "http://localhost:3000/portal")
    assert oauth_portal_url("abc") == "http://localhost:3000/portal?sdk_token=abc"
    assert (
        oauth_portal_url("abc", portal_url="https://p.example") == "https://p.example?sdk_token=abc"
    )


PORTAL_KEY = "sk_live_PORTALKEY123456"


@pytest.mark.parametrize(
    "token",
    [PORTAL_KEY, f"x{PORTAL_KEY}", PORTAL_KEY.replace("_", "%5F")],
    ids=["the key", "holding it", "percent-encoded"],
)
@pytest.mark.parametrize("door", ["Tapti", "AsyncTapti", "oauth_portal_url"])
def test_the_api_key_given_as_the_sdk_token_makes_no_portal_url(
    token: str, door: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key pasted where the token goes: every browser sent to that URL would get it (probe
    27). The function, which makes no client, looks for TAPTI_API_KEY's key."""
    client = {"Tapti": Tapti, "AsyncTapti": AsyncTapti}.get(door)
    # A client looks for its own key, whatever the environment holds.
    monkeypatch.setenv("TAPTI_API_KEY", PORTAL_KEY if client is None else "sk_live_OTHERKEY98765")
    build = oauth_portal_url if client is None else client(api_key=PORTAL_KEY).oauth_portal_url
    with pytest.raises(InvalidInputError, match=r"^sdk_token holds the API key") as caught:
        build(token, "youtube")
    assert PORTAL_KEY not in str(caught.value)
    assert build("tok-123", "youtube").endswith("?sdk_token=tok-123&platform=youtube")


def test_a_token_built_by_hand_around_the_environments_key_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SdkToken(url) makes portal URLs too (``portal_url(platform)``); review 28."""
    monkeypatch.setenv("TAPTI_API_KEY", PORTAL_KEY)
    with pytest.raises(InvalidInputError, match=r"^oauth_portal_url holds the API key") as caught:
        SdkToken(f"https://oauth.tapti.dev?sdk_token={PORTAL_KEY}", "youtube", "profile_read")
    assert PORTAL_KEY not in str(caught.value)
    token = SdkToken("https://oauth.tapti.dev?sdk_token=tok-1", "youtube", "profile_read")
    assert token.portal_url("youtube").endswith("sdk_token=tok-1&platform=youtube")


REMOTE_HTTP_PORTAL = "http://portal.example/start"


def test_a_plain_http_portal_on_another_machine_is_refused_naming_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK token in the URL would cross the network unencrypted, as the key would with a
    plain-http base URL: refused alike, and allowed alike."""
    said = "plain http to a remote host, which would send every SDK token unencrypted"
    with pytest.raises(InvalidInputError, match=f"^portal_url uses {said}"):
        oauth_portal_url("abc", portal_url=REMOTE_HTTP_PORTAL)
    with pytest.raises(InvalidInputError, match=f"^portal_url uses {said}"):
        Tapti(api_key="sk_portal", portal_url=REMOTE_HTTP_PORTAL)
    monkeypatch.setenv("TAPTI_PORTAL_URL", REMOTE_HTTP_PORTAL)
    with pytest.raises(InvalidInputError, match=f"^TAPTI_PORTAL_URL uses {said}"):
        oauth_portal_url("abc")
    with pytest.raises(InvalidInputError, match=f"^TAPTI_PORTAL_URL uses {said}"):
        AsyncTapti(api_key="sk_portal")
    allowed = f"{REMOTE_HTTP_PORTAL}?sdk_token=abc"
    assert oauth_portal_url("abc", allow_insecure_http=True) == allowed
    with Tapti(api_key="sk_portal", allow_insecure_http=True) as tapti:
        assert tapti.oauth_portal_url("abc") == allowed
        assert tapti.with_options(max_retries=0).oauth_portal_url("abc") == allowed
    with pytest.raises(InvalidInputError, match="allow_insecure_http must be True or False"):
        oauth_portal_url("abc", allow_insecure_http="yes")  # type: ignore[arg-type]


def test_client_oauth_portal_url_uses_its_portal() -> None:
    with Tapti(api_key="sk_portal", portal_url="https://portal.example") as tapti:
        assert tapti.oauth_portal_url("abc", "linkedin") == (
            "https://portal.example?sdk_token=abc&platform=linkedin"
        )


@pytest.mark.parametrize(
    ("args", "kwargs", "word"),
    [
        (("abc",), {"platform": "myspace"}, "platform"),
        (("abc",), {"platform": ""}, "platform"),
        (("",), {}, "sdk_token"),
        ((None,), {}, "sdk_token"),
        ((b"abc",), {}, "sdk_token"),
        (("abc",), {"portal_url": "oauth.tapti.dev"}, "portal_url"),
        (("abc",), {"portal_url": "ftp://oauth.tapti.dev"}, "portal_url"),
    ],
)
def test_oauth_portal_url_bad_input(
    args: tuple[object, ...], kwargs: dict[str, object], word: str
) -> None:
    with pytest.raises(InvalidInputError) as exc:
        oauth_portal_url(*args, **kwargs)  # type: ignore[arg-type]
    assert word in str(exc.value)


def test_oauth_portal_url_unknown_platform_lists_valid_ones() -> None:
    with pytest.raises(InvalidInputError) as exc:
        oauth_portal_url("abc", platform="myspace")
    for valid in ("facebook", "instagram", "instapro", "linkedin", "tiktok", "x", "youtube"):
        assert valid in str(exc.value)


# --- properties --------------------------------------------------------------------------------

platform_values = st.sampled_from([p.value.lower() for p in Platform])
param_names = st.text(min_size=1).filter(lambda name: name not in {"platform", "sdk_token"})


@given(token=st.text(min_size=1), platform=st.none() | platform_values)
def test_any_token_round_trips_through_oauth_portal_url(token: str, platform: str | None) -> None:
    url = oauth_portal_url(token, platform, portal_url=DEFAULT_PORTAL_URL)
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    expected = {"sdk_token": [token]}
    if platform is not None:
        expected["platform"] = [platform]
    assert query == expected
    assert url.startswith("https://oauth.tapti.dev?sdk_token=")
    assert SdkToken(url, (Platform.YOUTUBE,), (Scope.PROFILE_READ,)).sdk_token == token


@given(
    token=st.text(min_size=1),
    others=st.lists(st.tuples(param_names, st.text()), max_size=6),
    platform=platform_values,
    old_platform=st.none() | st.text(),
)
def test_portal_url_keeps_every_other_parameter(
    token: str,
    others: list[tuple[str, str]],
    platform: str,
    old_platform: str | None,
) -> None:
    pairs = [("sdk_token", token), *others]
    if old_platform is not None:
        pairs.insert(len(pairs) // 2, ("platform", old_platform))
    url = "https://oauth.tapti.dev/portal?" + urlencode(pairs)
    sdk = SdkToken(url, tuple(Platform), (Scope.PROFILE_READ,))
    assert sdk.sdk_token == token
    built = sdk.portal_url(platform=platform)
    kept = parse_qsl(urlsplit(built).query, keep_blank_values=True)
    assert kept == [("sdk_token", token), *others, ("platform", platform)]
    assert urlsplit(built).path == "/portal"


@given(token=st.text(min_size=1))
def test_repr_never_shows_a_token(token: str) -> None:
    url = oauth_portal_url(token, portal_url=DEFAULT_PORTAL_URL)
    text = repr(SdkToken(url, (Platform.YOUTUBE,), (Scope.PROFILE_READ,)))
    assert text.count("sdk_token=") == 1
    assert "sdk_token=***&" in text or "sdk_token=***'" in text
    assert urlencode({"sdk_token": token}) not in text


def test_portal_url_keeps_the_other_parameters_exactly_as_the_api_wrote_them() -> None:
    raw = "https://oauth-portal.example.com?sdk_token=8pjB.....&origin=https://your-app.com/x&platform=tiktok"
    token = make(raw, platforms=(Platform.YOUTUBE, Platform.TIKTOK))
    assert token.portal_url("youtube") == (
        "https://oauth-portal.example.com?sdk_token=8pjB.....&origin=https://your-app.com/x&platform=youtube"
    )


def test_lone_surrogate_token_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="sdk_token"):
        oauth_portal_url("tok\udcff")


def test_a_token_survives_copy_deepcopy_pickle_and_asdict() -> None:
    import copy  # noqa: PLC0415
    import dataclasses  # noqa: PLC0415
    import pickle  # noqa: PLC0415

    token = SdkToken(URL, ["youtube"], "profile_read")

    @dataclasses.dataclass
    class Holder:
        token: SdkToken

    for duplicate in (
        copy.copy(token),
        copy.deepcopy(token),
        pickle.loads(pickle.dumps(token)),
        dataclasses.asdict(Holder(token))["token"],
    ):
        assert duplicate == token
        assert duplicate.sdk_token == TOKEN
        assert duplicate.platforms == (Platform.YOUTUBE,)
        assert duplicate.response.oauth_portal_url == URL
        assert TOKEN not in repr(duplicate.response)  # still masked
    assert copy.deepcopy(token).response is not token.response  # deep: its own answer


# --- what the builders make, SdkToken reads back --------------------------------------------


@pytest.mark.parametrize(
    "portal",
    [
        "https://u:pw@p.example",
        "https://good.example\\@evil.example",  # a browser and Python see two hosts
        "https://good.example\u3002evil.com",
        "https://p.example/\u202egnp.exe",  # a bidi override, written to terminals raw
    ],
)
def test_a_portal_url_sdk_token_would_refuse_is_refused_by_the_builders(portal: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^portal_url (holds|has)"):
        oauth_portal_url("tok", "youtube", portal_url=portal)
    # the same refusal as for a portal URL in an answer
    with pytest.raises(InvalidInputError, match=r"^oauth_portal_url (holds|has)"):
        SdkToken(f"{portal}?sdk_token=tok", ["youtube"], [])


@pytest.mark.parametrize(
    "response",
    [5, {"oauth_portal_url": URL}, CreateSdkTokenResponse(oauth_portal_url=URL + "&x=1")],
    ids=["int", "dict", "another URL's answer"],
)
def test_a_token_built_by_hand_refuses_a_response_that_is_not_its_answer(response: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"^response must be the parsed answer"):
        SdkToken(URL, ["youtube"], [], response=response)
    assert SdkToken(URL, ["youtube"], [], response=CreateSdkTokenResponse(URL)).sdk_token == TOKEN
