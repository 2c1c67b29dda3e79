from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx2

from ...client import AuthenticatedClient, Client
from ...models.create_sdk_token_request import CreateSdkTokenRequest
from ...models.create_sdk_token_response import CreateSdkTokenResponse
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    id: str,
    *,
    body: CreateSdkTokenRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/users/{id}/sdk-token".format(
            id=quote(str(id), safe="", errors="surrogatepass"),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx2.Response
) -> CreateSdkTokenResponse | ErrorBody:
    if response.status_code == 200:
        response_200 = CreateSdkTokenResponse.from_dict(response.json())

        return response_200

    response_default = ErrorBody.from_dict(response.json())

    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx2.Response
) -> Response[CreateSdkTokenResponse | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    body: CreateSdkTokenRequest,
) -> Response[CreateSdkTokenResponse | ErrorBody]:
    """Create a SDK token for a user

     Create a SDK token for a user. This token is required for client-side operations and
    OAuth portal access.

    ## OAuth Portal Integration

    The SDK token is essential for using Tapti's OAuth Portal, where your users can securely
    connect their social media accounts:

    1. Generate the SDK token on your backend, just before redirecting the user.
    2. Redirect the user to the OAuth Portal: `https://oauth.tapti.dev?sdk_token=<token>`.
    3. Optionally add `&platform=youtube` (or another platform) to skip the platform
       selection screen.

    The OAuth Portal provides a secure, branded experience for connecting social media
    accounts without requiring you to implement complex OAuth flows.

    ## Security Considerations

    - SDK tokens are short-lived and user-specific.
    - Never store tokens in localStorage or expose them in client-side source code.
    - Generate new tokens just before redirecting to the OAuth Portal.
    - Include only necessary platform permissions.

    Args:
        id (str):
        body (CreateSdkTokenRequest): The SDK token to create

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx2.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreateSdkTokenResponse | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    body: CreateSdkTokenRequest,
) -> CreateSdkTokenResponse | ErrorBody | None:
    """Create a SDK token for a user

     Create a SDK token for a user. This token is required for client-side operations and
    OAuth portal access.

    ## OAuth Portal Integration

    The SDK token is essential for using Tapti's OAuth Portal, where your users can securely
    connect their social media accounts:

    1. Generate the SDK token on your backend, just before redirecting the user.
    2. Redirect the user to the OAuth Portal: `https://oauth.tapti.dev?sdk_token=<token>`.
    3. Optionally add `&platform=youtube` (or another platform) to skip the platform
       selection screen.

    The OAuth Portal provides a secure, branded experience for connecting social media
    accounts without requiring you to implement complex OAuth flows.

    ## Security Considerations

    - SDK tokens are short-lived and user-specific.
    - Never store tokens in localStorage or expose them in client-side source code.
    - Generate new tokens just before redirecting to the OAuth Portal.
    - Include only necessary platform permissions.

    Args:
        id (str):
        body (CreateSdkTokenRequest): The SDK token to create

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx2.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreateSdkTokenResponse | ErrorBody
    """

    return sync_detailed(
        id=id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    body: CreateSdkTokenRequest,
) -> Response[CreateSdkTokenResponse | ErrorBody]:
    """Create a SDK token for a user

     Create a SDK token for a user. This token is required for client-side operations and
    OAuth portal access.

    ## OAuth Portal Integration

    The SDK token is essential for using Tapti's OAuth Portal, where your users can securely
    connect their social media accounts:

    1. Generate the SDK token on your backend, just before redirecting the user.
    2. Redirect the user to the OAuth Portal: `https://oauth.tapti.dev?sdk_token=<token>`.
    3. Optionally add `&platform=youtube` (or another platform) to skip the platform
       selection screen.

    The OAuth Portal provides a secure, branded experience for connecting social media
    accounts without requiring you to implement complex OAuth flows.

    ## Security Considerations

    - SDK tokens are short-lived and user-specific.
    - Never store tokens in localStorage or expose them in client-side source code.
    - Generate new tokens just before redirecting to the OAuth Portal.
    - Include only necessary platform permissions.

    Args:
        id (str):
        body (CreateSdkTokenRequest): The SDK token to create

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx2.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CreateSdkTokenResponse | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    body: CreateSdkTokenRequest,
) -> CreateSdkTokenResponse | ErrorBody | None:
    """Create a SDK token for a user

     Create a SDK token for a user. This token is required for client-side operations and
    OAuth portal access.

    ## OAuth Portal Integration

    The SDK token is essential for using Tapti's OAuth Portal, where your users can securely
    connect their social media accounts:

    1. Generate the SDK token on your backend, just before redirecting the user.
    2. Redirect the user to the OAuth Portal: `https://oauth.tapti.dev?sdk_token=<token>`.
    3. Optionally add `&platform=youtube` (or another platform) to skip the platform
       selection screen.

    The OAuth Portal provides a secure, branded experience for connecting social media
    accounts without requiring you to implement complex OAuth flows.

    ## Security Considerations

    - SDK tokens are short-lived and user-specific.
    - Never store tokens in localStorage or expose them in client-side source code.
    - Generate new tokens just before redirecting to the OAuth Portal.
    - Include only necessary platform permissions.

    Args:
        id (str):
        body (CreateSdkTokenRequest): The SDK token to create

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx2.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CreateSdkTokenResponse | ErrorBody
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
