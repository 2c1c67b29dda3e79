"""The same call made three ways: through the SDK, through the generated client, through httpx2.

Each builder takes a client and returns ``run(calls)``, which makes ``calls`` sequential calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

from .child.bench_request import (
    API_KEY,
    BODY,
    CALLBACK_URL,
    PATH,
    PLATFORMS,
    REDIRECT_URL,
    SCOPES,
    USER_ID,
)

if TYPE_CHECKING:
    from tapti_api_client import AuthenticatedClient

    from tapti_ext import Tapti

Run = Callable[[int], None]


def sdk(tapti: Tapti) -> Run:
    def run(calls: int) -> None:
        for _ in range(calls):
            tapti.user(USER_ID).create_sdk_token(
                platforms=PLATFORMS,
                scopes=SCOPES,
                callback_url=CALLBACK_URL,
                redirect_url=REDIRECT_URL,
            )

    return run


def plain_httpx(client: httpx2.Client) -> Run:
    def run(calls: int) -> None:
        for _ in range(calls):
            response = client.post(PATH, json=BODY)
            response.raise_for_status()
            response.json()["oauth_portal_url"]

    return run


def generated(client: AuthenticatedClient) -> Run:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415
    from tapti_api_client.models import (  # noqa: PLC0415
        CreateSdkTokenRequest,
        CreateSdkTokenResponse,
        Platform,
        Scope,
    )

    def run(calls: int) -> None:
        for _ in range(calls):
            body = CreateSdkTokenRequest(
                user_platforms=[Platform.YOUTUBE],
                enabled_scopes=[Scope.PROFILE_READ],
                callback_url=CALLBACK_URL,
                redirect_url=REDIRECT_URL,
            )
            response = create_sdk_token.sync_detailed(USER_ID, client=client, body=body)
            if not isinstance(response.parsed, CreateSdkTokenResponse):
                raise SystemExit(f"the generated client got {response.status_code}")

    return run


def httpx_client(url: str) -> httpx2.Client:
    return httpx2.Client(base_url=url, headers={"x-api-key": API_KEY})


def generated_client(url: str) -> AuthenticatedClient:
    """What a user of the generated package writes: its own client, the key in ``x-api-key``."""
    from tapti_api_client import AuthenticatedClient  # noqa: PLC0415

    return AuthenticatedClient(base_url=url, token=API_KEY, prefix="", auth_header_name="x-api-key")
