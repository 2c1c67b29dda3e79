"""The SDK's own connection pool: httpcore under our network layer, configured for one API host.

Built on httpcore rather than ``httpx.HTTPTransport`` for two reasons: httpx offers no way to
give its pool a network backend (``_network``, where deadlines and fork safety live), and httpx
would route through whatever proxy the environment names. The SDK talks to one host, so it
decides the route once, here:

- a loopback base URL never goes through an environment proxy: the key may travel in clear to
  this machine, but never to a proxy that may be another host;
- any other host uses ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (and ``NO_PROXY``) as httpx
  and curl do; for an https API that is a CONNECT tunnel, so the proxy sees only TLS.

Bad proxy or certificate settings in the environment are refused here, naming the variable.
"""

from __future__ import annotations

import os
import ssl
import urllib.request
from typing import TYPE_CHECKING, Any, Final

import httpcore
import httpx

from ._errors import InvalidInputError
from ._inputs import is_loopback

__all__ = ["HTTPCORE_ERRORS", "PoolSettings", "new_async_pool", "new_pool", "to_core_request"]

_PROXY_SCHEMES: Final = frozenset({"http", "https", "socks5", "socks5h"})

# httpcore's failures as httpx's, so that one error table (``_errors``) serves every sender.
HTTPCORE_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.RequestError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def as_httpx_error(exc: Exception, request: httpx.Request) -> httpx.RequestError | None:
    for core, mapped in HTTPCORE_ERRORS:
        if isinstance(exc, core):
            return mapped(str(exc) or type(exc).__name__, request=request)
    return None


class PoolSettings:
    """The route and TLS settings for one base URL, read from the environment once."""

    __slots__ = ("proxy", "ssl_context")

    def __init__(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        self.proxy = None if is_loopback(url.host) else _environment_proxy(url)
        needs_tls = url.scheme == "https" or (self.proxy is not None and self.proxy.is_https)
        self.ssl_context = _ssl_context() if needs_tls else None


class _Proxy:
    __slots__ = ("url", "variable")

    def __init__(self, url: httpx.URL, variable: str) -> None:
        self.url, self.variable = url, variable

    @property
    def is_https(self) -> bool:
        return self.url.scheme == "https"

    @property
    def core_url(self) -> httpcore.URL:
        url = self.url
        return httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )

    @property
    def auth(self) -> tuple[bytes, bytes] | None:
        if not self.url.username:
            return None
        return self.url.username.encode(), self.url.password.encode()


def _environment_proxy(url: httpx.URL) -> _Proxy | None:
    """The proxy the environment names for ``url``, as httpx and curl read it."""
    found = _proxy_variable(url.scheme)
    if found is None:
        return None
    variable, value = found
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if no_proxy and bypass(url.host, {"no": no_proxy}):
        return None
    if "://" not in value:  # "proxy:3128", as curl accepts it
        value = "http://" + value
    try:
        proxy_url = httpx.URL(value)
        host = proxy_url.host
    except (httpx.InvalidURL, ValueError):  # ValueError: e.g. an invalid IDNA host name
        raise InvalidInputError(f"{variable} is not a valid proxy URL") from None
    if proxy_url.scheme not in _PROXY_SCHEMES or not host:
        raise InvalidInputError(
            f"{variable} must be an http://, https:// or socks5:// proxy URL with a host"
        )
    if proxy_url.scheme.startswith("socks"):
        try:
            import socksio  # type: ignore[import-not-found]  # noqa: F401, PLC0415
        except ImportError:
            raise InvalidInputError(
                f"{variable} names a SOCKS proxy, which needs the socksio package: "
                "pip install 'httpx[socks]'"
            ) from None
    return _Proxy(proxy_url, variable)


def _proxy_variable(scheme: str) -> tuple[str, str] | None:
    # Lower case first, as curl; HTTP_PROXY is ignored under CGI (the "httpoxy" attack: a
    # request's "Proxy:" header arrives as that variable).
    # A lower-case variable that is set wins even when empty (as urllib and httpx read them).
    for base in (f"{scheme}_proxy", "all_proxy"):
        names = [base, base.upper()]
        if base == "http_proxy" and "REQUEST_METHOD" in os.environ:
            names.remove("HTTP_PROXY")
        name = next((n for n in names if n in os.environ), None)
        value = "" if name is None else os.environ[name].strip()
        if name is not None and value:
            return name, value
    return None


def _ssl_context() -> ssl.SSLContext:
    """httpx's default context, with certificate variables checked and named when wrong."""
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        value = os.environ.get(variable)
        if not value:
            continue
        if variable == "SSL_CERT_DIR" and not os.path.isdir(value):
            # OpenSSL would accept it and then trust nothing: every call would fail.
            raise InvalidInputError(f"SSL_CERT_DIR is not a directory: {value!r}")
        try:
            return httpx.create_ssl_context(trust_env=True)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise InvalidInputError(f"{variable} cannot be used ({reason}): {value!r}") from None
    return httpx.create_ssl_context(trust_env=False)


class _HeldConnections:
    """httpcore 1.0's sync pool pass, without closing a connection a request already holds.

    Under many threads, httpcore 1.0.9 closes an idle connection it has just handed to a
    request whose thread has not started it yet (encode/httpcore#1110), and counts every
    connection, not the idle ones, against the keep-alive limit (#1000): ``[Errno 9] Bad file
    descriptor``, reads that hang until the timeout, and retried requests that issue a second
    token. scripts/stress_threads.py measured 0 such closes in 532,986 calls with this pass,
    against thousands per run without it. Here a connection a pending request holds is left
    alone, never closed "to make room", never handed to a second request, and only idle
    connections count against the limit; the rest is 1.0.9's pass. It uses httpcore's private
    pool state, so it is applied only where that state is what it expects
    (``HELD_CONNECTIONS_FIX``; tests/test_pool_fix.py fails when it no longer is).
    """

    _connections: list[Any]
    _requests: list[Any]
    _max_connections: int
    _max_keepalive_connections: int

    if TYPE_CHECKING:  # httpcore's, on the pool class (a stub here would override it)

        def create_connection(self, origin: Any) -> Any: ...

    def _assign_requests_to_connections(self) -> list[Any]:
        held = {id(r.connection) for r in self._requests if r.connection is not None}
        closing = self._close_spare(held)
        for pool_request in [r for r in self._requests if r.is_queued()]:
            connection = self._connection_for(pool_request.request.url.origin, held, closing)
            if connection is not None:
                pool_request.assign_to_connection(connection)
                held.add(id(connection))
        return closing

    def _close_spare(self, held: set[int]) -> list[Any]:
        """Drop closed connections; close expired ones and idle ones beyond the limit."""
        closing: list[Any] = []
        spare = sum(c.is_idle() and id(c) not in held for c in self._connections)
        spare -= self._max_keepalive_connections
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif id(connection) in held:
                continue  # its request's thread owns it now; the next pass looks again
            elif connection.has_expired() or (connection.is_idle() and spare > 0):
                spare -= connection.is_idle()
                self._connections.remove(connection)
                closing.append(connection)
        return closing

    def _connection_for(self, origin: Any, held: set[int], closing: list[Any]) -> Any:
        free = [c for c in self._connections if id(c) not in held]
        available = [c for c in free if c.can_handle_request(origin) and c.is_available()]
        if available:
            return available[0]
        idle = [c for c in free if c.is_idle()]
        if len(self._connections) >= self._max_connections:
            if not idle:
                return None
            self._connections.remove(idle[0])
            closing.append(idle[0])
        connection = self.create_connection(origin)
        self._connections.append(connection)
        return connection


def _fix_applies() -> bool:
    pool = httpcore.ConnectionPool
    return httpcore.__version__.startswith("1.0.") and all(
        hasattr(pool, name) for name in ("_assign_requests_to_connections", "create_connection")
    )


HELD_CONNECTIONS_FIX: Final = _fix_applies()
if HELD_CONNECTIONS_FIX:

    class _Pool(_HeldConnections, httpcore.ConnectionPool):
        pass

    class _SOCKSProxy(_HeldConnections, httpcore.SOCKSProxy):
        pass

    class _HTTPProxy(_HeldConnections, httpcore.HTTPProxy):
        pass

    _SYNC_KINDS: tuple[Any, ...] = (_Pool, _SOCKSProxy, _HTTPProxy)
else:  # pragma: no cover  (another httpcore: its own pass, with equal limits as the guard)
    _SYNC_KINDS = (httpcore.ConnectionPool, httpcore.SOCKSProxy, httpcore.HTTPProxy)


def new_pool(
    settings: PoolSettings, limits: httpx.Limits, backend: httpcore.NetworkBackend
) -> httpcore.ConnectionPool:
    return _pool(settings, limits, backend, _SYNC_KINDS)  # type: ignore[no-any-return]


def new_async_pool(
    settings: PoolSettings, limits: httpx.Limits, backend: httpcore.AsyncNetworkBackend
) -> httpcore.AsyncConnectionPool:
    kinds = (httpcore.AsyncConnectionPool, httpcore.AsyncSOCKSProxy, httpcore.AsyncHTTPProxy)
    return _pool(settings, limits, backend, kinds)  # type: ignore[no-any-return]


def _pool(
    settings: PoolSettings, limits: httpx.Limits, backend: Any, kinds: tuple[Any, ...]
) -> Any:
    """A direct, SOCKS or HTTP-proxy pool (``kinds``, sync or async) on ``backend``."""
    direct, socks, http_proxy = kinds
    common = {
        "ssl_context": settings.ssl_context,
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "network_backend": backend,
    }
    proxy = settings.proxy
    if proxy is None:
        return direct(**common)
    kind = socks if proxy.url.scheme.startswith("socks") else http_proxy
    return kind(proxy_url=proxy.core_url, proxy_auth=proxy.auth, **common)


def to_core_request(
    request: httpx.Request,
    extra_headers: list[tuple[bytes, bytes]],
    timeouts: dict[str, float | None],
) -> httpcore.Request:
    """``request`` for httpcore, with headers that never touch the ``httpx.Request`` (the key)."""
    url = request.url
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        headers=[*request.headers.raw, *extra_headers],
        content=request.stream,
        extensions={"timeout": timeouts},
    )
