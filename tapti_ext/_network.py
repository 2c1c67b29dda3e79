"""The sockets beneath the SDK's own pools: bounded by the call's deadline, known to the fork hook.

httpcore2 reads the response head in a loop of reads, each with the same per-read timeout, so a
server trickling its headers is never cut off from above. Wrapping httpcore2's network streams is
the one place that sees every read and write: each one gets at most the time left in the current
attempt's deadline, and records the first bytes of the answer (``Attempt.head``). The streams are
also the one place that knows which sockets a pool holds, for ``_fork``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import httpcore2

from . import _fork
from ._deadline import current_attempt

__all__ = ["AsyncTrackingBackend", "TrackingBackend"]


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to the current attempt's deadline; raises once it has passed."""
    attempt = current_attempt.get()
    if attempt is None:
        return timeout
    left = attempt.deadline.remaining()
    if left is None:
        return timeout
    if left <= 0.0:
        raise error("the call's timeout ran out")
    return left if timeout is None else min(timeout, left)


def _tunnelled() -> None:
    """TLS starts: whatever was read before (a proxy's "200 Connection established") was not
    the API's answer."""
    attempt = current_attempt.get()
    if attempt is not None:
        attempt.head.clear()


def _seen(data: bytes) -> bytes:
    attempt = current_attempt.get()
    if attempt is not None:
        attempt.saw(data)
    return data


class _Streams:
    """The streams a backend opened, released in a forked child."""

    def __init__(self) -> None:
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        _fork.track(self)

    def add(self, stream: Any) -> None:
        self._streams.add(stream)

    def release_inherited(self) -> None:
        for stream in list(self._streams):
            _fork.release_socket(stream.get_extra_info("socket"))
        self._streams.clear()


class _Stream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _seen(self._inner.read(max_bytes, _bounded(timeout, httpcore2.ReadTimeout)))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        timeout = _bounded(timeout, httpcore2.ConnectTimeout)
        _tunnelled()
        self._inner = self._inner.start_tls(ssl_context, server_hostname, timeout)
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class TrackingBackend(httpcore2.NetworkBackend):
    """httpcore2's sync backend, with deadline-bounded streams the fork hook can release."""

    def __init__(self) -> None:
        self._inner = httpcore2.SyncBackend()
        self.streams = _Streams()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        timeout = _bounded(timeout, httpcore2.ConnectTimeout)
        stream = _Stream(
            self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )
        self.streams.add(stream)
        return stream

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _seen(await self._inner.read(max_bytes, _bounded(timeout, httpcore2.ReadTimeout)))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _bounded(timeout, httpcore2.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        timeout = _bounded(timeout, httpcore2.ConnectTimeout)
        _tunnelled()
        self._inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class AsyncTrackingBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's asyncio or trio backend (chosen on first use, as httpcore2's own), wrapped."""

    def __init__(self) -> None:
        self._inner: httpcore2.AsyncNetworkBackend | None = None
        self.streams = _Streams()

    def _backend(self) -> httpcore2.AsyncNetworkBackend:
        if self._inner is None:
            import sniffio  # noqa: PLC0415  (only async programs need it)

            if sniffio.current_async_library() == "trio":
                self._inner = httpcore2.TrioBackend()
            else:
                self._inner = httpcore2.AnyIOBackend()
        return self._inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        timeout = _bounded(timeout, httpcore2.ConnectTimeout)
        inner = await self._backend().connect_tcp(
            host, port, timeout, local_address, socket_options
        )
        stream = _AsyncStream(inner)
        self.streams.add(stream)
        return stream

    async def sleep(self, seconds: float) -> None:
        await self._backend().sleep(seconds)
