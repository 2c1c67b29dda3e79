"""The SDK's own connection pool: httpcore2 under our network layer, configured for one API host.

Built on httpcore2 rather than ``httpx2.HTTPTransport`` for two reasons: httpx2 offers no way to
give its pool a network backend (``_network``, where deadlines and fork safety live), and httpx2
would route through whatever proxy the environment names. The SDK talks to one host, so it
decides the route once, here:

- a loopback base URL never goes through an environment proxy: the key may travel in clear to
  this machine, but never to a proxy that may be another host;
- any other host uses ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (and ``NO_PROXY``) as httpx2
  and curl do; for an https API that is a CONNECT tunnel, so the proxy sees only TLS.

Bad proxy or certificate settings in the environment are refused here, naming the variable.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import ssl
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import h11
import httpcore2
import httpx2

from ._call import DEFAULT_PORTS, host_and_port
from ._constants import MAX_PORT
from ._errors import (
    NOT_SOCKS5,
    SHORT_SECRET,
    InvalidInputError,
    h11_words,
    without_proxy_reason,
)
from ._inputs import bad_host_label, ip_of, is_loopback
from ._network import HTTP_PROXY_HANDSHAKE, SOCKS_HANDSHAKE

if TYPE_CHECKING:
    from ._call import Call

__all__ = [
    "PoolSettings",
    "as_httpx_error",
    "new_async_pool",
    "new_pool",
    "to_core_request",
    "without_proxy_words",
]

_PROXY_SCHEMES: Final = frozenset({"http", "https", "socks5", "socks5h"})

# What fails below httpx2 (httpcore2, and h11 where httpcore2 does not map it) as httpx2's
# errors, so that one error table (``_errors``) serves every sender.
_BELOW_HTTPX_ERRORS: Final[tuple[tuple[type[Exception], type[httpx2.RequestError]], ...]] = (
    (httpcore2.ConnectTimeout, httpx2.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx2.ReadTimeout),
    (httpcore2.WriteTimeout, httpx2.WriteTimeout),
    (httpcore2.PoolTimeout, httpx2.PoolTimeout),
    (httpcore2.TimeoutException, httpx2.TimeoutException),
    (httpcore2.ConnectError, httpx2.ConnectError),
    (httpcore2.ReadError, httpx2.ReadError),
    (httpcore2.WriteError, httpx2.WriteError),
    (httpcore2.ProxyError, httpx2.ProxyError),
    (httpcore2.UnsupportedProtocol, httpx2.UnsupportedProtocol),
    (httpcore2.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpcore2.LocalProtocolError, httpx2.LocalProtocolError),
    (httpcore2.NetworkError, httpx2.NetworkError),
    (httpcore2.ProtocolError, httpx2.ProtocolError),
    # httpcore2 maps h11's refusal of a request's head, not of its body: a streamed body
    # longer or shorter than its Content-Length says comes as h11's own.
    (h11.LocalProtocolError, httpx2.LocalProtocolError),
)


def as_httpx_error(exc: Exception, request: httpx2.Request) -> httpx2.RequestError | None:
    """httpx2's error for a failure below it, or None for one that is not the network's.

    Every door goes through here: the SDK's pool raises httpcore2's errors, and a TLS alert
    after the handshake (a server asking for a client certificate, on the first read) comes
    as a raw ``ssl.SSLError`` from anyio through the pool and through a lent ``http_client``
    alike, since neither httpcore2 nor httpx2 maps it; nor socksio's, for a SOCKS proxy's
    answer that is not SOCKS. The chain keeps the original."""
    kind = next((mapped for core, mapped in _BELOW_HTTPX_ERRORS if isinstance(exc, core)), None)
    said = str(exc) or type(exc).__name__
    if kind is None and isinstance(exc, ssl.SSLError):
        kind = httpx2.ReadError
    elif kind is None and _from_socksio(exc):
        kind, said = httpx2.ProxyError, f"{NOT_SOCKS5} ({said})"
    if kind is None:
        return None
    error = kind(said, request=request)
    error.__cause__ = exc  # what lasting_failure and the message read, wherever it is raised
    return error


def without_proxy_words(exc: httpx2.RequestError) -> None:
    """Leave none of a proxy's own words in ``exc`` and the errors it was raised from,
    whichever pool raised it (the SDK's, a lent client's; ``_pipeline._failed`` sees both
    alike): a refusal's reason phrase becomes
    the standard phrase for its status, a line h11 could not parse leaves h11's words only. A
    proxy may echo there the credentials it was sent (probe 20, review 21)."""
    error: BaseException | None = exc
    for _ in range(4):  # httpx2's, httpcore2's, h11's
        if error is None:
            return
        said = error.args[0] if error.args else None
        if isinstance(said, str):
            refusal = isinstance(error, httpx2.ProxyError | httpcore2.ProxyError)
            shown = without_proxy_reason(said) if refusal else h11_words(said)
            error.args = (shown, *error.args[1:])
        # httpcore2 makes h11's error its argument, raised while handling it, not from it;
        # the context is followed no further: it may be the caller's own exception.
        error = error.__cause__ or (said if isinstance(said, BaseException) else None)


def _from_socksio(exc: Exception) -> bool:
    """Whether ``exc`` is socksio's (an HTTP proxy's 400 to the greeting, a reply cut short).
    Looked up, not imported: socksio is there only for a SOCKS proxy, and then loaded."""
    socksio = sys.modules.get("socksio")
    return socksio is not None and isinstance(exc, socksio.SOCKSError)


class PoolSettings:
    """The route and TLS settings for one base URL, read from the environment once."""

    __slots__ = ("proxy", "ssl_context", "trust")

    def __init__(self, base_url: str) -> None:
        url = httpx2.URL(base_url)
        self.proxy = None if is_loopback(url.host) else _environment_proxy(url)
        needs_tls = url.scheme == "https" or (self.proxy is not None and self.proxy.is_https)
        named = _named_store()
        self.ssl_context = (
            _ssl_context(
                named,
                _version_of(named[1] if named else _system_store()),
                os.environ.get("SSLKEYLOGFILE") if named else None,  # else not read
            )
            if needs_tls
            else None
        )
        self.trust = f"the CAs in {named[0]}" if named else "the system's CA certificates"


class _Proxy:
    __slots__ = ("url", "variable")

    def __init__(self, url: httpx2.URL, variable: str) -> None:
        self.url, self.variable = url, variable

    @property
    def is_https(self) -> bool:
        return self.url.scheme == "https"

    def described(self) -> str:
        """The variable and the proxy's host and port, for errors: never its credentials."""
        return f"{self.variable} ({host_and_port(self.url)})"

    @property
    def core_url(self) -> httpcore2.URL:
        url = self.url
        return httpcore2.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """What a proxy may echo of its credentials, for the log filter to mask: the user name
        (some proxies take a token there; httpcore2 logs a SOCKS one) and the password, each
        as text and as httpcore2 logs bytes, and the ``Basic`` base64 of ``user:password``.
        Not a short one: masked wherever it appears alone, ``1`` made every ``HTTP/1.1`` of
        the logs ``HTTP/***.***``, and showed the password by where it was."""
        auth = self.auth
        if auth is None:
            return ()
        spellings = {base64.b64encode(b":".join(auth)).decode()}
        for part in auth:
            spellings |= {part.decode(), repr(part)[2:-1]}
        return tuple(sorted(s for s in spellings if len(s) >= SHORT_SECRET))

    @property
    def auth(self) -> tuple[bytes, bytes] | None:
        # A password alone (http://:token@proxy) is credentials too, as httpx2 and curl send it.
        if not self.url.username and not self.url.password:
            return None
        return self.url.username.encode(), self.url.password.encode()


def _environment_proxy(url: httpx2.URL) -> _Proxy | None:
    """The proxy the environment names for ``url``, as httpx2 and curl read it."""
    found = _proxy_variable(url.scheme)
    if found is None:
        return None
    variable, value = found
    # Set but empty, the lower-case variable still wins (as for the proxy variables).
    no_proxy = os.environ.get("no_proxy", os.environ.get("NO_PROXY", ""))
    if no_proxy and _bypassed(url, no_proxy):
        return None
    if "://" not in value:  # "proxy:3128", as curl accepts it
        value = "http://" + value
    authority_end = re.search(r"[/?#]", value.partition("://")[2])
    if authority_end and "@" in value.partition("://")[2][authority_end.start() :]:
        # Read as a URL, part of the password would be taken for the host: never quoted.
        raise InvalidInputError(
            f"{variable} has an '@' after its host: percent-encode the user name and password "
            "(%2F for '/', %23 for '#', %3F for '?', %40 for '@')"
        )
    try:
        proxy_url = httpx2.URL(value)
        host = proxy_url.host
        unusable = bad_host_label(proxy_url.raw_host.decode("ascii")) if host else None
        port = proxy_url.port  # httpx2 takes any number; the socket would wrap it
        if unusable is None and port is not None and not 0 < port <= MAX_PORT:
            unusable = f"port {port} is not from 1 to {MAX_PORT}"
    except (httpx2.InvalidURL, ValueError):  # ValueError: e.g. an invalid IDNA host name
        unusable = "not a URL"
    if unusable is not None:
        raise InvalidInputError(f"{variable} is not a valid proxy URL ({unusable})") from None
    if proxy_url.scheme not in _PROXY_SCHEMES or not host:
        raise InvalidInputError(
            f"{variable} must be an http://, https:// or socks5:// proxy URL with a host"
        )
    if proxy_url.scheme.startswith("socks"):
        try:
            import socksio  # noqa: F401, PLC0415
        except ImportError:
            raise InvalidInputError(
                f"{variable} names a SOCKS proxy, which needs the socksio package: "
                "pip install 'httpx2[socks]'"
            ) from None
    if ":" in url.host and not proxy_url.scheme.startswith("socks"):
        # httpcore2 writes the host without its brackets in the CONNECT and in a plain-http
        # target: "2001:db8::1:443" is another address, which a lenient proxy would reach.
        raise InvalidInputError(
            f"the base URL's host is an IPv6 address, which the proxy in {variable} would be "
            "asked for without its brackets (httpcore2 writes it so); add the address to "
            "NO_PROXY, or use a host name"
        )
    return _Proxy(proxy_url, variable)


def _bypassed(url: httpx2.URL, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` excludes ``url``, read as httpx2 reads it: ``*``, a domain
    (``tapti.ai``: it and its subdomains; ``.tapti.ai``, ``*.tapti.ai``: its subdomains), an
    address or a network (``10.0.0.0/8``, ``[2001:db8::1]``), each maybe with a scheme or a
    port, which must then be the URL's (``api.tapti.ai:8443`` leaves port 443 to the proxy).
    Unlike httpx2, a port matches the scheme's default (``api.tapti.ai:443``) and a trailing
    dot is the same host. An entry nothing can match (``*ai``, a port that is no number)
    excludes nothing: going direct where a proxy is required is the mistake to avoid."""
    name = url.host.strip("[]").rstrip(".").lower()
    port = url.port or DEFAULT_PORTS.get(url.scheme)
    address = ip_of(name)
    for entry in no_proxy.split(","):
        excluded, scheme, entry_port = _excluded_host(entry)
        if (scheme is not None and scheme != url.scheme) or entry_port not in {None, port}:
            continue  # entry_port -1: one that is no number
        if excluded == "*":
            return True
        try:
            network = ipaddress.ip_network(excluded, strict=False)
        except ValueError:
            # "tapti.ai": it and its subdomains; ".tapti.ai" and "*.tapti.ai": subdomains only.
            subdomains_only = excluded.startswith((".", "*."))  # "*ai" stays: it names none
            domain = excluded.removeprefix("*." if subdomains_only else ".")
            domain = domain.removeprefix(".").rstrip(".")
            if domain and (name.endswith("." + domain) or (name == domain and not subdomains_only)):
                return True
        else:
            if address is not None and address in network:
                return True
    return False


def _excluded_host(entry: str) -> tuple[str, str | None, int | None]:
    """One ``NO_PROXY`` entry's host (an IPv6 address without its brackets), and its scheme
    and port where it names them (-1 for a port that is no number, which no URL has)."""
    entry = entry.strip().lower()
    scheme = None
    if "://" in entry:
        scheme, _, entry = entry.partition("://")
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if not rest:
            return host, scheme, None
        return host, scheme, _entry_port(rest[1:]) if rest.startswith(":") else -1
    if entry.count(":") == 1:  # a name or an IPv4 address with a port
        host, _, port = entry.partition(":")
        return host, scheme, _entry_port(port)
    return entry, scheme, None


def _entry_port(text: str) -> int:
    return int(text) if text.isdigit() and text.isascii() else -1


def _proxy_variable(scheme: str) -> tuple[str, str] | None:
    # Lower case first, as curl; HTTP_PROXY is ignored under CGI (the "httpoxy" attack: a
    # request's "Proxy:" header arrives as that variable).
    # A lower-case variable that is set wins even when empty (as urllib and httpx2 read them).
    for base in (f"{scheme}_proxy", "all_proxy"):
        names = [base, base.upper()]
        if base == "http_proxy" and "REQUEST_METHOD" in os.environ:
            names.remove("HTTP_PROXY")
        name = next((n for n in names if n in os.environ), None)
        value = "" if name is None else os.environ[name].strip()
        if name is not None and value:
            return name, value
    return None


def _named_store() -> tuple[str, str] | None:
    """The certificate variable httpx2 obeys and its value: ``SSL_CERT_FILE`` first, then
    ``SSL_CERT_DIR``; None means the system's store."""
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if value := os.environ.get(variable):
            return variable, value
    return None


def _system_store() -> str:
    """The CA file (else directory) httpcore2 trusts when no variable names one."""
    paths = ssl.get_default_verify_paths()
    return paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else paths.openssl_capath


def _version_of(path: str | None) -> tuple[int, int, int] | None:
    """What changes when a CA bundle is replaced (a rotated secret, update-ca-certificates):
    a client made after that trusts the new one, as a new httpx2 client would. (A file
    rewritten in place within one clock tick, at its old size, goes unnoticed.)"""
    try:
        found = os.stat(path) if path else None
    except OSError:
        return None  # _ssl_context says what is wrong with it
    return (found.st_mtime_ns, found.st_size, found.st_ino) if found else None


@lru_cache(maxsize=8)
def _ssl_context(
    named: tuple[str, str] | None,
    version: tuple[int, int, int] | None,  # noqa: ARG001  (part of the cache's key only)
    keylog: str | None,
) -> ssl.SSLContext:
    """httpx2's default context, with a certificate variable checked and named when wrong.

    One per process, trust setting, version of its file (``_version_of``) and
    ``SSLKEYLOGFILE`` (which ``ssl`` reads as it makes a context, as for a new httpx2 client:
    one set for a while must not go on receiving every later client's TLS secrets, probe 38),
    shared by every client: loading a CA bundle costs ~15 ms and ~0.7 MB, which a backend
    creating a client per request would pay each time.
    """
    if named is None:
        return httpx2.create_ssl_context(trust_env=False)
    variable, value = named
    if variable == "SSL_CERT_DIR" and not os.path.isdir(value):
        # OpenSSL would accept it and then trust nothing: every call would fail.
        raise InvalidInputError(f"SSL_CERT_DIR is not a directory: {value!r}")
    try:
        return httpx2.create_ssl_context(trust_env=True)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        if keylog and isinstance(exc, OSError) and exc.filename == keylog:
            # Python's ssl opens it with a CA file or directory (httpx2 passes those on): not
            # the variable named here, though its file was read.
            variable, value = "SSLKEYLOGFILE", keylog
        raise InvalidInputError(f"{variable} cannot be used ({reason}): {value!r}") from None


def new_pool(
    settings: PoolSettings, limits: httpx2.Limits, backend: httpcore2.NetworkBackend
) -> httpcore2.ConnectionPool:
    return _pool(settings, limits, backend, asynchronous=False)  # type: ignore[no-any-return]


def new_async_pool(
    settings: PoolSettings, limits: httpx2.Limits, backend: httpcore2.AsyncNetworkBackend
) -> httpcore2.AsyncConnectionPool:
    return _pool(settings, limits, backend, asynchronous=True)  # type: ignore[no-any-return]


def _pool(
    settings: PoolSettings, limits: httpx2.Limits, backend: Any, *, asynchronous: bool
) -> Any:
    """A direct, SOCKS or HTTP-proxy pool, sync or async, on ``backend``."""
    common = {
        "ssl_context": settings.ssl_context,
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "network_backend": backend,
    }
    proxy = settings.proxy
    if proxy is None:
        direct = httpcore2.AsyncConnectionPool if asynchronous else httpcore2.ConnectionPool
        return direct(**common)
    kind: Any
    if proxy.url.scheme.startswith("socks"):
        kind = httpcore2.AsyncSOCKSProxy if asynchronous else httpcore2.SOCKSProxy
        backend.handshake = SOCKS_HANDSHAKE
    else:
        from ._tunnel import AsyncHTTPProxy, HTTPProxy  # noqa: PLC0415  (proxied clients only)

        kind = AsyncHTTPProxy if asynchronous else HTTPProxy
        backend.handshake = HTTP_PROXY_HANDSHAKE
        if proxy.is_https:  # else httpcore2 loads the CA bundle anew for each proxy connection
            common["proxy_ssl_context"] = settings.ssl_context
    return kind(proxy_url=proxy.core_url, proxy_auth=proxy.auth, **common)


def to_core_request(
    call: Call[Any],
    extra_headers: list[tuple[bytes, bytes]],
    timeouts: dict[str, float | None],
) -> httpcore2.Request:
    """``call``'s request for httpcore2, with headers that never touch an ``httpx2.Request``
    (the key)."""
    scheme, host, port, target, _ = call.target
    return httpcore2.Request(
        method=call.method,
        url=httpcore2.URL(scheme=scheme, host=host, port=port, target=target),
        headers=[*call.raw_headers, *extra_headers],
        content=call.body,
        extensions={"timeout": timeouts},
    )
