"""The generated ``AuthenticatedClient`` behind ``tapti.raw``, on its ``Tapti``'s pipeline.

The generated functions send through an httpx2 client; here that client's transport is the
``Tapti`` client's pipeline, so an edge-case call through ``tapti.raw`` (any operation the
generator produced, including ones added after this code was written) gets the same pool,
retries, deadline, typed errors, capped reads, fork safety and key handling as the wrapper's own
methods. The key is added below httpx2, so no httpx2 object here ever holds it.
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from typing import Any, Final, NoReturn, Self, SupportsIndex
from urllib.parse import unquote_to_bytes

import attrs
import httpx2
from tapti_api_client import AuthenticatedClient

from ._call import (
    DEFAULT_PORTS,
    Call,
    RetryPolicy,
    Sources,
    has_empty_parameter,
    is_token,
    why_unsendable,
)
from ._client import NotGiven, resolved_timeout
from ._constants import MASK, header_as_read
from ._errors import InvalidInputError, public_async_door, public_door
from ._inputs import Timeout, check_timeout, is_valid_text, segment_problem
from ._names import API_KEY_HEADER
from ._pipeline import AsyncPipeline, Pipeline

__all__ = ["raw_client"]


_OWN_TIMEOUT: Final = "tapti_own_timeout"  # a request extension: see _built


def _unparsed(response: httpx2.Response, secret: str = "") -> httpx2.Response:  # noqa: ARG001
    return response


@attrs.frozen
class _Route:
    """What every raw call is sent with: the pipeline and the retry and time settings. Not
    the key, which the pipeline holds: ``attrs.asdict(tapti.raw)``, cattrs and the like read
    every field of an attrs class, ``repr=False`` or not (probe 39)."""

    pipeline: Pipeline | AsyncPipeline
    timeout: Timeout | NotGiven  # NOT_GIVEN: a lent http_client's own
    retry: RetryPolicy
    sources: Sources

    def call(self, request: httpx2.Request) -> Call[httpx2.Response]:
        for name in [name for name in request.headers if header_as_read(name) == API_KEY_HEADER]:
            del request.headers[name]  # the pipeline adds the one true key
        host = request.headers.get("host")
        if host is not None and not _names_the_site(host, request.url):
            # On a shared load balancer another Host is another site: the key would go there.
            raise InvalidInputError(
                "a Host header must name the base URL's host: the API key goes nowhere else"
            )
        _check_content_length(request)
        # Again as sent: a request built by hand and given to send() skipped build_request.
        _check_path(request.url.raw_path.decode("ascii"), request.method)
        return Call(
            request,
            _unparsed,
            self.retry,
            self._timeout(request),
            self.pipeline.api_key,
            self.sources,
        )

    def _timeout(self, request: httpx2.Request) -> Timeout:
        """The route's, unless the request's caller named one (``client.get(..., timeout=0.5)``,
        marked by ``_built``): that one applies per phase of each attempt, as httpx2 reads it."""
        if not request.extensions.get(_OWN_TIMEOUT):
            return resolved_timeout(self.timeout, self.pipeline)
        return check_timeout(httpx2.Timeout(**request.extensions["timeout"]))


def _as_httpx_timeout(timeout: Timeout) -> httpx2.Timeout:
    return timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout)


def _check_content_length(request: httpx2.Request) -> None:
    """A ``Content-Length`` the body disagrees with, refused before anything is sent: h11 would
    refuse it only midway, the head and part of the body already on the wire."""
    declared = request.headers.get_list("content-length")
    if not declared or not isinstance(request.stream, httpx2.ByteStream):
        return  # a streamed body's length is known only as it is sent (then h11 refuses it)
    actual = len(request.content)
    if declared != [str(actual)]:
        said = declared[0] if len(declared) == 1 and declared[0].isdigit() else "something else"
        raise InvalidInputError(
            f"the Content-Length header says {said[:20]} but the body is {actual} bytes: "
            "leave the header out, httpx2 sets it"
        )


def _names_the_site(host: str, url: httpx2.URL) -> bool:
    """Whether a ``Host`` header names ``url``'s host and port (the default one written or not)."""
    named = host.lower().encode("ascii", "replace")
    if url.port is not None:  # httpx2 keeps a port only when it is not the scheme's default
        return named == url.netloc
    default = DEFAULT_PORTS.get(url.scheme)  # another scheme is refused as another origin
    return named in {url.netloc, b"%s:%d" % (url.netloc, default or 0)}


class _PipelineTransport(httpx2.BaseTransport):
    """httpx2's transport interface over a ``Pipeline``; closing it leaves the pool alone."""

    def __init__(self, route: _Route) -> None:
        self.route = route

    @public_door
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        pipeline = self.route.pipeline
        assert isinstance(pipeline, Pipeline)  # noqa: S101  (built so by raw_client)
        return pipeline.run(self.route.call(request)).response()


class _AsyncPipelineTransport(httpx2.AsyncBaseTransport):
    def __init__(self, route: _Route) -> None:
        self.route = route

    @public_async_door
    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        pipeline = self.route.pipeline
        assert isinstance(pipeline, AsyncPipeline)  # noqa: S101  (built so by raw_client)
        return (await pipeline.run(self.route.call(request))).response()


@attrs.define(repr=False)
class _PipelineClient(AuthenticatedClient):
    """``tapti.raw``: the pool is the ``Tapti`` client's, to use but not to alter or close."""

    _route: _Route | None = attrs.field(default=None, kw_only=True, alias="route")

    def __repr__(self) -> str:
        return f"AuthenticatedClient(base_url={self._base_url!r}, token='***')"

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(
            "cannot pickle tapti.raw: it sends through its Tapti client's pool with its API key;"
            " make a client in each process"
        )

    # A copy in this process is one more door on the same pool, as with_headers() makes, with
    # its own mappings: changing the copy's leaves the original's as they were.
    def __copy__(self) -> AuthenticatedClient:
        return self._copy(
            headers=dict(self._headers),
            cookies=dict(self._cookies),
            httpx_args=dict(self._httpx_args),
        )

    def __deepcopy__(self, memo: dict[int, object]) -> AuthenticatedClient:
        return self.__copy__()

    def with_headers(self, headers: dict[str, str]) -> AuthenticatedClient:
        return self._copy(headers={**self._headers, **_str_mapping(headers, "headers")})

    def with_cookies(self, cookies: dict[str, str]) -> AuthenticatedClient:
        return self._copy(cookies={**self._cookies, **_str_mapping(cookies, "cookies")})

    def with_timeout(self, timeout: httpx2.Timeout) -> AuthenticatedClient:
        route = self._route
        assert route is not None  # noqa: S101
        return self._copy(
            timeout=timeout, route=attrs.evolve(route, timeout=check_timeout(timeout))
        )

    def get_httpx_client(self) -> httpx2.Client:
        if self._client is None:
            raise self._without_client(
                Pipeline, "AsyncTapti.raw serves the generated asyncio functions; use Tapti.raw"
            )
        return self._client

    def get_async_httpx_client(self) -> httpx2.AsyncClient:
        if self._async_client is None:
            raise self._without_client(
                AsyncPipeline, "Tapti.raw serves the generated sync functions; use AsyncTapti.raw"
            )
        return self._async_client

    def _without_client(self, kind: type, other_kind: str) -> InvalidInputError:
        """Why there is no httpx2 client of the kind asked for: the other kind's raw client, or
        a copy made past ``_copy`` (``attrs.evolve``), which no transport was attached to."""
        if self._route is not None and not isinstance(self._route.pipeline, kind):
            return InvalidInputError(other_kind)
        return InvalidInputError(
            "this copy of tapti.raw has no client to send with: copy it with with_headers(), "
            "with_cookies() or with_timeout(), not attrs.evolve()"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        """Nothing to close here: the pool closes with the ``Tapti`` client."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *args: object, **kwargs: Any) -> None:
        """Nothing to close here: the pool closes with the ``AsyncTapti`` client."""

    def _copy(self, **changes: Any) -> AuthenticatedClient:
        settings = {f.alias: getattr(self, f.name) for f in attrs.fields(type(self)) if f.init}
        return _attach({**settings, **changes})


def _str_mapping(given: object, what: str) -> dict[str, str]:
    if not isinstance(given, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in given.items()
    ):
        raise InvalidInputError(f"{what} must be a dict of str to str")
    return given


def _checked_url(url: httpx2.URL | str, method: str) -> httpx2.URL | str:
    """A generated function's URL, refused before httpx2 resolves or sends it when a path
    segment is one the wrapper would refuse as an id: ``..`` would send ``/users/../sdk-token``
    as ``/sdk-token``, another operation, and so would an empty one behind a proxy that merges
    slashes; percent-escapes are judged as the server decodes them (the generated functions
    quote a lone surrogate into bytes that are not UTF-8)."""
    path = url if isinstance(url, str) else ""
    try:  # httpx2 IDNA-decodes a host holding "xn--" as it builds the request
        if isinstance(url, httpx2.URL) or "//" in url:  # a generated path has none: not parsed
            parsed = httpx2.URL(url)
            parsed.host  # noqa: B018
            path = parsed.raw_path.decode("ascii")  # the path alone: not the scheme's "//"
    except httpx2.InvalidURL as exc:  # a bad port, say
        raise _unbuildable(exc) from None
    except UnicodeError as exc:
        if isinstance(exc, UnicodeEncodeError | UnicodeDecodeError):  # not the host's name
            raise _unbuildable(exc) from None
        # idna's errors, not quoted: the host could hold the key.
        raise InvalidInputError(
            "the URL's host is not a name httpx2 can IDNA-decode; nothing was sent"
        ) from None
    _check_path(path, method)
    return url


def _check_path(path: str, method: str) -> None:
    """Refuse a path holding a segment the wrapper would refuse as an id (``_checked_url``)."""
    path = path.partition("?")[0].partition("#")[0]
    for segment in path.split("/"):
        problem = _segment_problem(segment)
        if problem is not None:
            raise InvalidInputError(f"a path parameter {problem}; nothing was sent")
    if has_empty_parameter(method.upper(), path):
        raise InvalidInputError("a path parameter must not be empty; nothing was sent")


def _segment_problem(segment: str) -> str | None:
    if "%" in segment and is_valid_text(segment):
        try:  # an encoded surrogate decodes to one, which segment_problem names
            segment = unquote_to_bytes(segment).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return "must be UTF-8 text once percent-decoded"
    return segment_problem(segment)


def _built(request: httpx2.Request, timeout: object) -> httpx2.Request:
    """``request`` marked when its caller named a timeout (``client.get(..., timeout=...)``):
    httpx2 puts the client's default in the same place otherwise (``_Route._timeout``)."""
    if timeout is not httpx2.USE_CLIENT_DEFAULT:
        request.extensions[_OWN_TIMEOUT] = True
    return request


def _unbuildable(exc: BaseException) -> InvalidInputError:
    return InvalidInputError(
        f"the request cannot be built ({why_unsendable(exc)}); nothing was sent"
    )


def _checked_build(
    build: Any, method: str, url: httpx2.URL | str, kwargs: dict[str, Any]
) -> httpx2.Request:
    """httpx2's ``build_request``, with what it refuses (a bad port, a header beyond ASCII, a
    ``json=`` value JSON has no form for, ``params=5``) an ``InvalidInputError``, as on every
    other door. (What httpx2 reads only as it sends, ``auth=`` and ``files=``, is its own.)"""
    if not isinstance(method, str):
        raise InvalidInputError(f"the method must be a str, not {type(method).__name__}")
    if not is_token(method):
        raise InvalidInputError(
            "the request cannot be built (its method is not an HTTP token); nothing was sent"
        )
    if not isinstance(url, str | httpx2.URL):
        raise InvalidInputError(f"the URL must be a str or an httpx2.URL, not {type(url).__name__}")
    checked = _checked_url(url, method)  # its own InvalidInputErrors are not httpx2's ValueErrors
    try:
        request = build(method, checked, **kwargs)
    except (httpx2.InvalidURL, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise _unbuildable(exc) from None
    return _built(request, kwargs.get("timeout", httpx2.USE_CLIENT_DEFAULT))


class _BorrowedClient(httpx2.Client):
    """The httpx2 client of ``tapti.raw``: closing it (or leaving ``with``) closes nothing, as
    the pool is the ``Tapti`` client's and ``tapti.raw`` is kept for later calls."""

    @public_door  # a refusal's frames keep nothing of what was given (a key in headers=)
    def build_request(self, method: str, url: httpx2.URL | str, **kwargs: Any) -> httpx2.Request:
        return _checked_build(super().build_request, method, url, kwargs)

    def close(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        pass


class _AsyncBorrowedClient(httpx2.AsyncClient):
    @public_door  # a refusal's frames keep nothing of what was given (a key in headers=)
    def build_request(self, method: str, url: httpx2.URL | str, **kwargs: Any) -> httpx2.Request:
        return _checked_build(super().build_request, method, url, kwargs)

    async def aclose(self) -> None:
        pass

    async def __aexit__(self, *args: object) -> None:
        pass


class _KeepNoAnswerCookies(DefaultCookiePolicy):
    """``tapti.raw`` serves every user's calls: a cookie one answer sets would ride on the next
    user's call. Only the cookies given to ``with_cookies()`` are sent."""

    def set_ok(self, cookie: Cookie, request: Any) -> bool:  # noqa: ARG002
        return False


def _cookie_jar(cookies: dict[str, str]) -> CookieJar:
    jar = CookieJar(policy=_KeepNoAnswerCookies())
    httpx2.Cookies(jar).update(cookies)
    return jar


def _attach(settings: dict[str, Any]) -> _PipelineClient:
    """A raw client whose httpx2 client sends through ``settings["route"]``."""
    client = _PipelineClient(**settings)
    route = settings["route"]
    options: dict[str, Any] = {
        "base_url": settings["base_url"],
        "headers": settings["headers"],
        "cookies": _cookie_jar(settings["cookies"]),
        "follow_redirects": False,
        # So that a request's own shows (_Route); a lent http_client's as it is now.
        "timeout": _as_httpx_timeout(resolved_timeout(route.timeout, route.pipeline)),
        "trust_env": False,  # the pipeline decides the route, proxies included
    }
    if isinstance(route.pipeline, Pipeline):
        client.set_httpx_client(_BorrowedClient(transport=_PipelineTransport(route), **options))
    else:
        client.set_async_httpx_client(
            _AsyncBorrowedClient(transport=_AsyncPipelineTransport(route), **options)
        )
    return client


def raw_client(
    pipeline: Pipeline | AsyncPipeline,
    *,
    base_url: str,
    timeout: Timeout | NotGiven,
    retry: RetryPolicy,
    headers: dict[str, str],
    sources: Sources,
) -> AuthenticatedClient:
    return _attach(
        {
            "base_url": base_url,
            # Read by the generated code only to build an httpx2 client of its own, which this
            # one never does; the pipeline adds the key. Error reporters show what a field holds.
            "token": MASK,
            "prefix": "",
            "auth_header_name": API_KEY_HEADER,
            "headers": dict(headers),
            "cookies": {},
            "timeout": _as_httpx_timeout(resolved_timeout(timeout, pipeline)),
            "verify_ssl": True,
            "follow_redirects": False,
            "raise_on_unexpected_status": False,
            "httpx_args": {},
            "route": _Route(pipeline, timeout, retry, sources),
        }
    )
