"""The same call made three ways: through the SDK, through the generated client, through httpx2.

Each builder takes a client (and the user id, which picks the size of the server's answer) and
returns ``run(calls)``, which makes ``calls`` sequential calls, each for its own user
(``bench_request.user_ids``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

from .child.bench_request import (
    API_KEY,
    BODY,
    CALLBACK_URL,
    PLATFORMS,
    REDIRECT_URL,
    SCOPES,
    USER_ID,
    path_for,
    user_ids,
)

if TYPE_CHECKING:
    from tapti_api_client import AuthenticatedClient

    from tapti_ext import Tapti

Run = Callable[[int], None]


def _loop(call: Callable[[], str]) -> Run:
    """``calls`` sequential calls, each ending with only its portal URL kept, as a request
    handler would: what a call allocated is freed before the next one starts, on every side.

    Keeping a side's last response alive while the next call runs (as ``response = ...`` in a
    loop does) changes how the allocator reuses memory: with 900 KiB bodies it halved one
    side's page faults against another's, a difference of the loop, not of the client.
    """

    def run(calls: int) -> None:
        for _ in range(calls):
            call()

    return run


def sdk(tapti: Tapti, user_id: str = USER_ID) -> Run:
    ids = user_ids(user_id)

    def call() -> str:
        token = tapti.user(next(ids)).create_sdk_token(
            platforms=PLATFORMS,
            scopes=SCOPES,
            callback_url=CALLBACK_URL,
            redirect_url=REDIRECT_URL,
        )
        return token.oauth_portal_url

    return _loop(call)


def plain_httpx(client: httpx2.Client, user_id: str = USER_ID) -> Run:
    ids = user_ids(user_id)

    def call() -> str:
        response = client.post(path_for(next(ids)), json=BODY)
        response.raise_for_status()
        portal_url: str = response.json()["oauth_portal_url"]
        return portal_url

    return _loop(call)


def generated(client: AuthenticatedClient, user_id: str = USER_ID) -> Run:
    from tapti_api_client.api.users import create_sdk_token  # noqa: PLC0415
    from tapti_api_client.models import (  # noqa: PLC0415
        CreateSdkTokenRequest,
        CreateSdkTokenResponse,
        Platform,
        Scope,
    )

    ids = user_ids(user_id)

    def call() -> str:
        body = CreateSdkTokenRequest(
            user_platforms=[Platform.YOUTUBE],
            enabled_scopes=[Scope.PROFILE_READ],
            callback_url=CALLBACK_URL,
            redirect_url=REDIRECT_URL,
        )
        response = create_sdk_token.sync_detailed(next(ids), client=client, body=body)
        if not isinstance(response.parsed, CreateSdkTokenResponse):
            raise SystemExit(f"the generated client got {response.status_code}")
        return response.parsed.oauth_portal_url

    return _loop(call)


def httpx_client(url: str) -> httpx2.Client:
    return httpx2.Client(base_url=url, headers={"x-api-key": API_KEY})


def generated_client(url: str) -> AuthenticatedClient:
    """What a user of the generated package writes: its own client, the key in ``x-api-key``."""
    from tapti_api_client import AuthenticatedClient  # noqa: PLC0415

    return AuthenticatedClient(base_url=url, token=API_KEY, prefix="", auth_header_name="x-api-key")
