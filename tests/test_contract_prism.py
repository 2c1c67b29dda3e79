"""Contract test: the requests the SDK sends satisfy the spec as an independent validator reads it.

Prism (``prism mock openapi/tapti.yaml --errors``, the ``prism`` fixture in conftest.py) was not
written here: it validates each request against the OpenAPI document and answers a valid one with
the spec's example. This module proves that

- ``Tapti``, ``AsyncTapti``, ``with_raw_response`` and the ``tapti`` CLI succeed against Prism for
  several platform/scope combinations (every platform, every scope, single values, enum members,
  mixed-case strings, duplicates) and awkward user ids, so every request they sent was valid;
- the SDK parses ``sdk_token`` and ``origin`` out of the spec's own example, which is what Prism
  returns;
- Prism does reject invalid requests (sent through the raw generated client or plain httpx2), so
  the tests above could fail;
- the project's ``MockTaptiServer`` runs the same SDK call set successfully and agrees with Prism,
  request by request, on which raw requests are valid (2xx) and which are not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import yaml
from _fields import PORTAL_FIELD, portal_body
from tapti_api_client import AuthenticatedClient, Client
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest, Platform, Scope

from tapti_ext import AsyncTapti, SdkToken, Tapti
from tapti_ext.testing import MockTaptiServer

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "tapti.yaml"
API_KEY = "contract-test-key"
CALLBACK = "https://your-app.example/api/oauth/callback"
REDIRECT = "https://your-app.example/dashboard/accounts"
ENDPOINT = "/users/{}/sdk-token"
ALL_PLATFORMS = [platform.value for platform in Platform]
ALL_SCOPES = [scope.value for scope in Scope]


def spec_example_url() -> str:
    """The 200 response's example, read from the spec (what Prism answers in static mode)."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    response = spec["paths"]["/users/{id}/sdk-token"]["post"]["responses"]["200"]
    url: str = response["content"]["application/json"]["example"][PORTAL_FIELD]
    return url


EXAMPLE_URL = spec_example_url()
EXAMPLE_QUERY = parse_qs(urlsplit(EXAMPLE_URL).query)


# --- the call set ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Combo:
    """One valid way to call create_sdk_token, and the canonical values it must send."""

    name: str
    user_id: str | int
    platforms: Any
    scopes: Any
    sent_platforms: list[str]
    sent_scopes: list[str]
    cli_platforms: list[str] = field(default_factory=list)
    cli_scopes: list[str] = field(default_factory=list)


COMBOS = [
    Combo(
        "all-platforms-all-scopes",
        "user_123",
        [p.lower() for p in ALL_PLATFORMS],
        [s.lower() for s in ALL_SCOPES],
        ALL_PLATFORMS,
        ALL_SCOPES,
        [",".join(p.lower() for p in ALL_PLATFORMS)],
        [",".join(s.lower() for s in ALL_SCOPES)],
    ),
    Combo(
        "single-strings", "u1", "youtube", "profile_read", ["YOUTUBE"], ["PROFILE_READ"],
        ["youtube"], ["profile_read"],
    ),
    Combo(
        "enum-members", 42, [Platform.TIKTOK, Platform.X], Scope.CONTENT_WRITE,
        ["TIKTOK", "X"], ["CONTENT_WRITE"], ["TIKTOK", "X"], ["CONTENT_WRITE"],
    ),
    Combo(
        "mixed-case", "Üser with spaces", ["YouTube", "tikTOK", " x "],
        ["Profile_Read", "content_WRITE", "analytics_read"],
        ["YOUTUBE", "TIKTOK", "X"], ["PROFILE_READ", "CONTENT_WRITE", "ANALYTICS_READ"],
        ["YouTube", "tikTOK", " x "], ["Profile_Read,content_WRITE", "ANALYTICS_read"],
    ),
    Combo(
        "duplicates-dropped", "a/b?c#d%2F", ["instagram", "INSTAGRAM", Platform.INSTAGRAM],
        ["comments_read", "COMMENTS_WRITE", "comments_read"],
        ["INSTAGRAM"], ["COMMENTS_READ", "COMMENTS_WRITE"],
        ["instagram", "INSTAGRAM"], ["comments_read,comments_write"],
    ),
    Combo(
        "social-trio", "user.with.dots", ["facebook", "linkedin", "instapro"], ["content_read"],
        ["FACEBOOK", "LINKEDIN", "INSTAPRO"], ["CONTENT_READ"],
    ),
    *(
        Combo(f"platform-{p.lower()}", f"user_{p.lower()}", p.lower(), "profile_read", [p],
              ["PROFILE_READ"])
        for p in ALL_PLATFORMS
    ),
    *(
        Combo(f"scope-{s.lower()}", "user_scopes", "youtube", s.lower(), ["YOUTUBE"], [s])
        for s in ALL_SCOPES
    ),
]  # fmt: skip
CLI_COMBOS = [combo for combo in COMBOS if combo.cli_platforms]


def call_kwargs(combo: Combo) -> dict[str, Any]:
    return {
        "platforms": combo.platforms,
        "scopes": combo.scopes,
        "callback_url": CALLBACK,
        "redirect_url": REDIRECT,
    }


# --- the two servers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mock_server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=API_KEY) as server:
        yield server


@dataclass
class Target:
    """A server to run the call set against, and how to check the token it returned."""

    name: str
    url: str
    server: MockTaptiServer | None  # None: Prism, which records nothing

    def check(self, token: SdkToken | dict[str, Any], combo: Combo) -> None:
        if isinstance(token, SdkToken):
            sdk_token, origin, url = token.sdk_token, token.origin, token.oauth_portal_url
            assert [p.value for p in token.platforms] == combo.sent_platforms
            assert [s.value for s in token.scopes] == combo.sent_scopes
        else:  # the CLI's --json output
            sdk_token, origin, url = token["sdk_token"], token["origin"], token["oauth_portal_url"]
            assert token["platforms"] == combo.sent_platforms
            assert token["scopes"] == combo.sent_scopes
        if self.server is None:
            assert url == EXAMPLE_URL
            assert sdk_token == EXAMPLE_QUERY["sdk_token"][0]
            assert origin == EXAMPLE_QUERY["origin"][0]
            return
        recorded = self.server.requests[-1]
        assert recorded.status == 200
        assert recorded.user_id == str(combo.user_id)
        assert recorded.json == {
            "user_platforms": combo.sent_platforms,
            "enabled_scopes": combo.sent_scopes,
            "callback_url": CALLBACK,
            "redirect_url": REDIRECT,
        }
        assert sdk_token == self.server.issued_tokens[-1]
        assert origin == REDIRECT


@pytest.fixture(params=[pytest.param("prism", marks=pytest.mark.prism), "mock"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "prism":
        return Target("prism", request.getfixturevalue("prism"), None)
    server: MockTaptiServer = request.getfixturevalue("mock_server")
    server.clear()
    return Target("mock", server.url, server)


# --- the spec's example is parseable --------------------------------------------------------------


def test_the_spec_example_carries_a_token_and_an_origin() -> None:
    assert EXAMPLE_QUERY["sdk_token"] == ["8pjBUEbqcA3bkKEBTmZ2WsduYwMH6UU23byRiU2rs........."]
    assert EXAMPLE_QUERY["origin"] == ["https://your-app.com/dashboard/accounts"]


@pytest.mark.prism
def test_prism_answers_with_the_spec_example(prism: str) -> None:
    body = {
        "user_platforms": ["YOUTUBE"],
        "enabled_scopes": ["PROFILE_READ"],
        "callback_url": CALLBACK,
        "redirect_url": REDIRECT,
    }
    response = httpx2.post(
        prism + ENDPOINT.format("u1"), json=body, headers={"x-api-key": API_KEY}, timeout=10
    )
    assert response.status_code == 200, response.headers.get("sl-violations")
    assert response.json() == portal_body(EXAMPLE_URL)


# --- the SDK's requests are valid -----------------------------------------------------------------


@pytest.mark.parametrize("combo", COMBOS, ids=lambda combo: combo.name)
def test_sync_client_calls_succeed(target: Target, combo: Combo) -> None:
    with Tapti(api_key=API_KEY, base_url=target.url, max_retries=0) as tapti:
        token = tapti.user(combo.user_id).create_sdk_token(**call_kwargs(combo))
    target.check(token, combo)


@pytest.mark.anyio
@pytest.mark.parametrize("combo", COMBOS, ids=lambda combo: combo.name)
async def test_async_client_calls_succeed(target: Target, combo: Combo) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=target.url, max_retries=0) as tapti:
        token = await tapti.user(combo.user_id).create_sdk_token(**call_kwargs(combo))
    target.check(token, combo)


def test_defaults_alias_and_raw_response_succeed(target: Target) -> None:
    combo = COMBOS[0]
    with Tapti(api_key=API_KEY, base_url=target.url, max_retries=0, **call_kwargs(combo)) as tapti:
        target.check(tapti.user().createSDKToken(combo.user_id), combo)
        raw = tapti.with_raw_response.user(combo.user_id).create_sdk_token()
        assert raw.status_code == 200
        target.check(raw.parse(), combo)


@pytest.mark.anyio
async def test_async_raw_response_succeeds(target: Target) -> None:
    combo = COMBOS[3]
    async with AsyncTapti(api_key=API_KEY, base_url=target.url, max_retries=0) as tapti:
        raw = await tapti.with_raw_response.user(combo.user_id).create_sdk_token(
            **call_kwargs(combo)
        )
    assert raw.status_code == 200
    target.check(raw.parse(), combo)


def test_generated_client_on_the_sdks_pool_succeeds(target: Target) -> None:
    body = CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE, Platform.LINKEDIN],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url=CALLBACK,
        redirect_url=REDIRECT,
    )
    with Tapti(api_key=API_KEY, base_url=target.url, max_retries=0) as tapti:
        response = create_sdk_token.sync_detailed("raw_user", client=tapti.raw, body=body)
    assert response.status_code == 200
    if target.server is None:
        assert response.parsed.to_dict() == portal_body(EXAMPLE_URL)  # type: ignore[union-attr]


def run_cli(*args: str, base_url: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    env = {**clean, "TAPTI_API_KEY": API_KEY, "TAPTI_BASE_URL": base_url}
    return subprocess.run(
        [sys.executable, "-m", "tapti_ext", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("combo", CLI_COMBOS, ids=lambda combo: combo.name)
def test_cli_calls_succeed(target: Target, combo: Combo) -> None:
    args = ["sdk-token", "create", str(combo.user_id), "--max-retries", "0", "--json"]
    args += [arg for value in combo.cli_platforms for arg in ("--platform", value)]
    args += [arg for value in combo.cli_scopes for arg in ("--scope", value)]
    args += ["--callback-url", CALLBACK, "--redirect-url", REDIRECT]
    result = run_cli(*args, base_url=target.url)
    assert result.returncode == 0, result.stderr
    target.check(json.loads(result.stdout), combo)


# --- Prism does reject invalid requests, so the tests above can fail --------------------------


def valid_body() -> dict[str, Any]:
    return {
        "user_platforms": ["YOUTUBE", "TIKTOK"],
        "enabled_scopes": ["PROFILE_READ"],
        "callback_url": CALLBACK,
        "redirect_url": REDIRECT,
    }


def body_with(**changes: Any) -> bytes:
    body = valid_body()
    for name, value in changes.items():
        if value is _MISSING:
            del body[name]
        else:
            body[name] = value
    return json.dumps(body).encode()


_MISSING = object()
JSON = "application/json"


@dataclass(frozen=True)
class RawRequest:
    name: str
    valid: bool
    body: bytes | None = None
    content_type: str | None = JSON
    api_key: str | None = API_KEY
    user_segment: str = "user_1"
    method: str = "POST"

    def send(self, base_url: str) -> httpx2.Response:
        headers = {}
        if self.content_type is not None:
            headers["content-type"] = self.content_type
        if self.api_key is not None:
            headers["x-api-key"] = self.api_key
        return httpx2.request(
            self.method,
            base_url + ENDPOINT.format(self.user_segment),
            content=json.dumps(valid_body()).encode() if self.body is None else self.body,
            headers=headers,
            timeout=10,
        )


RAW_REQUESTS = [
    # valid: what the SDK sends, and what the spec leaves open
    RawRequest("sdk-body", valid=True),
    RawRequest("all-values", True, body_with(user_platforms=ALL_PLATFORMS,
                                             enabled_scopes=ALL_SCOPES)),
    RawRequest("extra-property", True, body_with(note="additional properties are allowed")),
    RawRequest("empty-arrays", True, body_with(user_platforms=[], enabled_scopes=[])),
    RawRequest("duplicate-items", True, body_with(user_platforms=["X", "X"])),
    RawRequest("json-with-charset", True, content_type="application/json; charset=utf-8"),
    RawRequest("encoded-slash-in-id", True, user_segment="a%2Fb"),
    RawRequest("utf8-id", True, user_segment="%C3%BCser%20%E2%9C%93"),
    # invalid: values
    RawRequest("unknown-platform", False, body_with(user_platforms=["MYSPACE"])),
    RawRequest("lowercase-platform", False, body_with(user_platforms=["youtube"])),
    RawRequest("unknown-scope", False, body_with(enabled_scopes=["EVERYTHING"])),
    RawRequest("lowercase-scope", False, body_with(enabled_scopes=["profile_read"])),
    # invalid: missing fields
    RawRequest("missing-user_platforms", False, body_with(user_platforms=_MISSING)),
    RawRequest("missing-enabled_scopes", False, body_with(enabled_scopes=_MISSING)),
    RawRequest("missing-callback_url", False, body_with(callback_url=_MISSING)),
    RawRequest("missing-redirect_url", False, body_with(redirect_url=_MISSING)),
    # invalid: wrong types
    RawRequest("platforms-a-string", False, body_with(user_platforms="YOUTUBE")),
    RawRequest("scopes-null", False, body_with(enabled_scopes=None)),
    RawRequest("platform-item-a-number", False, body_with(user_platforms=[1])),
    RawRequest("callback-a-number", False, body_with(callback_url=5)),
    RawRequest("redirect-an-object", False, body_with(redirect_url={"url": REDIRECT})),
    RawRequest("body-an-array", False, b"[]"),
    RawRequest("body-null", False, b"null"),
    RawRequest("body-a-string", False, b'"hello"'),
    # invalid: framing, auth, route
    RawRequest("empty-body", False, b""),
    RawRequest("not-json", False, b"{nope"),
    RawRequest("text-plain", False, content_type="text/plain"),
    RawRequest("missing-x-api-key", False, api_key=None),
    RawRequest("empty-x-api-key", False, api_key=""),
    RawRequest("get-method", False, method="GET"),
    RawRequest("empty-user-id", False, user_segment=""),
]  # fmt: skip


@pytest.mark.prism
@pytest.mark.parametrize("raw", [r for r in RAW_REQUESTS if not r.valid], ids=lambda r: r.name)
def test_prism_rejects_invalid_requests(prism: str, raw: RawRequest) -> None:
    response = raw.send(prism)
    assert not response.is_success, f"Prism accepted {raw.name}: {response.text}"
    assert 400 <= response.status_code < 500


@pytest.mark.prism
def test_prism_rejects_invalid_requests_from_the_generated_client(prism: str) -> None:
    body = CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url=CALLBACK,
        redirect_url=REDIRECT,
    )
    with Client(base_url=prism, raise_on_unexpected_status=False) as anonymous:
        no_key = create_sdk_token.sync_detailed("u1", client=anonymous, body=body)
    assert no_key.status_code == 401

    wrong_type = CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url=5,  # type: ignore[arg-type]  (attrs does not check; the wire will)
        redirect_url=REDIRECT,
    )
    with AuthenticatedClient(
        base_url=prism, token=API_KEY, prefix="", auth_header_name="x-api-key"
    ) as authenticated:
        rejected = create_sdk_token.sync_detailed("u1", client=authenticated, body=wrong_type)
        accepted = create_sdk_token.sync_detailed("u1", client=authenticated, body=body)
    assert rejected.status_code == 422
    assert "callback_url" in rejected.headers.get("sl-violations", "")
    assert accepted.status_code == 200


# --- Prism and MockTaptiServer agree on what is valid -------------------------------------------


@pytest.mark.prism
@pytest.mark.parametrize("raw", RAW_REQUESTS, ids=lambda r: r.name)
def test_prism_and_the_mock_agree(
    prism: str, mock_server: MockTaptiServer, raw: RawRequest
) -> None:
    mock_server.clear()
    from_prism = raw.send(prism)
    from_mock = raw.send(mock_server.url)
    verdicts = {"prism": from_prism.status_code, "mock": from_mock.status_code}
    assert from_prism.is_success == from_mock.is_success, f"{raw.name}: {verdicts}"
    assert from_prism.is_success == raw.valid, f"{raw.name}: {verdicts}"
    if raw.valid:
        assert mock_server.issued_tokens, "the mock answered 2xx without issuing a token"
        oauth_url = from_mock.json()[PORTAL_FIELD]
        assert parse_qs(urlsplit(oauth_url).query)["sdk_token"] == mock_server.issued_tokens
    else:
        assert mock_server.issued_tokens == []
