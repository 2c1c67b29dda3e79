"""Sending a ``Call``: attempts, the capped and bounded body read, and the waits between.

Every operation goes through here: the ``Tapti`` methods, ``Tapti.call`` for any generated
operation, and ``tapti.raw`` (whose httpx2 client has a pipeline transport, ``_raw``). A
pipeline sends either on the SDK's own pool (``_pool``: the key is added below httpx2, the
route is ours, each read and write is bounded by the call's deadline, forked children start
afresh) or on a caller's ``http_client`` (the key rides on the request and is masked once the
call ends; a forked child is refused). ``Pipeline`` and ``AsyncPipeline`` differ only in how
they send, read and wait; each decision is ``Call.settle``.

The call's deadline reaches the socket layer by one path: ``Attempt.running`` makes the attempt
current for the network layer (``_network``) for exactly the span of its send and read.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    NoReturn,
    Protocol,
    SupportsIndex,
    TypeVar,
    cast,
)

import httpcore2
import httpx2

from . import _logfilter, _network
from ._call import (
    SDK_BODY_HEADERS,
    Answer,
    Call,
    Unreadable,
    log,
    parsed_base,
)
from ._constants import MASK, MAX_BODY_BYTES, TOKEN_PARAM, header_as_read
from ._deadline import Attempt, Deadline
from ._decode import BodyDecoder, BodyTooLargeError, UndecodableBodyError
from ._errors import (
    ENCODED_MARKS,
    InvalidInputError,
    ServerSpeaksTlsError,
    TaptiError,
    body_carries_secret,
    carries_secret,
    forget_locals,
    hidden,
    redacted_bytes,
)
from ._names import API_KEY_HEADER
from ._network import AsyncTrackingBackend, TrackingBackend
from ._pool import (
    PoolSettings,
    as_httpx_error,
    new_async_pool,
    new_pool,
    to_core_request,
    without_proxy_words,
)

__all__ = ["ASYNC_DEFAULT_LIMITS", "DEFAULT_LIMITS", "AsyncPipeline", "Pipeline"]

# Sync: httpcore2 keeps connections reserved by queued requests (encode/httpcore#1110), so
# every connection may stay alive. Async: httpx2's own limits; make bench measured 50 tasks
# costing more CPU per call on 50 kept connections than on 20.
DEFAULT_LIMITS: Final = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
ASYNC_DEFAULT_LIMITS: Final = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
# Headers that describe the body as it travelled, not as the SDK hands it on decoded.
_TRANSFER_HEADERS: Final = frozenset({b"content-encoding", b"transfer-encoding", b"content-length"})
# An SDK token's parameter name as a reason phrase may spell it (encoded ones: _may_hold).
_TOKEN_NAME: Final = TOKEN_PARAM.encode()
# Answers that end at their head, whatever their headers announce.
_BODILESS: Final = frozenset({204, 304})
_LENGTH_DIGITS: Final = 20  # a longer Content-Length is no framing to trust (nor h11's limit)
_BODY_ERRORS: Final = (BodyTooLargeError, UndecodableBodyError, httpx2.RequestError)
_T = TypeVar("_T")
_Http = TypeVar("_Http", httpx2.Client, httpx2.AsyncClient)
_Outcome = Answer | Unreadable | httpx2.RequestError
_PERCENT, _BACKSLASH, _AMPERSAND = (mark.encode() for mark in ENCODED_MARKS)
# Each caller's client lent to the SDK, with the process generation it was first lent in.
_CALLER_CLIENTS: Final[weakref.WeakKeyDictionary[Any, int]] = weakref.WeakKeyDictionary()
# Each lent httpx2.AsyncClient, with the event loop the SDK first sent through it in: its pooled
# connections belong to that loop, whichever AsyncTapti sends.
_CALLER_LOOPS: Final[weakref.WeakKeyDictionary[Any, object]] = weakref.WeakKeyDictionary()

if TYPE_CHECKING:  # types only: a Protocol class costs ~15 µs to create at import
    from ._cookies import RefusingAnswerCookies

    class Span(Protocol):
        """A call's span, told of each attempt and ended with the call's outcome."""

        def attempt(self, retries: int) -> None:
            """An attempt is about to be sent; ``retries`` were sent before it."""

        def end(self, outcome: Answer | BaseException) -> None:
            """The call is over: this is its response, or what it raises."""

    # The API's raw scheme, host and port (``httpx2.URL.raw_scheme``, ``raw_host``, ``port``),
    # and its base path as sent: every request of a client goes there, so its span attributes
    # are known once.
    Origin = tuple[bytes, bytes, int | None, str]

    class SpanStarter(Protocol):
        def __call__(self, call: Call[Any], origin: Origin, *, propagate: bool) -> Span: ...


class _NoSpan:
    """The span of a call that is not traced: it does nothing."""

    __slots__ = ()

    def attempt(self, retries: int) -> None:
        pass

    def end(self, outcome: Answer | BaseException) -> None:
        pass


NO_SPAN: Final = _NoSpan()


def _start_span(call: Call[Any], origin: Origin, *, propagate: bool) -> Span:
    """One OpenTelemetry client span for the call (``_tracing``), or ``NO_SPAN`` where the
    program has not imported OpenTelemetry's trace API.

    No program configures a tracer or carries a trace context without that import, so nothing
    is lost, and a program without OpenTelemetry pays for nothing of it, not even an import
    attempt (0.2 ms of a cold start). Asked on every call: a client made before the program
    sets up tracing is traced from then on. ``propagate``: send the trace context (W3C
    ``traceparent``) in the request's headers too. Telemetry never fails a call: a test
    suite's ``sys.modules["opentelemetry.trace"] = None``, or an OpenTelemetry that cannot be
    loaded, leaves the call without a span.
    """
    if sys.modules.get("opentelemetry.trace") is None:
        return NO_SPAN
    start = _span_starter()
    return NO_SPAN if start is None else start(call, origin, propagate=propagate)


@cache
def _span_starter() -> SpanStarter | None:
    """``_tracing.start``, or ``None`` (said once, at WARNING) when it cannot be loaded."""
    try:
        from ._tracing import start  # noqa: PLC0415  (read only where OpenTelemetry is in use)
    except Exception:  # a broken install: no span, and no import attempt on every call
        log.warning("tracing is off: OpenTelemetry cannot be loaded", exc_info=True)
        return None
    return start


class _Opened:
    """An answer whose status and headers arrived; its body is still to be read."""

    __slots__ = ("close", "extensions", "headers", "raw", "status")

    def __init__(self, status: int, headers: Any, raw: Any, close: Any, extensions: Any) -> None:
        self.status, self.headers, self.raw, self.close = status, headers, raw, close
        self.extensions = extensions

    def answer(self, call: Call[Any], secret: str, needle: bytes, content: bytes = b"") -> Answer:
        """The answer with its body decoded (the transfer headers no longer describe it), and
        the key masked in any header that echoes it (a request id, say), for all who read it;
        in the reason phrase, SDK tokens too (``repr(error.response)`` shows it)."""
        headers = _key_masked_headers(
            [(k, v) for k, v in self.headers if k.lower() not in _TRANSFER_HEADERS], secret, needle
        )
        if content:  # as httpx2.Response(content=...) would set it
            headers.append((b"Content-Length", str(len(content)).encode()))
        extensions = {k: v for k, v in self.extensions.items() if k != "network_stream"}
        reason = extensions.get("reason_phrase")
        if reason and (_may_hold(reason, needle) or _TOKEN_NAME in reason.lower()):
            extensions["reason_phrase"] = hidden(reason.decode("latin-1"), secret).encode("latin-1")
        return Answer(self.status, headers, content, extensions, call)

    @classmethod
    def own(cls, answer: httpcore2.Response, raw: Any, close: Any) -> _Opened:
        """An answer of the SDK's own pool, its body read from ``raw``."""
        return cls(answer.status, answer.headers, raw, close, answer.extensions)

    @classmethod
    def caller(cls, response: httpx2.Response, *, is_async: bool) -> _Opened:
        """A caller's client's answer: still streaming, or read (or closed) by their own hook."""
        close = response.aclose if is_async else response.close
        raw: Iterator[bytes] | AsyncIterator[bytes]
        if not (response.is_stream_consumed or response.is_closed):
            raw = response.aiter_raw() if is_async else response.iter_raw()
            return cls(response.status_code, response.headers.raw, raw, close, response.extensions)
        # httpx2 decoded what it read: the body no longer has its Content-Encoding.
        body = response.content if response.is_stream_consumed else b""
        headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
        raw = _async_replay(body) if is_async else iter((body,) if body else ())
        return cls(response.status_code, headers, raw, close, response.extensions)

    def decoder(self) -> BodyDecoder:
        codings = [v.decode("latin-1") for k, v in self.headers if k.lower() == b"content-encoding"]
        return BodyDecoder(", ".join(codings) or None, MAX_BODY_BYTES)

    def framed_length(self, method: str) -> int | None:
        """The body's length by the answer's framing: its one Content-Length, 0 where no body
        may follow (RFC 9112, 6.3: anything more is extra), ``None`` when chunked or doubtful."""
        if method == "HEAD" or self.status in _BODILESS:
            return 0
        lengths = {v for k, v in self.headers if k.lower() == b"content-length"}
        if len(lengths) != 1 or any(k.lower() == b"transfer-encoding" for k, _ in self.headers):
            return None
        (length,) = lengths
        return int(length) if length.isdigit() and len(length) <= _LENGTH_DIGITS else None

    def keep_connection_if_clean(self, attempt: Attempt) -> None:
        """Drop the connection unless exactly this answer was read from it: bytes past it (or
        doubtful framing) would be taken as the next caller's answer."""
        stream = self.extensions.get("network_stream")
        if not hasattr(stream, "discard"):
            return  # not one of the SDK's own connections
        if not attempt.clean_end() or stream.holds_more():
            stream.discard()


def _key_masked_headers(
    headers: list[tuple[bytes, bytes]], secret: str, needle: bytes
) -> list[Any]:
    """``headers`` with the key masked in names and values, in any spelling (``redacted``).
    One look at all of them first: a look per header cost 2.7 µs a call. ``needle``: the key
    lower-cased and encoded, once per client."""
    if not _may_hold(b"\n".join([part for pair in headers for part in pair]), needle):
        return headers  # nearly always
    return [(redacted_bytes(k, secret), redacted_bytes(v, secret)) for k, v in headers]


def _may_hold(value: bytes, needle: bytes) -> bool:
    """Whether ``value`` may spell the key: written out, or with an encoded character. Not
    ``might_spell``, made for large bodies: its one character of the key is in nearly every
    head ("Content-Type", a date, an id), and masking each header then cost 8-10 µs a call."""
    return (
        needle in value.lower() or _PERCENT in value or _BACKSLASH in value or _AMPERSAND in value
    )


async def _async_replay(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


class _Base(Generic[_Http]):
    """What both pipelines hold: the key, where to send, and who owns the pool."""

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # Reachable from a client's __dict__ by whatever walks it (a serialiser, a debugger).
        raise TypeError("cannot pickle a client's pipeline: it holds the API key and a pool")

    @property
    def api_key(self) -> str:
        """The key this pipeline adds to each request; a call's errors are masked with it."""
        return self._api_key

    def __init__(
        self, *, api_key: str, base_url: str, http_client: _Http | None, limits: httpx2.Limits
    ) -> None:
        self._key_header = [(API_KEY_HEADER.encode(), api_key.encode())]
        self._api_key = api_key
        self._key_needle = api_key.lower().encode()  # what answers are searched for
        self._base_url = base_url
        # The same parts as the base URL's: the same origin, known without building an Origin.
        base = parsed_base(base_url)
        self._parts = base[:3]
        base_path = base[4] if base[4] is not None else httpx2.URL(base_url).raw_path
        self._origin: Origin = (*self._parts, base_path.decode("ascii").rstrip("/"))
        self._http: _Http | None = http_client
        # The caller's cookies as they are now, as the docs promise (the API's own never enter
        # its jar: _cookies), not as the program's later requests add to them.
        self._cookies = httpx2.Cookies(http_client.cookies) if http_client is not None else None
        self._limits = limits
        # Read now, so that a bad proxy or certificate variable is refused by the constructor.
        self._settings = PoolSettings(base_url) if http_client is None else None
        proxy = self._settings.proxy if self._settings is not None else None
        # What the log filter masks in httpcore2's records: a proxy may echo its credentials.
        echoed: tuple[str, ...] = proxy.secrets if proxy is not None else ()
        self.logged_secrets = (api_key, *echoed)
        self._generation = _network.generation
        # A caller's client belongs to the process that first lent it to a Tapti client: in a
        # forked child its pool holds the parent's connections, whoever made the Tapti client.
        self._http_generation = (
            _CALLER_CLIENTS.setdefault(http_client, _network.generation)
            if http_client is not None
            else None
        )
        self.closed = False
        _logfilter.FILTER.clients.add(self)
        # Send the caller's trace context (traceparent) with each call, when OpenTelemetry is on.
        self.propagate_trace_context = True

    @property
    def lent_client(self) -> _Http | None:
        """The caller's ``http_client``, or ``None`` for the SDK's own pool."""
        return self._http

    def proxy_described(self) -> str | None:
        """The environment's proxy the own pool goes through, for errors to name."""
        proxy = self._settings.proxy if self._settings is not None else None
        return proxy.described() if proxy is not None else None

    def trust_described(self) -> str:
        """Where the certificates the pool trusts came from, for errors to name."""
        if self._settings is None:
            return "the certificates your http_client trusts"
        return self._settings.trust

    def _check_usable(self, call: Call[Any]) -> None:
        """Refuse a closed client, another host, and a caller's client forked since."""
        if self.closed:
            raise TaptiError("this client is closed; create a new one")
        if call.target[:3] != self._parts:
            origin = httpx2.URL(self._base_url).origin
            if call.url.origin != origin:
                raise InvalidInputError(
                    f"the API key is sent only to the base URL's origin ({origin}); this "
                    f"request is for {call.url.origin}. Use your own httpx2 client for other hosts"
                )
        if self._http is not None and self._http.is_closed:
            raise TaptiError(
                "the http_client given to this client is closed; pass one that is open, and "
                "close it after the Tapti client"
            )
        if self._http is not None and self._http_generation != _network.generation:
            raise TaptiError(
                "this client's http_client was used before os.fork(): its pooled connections "
                "are shared with the parent process, which could hand this process another "
                "user's answer. Create the httpx2 client after forking, e.g. in gunicorn's "
                "post_fork or Celery's worker_process_init"
            )

    def _check_key_kept(self, call: Call[Any]) -> None:
        """Refuse a request whose URL or body holds the key, once a call (its retries send the
        same request; scanning a large raw body with escapes in it takes milliseconds)."""
        if carries_secret(call.target[3].decode("latin-1"), self._api_key):
            # An extra_query, a path argument or a raw URL holding it, written out or escaped
            # (the server decodes it): every error, log line and trace would show the URL.
            raise InvalidInputError(
                f"the API key goes only in the {API_KEY_HEADER} header, and this request's URL "
                "holds it: take it out of the path or query"
            )
        if body_carries_secret(_readable_body(call).decode("latin-1"), self._api_key):
            # The API sends callback_url and redirect_url on to browsers (their history, the
            # Referer), and every error or log line that quotes the body would show it.
            raise InvalidInputError(
                f"the API key goes only in the {API_KEY_HEADER} header, and this request's body "
                "holds it (the API sends callback_url and redirect_url on to browsers): take "
                "it out"
            )

    def _forked(self) -> bool:
        """Whether the own pool was made in another process (then it must start afresh)."""
        if self._generation == _network.generation:
            return False
        self._generation = _network.generation
        return True

    def _caller_request(self, call: Call[Any], deadline: Deadline) -> httpx2.Request:
        """The request with what the caller's client would add (its headers and cookies)."""
        http = self._http
        assert http is not None  # noqa: S101  (called for a caller's client only)
        request = call.request
        headers = request.headers
        for name, value in http.headers.multi_items():
            # Its framing beside the SDK's would frame the body twice (a request a front end
            # could split in two), its Content-Encoding mislabel it: the SDK's own wins.
            if name not in headers and header_as_read(name) not in SDK_BODY_HEADERS:
                headers[name] = value
        if self._cookies:
            self._cookies.set_cookie_header(request)
        headers[API_KEY_HEADER] = self._api_key
        # Always: else httpx2 applies the client's own, which call.timeout (None: no limit,
        # or the client's own read at the call) already says what to do about.
        request.extensions["timeout"] = deadline.timeouts()
        return request

    def _failure(
        self, exc: Exception, opened: _Opened | None, attempt: Attempt, call: Call[Any]
    ) -> _Outcome:
        """A failed attempt's outcome: a body that failed after its head came is ``Unreadable``;
        anything else is sorted by ``_failed``."""
        if opened is not None and isinstance(exc, _BODY_ERRORS):
            return Unreadable(opened.answer(call, self._api_key, self._key_needle), exc)
        return _failed(exc, attempt, call)

    def _forget(self, request: httpx2.Request) -> None:
        # A caller's client needed the key on the request, which errors and responses keep.
        if API_KEY_HEADER in request.headers:
            request.headers[API_KEY_HEADER] = MASK


def _refusing_policy(jar: Any) -> RefusingAnswerCookies:
    from ._cookies import refusing_policy  # noqa: PLC0415  (loaded once a program lends a client)

    return refusing_policy(jar)


def _failed(exc: Exception, attempt: Attempt, call: Call[Any]) -> Unreadable | httpx2.RequestError:
    """What a failure before a readable answer means for ``Call.settle``; raises what is final.

    A transport error after a 2xx status line is no connection error: the token exists. What
    comes from below httpx2 (a lent client's TLS alert, h11's refusal of a streamed body) is
    made httpx2's first. Anything else (a program's signal handler raising, say) is the
    program's own: it leaves unchanged, never retried (``run`` clears its frames' locals).
    """
    if not isinstance(exc, httpx2.RequestError):
        exc = _as_httpx(exc, call)
    # The proxy's answer to CONNECT that failed it (a lent client's too: httpx2 made its own).
    if isinstance(exc, httpx2.ProxyError) or (
        attempt.tunnelling and isinstance(exc, httpx2.ProtocolError)
    ):
        without_proxy_words(exc)
    if isinstance(exc, httpx2.RequestError):
        if attempt.answered_in_tls():
            said = ServerSpeaksTlsError("the answer began as a TLS record, not HTTP")
            said.__cause__, said.request = exc, call.request
            return said
        return Unreadable(None, exc) if attempt.may_be_2xx() else exc
    raise exc


def _as_httpx(exc: Exception, call: Call[Any]) -> Exception:
    """``exc`` as httpx2's error, caused by it; else ``exc`` itself."""
    mapped = as_httpx_error(exc, call.request)
    if mapped is None:
        return exc
    mapped.__cause__ = exc  # as ``raise mapped from exc``
    return mapped


def _raise_as_httpx(exc: Exception, call: Call[Any]) -> NoReturn:
    """Raise ``_as_httpx(exc)``: a program's own exception leaves unchanged (``raise exc from
    exc`` made it its own cause, and a loop walking causes to the root never ended)."""
    raise _as_httpx(exc, call)


class Pipeline(_Base[httpx2.Client]):
    """Sends calls for ``Tapti``: retries, deadline, capped reads, fork safety."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._backend = TrackingBackend()
        # The pool other threads share, and the main thread's own (see _own_pool).
        self._pool: httpcore2.ConnectionPool | None = None
        self._main_pool: httpcore2.ConnectionPool | None = None
        self._wake = threading.Event()  # set by close(), so a retry wait ends at once
        self._pool_locks: dict[int, threading.Lock] = {}

    def run(self, call: Call[_T]) -> Answer:
        deadline = Deadline(call.timeout)
        retries = 0
        handling = sys.exception()  # the caller's own, should they call from an except block
        span = _start_span(call, self._origin, propagate=self.propagate_trace_context)
        try:
            self._check_key_kept(call)
            while True:
                span.attempt(retries)
                outcome = self._attempt(call, Attempt(deadline))
                step = call.settle(outcome, retries, deadline, handling, closed=self.closed)
                if isinstance(step, Answer):
                    span.end(step)
                    return step
                call.end_if_closed(_sleep(self._wake, step) or self.closed)
                retries += 1
        except BaseException as exc:  # the call's span ends with whatever ends the call
            # No key left in its chain's messages or finished frames, before anyone formats it.
            forget_locals(exc, call.secret, until=handling)
            span.end(exc)
            raise
        finally:
            if self._http is not None:
                self._forget(call.request)

    def _attempt(self, call: Call[Any], attempt: Attempt) -> _Outcome:
        self._check_usable(call)
        if self._http is not None:
            return self._exchange(call, attempt, None)
        pool = self._own_pool()
        try:
            return self._exchange(call, attempt, pool)
        except BaseException:  # not the SDK's (its own are outcomes): maybe a signal handler's,
            self._retire(pool)  # landed inside the pool
            raise

    def _exchange(
        self, call: Call[Any], attempt: Attempt, pool: httpcore2.ConnectionPool | None
    ) -> _Outcome:
        opened = None
        with attempt.running():
            try:
                opened = self._open(call, attempt.deadline, pool)
                content = self._read(opened, attempt, call.method)
                return opened.answer(call, self._api_key, self._key_needle, content)
            except Exception as exc:  # sorted by _failure: the program's own pass through
                if opened is None and attempt.stream is not None:
                    attempt.stream.close()  # see Attempt: closing twice is harmless
                return self._failure(exc, opened, attempt, call)
            finally:
                if opened is not None:
                    opened.close()

    def _open(
        self, call: Call[Any], deadline: Deadline, pool: httpcore2.ConnectionPool | None
    ) -> _Opened:
        if self._http is None:
            assert pool is not None  # noqa: S101  (_attempt gives the own pool)
            return self._open_own(call, deadline.timeouts(), pool)
        request = self._caller_request(call, deadline)
        refusing = _refusing_policy(self._http.cookies.jar)
        refusing.begin(self._api_key)
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
        except httpx2.HTTPStatusError as exc:
            # A caller's event hook called raise_for_status(): httpx2 closed the response.
            response = exc.response
        finally:
            refusing.end(self._api_key)
        return _Opened.caller(response, is_async=False)

    def _open_own(
        self,
        call: Call[Any],
        timeouts: dict[str, float | None],
        pool: httpcore2.ConnectionPool,
    ) -> _Opened:
        core = to_core_request(call, self._key_header, timeouts)
        try:
            answer = pool.handle_request(core)
        except Exception as exc:
            _raise_as_httpx(exc, call)
        return _Opened.own(answer, _core_chunks(answer, call), answer.close)

    def _own_pool(self) -> httpcore2.ConnectionPool:
        """The main thread's own pool, or the one other threads share.

        A signal handler's exception (``KeyboardInterrupt``, a program's ``SIGALRM`` handler)
        can land in lines of httpcore2's pool that do not guard against it, and leave the pool's
        lock held by the main thread for ever (another thread waiting on it would wait for
        ever), or a request's entry taken, reserving its connection for ever. Signal handlers
        run in the main thread only, so its pool is its own, and ``_retire`` replaces it.
        """
        # Looked up now, not at import: gevent or eventlet patching threading after the SDK's
        # import (gunicorn's --preload) makes each green thread a thread of its own, none the
        # main thread; read then, every one was, and shared this pool (probe 21).
        main = threading.get_ident() == _network.main_thread_id
        pool = self._main_pool if main else self._pool
        if pool is not None and self._generation == _network.generation:
            return pool  # the hot path takes no lock
        return self._new_pool(main=main)

    def _new_pool(self, *, main: bool) -> httpcore2.ConnectionPool:
        # One lock per process generation: a lock held by a parent's thread at the fork would
        # stay held for ever in the child. Two threads must not both build the first pool.
        with self._pool_locks.setdefault(_network.generation, threading.Lock()):
            if self._forked():  # the parent's pools: kept unclosed, never used here
                for inherited in (self._pool, self._main_pool):
                    if inherited is not None:
                        _network.keep_inherited(inherited)
                self._pool = self._main_pool = None
                self._backend = TrackingBackend()
            pool = self._main_pool if main else self._pool
            if pool is None:
                assert self._settings is not None  # noqa: S101  (own pools have settings)
                pool = new_pool(self._settings, self._limits, self._backend)
                if main:
                    self._main_pool = pool
                else:
                    self._pool = pool
            return pool

    def _retire(self, pool: httpcore2.ConnectionPool) -> None:
        """Close the main thread's pool after an exception the SDK did not raise left a call on
        it, whatever that left held or taken inside; the next call builds a fresh one. No other
        thread uses it, and the call it served has ended."""
        if pool is self._main_pool:
            self._main_pool = None
            pool.close()

    @staticmethod
    def _read(opened: _Opened, attempt: Attempt, method: str) -> bytes:
        decoder = opened.decoder()
        attempt.length = opened.framed_length(method)  # the network layer sizes reads by it
        deadline = attempt.deadline
        for chunk in opened.raw:
            decoder.feed(chunk)
            if deadline.passed():
                raise httpx2.ReadTimeout("the call's timeout ran out")
        opened.keep_connection_if_clean(attempt)
        return decoder.finish()

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        if self._generation == _network.generation:
            # First the sockets, every one the pool opened (calls still running in other
            # threads are woken, and theirs closed as they leave them; one still connecting
            # closes once connected): the pool alone closed them under the calls' reads, and
            # lost those it handed out while it closed.
            self._backend.close()
        for pool in (self._pool, self._main_pool):
            if pool is None:
                continue
            if self._generation == _network.generation:
                pool.close()
            else:  # the parent's pool: its sockets are released; its locks may be held for ever
                _network.keep_inherited(pool)


def _readable_body(call: Call[Any]) -> bytes:
    """The body as sent, where reading it leaves it whole: bytes (every call the SDK builds) or
    a raw request's one in-memory piece (``content=``, ``json=``, ``data=``). A stream, a
    multipart body (``files=``) is sent unread."""
    body = call.body
    if isinstance(body, httpx2.ByteStream):
        body = b"".join(body)
    return body if isinstance(body, bytes) else b""


def _core_chunks(answer: httpcore2.Response, call: Call[Any]) -> Iterator[bytes]:
    try:
        yield from answer.iter_stream()
    except Exception as exc:
        _raise_as_httpx(exc, call)


def _sleep(wake: threading.Event, seconds: float) -> bool:
    """Wait ``seconds``; ``True`` when woken early because the client was closed."""
    return _network.wait_for(wake, seconds)


class AsyncPipeline(_Base[httpx2.AsyncClient]):
    """``Pipeline`` for ``AsyncTapti``: the same steps, awaited."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._backend = AsyncTrackingBackend()
        self._pool: httpcore2.AsyncConnectionPool | None = None
        self._loop: object = None
        self._wake: Any = None  # an anyio.Event of this client's loop, made at the first wait
        self._closing: Any = None  # under asyncio, the task that closes the pool (_close_pool)

    async def run(self, call: Call[_T]) -> Answer:
        deadline = Deadline(call.timeout)
        retries = 0
        handling = sys.exception()  # the caller's own, should they call from an except block
        span = _start_span(call, self._origin, propagate=self.propagate_trace_context)
        try:
            self._check_key_kept(call)
            while True:
                span.attempt(retries)
                outcome = await self._attempt(call, Attempt(deadline))
                step = call.settle(outcome, retries, deadline, handling, closed=self.closed)
                if isinstance(step, Answer):
                    span.end(step)
                    return step
                if self._wake is None:
                    import anyio  # noqa: PLC0415  (a sync-only program never loads it)

                    self._wake = anyio.Event()
                call.end_if_closed(await _async_sleep(self._wake, step) or self.closed)
                retries += 1
        except BaseException as exc:
            forget_locals(exc, call.secret, until=handling)
            span.end(exc)
            raise
        finally:
            if self._http is not None:
                self._forget(call.request)

    async def _attempt(self, call: Call[Any], attempt: Attempt) -> _Outcome:
        self._check_usable(call)
        self._check_loop()
        opened = None
        with attempt.running():
            try:
                opened = await self._open(call, attempt.deadline)
                content = await self._read(opened, attempt, call.method)
                return opened.answer(call, self._api_key, self._key_needle, content)
            except Exception as exc:  # sorted by _failure: the program's own pass through
                if opened is None and attempt.stream is not None:
                    await attempt.stream.aclose()  # see Attempt: closing twice is harmless
                return self._failure(exc, opened, attempt, call)
            finally:
                if opened is not None:
                    await opened.close()

    def _check_loop(self) -> None:
        """One event loop per client: pooled connections belong to the loop that opened them."""
        loop = _running_loop()
        if self._loop is None or self._generation != _network.generation:
            self._loop = loop  # first use, or a forked child: its old loop went with the pool
            self._wake = None  # an event belongs to the loop that first waits on it (probe 40)
        elif loop is not self._loop:
            raise TaptiError(
                "this AsyncTapti was first used in another event loop, which owns its pooled "
                "connections (a second asyncio.run(), or a loop in another thread, is another "
                "loop). Create one AsyncTapti per event loop, e.g. inside the coroutine you run "
                "or in your app's lifespan"
            )
        if self._http is not None and _CALLER_LOOPS.setdefault(self._http, loop) is not loop:
            raise TaptiError(
                "this http_client was first used by the SDK in another event loop, which owns "
                "its pooled connections. Create the httpx2.AsyncClient in the event loop that "
                "uses it, with its AsyncTapti"
            )

    async def _open(self, call: Call[Any], deadline: Deadline) -> _Opened:
        if self._http is None:
            return await self._open_own(call, deadline.timeouts())
        request = self._caller_request(call, deadline)
        refusing = _refusing_policy(self._http.cookies.jar)
        refusing.begin(self._api_key)
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except httpx2.HTTPStatusError as exc:
            response = exc.response
        finally:
            refusing.end(self._api_key)
        return _Opened.caller(response, is_async=True)

    async def _open_own(self, call: Call[Any], timeouts: dict[str, float | None]) -> _Opened:
        core = to_core_request(call, self._key_header, timeouts)
        try:
            answer = await self._own_pool().handle_async_request(core)
        except Exception as exc:
            _raise_as_httpx(exc, call)
        return _Opened.own(answer, _async_core_chunks(answer, call), answer.aclose)

    def _own_pool(self) -> httpcore2.AsyncConnectionPool:
        # Asked first, even with no pool yet: a child's first pool made under the parent's
        # generation was taken for the parent's at the next call, and kept unclosed (probe 40).
        if self._forked():
            if self._pool is not None:  # the parent's: kept unclosed, never used here
                _network.keep_inherited(self._pool)
            self._pool, self._backend = None, AsyncTrackingBackend()
        if self._pool is None:
            assert self._settings is not None  # noqa: S101  (own pools have settings)
            self._pool = new_async_pool(self._settings, self._limits, self._backend)
        return self._pool

    @staticmethod
    async def _read(opened: _Opened, attempt: Attempt, method: str) -> bytes:
        decoder = opened.decoder()
        attempt.length = opened.framed_length(method)  # the network layer sizes reads by it
        deadline = attempt.deadline
        async for chunk in opened.raw:
            decoder.feed(chunk)
            if deadline.passed():
                raise httpx2.ReadTimeout("the call's timeout ran out")
        opened.keep_connection_if_clean(attempt)
        return decoder.finish()

    async def close(self) -> None:
        self.closed = self._backend.closed = True
        if self._wake is not None and _running_loop() is self._loop:
            self._wake.set()  # a call waiting to retry ends now
        if self._pool is None:
            return
        if self._generation != _network.generation:
            _network.keep_inherited(self._pool)  # the parent's: its sockets are released
            return
        if _running_loop() is not self._loop:
            self._close_from_another_loop()
            return
        with contextlib.suppress(RuntimeError):  # a loop already closed: nothing to flush
            await self._close_pool(self._pool)

    async def _close_pool(self, pool: httpcore2.AsyncConnectionPool) -> None:
        """``pool`` closed to the end, though the caller be cancelled meanwhile (a shutdown's
        time budget, a second Ctrl-C). httpcore2 takes the connections out of the pool, then
        closes them one by one under anyio's shield, which holds off trio's cancellation but
        not asyncio's own: those not closed yet were lost, open until a garbage collection
        (probe 40). Under asyncio the close is a task of its own, which a later close awaits
        (one that has ended is not: the client may have been used again since, probe 42). A
        loop that ends first cancels it: what it had not closed then waits for a collection,
        as before; letting every socket go at once there kept each descriptor for good."""
        import sniffio  # noqa: PLC0415  (async programs only)

        if sniffio.current_async_library() != "asyncio":
            await pool.aclose()
            return
        import asyncio  # noqa: PLC0415

        if self._closing is None or self._closing.done():
            self._closing = asyncio.ensure_future(pool.aclose())
            self._closing.add_done_callback(_seen)
        await asyncio.shield(self._closing)

    def _close_from_another_loop(self) -> None:
        """The pool's loop has ended (a second ``asyncio.run``): release its sockets here; a
        loop still running elsewhere owns them, and must close them itself."""
        if _loop_running(self._loop):
            self.closed = self._backend.closed = False
            raise TaptiError(
                "this AsyncTapti's connections belong to an event loop that is still running "
                "in another thread; close it there (await tapti.close() in that loop)"
            )
        if hasattr(self._loop, "is_running"):  # asyncio: its transports keep their descriptors
            # Its sockets are shut; only what holds the descriptors is kept, not the pool with
            # its TLS objects (44 KiB a connection over https, probe 20b).
            _network.keep_inherited(self._backend.streams.release_inherited())
        else:  # a trio run's sockets let go of theirs: closed, and the pool can go
            self._backend.streams.close_after_trio_run()


def _seen(task: Any) -> None:
    """Read a closing task's outcome, which no caller may await (``_close_pool``): asyncio
    would log an exception never read."""
    if not task.cancelled():
        task.exception()


async def _async_core_chunks(answer: httpcore2.Response, call: Call[Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_stream():
            yield chunk
    except Exception as exc:
        _raise_as_httpx(exc, call)


def _running_loop() -> object:
    """The running event loop (asyncio) or run (trio): what owns async connections."""
    import sniffio  # noqa: PLC0415  (async programs only)

    if sniffio.current_async_library() == "trio":
        import trio  # noqa: PLC0415

        return trio.lowlevel.current_trio_token()
    import asyncio  # noqa: PLC0415

    return asyncio.get_running_loop()


def _loop_running(loop: object) -> bool:
    """Whether an asyncio loop runs, or a trio run (its token) has not ended."""
    is_running = getattr(loop, "is_running", None)
    if is_running is not None:
        return bool(is_running())
    import trio  # noqa: PLC0415  (a trio token: trio is there)

    try:  # a token takes a callback for as long as its run lasts
        cast("trio.lowlevel.TrioToken", loop).run_sync_soon(_nothing)
    except trio.RunFinishedError:
        return False
    return True


def _nothing() -> None:
    pass


async def _async_sleep(wake: Any, seconds: float) -> bool:
    """Wait ``seconds`` (asyncio or trio, through anyio as httpx2 does); ``True`` when woken
    early because the client was closed."""
    import anyio  # noqa: PLC0415

    with anyio.move_on_after(seconds):
        await wake.wait()
        return True
    return False
