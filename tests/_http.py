"""Helpers for tests: recording the requests a transport saw, wrapping the streams of the SDK's
connections, and the test servers' accept loop."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import httpcore2
import httpx2
import pytest


def snapshot(request: httpx2.Request) -> httpx2.Request:
    """A copy of ``request`` as it was sent.

    The SDK masks the API key in its request once a call is over (errors and raw responses
    keep a reference to it), so a test that inspects headers afterwards needs its own copy.
    """
    return httpx2.Request(
        request.method,
        request.url,
        headers=request.headers.copy(),
        content=request.read(),
        extensions=dict(request.extensions),
    )


class PoolRecorder:
    """Stands in for the SDK's own httpcore2 pool in a test: records each request it is handed
    (as an ``httpx2.Request``, the key included, as it would go on the wire) and answers 200 with
    ``body``. Installed by patching the public ``handle_request`` methods of httpcore2's pools."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[httpx2.Request] = []

    def record(self, request: httpcore2.Request) -> httpcore2.Response:
        url = request.url
        content = b"".join(request.stream)  # type: ignore[union-attr]
        self.requests.append(
            httpx2.Request(
                request.method.decode(),
                httpx2.URL(
                    scheme=url.scheme.decode(),
                    host=url.host.decode(),
                    port=url.port,
                    path=url.target.decode(),
                ),
                headers=request.headers,
                content=content,
                extensions=dict(request.extensions),
            )
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(self.body)),
        ]
        return httpcore2.Response(200, headers=headers, content=self.body)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> PoolRecorder:
        def handle(pool: object, request: httpcore2.Request) -> httpcore2.Response:
            return self.record(request)

        async def handle_async(pool: object, request: httpcore2.Request) -> httpcore2.Response:
            return self.record(request)

        monkeypatch.setattr(httpcore2.ConnectionPool, "handle_request", handle)
        monkeypatch.setattr(httpcore2.AsyncConnectionPool, "handle_async_request", handle_async)
        return self

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]


def accept_each(
    listener: socket.socket, stopping: threading.Event, take: Callable[[socket.socket], None]
) -> None:
    """Hand each connection ``listener`` accepts to ``take``, until ``stopping`` is set or the
    listener is closed. The listener's timeout is how often ``stopping`` is looked at."""
    while not stopping.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        take(connection)


def wrap_backend_streams(
    monkeypatch: pytest.MonkeyPatch, wrap: Callable[[Any], Any], wrap_async: Callable[[Any], Any]
) -> None:
    """Put ``wrap`` (sync) and ``wrap_async`` around every network stream httpcore2's backends
    open for a client made in the test: beneath the SDK's own streams, where bytes meet the
    socket (``httpcore2.SyncBackend`` and ``AnyIOBackend`` swapped for subclasses)."""
    sync_backend, async_backend = httpcore2.SyncBackend, httpcore2.AnyIOBackend

    class Wrapping(sync_backend):  # type: ignore[misc,valid-type]
        def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            return wrap(super().connect_tcp(*args, **kwargs))

    class AsyncWrapping(async_backend):  # type: ignore[misc,valid-type]
        async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            return wrap_async(await super().connect_tcp(*args, **kwargs))

    monkeypatch.setattr(httpcore2, "SyncBackend", Wrapping)
    monkeypatch.setattr(httpcore2, "AnyIOBackend", AsyncWrapping)
