"""The generated client: models match the page and the spec, and calls go out as documented.

Requests are captured with `httpx2.MockTransport`; nothing leaves the process.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httpx2
import pytest
from _fields import PORTAL_FIELD, portal_of
from _reference import load_spec, reference_page
from tapti_api_client import AuthenticatedClient
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import (
    CreateSdkTokenRequest,
    CreateSdkTokenResponse,
    ErrorBody,
    Platform,
    Scope,
)
from tapti_api_client.types import Response

BASE_URL = "https://api.tapti.ai"
API_KEY = "test-key"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- reference material ------------------------------------------------------------------------


def page_request_body() -> dict[str, Any]:
    """The JSON of the curl example's `--data '...'` block."""
    match = re.search(r"--data '(?P<body>[^']*)'", reference_page())
    assert match, "no --data '...' block in the reference page's curl example"
    body = json.loads(match["body"])
    assert isinstance(body, dict)
    return body


def page_response_body() -> dict[str, Any]:
    """The JSON object that follows the curl example: the page's 200 response."""
    page = reference_page()
    data = re.search(r"--data '[^']*'", page)
    assert data, "no --data '...' block in the reference page's curl example"
    body, _ = json.JSONDecoder().raw_decode(page, page.index("{", data.end()))
    assert isinstance(body, dict)
    return body


def spec_enum(name: str) -> list[str]:
    values = load_spec()["components"]["schemas"][name]["enum"]
    assert isinstance(values, list)
    return values


def page_request() -> CreateSdkTokenRequest:
    body = page_request_body()
    return CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE, Platform.TIKTOK],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url=body["callback_url"],
        redirect_url=body["redirect_url"],
    )


# --- a recording transport ---------------------------------------------------------------------


@dataclass
class Recorder:
    """An `httpx2.MockTransport` handler that answers with one canned JSON response."""

    status: int
    body: Any
    requests: list[httpx2.Request] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(self.status, json=self.body)

    @property
    def only_request(self) -> httpx2.Request:
        assert len(self.requests) == 1, f"expected one request, got {len(self.requests)}"
        return self.requests[0]


def make_client(recorder: Recorder) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=BASE_URL,
        token=API_KEY,
        prefix="",
        auth_header_name="x-api-key",
        httpx_args={"transport": httpx2.MockTransport(recorder)},
    )


def call_sync(
    user_id: str, recorder: Recorder
) -> tuple[httpx2.Request, Response[CreateSdkTokenResponse | ErrorBody]]:
    with make_client(recorder) as client:
        response = create_sdk_token.sync_detailed(user_id, client=client, body=page_request())
    return recorder.only_request, response


# --- models ------------------------------------------------------------------------------------


def test_request_model_serialises_to_page_curl_body() -> None:
    assert page_request().to_dict() == page_request_body()


def test_request_model_serialises_enums_as_plain_strings() -> None:
    body = page_request().to_dict()
    values = [*body["user_platforms"], *body["enabled_scopes"]]
    assert all(type(value) is str for value in values)


def test_request_model_round_trips_page_curl_body() -> None:
    assert CreateSdkTokenRequest.from_dict(page_request_body()).to_dict() == page_request_body()


def test_platform_enum_matches_spec() -> None:
    assert sorted(member.value for member in Platform) == sorted(spec_enum("Platform"))


def test_scope_enum_matches_spec() -> None:
    assert sorted(member.value for member in Scope) == sorted(spec_enum("Scope"))


def test_response_model_parses_page_response() -> None:
    body = page_response_body()
    parsed = CreateSdkTokenResponse.from_dict(body)
    assert portal_of(parsed) == body[PORTAL_FIELD]
    assert parsed.to_dict() == body


# --- sync calls --------------------------------------------------------------------------------


def test_sync_call_posts_to_user_sdk_token_path() -> None:
    request, _ = call_sync("user_123", Recorder(200, page_response_body()))
    assert request.method == "POST"
    assert (request.url.scheme, request.url.host) == ("https", "api.tapti.ai")
    assert request.url.raw_path == b"/users/user_123/sdk-token"


def test_sync_call_sends_api_key_header_only() -> None:
    request, _ = call_sync("user_123", Recorder(200, page_response_body()))
    assert request.headers["x-api-key"] == API_KEY
    assert "authorization" not in request.headers


def test_sync_call_sends_page_body_as_json() -> None:
    request, _ = call_sync("user_123", Recorder(200, page_response_body()))
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == page_request_body()


def test_sync_call_parses_200_as_response_model() -> None:
    _, response = call_sync("user_123", Recorder(200, page_response_body()))
    assert response.status_code == HTTPStatus.OK
    assert isinstance(response.parsed, CreateSdkTokenResponse)
    assert response.parsed.to_dict() == page_response_body()


def test_user_id_is_sent_as_one_percent_encoded_path_segment() -> None:
    user_id = "a/b c?d%e"
    request, _ = call_sync(user_id, Recorder(200, page_response_body()))
    assert request.url.raw_path == b"/users/a%2Fb%20c%3Fd%25e/sdk-token"
    assert request.url.query == b""
    segment = request.url.raw_path.split(b"/")[2]
    assert unquote(segment.decode("ascii")) == user_id


@pytest.mark.parametrize("status", [400, 401, 404, 422, 500])
def test_non_200_json_object_parses_as_error_body(status: int) -> None:
    error = {"message": "something went wrong", "code": status, "details": {"field": "id"}}
    _, response = call_sync("user_123", Recorder(status, error))
    assert response.status_code == status
    assert isinstance(response.parsed, ErrorBody)
    assert response.parsed.additional_properties == error


# --- async calls -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_call_sends_the_same_request_and_parses_200() -> None:
    recorder = Recorder(200, page_response_body())
    async with make_client(recorder) as client:
        response = await create_sdk_token.asyncio_detailed(
            "user_123", client=client, body=page_request()
        )
    request = recorder.only_request
    assert request.method == "POST"
    assert request.url.raw_path == b"/users/user_123/sdk-token"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == page_request_body()
    assert isinstance(response.parsed, CreateSdkTokenResponse)
    assert response.parsed.to_dict() == page_response_body()


@pytest.mark.anyio
async def test_async_call_parses_error_as_error_body() -> None:
    error = {"error": "unauthorized"}
    recorder = Recorder(401, error)
    async with make_client(recorder) as client:
        response = await create_sdk_token.asyncio_detailed(
            "user_123", client=client, body=page_request()
        )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert isinstance(response.parsed, ErrorBody)
    assert response.parsed.additional_properties == error
