"""``Tapti`` and ``AsyncTapti``: the clients people use.

Both take the same arguments, check them once, and share every step of a call (``_call.Call``)
but the send itself. Each owns one pooled httpx client unless given one; redirects are never
followed, so the API key cannot be carried to another host.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Generic, NamedTuple, Self, TypeVar

import httpx
from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from ._call import API_KEY_HEADER, MAX_RESPONSE_BYTES, Call, ReadPlan, read_plan, with_body
from ._errors import InvalidInputError, TaptiError
from ._inputs import (
    PlatformLike,
    ScopeLike,
    check_api_key,
    check_base_url,
    check_platforms,
    check_scopes,
    check_timeout,
    check_url,
    check_user_id,
)
from ._portal import SdkToken, oauth_portal_url, resolve_portal_url
from ._response import APIResponse
from ._retry import RetryPolicy
from ._version import __version__

if TYPE_CHECKING:
    from tapti_api_client import AuthenticatedClient

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "AsyncTapti",
    "AsyncTaptiWithRawResponse",
    "AsyncUser",
    "AsyncUserWithRawResponse",
    "Platforms",
    "Scopes",
    "Tapti",
    "TaptiWithRawResponse",
    "TimeoutLike",
    "User",
    "UserWithRawResponse",
]

DEFAULT_BASE_URL: Final = "https://api.tapti.ai"
# The generated client waits forever by default; a backend request handler must not.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
_USER_AGENT: Final = f"tapti-python/{__version__} httpx/{httpx.__version__}"

Platforms = PlatformLike | Iterable[PlatformLike]
Scopes = ScopeLike | Iterable[ScopeLike]
TimeoutLike = float | httpx.Timeout | None
_Http = TypeVar("_Http", httpx.Client, httpx.AsyncClient)
_Result = TypeVar("_Result", SdkToken, APIResponse)


class _Arguments(NamedTuple):
    """A call's arguments, each checked, or ``None`` where not given."""

    platforms: tuple[Platform, ...] | None
    scopes: tuple[Scope, ...] | None
    callback_url: str | None
    redirect_url: str | None

    @classmethod
    def checked(
        cls,
        platforms: Platforms | None,
        scopes: Scopes | None,
        callback_url: str | None,
        redirect_url: str | None,
    ) -> _Arguments:
        return cls(
            None if platforms is None else check_platforms(platforms),
            None if scopes is None else check_scopes(scopes),
            None if callback_url is None else check_url(callback_url, argument="callback_url"),
            None if redirect_url is None else check_url(redirect_url, argument="redirect_url"),
        )


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
        self._api_key = check_api_key(_setting(api_key, "TAPTI_API_KEY"))
        configured_url = _setting(base_url, "TAPTI_BASE_URL")
        self._base_url = check_base_url(
            DEFAULT_BASE_URL if configured_url is None else configured_url,
            allow_insecure_http=allow_insecure_http,
        )
        self._timeout = check_timeout(timeout)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError("max_retries must be an int >= 0")
        self._retry = RetryPolicy(max_retries=max_retries)
        self._portal_url = resolve_portal_url(portal_url)
        self._defaults = _Arguments.checked(platforms, scopes, callback_url, redirect_url)
        self._auth = {API_KEY_HEADER: self._api_key, "user-agent": _USER_AGENT}
        self._owns_http = http_client is None
        if http_client is None:
            self._http = self._new_http()
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
            self._headers, self._default_timeout = self._auth, self._timeout
        self._raw: AuthenticatedClient | None = None
        # Made for `raw` only when the caller gave http_client, and closed with this client.
        self._raw_pool: _Http | None = None

    # Read-only: a changed base_url would skip its https check and take the key with it.
    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def timeout(self) -> httpx.Timeout:
        return self._timeout

    @property
    def max_retries(self) -> int:
        return self._retry.max_retries

    @property
    def portal_url(self) -> str:
        return self._portal_url

    @staticmethod
    def _http_type() -> type[_Http]:
        raise NotImplementedError

    def _new_http(self) -> _Http:
        return self._http_type()(
            base_url=self._base_url,
            headers=self._auth,
            timeout=self._timeout,
            follow_redirects=False,
        )

    @property
    def raw(self) -> AuthenticatedClient:
        """The generated ``AuthenticatedClient`` on this client's configuration, for edge cases.

        It shares this client's connection pool, which stays this client's to close. With
        ``http_client=``, it gets a pool of its own (closed with this client), because the
        key must not be added to a client the caller may use elsewhere.
        """
        if self._raw is None:
            from ._raw import raw_client  # noqa: PLC0415  (most programs never need it)

            if self._owns_http:
                pool = self._http
            else:
                pool = self._raw_pool = self._new_http()
            self._raw = raw_client(
                pool, base_url=self._base_url, api_key=self._api_key, timeout=self._timeout
            )
        return self._raw

    def oauth_portal_url(self, sdk_token: str, platform: PlatformLike | None = None) -> str:
        """The portal URL for a bare token, on this client's ``portal_url``."""
        return oauth_portal_url(sdk_token, platform, portal_url=self._portal_url)

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
        if self._http.is_closed:
            raise TaptiError(f"this {type(self).__name__} is closed; create a new one")
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
        given = _Arguments.checked(platforms, scopes, callback_url, redirect_url)
        defaults = self._defaults
        chosen_platforms = given.platforms or defaults.platforms
        chosen_scopes = given.scopes or defaults.scopes
        chosen_callback = given.callback_url or defaults.callback_url
        chosen_redirect = given.redirect_url or defaults.redirect_url
        if not (chosen_platforms and chosen_scopes and chosen_callback and chosen_redirect):
            missing = [
                name
                for name, value in zip(
                    _Arguments._fields,
                    (chosen_platforms, chosen_scopes, chosen_callback, chosen_redirect),
                    strict=True,
                )
                if not value
            ]
            raise InvalidInputError(
                f"create_sdk_token needs {', '.join(missing)}: pass them to the call "
                "or set them as defaults on the client"
            )
        return Call.build(
            self._http,
            url_prefix=self._base_url,
            headers=self._headers,
            user_id=checked_id,
            platforms=chosen_platforms,
            scopes=chosen_scopes,
            callback_url=chosen_callback,
            redirect_url=chosen_redirect,
            timeout=self._default_timeout if timeout is None else check_timeout(timeout),
            retry=self._retry,
            secret=self._api_key,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r}, max_retries={self.max_retries})"


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

    def user(self, user_id: str | int | None = None) -> User:
        """Calls about one of your app's users (the id is checked now, before anything is sent)."""
        return User(self, user_id)

    @property
    def with_raw_response(self) -> TaptiWithRawResponse:
        """The same calls, answering with the HTTP response (``.parse()`` gives the token)."""
        return TaptiWithRawResponse(self)

    def _run(self, call: Call) -> httpx.Response:
        retries = 0
        try:
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
        finally:
            call.forget_secret()

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPStatusError as exc:
            # A caller's event hook called raise_for_status(): httpx has closed the response
            # unread, so it is judged by its status and headers alone.
            return exc.response
        try:
            plan = read_plan(response)
            if plan is ReadPlan.READ:
                response.read()
            elif plan is ReadPlan.STREAM:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        return response  # left unread: too large
                return with_body(response, bytes(body))
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
    """``Tapti`` for asyncio (or trio): the same arguments and calls, awaited."""

    @staticmethod
    def _http_type() -> type[httpx.AsyncClient]:
        return httpx.AsyncClient

    def user(self, user_id: str | int | None = None) -> AsyncUser:
        """Calls about one of your app's users (the id is checked now, before anything is sent)."""
        return AsyncUser(self, user_id)

    @property
    def with_raw_response(self) -> AsyncTaptiWithRawResponse:
        """The same calls, answering with the HTTP response (``.parse()`` gives the token)."""
        return AsyncTaptiWithRawResponse(self)

    async def _run(self, call: Call) -> httpx.Response:
        retries = 0
        try:
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
        finally:
            call.forget_secret()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPStatusError as exc:
            # A caller's event hook called raise_for_status(): httpx has closed the response
            # unread, so it is judged by its status and headers alone.
            return exc.response
        try:
            plan = read_plan(response)
            if plan is ReadPlan.READ:
                await response.aread()
            elif plan is ReadPlan.STREAM:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        return response  # left unread: too large
                return with_body(response, bytes(body))
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


class _UserCalls:
    __slots__ = ("_client", "_id")

    def __init__(self, client: Any, user_id: str | int | None) -> None:
        self._client = client
        self._id = None if user_id is None else check_user_id(user_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self._id!r})"


class _SyncUserCalls(_UserCalls, Generic[_Result]):
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
    ) -> _Result:
        """Create an SDK token that opens the OAuth Portal for this user.

        Arguments left out come from the client's defaults. ``platforms`` and ``scopes`` take
        one value or many, as enum members or strings in any case. ``timeout=None`` means the
        client's timeout. Generate the token just before redirecting; never store it.
        """
        call = self._client._prepare(
            self._id, user_id, platforms, scopes, callback_url, redirect_url, timeout
        )
        return self._finish(call, self._client._run(call))

    # The spelling of Tapti's JavaScript docs: tapti.user().createSDKToken(userId).
    createSDKToken = create_sdk_token  # noqa: N815

    def _finish(self, call: Call, response: httpx.Response) -> _Result:
        raise NotImplementedError


class _AsyncUserCalls(_UserCalls, Generic[_Result]):
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
    ) -> _Result:
        """Create an SDK token that opens the OAuth Portal for this user (as ``User`` does)."""
        call = self._client._prepare(
            self._id, user_id, platforms, scopes, callback_url, redirect_url, timeout
        )
        return self._finish(call, await self._client._run(call))

    createSDKToken = create_sdk_token  # noqa: N815

    def _finish(self, call: Call, response: httpx.Response) -> _Result:
        raise NotImplementedError


class User(_SyncUserCalls[SdkToken]):
    """Calls about one user: ``tapti.user("user_123").create_sdk_token(...)``."""

    __slots__ = ()

    def _finish(self, call: Call, response: httpx.Response) -> SdkToken:
        return call.parse(response)


class AsyncUser(_AsyncUserCalls[SdkToken]):
    """Calls about one user: ``await tapti.user("user_123").create_sdk_token(...)``."""

    __slots__ = ()

    def _finish(self, call: Call, response: httpx.Response) -> SdkToken:
        return call.parse(response)


class UserWithRawResponse(_SyncUserCalls[APIResponse]):
    """``User``'s calls, answering with an ``APIResponse``."""

    __slots__ = ()

    def _finish(self, call: Call, response: httpx.Response) -> APIResponse:
        return APIResponse(response, call)


class AsyncUserWithRawResponse(_AsyncUserCalls[APIResponse]):
    """``AsyncUser``'s calls, answering with an ``APIResponse``."""

    __slots__ = ()

    def _finish(self, call: Call, response: httpx.Response) -> APIResponse:
        return APIResponse(response, call)


class TaptiWithRawResponse:
    """``tapti.with_raw_response``: the client's calls, answering with the HTTP response."""

    __slots__ = ("_client",)

    def __init__(self, client: Tapti) -> None:
        self._client = client

    def user(self, user_id: str | int | None = None) -> UserWithRawResponse:
        return UserWithRawResponse(self._client, user_id)


class AsyncTaptiWithRawResponse:
    """``AsyncTapti.with_raw_response``: the client's calls, answering with the HTTP response."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncTapti) -> None:
        self._client = client

    def user(self, user_id: str | int | None = None) -> AsyncUserWithRawResponse:
        return AsyncUserWithRawResponse(self._client, user_id)


def _setting(value: str | None, variable: str) -> str | None:
    """The argument when given (even empty, so that it is refused), else the environment's
    (where an empty variable counts as unset, as shells make it easy to leave one so)."""
    return value if value is not None else (os.environ.get(variable) or None)


async def _async_sleep(seconds: float) -> None:
    """``anyio.sleep`` (asyncio or trio, as httpx), imported on first use: a sync-only
    program never loads the async machinery."""
    import anyio  # noqa: PLC0415

    await anyio.sleep(seconds)
