"""The Tapti SDK: create SDK tokens and send your users to Tapti's OAuth Portal.

    from tapti_ext import Tapti

    tapti = Tapti()  # TAPTI_API_KEY from the environment
    token = tapti.user("user_123").create_sdk_token(
        platforms=["youtube", "tiktok"],
        scopes="profile_read",
        callback_url="https://your-app.com/api/oauth/callback",
        redirect_url="https://your-app.com/dashboard/accounts",
    )
    redirect_to(token.portal_url(platform="youtube"))

The low-level client generated from the OpenAPI spec is ``tapti_api_client``; ``tapti.raw`` is
one configured like ``tapti``.
"""

from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from ._client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, AsyncTapti, AsyncUser, Tapti, User
from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TaptiError,
    UnprocessableEntityError,
)
from ._portal import DEFAULT_PORTAL_URL, SdkToken, oauth_portal_url
from ._response import APIResponse
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_PORTAL_URL",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIResponse",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncTapti",
    "AsyncUser",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "Platform",
    "RateLimitError",
    "Scope",
    "SdkToken",
    "Tapti",
    "TaptiError",
    "UnprocessableEntityError",
    "User",
    "__version__",
    "oauth_portal_url",
]
