"""``Tapti`` and ``AsyncTapti``: the clients people use.

Both take the same arguments, check them once, and share every step of a call (``_call.Call``)
but the send itself. Each owns one pooled httpx client unless given one; redirects are never
followed, so the API key cannot be carried to another host.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Generic, Self, TypeVar

import attrs
import httpx
from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from ._call import Call, response_too_large
from ._errors import InvalidInputError
from ._inputs import (
    PlatformLike,
    ScopeLike,
    check_api_key,
    check_base_url,
    check_platforms,
    check_scopes,
    check_url,
    check_user_id,
)
from ._portal import SdkToken, oauth_portal_url, resolve_portal_url
from ._response import APIResponse
from ._retry import RetryPolicy
from ._version import __version__

if TYPE_CHECKING:
    from tapti_api_client import AuthenticatedClient

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "AsyncTapti", "AsyncUser", "Tapti", "User"]

DEFAULT_BASE_URL: Final = "https://api.tapti.ai"
# The generated client waits forever by default; a backend request handler must not.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
_API_KEY_HEADER: Final = "x-api-key"
_USER_AGENT: Final = f"tapti-python/{__version__} httpx/{httpx.__version__}"

Platforms = PlatformLike | Iterable[PlatformLike]
Scopes = ScopeLike | Iterable[ScopeLike]
TimeoutLike = float | httpx.Timeout | None
_Http = TypeVar("_Http", httpx.Client, httpx.AsyncClient)


@attrs.frozen
class _Defaults:
    """Per-client values a call may leave out, already checked."""

    platforms: tuple[Platform, ...] | None = None
    scopes: tuple[Scope, ...] | None = None
    callback_url: str | None = None
    redirect_url: str | None = None


class _BaseTapti(Generic[_Http]):
    """Argument checking, configuration and call preparation shared by both clients."""

    _http: _Http

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        portal_url: str | None = None,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        http_client: _Http | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self._api_key = check_api_key(
            api_key if api_key is not None else os.environ.get("TAPTI_API_KEY")
        )
        self.base_url = check_base_url(
            base_url or os.environ.get("TAPTI_BASE_URL") or DEFAULT_BASE_URL,
            allow_insecure_http=allow_insecure_http,
        )
        self.timeout = _check_timeout(timeout, argument="timeout")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError("max_retries must be an int >= 0")
        self.max_retries = max_retries
        self._retry = RetryPolicy(max_retries=max_retries)
        self.portal_url = resolve_portal_url(portal_url)
        self._defaults = _Defaults(
            platforms=None if platforms is None else check_platforms(platforms),
            scopes=None if scopes is None else check_scopes(scopes),
            callback_url=None
            if callback_url is None
            else check_url(callback_url, argument="callback_url"),
            redirect_url=None
            if redirect_url is None
            else check_url(redirect_url, argument="redirect_url"),
        )
        self._auth = auth = {_API_KEY_HEADER: self._api_key, "user-agent": _USER_AGENT}
        self._owns_http = http_client is None
        if http_client is None:
            self._http = self._new_http(base_url=self.base_url, headers=auth, timeout=self.timeout)
            # Our own pool already carries the headers and the timeout.
            self._headers: dict[str, str] = {}
            self._default_timeout: httpx.Timeout | None = None
        else:
            if not isinstance(http_client, self._http_type()):
                raise InvalidInputError(
                    f"http_client must be an {self._http_type().__qualname__}, "
                    f"not {type(http_client).__name__}"
                )
            # A caller's client may serve other hosts: the key goes on each request, not on it.
            self._http = http_client
            self._headers, self._default_timeout = auth, self.timeout
        self._raw: AuthenticatedClient | None = None
        self._raw_pool: _Http | None = (
            None  # created for `raw` only when the caller gave http_client
        )

    @staticmethod
    def _http_type() -> type[_Http]:
        raise NotImplementedError

    @staticmethod
    def _new_http(*, base_url: str, headers: dict[str, str], timeout: httpx.Timeout) -> _Http:
        raise NotImplementedError

    @property
    def raw(self) -> AuthenticatedClient:
        """The generated ``AuthenticatedClient`` on this client's configuration, for edge cases.

        It shares this client's connection pool; with ``http_client=``, it gets a pool of its
        own, because the key must not be added to a client the caller may use elsewhere.
        """
        if self._raw is None:
            from ._raw import raw_client  # noqa: PLC0415  (most programs never need it)

            if self._owns_http:
                pool = self._http
            else:
                pool = self._raw_pool = self._new_http(
                    base_url=self.base_url, headers=self._auth, timeout=self.timeout
                )
            self._raw = raw_client(self, pool)
        return self._raw

    def oauth_portal_url(self, sdk_token: str, platform: PlatformLike | None = None) -> str:
        """The portal URL for a bare token, on this client's ``portal_url``."""
        return oauth_portal_url(sdk_token, platform, portal_url=self.portal_url)

    def _prepare(  # noqa: PLR0917  (internal: one positional slot per public argument)
        self,
        bound_id: str | None,
        user_id: object,
        platforms: Platforms | None,
        scopes: Scopes | None,
        callback_url: str | None,
        redirect_url: str | None,
        timeout: TimeoutLike,
    ) -> Call:
        if user_id is None:
            if bound_id is None:
                raise InvalidInputError("no user id: use tapti.user(user_id).create_sdk_token(...)")
            checked_id = bound_id
        elif bound_id is not None:
            raise InvalidInputError(
                "the user id is given twice: to user() and to create_sdk_token()"
            )
        else:
            checked_id = check_user_id(user_id)
        defaults = self._defaults
        chosen_platforms = defaults.platforms if platforms is None else check_platforms(platforms)
        chosen_scopes = defaults.scopes if scopes is None else check_scopes(scopes)
        chosen_callback = (
            defaults.callback_url
            if callback_url is None
            else check_url(callback_url, argument="callback_url")
        )
        chosen_redirect = (
            defaults.redirect_url
            if redirect_url is None
            else check_url(redirect_url, argument="redirect_url")
        )
        if (
            chosen_platforms is None
            or chosen_scopes is None
            or chosen_callback is None
            or chosen_redirect is None
        ):
            missing = [
                name
                for name, value in (
                    ("platforms", chosen_platforms),
                    ("scopes", chosen_scopes),
                    ("callback_url", chosen_callback),
                    ("redirect_url", chosen_redirect),
                )
                if value is None
            ]
            raise InvalidInputError(
                f"create_sdk_token needs {', '.join(missing)}: pass them to the call "
                "or set them as defaults on the client"
            )
        return Call.build(
            self._http,
            url_prefix=self.base_url,
            headers=self._headers,
            user_id=checked_id,
            platforms=chosen_platforms,
            scopes=chosen_scopes,
            callback_url=chosen_callback,
            redirect_url=chosen_redirect,
            timeout=self._default_timeout
            if timeout is None
            else _check_timeout(timeout, argument="timeout"),
            retry=self._retry,
            secret=self._api_key,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, max_retries={self.max_retries})"


class Tapti(_BaseTapti[httpx.Client]):
    """The Tapti API client. ``Tapti(api_key=...)``, or ``TAPTI_API_KEY`` from the environment.

    >>> tapti = Tapti(api_key="...")
    >>> token = tapti.user("user_123").create_sdk_token(platforms="youtube", scopes="profile_read",
    ...     callback_url="https://your-app.com/api/oauth/callback",
    ...     redirect_url="https://your-app.com/dashboard/accounts")
    >>> token.portal_url(platform="youtube")
    """

    @staticmethod
    def _http_type() -> type[httpx.Client]:
        return httpx.Client

    @staticmethod
    def _new_http(
        *, base_url: str, headers: dict[str, str], timeout: httpx.Timeout
    ) -> httpx.Client:
        return httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False
        )

    def user(self, user_id: str | int | None = None) -> User:
        """Calls about one of your app's users (the id is checked now, before anything is sent)."""
        return User(self, None if user_id is None else check_user_id(user_id))

    @property
    def with_raw_response(self) -> _RawTapti:
        """The same calls, answering with the HTTP response (``.parse()`` gives the token)."""
        return _RawTapti(self)

    def _run(self, call: Call) -> httpx.Response:
        retries = 0
        while True:
            try:
                outcome: httpx.Response | httpx.RequestError = self._send(call.request)
            except httpx.RequestError as exc:
                outcome = exc
            step = call.settle(outcome, retries)
            if isinstance(step, httpx.Response):
                return step
            time.sleep(step)
            retries += 1

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self._http.send(request, stream=True, follow_redirects=False)
        try:
            if not response_too_large(response):
                response.read()
        finally:
            response.close()
        return response

    def close(self) -> None:
        """Close the pools this client created; a caller's ``http_client`` stays open."""
        if self._owns_http:
            self._http.close()
        if self._raw_pool is not None:
            self._raw_pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTapti(_BaseTapti[httpx.AsyncClient]):
    """``Tapti`` for asyncio: the same arguments and calls, awaited."""

    @staticmethod
    def _http_type() -> type[httpx.AsyncClient]:
        return httpx.AsyncClient

    @staticmethod
    def _new_http(
        *, base_url: str, headers: dict[str, str], timeout: httpx.Timeout
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False
        )

    def user(self, user_id: str | int | None = None) -> AsyncUser:
        """Calls about one of your app's users (the id is checked now, before anything is sent)."""
        return AsyncUser(self, None if user_id is None else check_user_id(user_id))

    @property
    def with_raw_response(self) -> _AsyncRawTapti:
        """The same calls, answering with the HTTP response (``.parse()`` gives the token)."""
        return _AsyncRawTapti(self)

    async def _run(self, call: Call) -> httpx.Response:
        retries = 0
        while True:
            try:
                outcome: httpx.Response | httpx.RequestError = await self._send(call.request)
            except httpx.RequestError as exc:
                outcome = exc
            step = call.settle(outcome, retries)
            if isinstance(step, httpx.Response):
                return step
            await _async_sleep(step)
            retries += 1

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            if not response_too_large(response):
                await response.aread()
        finally:
            await response.aclose()
        return response

    async def close(self) -> None:
        """Close the pools this client created; a caller's ``http_client`` stays open."""
        if self._owns_http:
            await self._http.aclose()
        if self._raw_pool is not None:
            await self._raw_pool.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class _UserBase:
    __slots__ = ("_client", "_id")

    def __init__(self, client: Any, user_id: str | None) -> None:
        self._client = client
        self._id = user_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self._id!r})"


class User(_UserBase):
    """Calls about one user: ``tapti.user("user_123").create_sdk_token(...)``."""

    _client: Tapti

    def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike = None,
    ) -> SdkToken:
        """Create an SDK token that opens the OAuth Portal for this user.

        Arguments left out come from the client's defaults. ``platforms`` and ``scopes`` take
        one value or many, as enum members or strings in any case. ``timeout=None`` means the
        client's timeout. Generate the token just before redirecting; never store it.
        """
        call = self._client._prepare(
            self._id, user_id, platforms, scopes, callback_url, redirect_url, timeout
        )
        return call.parse(self._client._run(call))

    # The spelling of Tapti's JavaScript docs: tapti.user().createSDKToken(userId).
    createSDKToken = create_sdk_token  # noqa: N815


class AsyncUser(_UserBase):
    """Calls about one user: ``await tapti.user("user_123").create_sdk_token(...)``."""

    _client: AsyncTapti

    async def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike = None,
    ) -> SdkToken:
        """Create an SDK token that opens the OAuth Portal for this user (see ``User``)."""
        call = self._client._prepare(
            self._id, user_id, platforms, scopes, callback_url, redirect_url, timeout
        )
        return call.parse(await self._client._run(call))

    createSDKToken = create_sdk_token  # noqa: N815


class _RawTapti:
    __slots__ = ("_client",)

    def __init__(self, client: Tapti) -> None:
        self._client = client

    def user(self, user_id: str | int | None = None) -> _RawUser:
        return _RawUser(self._client, None if user_id is None else check_user_id(user_id))


class _RawUser(_UserBase):
    _client: Tapti

    def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike = None,
    ) -> APIResponse:
        call = self._client._prepare(
            self._id, user_id, platforms, scopes, callback_url, redirect_url, timeout
        )
        return APIResponse(self._client._run(call), call)

    createSDKToken = create_sdk_token  # noqa: N815


class _AsyncRawTapti:
    __slots__ = ("_client",)

    def __init__(self, client: AsyncTapti) -> None:
        self._client = client

    def user(self, user_id: str | int | None = None) -> _AsyncRawUser:
        return _AsyncRawUser(self._client, None if user_id is None else check_user_id(user_id))


class _AsyncRawUser(_UserBase):
    _client: AsyncTapti

    async def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike = None,
    ) -> APIResponse:
        call = self._client._prepare(
            self._id, user_id, platforms, scopes, callback_url, redirect_url, timeout
        )
        return APIResponse(await self._client._run(call), call)

    createSDKToken = create_sdk_token  # noqa: N815


async def _async_sleep(seconds: float) -> None:
    """``asyncio.sleep``, imported on first use: a sync-only program never loads asyncio."""
    import asyncio  # noqa: PLC0415

    await asyncio.sleep(seconds)


def _check_timeout(value: object, *, argument: str) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if value is None:
        return httpx.Timeout(None)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInputError(
            f"{argument} must be a positive number of seconds or an httpx.Timeout"
        )
    return httpx.Timeout(float(value))
