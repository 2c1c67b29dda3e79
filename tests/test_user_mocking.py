"""The ways a user fakes the SDK's HTTP in their own test suite, each proven (issue 18).

- ``http_client=httpx2.Client(transport=httpx2.MockTransport(handler))``: the documented way.
  The SDK's retries and typed errors still apply to what the handler answers.
- pytest-httpx2's ``httpx2_mock`` fixture (respx on httpcore2's pools): it sees the SDK's
  default traffic, its own pool included, so with it active no call reaches a real server.
- The SDK's own ``MockTaptiServer`` and fixtures: tests/test_mock_server.py and the docs.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
import respx

from tapti_ext import AsyncTapti, AuthenticationError, InternalServerError, Tapti

CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
PORTAL = "https://oauth.tapti.dev?sdk_token=tok_mocked&origin=https%3A%2F%2Fapp.example"
URL = "https://api.tapti.ai/users/user_1/sdk-token"


def scripted(*statuses: int) -> tuple[list[httpx2.Request], Any]:
    """A MockTransport handler answering ``statuses`` in turn (a 200 carries a portal URL)."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        status = statuses[min(len(seen), len(statuses)) - 1]
        body = {"oauth_portal_url": PORTAL} if status == 200 else {"message": "scripted"}
        return httpx2.Response(status, json=body)

    return seen, handler


def test_a_mock_transport_keeps_retries(slept: list[float]) -> None:
    seen, handler = scripted(503, 503, 200)
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        token = Tapti(api_key="k", http_client=http).user("user_1").create_sdk_token(**CALL)
    assert token.sdk_token == "tok_mocked"
    assert len(seen) == 3
    assert len(slept) == 2  # the SDK's backoff ran (recorded, not slept, by the fixture)


def test_a_mock_transport_keeps_typed_errors() -> None:
    _, handler = scripted(401)
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key="k", http_client=http)
        with pytest.raises(AuthenticationError, match="scripted"):
            tapti.user("user_1").create_sdk_token(**CALL)


@pytest.mark.anyio
async def test_an_async_mock_transport_keeps_typed_errors(async_slept: list[float]) -> None:
    seen, handler = scripted(500)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        tapti = AsyncTapti(api_key="k", http_client=http, max_retries=1)
        with pytest.raises(InternalServerError):
            await tapti.user("user_1").create_sdk_token(**CALL)
    assert len(seen) == 2


def test_pytest_httpx2_sees_the_default_own_pool(
    httpx2_mock: respx.Router, slept: list[float]
) -> None:
    route = httpx2_mock.post(URL).mock(
        side_effect=[
            respx.MockResponse(503, json={"message": "busy"}),
            respx.MockResponse(200, json={"oauth_portal_url": PORTAL}),
        ]
    )
    with Tapti(api_key="k") as tapti:  # no http_client: the SDK's own pool
        token = tapti.user("user_1").create_sdk_token(**CALL)
    assert token.sdk_token == "tok_mocked"
    assert route.call_count == 2
    assert json.loads(route.calls.last.request.content)["user_platforms"] == ["YOUTUBE"]


@pytest.mark.httpx2(assert_all_called=False)
def test_pytest_httpx2_lets_nothing_unmocked_through(httpx2_mock: respx.Router) -> None:
    httpx2_mock.post("https://api.tapti.ai/elsewhere").respond(200)
    with Tapti(api_key="k") as tapti, pytest.raises(AssertionError, match="not mocked"):
        tapti.user("user_1").create_sdk_token(**CALL)
    # respx's refusal is the test's own failure, passed through, not retried or wrapped.
    assert httpx2_mock.calls.call_count == 0
