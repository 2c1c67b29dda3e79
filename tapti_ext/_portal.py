"""The OAuth Portal: the token the API returns (``with_raw_response``: its HTTP response first),
and the portal URLs built from it.

URLs are taken apart and put together with ``urllib.parse`` only: an SDK token may hold ``+``,
``/``, ``=``, ``&`` or ``%``, and string concatenation would corrupt it. Setting a parameter
leaves every other one exactly as the API wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import httpx2
from tapti_api_client.models.create_sdk_token_response import CreateSdkTokenResponse
from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from ._call import Answer, error_response, json_object, model_from
from ._constants import (
    DEFAULT_PORTAL_URL,
    ORIGIN_PARAM,
    PLATFORM_PARAM,
    PORTAL_URL_VARIABLE,
    TOKEN_PARAM,
)
from ._errors import (
    APIResponseValidationError,
    InvalidInputError,
    TaptiError,
    carries_secret,
    masked_url,
    pair_name,
    public_door,
    query_pairs,
    request_id_of,
    split_url,
)
from ._inputs import (
    LONE_SURROGATE,
    PlatformLike,
    ScopeLike,
    check_flag,
    check_platform,
    check_platforms,
    check_scopes,
    check_url,
    from_argument_or_environment,
    is_valid_text,
    key_in_environment,
    listed,
    redirect_problem,
    refuse_plain_http,
)
from ._masking import ShapeError, is_masked, masked

__all__ = [
    "APIResponse",
    "SdkToken",
    "oauth_portal_url",
    "portal_url_on",
    "resolve_portal_url",
    "token_from_response",
]


def resolve_portal_url(
    portal_url: str | None, *, allow_insecure_http: bool = False, secret: str
) -> str:
    """The argument, else ``TAPTI_PORTAL_URL``, else Tapti's hosted portal; checked either way.
    ``secret``: the API key, which the URL must not hold (every browser sent there would get it)."""
    chosen, named = from_argument_or_environment(portal_url, "portal_url", PORTAL_URL_VARIABLE)
    if chosen is None:
        return DEFAULT_PORTAL_URL
    if isinstance(chosen, str):  # before the URL is judged, whose messages quote it
        _refuse_the_key(chosen, secret, named)
    # Refused as SdkToken refuses such a URL in an answer, so that what builders make reads back.
    checked = check_url(chosen, argument=named, ascii_host=True)
    # Taken apart again only when plain http: oauth_portal_url() runs this on every call.
    if not allow_insecure_http and checked[:5].lower() == "http:":
        refuse_plain_http(urlsplit(checked), named, "every SDK token")
    return checked


@public_door
def oauth_portal_url(
    sdk_token: str,
    platform: PlatformLike | None = None,
    *,
    portal_url: str | None = None,
    allow_insecure_http: bool = False,
) -> str:
    """The portal URL for ``sdk_token``; ``platform`` skips the portal's platform picker.

    ``portal_url`` (default: ``TAPTI_PORTAL_URL``, else Tapti's portal) may be plain
    ``http://`` only on this machine, unless ``allow_insecure_http``: the token in it would
    cross the network unencrypted. One holding the key in ``TAPTI_API_KEY`` is refused, as is a
    token holding it: every browser sent there would get it.

    >>> oauth_portal_url("tok", platform="youtube")
    'https://oauth.tapti.dev?sdk_token=tok&platform=youtube'
    """
    check_flag(allow_insecure_http, argument="allow_insecure_http")
    # No client here: the key a program (or the tapti command) would use is the environment's.
    key = key_in_environment()
    base = resolve_portal_url(portal_url, allow_insecure_http=allow_insecure_http, secret=key)
    return portal_url_on(base, sdk_token, platform, secret=key)


def _refuse_the_key(value: str, secret: str, named: str) -> None:
    """Refuse ``value`` (a portal URL, a token) when it holds the API key, never quoting it."""
    if carries_secret(value, secret):
        raise InvalidInputError(
            f"{named} holds the API key: every portal URL made from it would hand the key to a "
            "browser"
        )


def portal_url_on(base: str, sdk_token: str, platform: PlatformLike | None, *, secret: str) -> str:
    """The portal URL for ``sdk_token`` on ``base``, a portal URL already checked; ``secret``,
    the API key, which the token must not hold (the key pasted where the token goes)."""
    if not isinstance(sdk_token, str) or not sdk_token:
        raise InvalidInputError("sdk_token must be a non-empty str")
    if not is_valid_text(sdk_token):
        raise InvalidInputError(f"sdk_token {LONE_SURROGATE}")
    _refuse_the_key(sdk_token, secret, "sdk_token")
    params = [(TOKEN_PARAM, sdk_token)]
    if platform is not None:
        params.append((PLATFORM_PARAM, check_platform(platform).value.lower()))
    return _with_params(base, params)


class SdkToken:
    """A created SDK token: the portal URL exactly as the API returned it, and what was asked for.

    ``response`` is the whole parsed answer (the generated ``CreateSdkTokenResponse``), with
    every field of the API description, and fields a newer server sends in its
    ``additional_properties``. The token is a credential for the user's session:
    ``repr``/``str`` mask it, here and in ``response`` at any depth, so a token logged by
    accident leaks nothing. Read ``sdk_token`` or ``oauth_portal_url`` explicitly. Built by
    hand without ``response=``, ``response`` holds the URL only (a field a newer spec requires
    is unset). Read-only; equal when URL, platforms and scopes are.
    """

    # A plain class, not attrs: creating an attrs class costs most of a millisecond at import.

    __slots__ = ("_query", "oauth_portal_url", "platforms", "response", "scopes")

    oauth_portal_url: str
    platforms: tuple[Platform, ...]
    scopes: tuple[Scope, ...]
    response: CreateSdkTokenResponse
    _query: dict[str, str]

    def __init__(
        self,
        oauth_portal_url: str,
        platforms: PlatformLike | Iterable[PlatformLike],
        scopes: ScopeLike | Iterable[ScopeLike],
        *,
        response: CreateSdkTokenResponse | None = None,
    ) -> None:
        """Platforms and scopes are read as ``create_sdk_token`` reads them; empty when not
        known (a token rebuilt from a stored URL). A URL holding the key in ``TAPTI_API_KEY`` is
        refused, as ``oauth_portal_url()`` refuses it."""
        if not isinstance(oauth_portal_url, str):
            raise InvalidInputError(
                f"oauth_portal_url must be a str, not {type(oauth_portal_url).__name__}"
            )
        _refuse_the_key(oauth_portal_url, key_in_environment(), "oauth_portal_url")
        chosen = () if _none_given(platforms) else check_platforms(platforms)
        asked = () if _none_given(scopes) else check_scopes(scopes)
        if response is not None and (
            not attrs.has(type(response))
            or getattr(response, "oauth_portal_url", None) != oauth_portal_url
        ):
            raise InvalidInputError(
                "response must be the parsed answer this oauth_portal_url came in "
                f"(a generated model with the same oauth_portal_url), not {type(response).__name__}"
            )
        self._fill(oauth_portal_url, chosen, asked, response)

    @classmethod
    def _checked(
        cls,
        oauth_portal_url: str,
        platforms: tuple[Platform, ...],
        scopes: tuple[Scope, ...],
        response: CreateSdkTokenResponse,
    ) -> SdkToken:
        """A token from a call's answer: what the client already checked is not checked again."""
        token = cls.__new__(cls)
        token._fill(oauth_portal_url, platforms, scopes, response)
        return token

    def _fill(
        self,
        oauth_portal_url: str,
        platforms: tuple[Platform, ...],
        scopes: tuple[Scope, ...],
        response: CreateSdkTokenResponse | None,
    ) -> None:
        problem = redirect_problem(oauth_portal_url)
        if problem:  # the URL is never quoted: it carries the SDK token
            raise InvalidInputError(f"oauth_portal_url {problem}")
        pairs = parse_qsl(query_of(oauth_portal_url), keep_blank_values=True)
        query = dict(pairs)
        if not query.get(TOKEN_PARAM):
            raise InvalidInputError("oauth_portal_url has no sdk_token query parameter")
        if sum(name == TOKEN_PARAM for name, _ in pairs) > 1:  # which would the portal read?
            raise InvalidInputError("oauth_portal_url has more than one sdk_token query parameter")
        if response is None:
            response = _model(CreateSdkTokenResponse, oauth_portal_url=oauth_portal_url)
        if not is_masked(response):  # a parsed answer is already
            try:
                response = masked(response)
            except ShapeError as exc:  # a stored answer, given by hand
                raise InvalidInputError(f"response: {exc}") from None
        fields = zip(
            self.__slots__, (query, oauth_portal_url, platforms, response, scopes), strict=True
        )
        for name, value in fields:
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SdkToken is read-only; {name} cannot be set")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"SdkToken is read-only; {name} cannot be deleted")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through the checks (no attribute can be set from outside): copy, deepcopy
        # (the answer copied too), pickle to a worker process, dataclasses.asdict.
        return (
            SdkToken._checked,
            (self.oauth_portal_url, self.platforms, self.scopes, self.response),
        )

    def _key(self) -> tuple[str, tuple[Platform, ...], tuple[Scope, ...]]:
        return (self.oauth_portal_url, self.platforms, self.scopes)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, SdkToken) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def sdk_token(self) -> str:
        """The ``sdk_token`` query parameter of the portal URL (never empty: checked on arrival)."""
        return self._query[TOKEN_PARAM]

    @property
    def origin(self) -> str | None:
        """The ``origin`` query parameter (the redirect URL the portal returns to), if any."""
        return self._query.get(ORIGIN_PARAM)

    @public_door
    def portal_url(self, platform: PlatformLike | None = None) -> str:
        """The portal URL; ``platform`` skips the portal's platform picker. It must be one of
        this token's platforms, where they are known (not for a token rebuilt from a URL)."""
        if platform is None:
            return self.oauth_portal_url
        chosen = check_platform(platform)
        if self.platforms and chosen not in self.platforms:
            raise InvalidInputError(
                f"platform {chosen.value.lower()!r} is not one of this token's platforms "
                f"({listed(self.platforms)})"
            )
        return _with_params(self.oauth_portal_url, [(PLATFORM_PARAM, chosen.value.lower())])

    def __repr__(self) -> str:
        if not hasattr(self, "response"):  # refused half-built: a traceback's locals show it
            return "SdkToken(<refused>)"
        platforms = [p.value for p in self.platforms]
        scopes = [s.value for s in self.scopes]
        url = masked_url(self.oauth_portal_url)
        return f"SdkToken(oauth_portal_url={url!r}, platforms={platforms!r}, scopes={scopes!r})"

    __str__ = __repr__


def _none_given(values: object) -> bool:
    return isinstance(values, tuple | list) and not values


def token_from_response(
    answer: Answer | httpx2.Response,
    platforms: tuple[Platform, ...],
    scopes: tuple[Scope, ...],
    secret: str = "",
) -> SdkToken:
    """The token in a 2xx answer, or ``APIResponseValidationError``; nothing else escapes."""
    data = json_object(answer, secret)
    parsed = model_from(
        lambda: CreateSdkTokenResponse.from_dict(data), answer, "CreateSdkTokenResponse", secret
    )
    url = parsed.oauth_portal_url
    # The URL is never quoted in these messages: it carries the SDK token.
    if not isinstance(url, str):
        raise APIResponseValidationError(
            "oauth_portal_url is not an absolute http(s) URL",
            response=error_response(answer, secret),
        )
    # Masking the key there would change where the user goes; passing the URL on would put the
    # key in every browser sent to it, and in the portal's logs.
    if carries_secret(url, secret):
        raise APIResponseValidationError(
            "oauth_portal_url holds the API key; refused, so that no browser is sent it",
            response=error_response(answer, secret),
        )
    try:
        return SdkToken._checked(url, platforms, scopes, parsed)
    except InvalidInputError as exc:  # no sdk_token in the URL
        raise APIResponseValidationError(
            str(exc), response=error_response(answer, secret)
        ) from None


def query_of(url: str) -> str:
    """``urlsplit(url).query`` for a URL without whitespace or control characters (which
    urlsplit would drop first): an answer's URL is parsed once (``redirect_problem``), not twice."""
    return url.partition("#")[0].partition("?")[2]


def _with_params(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` set, replacing earlier values; every other pair kept as is."""
    parts = split_url(url)
    replaced = {name for name, _ in params}
    kept = [pair for pair in query_pairs(parts.query) if pair_name(pair) not in replaced]
    return urlunsplit(parts._replace(query="&".join([*kept, urlencode(params)])))


_M = TypeVar("_M")


def _model(cls: type[_M], **known: Any) -> _M:
    """A generated model of the fields this code knows, even once the spec requires more.

    A field the spec made required since is left unset (reading it raises AttributeError), so
    that ``SdkToken(url, ...)`` built by hand keeps working after ``make generate``.
    """
    try:
        return cls(**known)
    except TypeError:  # a required argument this code does not know
        model = cls.__new__(cls)
        for field in attrs.fields(cast("type[attrs.AttrsInstance]", cls)):
            if field.name in known:
                value = known[field.name]
            elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                value = field.default.factory()
            elif field.default is not attrs.NOTHING:
                value = field.default
            else:
                continue
            object.__setattr__(model, field.name, value)
        return model


class APIResponse:
    """A successful response before it is turned into an ``SdkToken``.

    ``parse()`` applies the same checks as the plain call and raises
    ``APIResponseValidationError`` on a body that is not the documented shape.
    """

    __slots__ = ("_parse", "_parsed", "http_response")

    def __init__(
        self, http_response: httpx2.Response, parse: Callable[[httpx2.Response], SdkToken]
    ) -> None:
        self.http_response = http_response
        self._parse = parse
        self._parsed: SdkToken | None = None

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx2.Headers:
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.http_response.headers)

    @public_door
    def parse(self) -> SdkToken:
        if self._parsed is None:
            self._parsed = self._parse(self.http_response)
        return self._parsed

    def __reduce__(self) -> tuple[object, ...]:
        # Parsed first: the parser is the call's own, and the call holds the key, which a
        # response cache or a task queue's result store must never be given.
        try:
            parsed = self.parse()
        except TaptiError as exc:  # what pickle and copy raise for what they cannot take
            raise TypeError(
                f"cannot pickle an APIResponse whose body does not parse: {exc}"
            ) from exc
        return (_parsed_response, (self.http_response, parsed))

    def __repr__(self) -> str:
        return f"<APIResponse [{self.status_code}] request_id={self.request_id!r}>"


def _parsed_response(http_response: httpx2.Response, token: SdkToken) -> APIResponse:
    """An unpickled ``APIResponse``: parsed already, and its parser the token itself."""
    response = APIResponse(http_response, lambda _: token)
    response.parse()  # as it was when pickled; the lambda is never pickled (``__reduce__``)
    return response
