"""Names from openapi/tapti.yaml: platform and scope names as ``Literal`` types (a
misspelt name fails type checking), the header that carries the API key, and the operations.

Written by ``make generate`` from the spec's string enums, security schemes and paths; do not edit.
Each enum name is listed in lower and upper case; at run time any case is accepted.
"""

from typing import Final, Literal, TypeAlias

__all__ = ["API_KEY_HEADER", "OPERATIONS", "PlatformName", "ScopeName"]

# The apiKey security scheme's header, where every request carries the API key.
API_KEY_HEADER: Final = "x-api-key"

# Each operation: method, path template, the 2xx statuses it documents. A 2xx it does not document
# is no success (its body is not the operation's model); the template is what a trace shows of a
# path whose parameters name a user.
OPERATIONS: Final[tuple[tuple[str, str, tuple[int, ...]], ...]] = (
    ("POST", "/users/{id}/sdk-token", (200,)),
)

PlatformName: TypeAlias = Literal[
    "youtube",
    "tiktok",
    "instagram",
    "instapro",
    "facebook",
    "x",
    "linkedin",
    "YOUTUBE",
    "TIKTOK",
    "INSTAGRAM",
    "INSTAPRO",
    "FACEBOOK",
    "X",
    "LINKEDIN",
]
"""A Platform named in lower or upper case (any case at run time)."""

ScopeName: TypeAlias = Literal[
    "profile_read",
    "profile_write",
    "content_read",
    "content_write",
    "analytics_read",
    "comments_read",
    "comments_write",
    "PROFILE_READ",
    "PROFILE_WRITE",
    "CONTENT_READ",
    "CONTENT_WRITE",
    "ANALYTICS_READ",
    "COMMENTS_READ",
    "COMMENTS_WRITE",
]
"""A Scope named in lower or upper case (any case at run time)."""
