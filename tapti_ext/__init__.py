"""The Tapti SDK: create SDK tokens and send your users to Tapti's OAuth Portal.

    from tapti_ext import Tapti

    with Tapti() as tapti:  # TAPTI_API_KEY from the environment
        token = tapti.user("user_123").create_sdk_token(
            platforms=["youtube", "tiktok"],
            scopes="profile_read",
            callback_url="https://your-app.com/api/oauth/callback",
            redirect_url="https://your-app.com/dashboard/accounts",
        )
    url = token.portal_url(platform="youtube")  # redirect the user's browser there

The low-level client generated from the OpenAPI spec is ``tapti_api_client``; ``tapti.raw`` is
one configured like ``tapti``.
"""

# The names below load on first use: the pytest plugin and the tapti command import this
# package, and neither should pay for httpx2 and the generated models until it needs them.

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The one place the version is written: hatch and make check-breaking read it from this line.
__version__ = "0.2.0"

if TYPE_CHECKING:
    from tapti_api_client.models.platform import Platform
    from tapti_api_client.models.scope import Scope

    from ._client import (
        NOT_GIVEN,
        AsyncTapti,
        AsyncTaptiWithRawResponse,
        AsyncUser,
        AsyncUserWithRawResponse,
        NotGiven,
        OperationModule,
        Platforms,
        Scopes,
        Tapti,
        TaptiWithRawResponse,
        TimeoutLike,
        User,
        UserWithRawResponse,
    )
    from ._constants import DEFAULT_BASE_URL, DEFAULT_PORTAL_URL, DEFAULT_TIMEOUT
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
        JSONValue,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        TaptiError,
        UnprocessableEntityError,
    )
    from ._inputs import PlatformLike, ScopeLike
    from ._names import PlatformName, ScopeName
    from ._portal import APIResponse, SdkToken, oauth_portal_url

_HOMES = {
    "Platform": "tapti_api_client.models.platform",
    "Scope": "tapti_api_client.models.scope",
    **dict.fromkeys(
        [
            "NOT_GIVEN",
            "AsyncTapti",
            "AsyncTaptiWithRawResponse",
            "AsyncUser",
            "AsyncUserWithRawResponse",
            "NotGiven",
            "OperationModule",
            "Platforms",
            "Scopes",
            "Tapti",
            "TaptiWithRawResponse",
            "TimeoutLike",
            "User",
            "UserWithRawResponse",
        ],
        "tapti_ext._client",
    ),
    **dict.fromkeys(
        [
            "APIConnectionError",
            "APIResponseValidationError",
            "APIStatusError",
            "APITimeoutError",
            "AuthenticationError",
            "BadRequestError",
            "ConflictError",
            "InternalServerError",
            "InvalidInputError",
            "JSONValue",
            "NotFoundError",
            "PermissionDeniedError",
            "RateLimitError",
            "TaptiError",
            "UnprocessableEntityError",
        ],
        "tapti_ext._errors",
    ),
    **dict.fromkeys(
        ["DEFAULT_BASE_URL", "DEFAULT_PORTAL_URL", "DEFAULT_TIMEOUT"], "tapti_ext._constants"
    ),
    **dict.fromkeys(["APIResponse", "SdkToken", "oauth_portal_url"], "tapti_ext._portal"),
    "PlatformLike": "tapti_ext._inputs",
    "ScopeLike": "tapti_ext._inputs",
    "PlatformName": "tapti_ext._names",
    "ScopeName": "tapti_ext._names",
}

# Literal, so that type checkers see the re-exports; a test keeps it in step with _HOMES.
__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_PORTAL_URL",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIResponse",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncTapti",
    "AsyncTaptiWithRawResponse",
    "AsyncUser",
    "AsyncUserWithRawResponse",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidInputError",
    "JSONValue",
    "NotFoundError",
    "NotGiven",
    "OperationModule",
    "PermissionDeniedError",
    "Platform",
    "PlatformLike",
    "PlatformName",
    "Platforms",
    "RateLimitError",
    "Scope",
    "ScopeLike",
    "ScopeName",
    "Scopes",
    "SdkToken",
    "Tapti",
    "TaptiError",
    "TaptiWithRawResponse",
    "TimeoutLike",
    "UnprocessableEntityError",
    "User",
    "UserWithRawResponse",
    "__version__",
    "oauth_portal_url",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tapti_ext' has no attribute {name!r}")
    try:
        module = import_module(home)
    # AttributeError: a dependency's release without a name the SDK uses (httpcore2.X).
    except (ImportError, AttributeError) as exc:
        raise ImportError(_dependency_problem(exc)) from exc
    value = getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def _dependency_problem(exc: ImportError | AttributeError) -> str:
    """Which installed package failed the import, its version, and what tapti needs of it."""
    from importlib import metadata  # noqa: PLC0415  (an error path only)

    failed = exc.name if isinstance(exc, ImportError) else getattr(exc.obj, "__name__", None)
    top = (failed if isinstance(failed, str) else "").partition(".")[0]
    if top in {"tapti_ext", "tapti_api_client"}:  # this package's own code, not a dependency
        return (
            f"tapti cannot import its own module {failed} ({exc}): the generated client and "
            "tapti_ext disagree (after make generate: run make test, and see the CHANGELOG)"
        )
    distribution = (metadata.packages_distributions().get(top) or [top])[0]
    try:
        version = f"{distribution} {metadata.version(distribution)} is installed"
    except metadata.PackageNotFoundError:
        version = f"{distribution} is not installed"
    try:
        requirements = metadata.requires("tapti") or []
    except metadata.PackageNotFoundError:  # a source checkout, not installed
        requirements = []
    needed = [r for r in requirements if _requirement_name(r) == distribution.lower()]
    wanted = f"; tapti requires {needed[0]}" if needed else ""
    return f"tapti cannot import {top or 'a dependency'} ({version}{wanted}): {exc}"


def _requirement_name(requirement: str) -> str:
    for stop in "<>=!~;[ (":
        requirement = requirement.partition(stop)[0]
    return requirement.strip().lower()


def __dir__() -> list[str]:
    return __all__
