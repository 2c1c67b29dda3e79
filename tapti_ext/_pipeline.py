"""Sending a ``Call``: attempts, the capped and bounded body read, and the waits between.

Every operation goes through here: the ``Tapti`` methods, ``Tapti.call`` for any generated
operation, and ``tapti.raw`` (through ``PipelineTransport``). A pipeline sends either on the
SDK's own pool (``_pool``: the key is added below httpx2, the route and the deadline are ours,
forked children start afresh) or on a caller's ``http_client`` (the key rides on the request
and is masked once the call ends; a forked child is refused). ``Pipeline`` and
``AsyncPipeline`` differ only in how they send, read and wait; each decision is ``Call.settle``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final, Generic, TypeVar

import httpcore2
import httpx2

from . import _fork
from ._call import API_KEY_HEADER, MAX_RESPONSE_BYTES, Call, Unreadable
from ._deadline import Attempt, Deadline, current_attempt
from ._decode import BodyDecoder, BodyTooLargeError, UndecodableBodyError
from ._errors import APIConnectionError, TaptiError
from ._network import AsyncTrackingBackend, TrackingBackend
from ._pool import PoolSettings, as_httpx_error, new_async_pool, new_pool, to_core_request

__all__ = ["ASYNC_DEFAULT_LIMITS", "DEFAULT_LIMITS", "AsyncPipeline", "Pipeline"]

# Sync: keep-alive limit = connection limit, as httpcore2 counts every open connection against
# the keep-alive one and, under many threads, closed idle ones it had just handed out
# (docs/faults.md, "Many threads"). Async: httpx2's own limits, as that race is a thread's and
# make bench measured 50 concurrent tasks costing 1.28x the CPU per call on 50 kept connections
# against 20 (figure 3).
DEFAULT_LIMITS: Final = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
ASYNC_DEFAULT_LIMITS: Final = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
# Headers that describe the body as it travelled, not as the SDK hands it on decoded.
_TRANSFER_HEADERS: Final = frozenset({b"content-encoding", b"transfer-encoding", b"content-length"})
# Where a body read by our own response hook waits (and the request's deadline, before).
_READ_EARLY: Final = "tapti_read_early"
_BODY_ERRORS: Final = (BodyTooLargeError, UndecodableBodyError, httpx2.RequestError)
_T = TypeVar("_T")
_Http = TypeVar("_Http", httpx2.Client, httpx2.AsyncClient)


class _Opened:
    """An answer whose status and headers arrived; its body is still to be read."""

    __slots__ = ("close", "extensions", "headers", "raw", "status")

    def __init__(self, status: int, headers: Any, raw: Any, close: Any, extensions: Any) -> None:
        self.status, self.headers, self.raw, self.close = status, headers, raw, close
        self.extensions = extensions

    def response(self, request: httpx2.Request, content: bytes = b"") -> httpx2.Response:
        """The answer with its body decoded: the transfer headers no longer describe it."""
        headers = [(k, v) for k, v in self.headers if k.lower() not in _TRANSFER_HEADERS]
        extensions = {k: v for k, v in self.extensions.items() if k != "network_stream"}
        return httpx2.Response(
            self.status, headers=headers, content=content, request=request, extensions=extensions
        )

    @classmethod
    def streaming(cls, response: httpx2.Response, raw: Any, close: Any) -> _Opened:
        return cls(response.status_code, response.headers.raw, raw, close, response.extensions)

    @classmethod
    def read(cls, response: httpx2.Response, *, is_async: bool) -> _Opened:
        """A caller's response already read (decoded, by httpx2 or our early hook), or closed."""
        early = response.extensions.get(_READ_EARLY)
        outcome = _already_read(response) if early is None else early
        headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
        if is_async:
            return cls(
                response.status_code,
                headers,
                _async_replay(outcome),
                response.aclose,
                response.extensions,
            )
        return cls(
            response.status_code, headers, _replay(outcome), response.close, response.extensions
        )

    def decoder(self) -> BodyDecoder:
        codings = [v.decode("latin-1") for k, v in self.headers if k.lower() == b"content-encoding"]
        return BodyDecoder(", ".join(codings) or None, MAX_RESPONSE_BYTES)


def _already_read(response: httpx2.Response) -> bytes | None:
    """The body when httpx2 read it already (a transport's prepared answer, an event hook)."""
    try:
        return response.content
    except httpx2.ResponseNotRead:
        return None


def _replay(outcome: bytes | Exception | None) -> Iterator[bytes]:
    """A body read before, as chunks again (or the failure it met, raised again)."""
    if isinstance(outcome, Exception):
        raise outcome
    if outcome:
        yield outcome


async def _async_replay(outcome: bytes | Exception | None) -> AsyncIterator[bytes]:
    for chunk in _replay(outcome):
        yield chunk


class _Base(Generic[_Http]):
    """What both pipelines hold: the key, where to send, and who owns the pool."""

    def __init__(
        self, *, api_key: str, base_url: str, http_client: _Http | None, limits: httpx2.Limits
    ) -> None:
        self._key_header = [(API_KEY_HEADER.encode(), api_key.encode())]
        self._api_key = api_key
        self._http: _Http | None = http_client
        self._limits = limits
        # Read now, so that a bad proxy or certificate variable is refused by the constructor.
        self._settings = PoolSettings(base_url) if http_client is None else None
        self._generation = _fork.generation
        self.closed = False
        # A caller's response hook may call raise_for_status(), after which httpx2 closes the
        # response unread: a hook of ours, run first, reads the body for the error message.
        self._reads_early = False
        if http_client is not None and http_client.event_hooks["response"]:
            hooks: dict[str, list[Any]] = dict(http_client.event_hooks)
            hooks["response"] = [self._hook_reader(), *hooks["response"]]
            http_client.event_hooks = hooks
            self._reads_early = True

    def _hook_reader(self) -> Any:
        raise NotImplementedError

    def _check_usable(self) -> None:
        """Refuse a closed client, and a caller's client in a process forked since."""
        if self.closed:
            raise TaptiError("this client is closed; create a new one")
        if self._http is not None and self._generation != _fork.generation:
            raise TaptiError(
                "this client's http_client was created before os.fork(): its pooled connections "
                "are shared with the parent process, which could hand this process another "
                "user's answer. Create the httpx2 client (or the Tapti client) after forking, "
                "e.g. in gunicorn's post_fork or Celery's worker_process_init"
            )

    def _forked(self) -> bool:
        """Whether the own pool was made in another process (then it must start afresh)."""
        if self._generation == _fork.generation:
            return False
        self._generation = _fork.generation
        return True

    def _caller_request(
        self, request: httpx2.Request, timeouts: dict[str, float | None] | None, deadline: Deadline
    ) -> httpx2.Request:
        """The request with what the caller's client would add (its headers and cookies)."""
        http = self._http
        assert http is not None  # noqa: S101  (called for a caller's client only)
        headers = request.headers
        for name, value in http.headers.multi_items():
            if name not in headers:
                headers[name] = value
        if http.cookies:
            http.cookies.set_cookie_header(request)
        headers[API_KEY_HEADER] = self._api_key
        if timeouts is not None:
            request.extensions["timeout"] = timeouts
        if self._reads_early:
            request.extensions[_READ_EARLY] = deadline
        return request

    def _forget(self, request: httpx2.Request) -> None:
        # A caller's client needed the key on the request, which errors and responses keep.
        if API_KEY_HEADER in request.headers:
            request.headers[API_KEY_HEADER] = "***"


def _timeouts(deadline: Deadline, call: Call[Any]) -> dict[str, float | None] | None:
    """This attempt's per-operation timeouts; ``None``: the caller's client decides."""
    if call.timeout is None and not deadline.per_operation and deadline.at is None:
        return None
    return deadline.timeouts()


def _open_failure(
    exc: Exception, attempt: Attempt, request: httpx2.Request
) -> Unreadable | httpx2.RequestError:
    """What a failure before a readable answer means for ``Call.settle``; raises what is final.

    A transport error after a 2xx status line is no connection error: the token exists. Anything
    that is neither httpx2's nor ours becomes a TaptiError, as only those leave a call.
    """
    if isinstance(exc, httpx2.RequestError):
        return Unreadable(None, exc, request) if attempt.answered_2xx() else exc
    if isinstance(exc, TaptiError):
        raise exc
    message = f"the request failed unexpectedly ({type(exc).__name__}: {exc})"
    raise APIConnectionError(message, request=request) from exc


class Pipeline(_Base[httpx2.Client]):
    """Sends calls for ``Tapti``: retries, deadline, capped reads, fork safety."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._backend = TrackingBackend()
        self._pool: httpcore2.ConnectionPool | None = None
        self._wake = threading.Event()  # set by close(), so a retry wait ends at once
        self._pool_locks: dict[int, threading.Lock] = {}

    def _hook_reader(self) -> Any:
        def read_early(response: httpx2.Response) -> None:
            deadline = response.request.extensions.get(_READ_EARLY)
            if deadline is not None:
                opened = _Opened.streaming(response, response.iter_raw(), response.close)
                try:
                    body: bytes | Exception = self._read(opened, deadline)
                except _BODY_ERRORS as exc:
                    body = exc
                response.extensions = {**response.extensions, _READ_EARLY: body}

        return read_early

    def run(self, call: Call[_T]) -> httpx2.Response:
        deadline = Deadline(call.timeout)
        retries = 0
        try:
            while True:
                step = call.settle(self._attempt(call, deadline), retries, deadline)
                if isinstance(step, httpx2.Response):
                    return step
                if _sleep(self._wake, step) or self.closed:
                    raise TaptiError("the client was closed while the call waited to retry")
                retries += 1
        finally:
            if self._http is not None:
                self._forget(call.request)

    def _attempt(
        self, call: Call[Any], deadline: Deadline
    ) -> httpx2.Response | Unreadable | httpx2.RequestError:
        self._check_usable()
        request = call.request
        attempt = Attempt(deadline)
        token = current_attempt.set(attempt)  # for the network layer, through open and read
        try:
            try:
                opened = self._open(call, deadline)
            except Exception as exc:  # sorted by _open_failure
                return _open_failure(exc, attempt, request)
            try:
                return opened.response(request, self._read(opened, deadline))
            except _BODY_ERRORS as exc:
                return Unreadable(opened.response(request), exc, request)
            finally:
                opened.close()
        finally:
            current_attempt.reset(token)

    def _open(self, call: Call[Any], deadline: Deadline) -> _Opened:
        timeouts = _timeouts(deadline, call)
        if self._http is None:
            return self._open_own(call.request, timeouts or {})
        request = self._caller_request(call.request, timeouts, deadline)
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
        except httpx2.HTTPStatusError as exc:
            # A caller's event hook called raise_for_status(): httpx2 closed the response.
            response = exc.response
        if _READ_EARLY in response.extensions or response.is_stream_consumed or response.is_closed:
            return _Opened.read(response, is_async=False)
        return _Opened.streaming(response, response.iter_raw(), response.close)

    def _open_own(self, request: httpx2.Request, timeouts: dict[str, float | None]) -> _Opened:
        pool = self._own_pool()
        try:
            answer = pool.handle_request(to_core_request(request, self._key_header, timeouts))
        except Exception as exc:
            raise as_httpx_error(exc, request) or exc from exc
        return _Opened(
            answer.status,
            answer.headers,
            _core_chunks(answer, request),
            answer.close,
            answer.extensions,
        )

    def _own_pool(self) -> httpcore2.ConnectionPool:
        pool = self._pool
        if pool is not None and self._generation == _fork.generation:
            return pool  # the hot path takes no lock
        # One lock per process generation: a lock held by a parent's thread at the fork would
        # stay held for ever in the child. Two threads must not both build the first pool.
        with self._pool_locks.setdefault(_fork.generation, threading.Lock()):
            if self._pool is None or self._forked():
                if self._pool is not None:
                    _fork.keep_inherited(self._pool)
                    self._backend = TrackingBackend()
                assert self._settings is not None  # noqa: S101  (own pools have settings)
                self._pool = new_pool(self._settings, self._limits, self._backend)
            return self._pool

    @staticmethod
    def _read(opened: _Opened, deadline: Deadline) -> bytes:
        decoder = opened.decoder()
        for chunk in opened.raw:
            decoder.feed(chunk)
            if deadline.at is not None and deadline.remaining() == 0.0:
                raise httpx2.ReadTimeout("the call's timeout ran out")
        return decoder.finish()

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        if self._pool is None:
            return
        if self._generation == _fork.generation:
            self._pool.close()
        else:  # the parent's pool: its sockets are released; its locks may be held for ever
            _fork.keep_inherited(self._pool)


def _core_chunks(answer: httpcore2.Response, request: httpx2.Request) -> Iterator[bytes]:
    try:
        yield from answer.iter_stream()
    except Exception as exc:
        raise as_httpx_error(exc, request) or exc from exc


def _sleep(wake: threading.Event, seconds: float) -> bool:
    """Wait ``seconds``; ``True`` when woken early because the client was closed."""
    return wake.wait(seconds)


class AsyncPipeline(_Base[httpx2.AsyncClient]):
    """``Pipeline`` for ``AsyncTapti``: the same steps, awaited."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._backend = AsyncTrackingBackend()
        self._pool: httpcore2.AsyncConnectionPool | None = None
        self._loop: object = None
        self._wake: Any = None  # an anyio.Event of this client's loop, made at the first wait

    def _hook_reader(self) -> Any:
        async def read_early(response: httpx2.Response) -> None:
            deadline = response.request.extensions.get(_READ_EARLY)
            if deadline is not None:
                opened = _Opened.streaming(response, response.aiter_raw(), response.aclose)
                try:
                    body: bytes | Exception = await self._read(opened, deadline)
                except _BODY_ERRORS as exc:
                    body = exc
                response.extensions = {**response.extensions, _READ_EARLY: body}

        return read_early

    async def run(self, call: Call[_T]) -> httpx2.Response:
        deadline = Deadline(call.timeout)
        retries = 0
        try:
            while True:
                step = call.settle(await self._attempt(call, deadline), retries, deadline)
                if isinstance(step, httpx2.Response):
                    return step
                if self._wake is None:
                    import anyio  # noqa: PLC0415  (a sync-only program never loads it)

                    self._wake = anyio.Event()
                if await _async_sleep(self._wake, step) or self.closed:
                    raise TaptiError("the client was closed while the call waited to retry")
                retries += 1
        finally:
            if self._http is not None:
                self._forget(call.request)

    async def _attempt(
        self, call: Call[Any], deadline: Deadline
    ) -> httpx2.Response | Unreadable | httpx2.RequestError:
        self._check_usable()
        self._check_loop()
        request = call.request
        attempt = Attempt(deadline)
        token = current_attempt.set(attempt)  # for the network layer, through open and read
        try:
            try:
                opened = await self._open(call, deadline)
            except Exception as exc:  # sorted by _open_failure
                return _open_failure(exc, attempt, request)
            try:
                return opened.response(request, await self._read(opened, deadline))
            except _BODY_ERRORS as exc:
                return Unreadable(opened.response(request), exc, request)
            finally:
                await opened.close()
        finally:
            current_attempt.reset(token)

    def _check_loop(self) -> None:
        """One event loop per client: pooled connections belong to the loop that opened them."""
        loop = _running_loop()
        if self._loop is None or self._generation != _fork.generation:
            self._loop = loop  # first use, or a forked child: its old loop went with the pool
        elif loop is not self._loop:
            raise TaptiError(
                "this AsyncTapti was first used in another event loop, which owns its pooled "
                "connections (a second asyncio.run() makes a new loop). Create one AsyncTapti "
                "per event loop, e.g. inside the coroutine you run or in your app's lifespan"
            )

    async def _open(self, call: Call[Any], deadline: Deadline) -> _Opened:
        timeouts = _timeouts(deadline, call)
        if self._http is None:
            return await self._open_own(call.request, timeouts or {})
        request = self._caller_request(call.request, timeouts, deadline)
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except httpx2.HTTPStatusError as exc:
            response = exc.response
        if _READ_EARLY in response.extensions or response.is_stream_consumed or response.is_closed:
            return _Opened.read(response, is_async=True)
        return _Opened.streaming(response, response.aiter_raw(), response.aclose)

    async def _open_own(
        self, request: httpx2.Request, timeouts: dict[str, float | None]
    ) -> _Opened:
        pool = self._own_pool()
        try:
            answer = await pool.handle_async_request(
                to_core_request(request, self._key_header, timeouts)
            )
        except Exception as exc:
            raise as_httpx_error(exc, request) or exc from exc
        return _Opened(
            answer.status,
            answer.headers,
            _async_core_chunks(answer, request),
            answer.aclose,
            answer.extensions,
        )

    def _own_pool(self) -> httpcore2.AsyncConnectionPool:
        if self._pool is None or self._forked():
            if self._pool is not None:
                _fork.keep_inherited(self._pool)
                self._backend = AsyncTrackingBackend()
            assert self._settings is not None  # noqa: S101  (own pools have settings)
            self._pool = new_async_pool(self._settings, self._limits, self._backend)
        return self._pool

    @staticmethod
    async def _read(opened: _Opened, deadline: Deadline) -> bytes:
        decoder = opened.decoder()
        async for chunk in opened.raw:
            decoder.feed(chunk)
            if deadline.at is not None and deadline.remaining() == 0.0:
                raise httpx2.ReadTimeout("the call's timeout ran out")
        return decoder.finish()

    async def close(self) -> None:
        self.closed = True
        if self._wake is not None and _running_loop() is self._loop:
            self._wake.set()  # a call waiting to retry ends now
        if self._pool is None:
            return
        if self._generation != _fork.generation or _running_loop() is not self._loop:
            # The connections belong to another process or event loop: not ours to touch.
            _fork.keep_inherited(self._pool)
            return
        with contextlib.suppress(RuntimeError):  # a loop already closed: nothing to flush
            await self._pool.aclose()


async def _async_core_chunks(
    answer: httpcore2.Response, request: httpx2.Request
) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_stream():
            yield chunk
    except Exception as exc:
        raise as_httpx_error(exc, request) or exc from exc


def _running_loop() -> object:
    """The running event loop (asyncio) or run (trio): what owns async connections."""
    import sniffio  # noqa: PLC0415  (async programs only)

    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415

        return trio.lowlevel.current_trio_token()
    import asyncio  # noqa: PLC0415

    return asyncio.get_running_loop()


async def _async_sleep(wake: Any, seconds: float) -> bool:
    """Wait ``seconds`` (asyncio or trio, through anyio as httpx2 does); ``True`` when woken
    early because the client was closed."""
    import anyio  # noqa: PLC0415

    with anyio.move_on_after(seconds):
        await wake.wait()
        return True
    return False
