"""Names from openapi/tapti.yaml: platform and scope names as ``Literal`` types (a
misspelt name fails type checking) and the header that carries the API key.

Written by ``make generate`` from the spec's string enums and security schemes; do not edit. Each
enum name is listed in lower and upper case; at run time any case is accepted.
"""

from typing import Final, Literal, TypeAlias

__all__ = ["API_KEY_HEADER", "PlatformName", "ScopeName"]

# The apiKey security scheme's header, where every request carries the API key.
API_KEY_HEADER: Final = "x-api-key"

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
