"""Platform and scope names as ``Literal`` types: a misspelt name fails type checking.

Written by ``make generate`` from the string enums of openapi/tapti.yaml; do not edit. Each name
is listed in lower and upper case; at run time any case is accepted.
"""

from typing import Literal, TypeAlias

__all__ = ["PlatformName", "ScopeName"]

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
