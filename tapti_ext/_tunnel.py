"""HTTP-proxy pools whose failed connections give their slot back; imported by proxied clients only.

httpcore2's tunnel (an https API through an HTTP proxy) leaves a connection whose CONNECT or
TLS handshake failed neither closed nor available: it held its pool slot for good, and after
max_connections such failures (a certificate that fails, a proxy that drops tunnels) every call
waited out its budget for a slot. Through the pools' public door, create_connection, each
proxied connection is closed when a request on it fails; the pool then drops it.
"""

from __future__ import annotations

import httpcore2

__all__ = ["AsyncHTTPProxy", "HTTPProxy"]


class _Delegating:
    """What a pool asks of a connection between requests, answered by the one wrapped."""

    def __init__(self, inner: httpcore2.ConnectionInterface | httpcore2.AsyncConnectionInterface):
        self._inner = inner

    def can_handle_request(self, origin: httpcore2.Origin) -> bool:
        return self._inner.can_handle_request(origin)

    def info(self) -> str:
        return self._inner.info()

    def is_available(self) -> bool:
        return self._inner.is_available()

    def has_expired(self) -> bool:
        return self._inner.has_expired()

    def is_idle(self) -> bool:
        return self._inner.is_idle()

    def is_closed(self) -> bool:
        return self._inner.is_closed()


class _ClosedOnFailure(_Delegating, httpcore2.ConnectionInterface):
    _inner: httpcore2.ConnectionInterface

    def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        try:
            return self._inner.handle_request(request)
        except httpcore2.ConnectionNotAvailable:  # the pool tries another connection
            raise
        except BaseException:
            self._inner.close()
            raise

    def close(self) -> None:
        self._inner.close()


class _AsyncClosedOnFailure(_Delegating, httpcore2.AsyncConnectionInterface):
    _inner: httpcore2.AsyncConnectionInterface

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        try:
            return await self._inner.handle_async_request(request)
        except httpcore2.ConnectionNotAvailable:
            raise
        except BaseException:
            await self._inner.aclose()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


class HTTPProxy(httpcore2.HTTPProxy):
    def create_connection(self, origin: httpcore2.Origin) -> httpcore2.ConnectionInterface:
        return _ClosedOnFailure(super().create_connection(origin))


class AsyncHTTPProxy(httpcore2.AsyncHTTPProxy):
    def create_connection(self, origin: httpcore2.Origin) -> httpcore2.AsyncConnectionInterface:
        return _AsyncClosedOnFailure(super().create_connection(origin))
