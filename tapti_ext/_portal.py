"""The OAuth Portal: the token the API returns, and the portal URLs built from it.

URLs are taken apart and put together with ``urllib.parse`` only: an SDK token may hold ``+``,
``/``, ``=``, ``&`` or ``%``, and string concatenation would corrupt it.
"""

from __future__ import annotations

import os
from functools import cached_property
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from ._errors import InvalidInputError
from ._inputs import PlatformLike, check_platform, check_url

__all__ = ["DEFAULT_PORTAL_URL", "SdkToken", "oauth_portal_url", "resolve_portal_url"]

DEFAULT_PORTAL_URL = "https://oauth.tapti.dev"
_TOKEN_PARAM = "sdk_token"  # noqa: S105  (a parameter name, not a secret)
_PLATFORM_PARAM = "platform"
_MASK = "***"


def resolve_portal_url(portal_url: str | None) -> str:
    """The argument, else ``TAPTI_PORTAL_URL``, else Tapti's hosted portal; checked either way."""
    chosen = portal_url or os.environ.get("TAPTI_PORTAL_URL") or DEFAULT_PORTAL_URL
    return check_url(chosen, argument="portal_url")


def oauth_portal_url(
    sdk_token: str, platform: PlatformLike | None = None, *, portal_url: str | None = None
) -> str:
    """The portal URL for ``sdk_token``; ``platform`` skips the portal's platform picker.

    >>> oauth_portal_url("tok", platform="youtube")
    'https://oauth.tapti.dev?sdk_token=tok&platform=youtube'
    """
    if not isinstance(sdk_token, str) or not sdk_token:
        raise InvalidInputError("sdk_token must be a non-empty str")
    params = [(_TOKEN_PARAM, sdk_token)]
    if platform is not None:
        params.append((_PLATFORM_PARAM, check_platform(platform).value.lower()))
    return _with_params(resolve_portal_url(portal_url), params)


@attrs.define(frozen=True, repr=False, eq=True)
class SdkToken:
    """A created SDK token: the portal URL exactly as the API returned it, and what was asked for.

    The token is a credential for the user's session: ``repr``/``str`` mask it, so a token
    logged by accident leaks nothing. Read ``sdk_token`` or ``oauth_portal_url`` explicitly.
    """

    oauth_portal_url: str
    platforms: tuple[Platform, ...]
    scopes: tuple[Scope, ...]

    @cached_property
    def _query(self) -> dict[str, str]:
        # Parsed on first use only: most callers just redirect to oauth_portal_url.
        return dict(parse_qsl(urlsplit(self.oauth_portal_url).query, keep_blank_values=True))

    @property
    def sdk_token(self) -> str | None:
        """The ``sdk_token`` query parameter of the portal URL, or ``None`` when absent."""
        return self._query.get(_TOKEN_PARAM)

    @property
    def origin(self) -> str | None:
        """The ``origin`` query parameter (the redirect URL the portal returns to), if any."""
        return self._query.get("origin")

    def portal_url(self, platform: PlatformLike | None = None) -> str:
        """The portal URL; ``platform`` (one of this token's) skips the portal's platform picker."""
        if platform is None:
            return self.oauth_portal_url
        chosen = check_platform(platform)
        if chosen not in self.platforms:
            mine = ", ".join(p.value.lower() for p in self.platforms)
            raise InvalidInputError(
                f"platform {chosen.value.lower()!r} is not one of this token's platforms ({mine})"
            )
        return _with_params(self.oauth_portal_url, [(_PLATFORM_PARAM, chosen.value.lower())])

    def __repr__(self) -> str:
        platforms = [p.value for p in self.platforms]
        scopes = [s.value for s in self.scopes]
        url = _masked(self.oauth_portal_url)
        return f"SdkToken(oauth_portal_url={url!r}, platforms={platforms!r}, scopes={scopes!r})"

    __str__ = __repr__


def _with_params(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` set, replacing earlier values; the rest kept in order."""
    parts = urlsplit(url)
    replaced = {name for name, _ in params}
    kept = [
        pair for pair in parse_qsl(parts.query, keep_blank_values=True) if pair[0] not in replaced
    ]
    return urlunsplit(parts._replace(query=urlencode(kept + params)))


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    masked = [(name, _MASK if name == _TOKEN_PARAM else value) for name, value in pairs]
    return urlunsplit(parts._replace(query=urlencode(masked, safe="*:/")))
