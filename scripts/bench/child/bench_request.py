"""The one request every side of the benchmark makes, shared by the children and the parent.

Kept free of third-party imports so that a cold-start child pays nothing for it beyond its own
bytecode.
"""

from itertools import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

API_KEY = "bench-key"
USER_ID = "u1"
CALLBACK_URL = "https://a.example/cb"
REDIRECT_URL = "https://a.example/r"
PLATFORMS = ["youtube"]
SCOPES = ["profile_read"]
PATH = f"/users/{USER_ID}/sdk-token"
# Exactly the JSON the SDK sends for the call above.
BODY = {
    "user_platforms": ["YOUTUBE"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": CALLBACK_URL,
    "redirect_url": REDIRECT_URL,
}


def sized_user(size: int, gzipped: bool) -> str:
    """The user id for which the bench server answers ``size`` bytes of JSON (gzip-encoded
    when ``gzipped``): ``http_server.py`` reads the size from the path."""
    return f"b{size}{'gz' if gzipped else ''}"


def path_for(user_id: str) -> str:
    return f"/users/{user_id}/sdk-token"


def user_ids(user_id: str) -> "Iterator[str]":
    """A new id for each call (``user_id-0``, ``user_id-1``...), as a backend serves another user
    on each request: whatever a client works out once per path and caches is paid for here, as
    it is in production. Every side of a figure takes its ids from this."""
    return map(f"{user_id}-{{}}".format, count())
