"""One cold start: import a client, make one call to the bench server, exit.

    python first_call.py SIDE URL DELAY_US REPORT

SIDE is ``sdk``, ``generated`` (tapti_api_client over httpx2) or ``httpx2``; DELAY_US > 0 slows the
SDK side down (``slowdown.py``); REPORT=1 prints the names in ``sys.modules`` at the end. Every
side runs this same file, so each pays the same to compile it. It reads ``sys.argv`` itself:
argparse is on the list of modules a plain SDK call must not import.
"""

# ruff: noqa: PLC0415  (each side imports its own library, and only its own, when it runs)

import sys

from bench_request import (
    API_KEY,
    BODY,
    CALLBACK_URL,
    PATH,
    PLATFORMS,
    REDIRECT_URL,
    SCOPES,
    USER_ID,
)


def sdk(url: str) -> str:
    from tapti_ext import Tapti

    with Tapti(api_key=API_KEY, base_url=url) as tapti:
        token = tapti.user(USER_ID).create_sdk_token(
            platforms=PLATFORMS, scopes=SCOPES, callback_url=CALLBACK_URL, redirect_url=REDIRECT_URL
        )
    return token.oauth_portal_url


def generated(url: str) -> str:
    from tapti_api_client import AuthenticatedClient
    from tapti_api_client.api.users import create_sdk_token
    from tapti_api_client.models import (
        CreateSdkTokenRequest,
        CreateSdkTokenResponse,
        Platform,
        Scope,
    )

    body = CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url=CALLBACK_URL,
        redirect_url=REDIRECT_URL,
    )
    client = AuthenticatedClient(
        base_url=url, token=API_KEY, prefix="", auth_header_name="x-api-key"
    )
    with client:
        parsed = create_sdk_token.sync_detailed(USER_ID, client=client, body=body).parsed
    assert isinstance(parsed, CreateSdkTokenResponse)
    return parsed.oauth_portal_url


def plain_httpx(url: str) -> str:
    import httpx2

    with httpx2.Client(base_url=url, headers={"x-api-key": API_KEY}) as client:
        response = client.post(PATH, json=BODY)
        response.raise_for_status()
        portal_url: str = response.json()["oauth_portal_url"]
    return portal_url


SIDES = {"sdk": sdk, "generated": generated, "httpx2": plain_httpx}


if __name__ == "__main__":
    side, url, delay, report = sys.argv[1:5]
    if int(delay):
        import slowdown

        slowdown.install(int(delay))
    if not SIDES[side](url).startswith("https://"):
        raise SystemExit(f"{side}: the portal URL does not start with https://")
    if report == "1":
        print(" ".join(sorted(sys.modules)))
