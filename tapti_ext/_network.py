"""The sockets beneath the SDK's own pools, through httpcore2's public network-backend interface.

This is the one place that sees every read and write of the SDK's own connections, so it is
where four promises are kept:

- **the call's deadline**: httpcore2 gives each read and write the same per-operation timeout,
  so a server trickling its answer is never cut off from above; here each one gets at most the
  time left in the current attempt's deadline (``current_attempt``, set by the pipeline around
  each attempt), and a large body is written in slices, each bounded by what is left;
- **what arrived**: every byte read is shown to the attempt (``Attempt.saw``), which tells a
  2xx answer from none and whether anything followed the answer;
- **no reuse after a doubtful answer**: ``discard()`` makes the pool see the connection as
  closed by the server, so it is dropped instead of being handed to the next request;
- **fork safety**: every stream is released in a forked child (below).

It also sends a request's head together with its body (``_outgoing``): one segment, not two,
and runs TLS itself (``_tls``), so that what a TLS layer holds is seen too.

The main thread waits for the socket before each read (``_RawStream``), and for a retry or a
name lookup (``wait_for``), in slices of half a second (``_SIGNAL_SLICE``): CPython holds a
signal that lands just before a blocking system call until the call ends, and only the main
thread runs signal handlers.

The system's name lookup takes no timeout (glibc retries a dead nameserver for 5 s a try), so
the sync backend looks a host name up in a thread of its own, waiting only for the time left,
and connects to the addresses found (the async backends' lookups are cancellable already).
Calls needing a name in the first second of its lookup wait for that lookup: at most about one
thread per name and second, however many calls.

An ``OSError`` that a program's own signal handler raises inside a socket call (a
``TimeoutError``, a ``ConnectionError``...) comes out of httpcore2 as its ``ReadError``,
``ReadTimeout``...; it is told from the system's by its missing ``errno`` (and a timeout by the
time that had passed), and re-raised as the program's own exception. Every exception leaving a sync
socket call is shown to the attempt (``_note_chain``) with the cause it was raised with, which
``Attempt.running`` gives back once httpcore2's pool has re-raised it ``from None``.

**Forks.** After ``os.fork()`` (gunicorn ``--preload``, Celery prefork, ``multiprocessing``'s
fork start method) a client's idle keep-alive sockets exist in both processes, and whichever
reads first gets the other's answer: another user's token. So, in the child, at the fork itself:

- every socket the SDK's own pools opened is released: the child's descriptor is closed without
  shutting the connection down (the parent's copy stays open and keeps working), and the socket
  object forgets it, so nothing in the child can ever read or write that connection again;
- ``generation`` moves on, and each pool sees at its next send that it was made in another
  process and starts afresh (``Pipeline``); a caller's own ``http_client``, whose sockets the SDK
  cannot see, is refused instead.

A hook run at the fork costs nothing per call (a pid check would be a system call per call) and
releases the sockets even of clients the child never uses again.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import os
import select
import socket
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any, Final, NoReturn

import httpcore2

from ._deadline import CONNECT_TIMEOUT, Attempt, current_attempt
from ._inputs import is_ip, is_loopback_name

__all__ = [
    "HTTP_PROXY_HANDSHAKE",
    "SOCKS_HANDSHAKE",
    "AsyncTrackingBackend",
    "TrackingBackend",
    "generation",
    "keep_inherited",
    "main_thread_id",
    "wait_for",
]

# The most one write may hand the socket: a slow reader then costs at most one slice past the
# deadline, as each slice gets only the time left.
_WRITE_SLICE: Final = 64 * 1024
# The most a read asks for once an answer proves large (``_Discardable._asking``). httpcore2
# asks 64 KiB a read, and each read is a pass through h11, httpcore2 and this layer: a 900 KiB
# answer took 14 and cost about 1.6x the CPU it costs in 3 (make bench, figure 2). Not the whole
# 1 MiB cap: h11 copies what a read brings three times, and at glibc's default thresholds copies
# that large made the heap's top go back to the kernel and fault in again on every call (900 KiB
# over http: 1.01-1.24x httpx2's CPU with reads of up to 1 MiB, 0.81-1.02x with 512 KiB, and
# 1.02-1.22x with 64 KiB).
_LARGE_READ: Final = 512 * 1024
# A socket timeout fires after its time; earlier than this before it, a TimeoutError is not one.
_EARLY: Final = 0.005
# CPython runs a signal's handler in the main thread, between two bytecodes: a signal landing
# after the last check and before a blocking system call starts waits for that call to end (a
# Ctrl-C or SIGTERM held for a read's whole timeout, the CLI's 30 s). So the main thread blocks
# at most this long at a time; other threads run no handler, and block for the whole time.
_SIGNAL_SLICE: Final = 0.5
# How an answer waiting unread is looked at: a peek that does not wait (no such flag on
# Windows: there, none is looked for), of enough bytes to read a status line's class.
_DONTWAIT: Final = getattr(socket, "MSG_DONTWAIT", 0)
_PEEK_NOW: Final = socket.MSG_PEEK | _DONTWAIT if _DONTWAIT else 0
_PEEKED: Final = 64
_A_MOMENT: Final = 0.01
# How the messages of a proxy's handshake begin, written on a proxied connection before its
# request (``_pool`` gives a backend its proxy's): an HTTP proxy's CONNECT; a SOCKS5 proxy's
# greeting and CONNECT (version 5) and its user and password (version 1, RFC 1929).
HTTP_PROXY_HANDSHAKE: Final = (b"CONNECT ",)
SOCKS_HANDSHAKE: Final = (b"\x05", b"\x01")
# Where a name of this machine connects, in turn (``connect_addresses``).
_LOOPBACK_ADDRESSES: Final = ("127.0.0.1", "::1")


def connect_addresses(host: str) -> tuple[str, ...]:
    """What to connect to for ``host``: itself, or for a name of this machine (``localhost``)
    its loopback addresses, never looked up. The SDK sends the key in clear to such a name, and
    without a proxy, so a resolver's answer (a hosts file without it, DNS) must not send it to
    another host; browsers treat ``localhost`` the same way."""
    return _LOOPBACK_ADDRESSES if is_loopback_name(host) else (host,)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to the current attempt's deadline; raises once it has passed."""
    return _bounded_by(current_attempt.get(), timeout, error)


def _bounded_by(
    attempt: Attempt | None, timeout: float | None, error: type[Exception]
) -> float | None:
    if attempt is None or attempt.deadline.at is None:
        return timeout
    left = attempt.deadline.at - time.monotonic()
    if left <= 0.0:
        raise error("the call's timeout ran out")
    return left if timeout is None or left < timeout else timeout


def _read_bound(attempt: Attempt | None, timeout: float | None) -> tuple[float | None, bool]:
    """One read's time, and whether it reads a proxy's answer to CONNECT: that is part of
    connecting, bounded as a connection attempt is. A proxy that never answered took the whole
    budget, told as the API's read timeout, and left no time to retry."""
    timeout = _bounded_by(attempt, timeout, httpcore2.ReadTimeout)
    tunnelling = attempt is not None and attempt.tunnelling
    if tunnelling and (timeout is None or timeout > CONNECT_TIMEOUT):
        timeout = CONNECT_TIMEOUT
    return timeout, tunnelling


def _read_timed_out(
    exc: httpcore2.TimeoutException, started: float, timeout: float | None, *, tunnelling: bool
) -> NoReturn:
    _pass_on_program_error(exc, started, timeout)
    if tunnelling:
        raise httpcore2.ConnectTimeout("the proxy did not answer CONNECT") from exc
    raise exc


def wait_for(event: threading.Event, seconds: float) -> bool:
    """``event.wait(seconds)``; in the main thread, in slices (``_SIGNAL_SLICE``)."""
    if not seconds > 0.0:  # a NaN too: gevent's Event would wait for ever
        return event.is_set()
    if threading.get_ident() != main_thread_id or seconds <= _SIGNAL_SLICE:
        return event.wait(seconds)
    end = time.monotonic() + seconds
    while not event.wait(min(end - time.monotonic(), _SIGNAL_SLICE)):  # <= 0: a look, no wait
        if time.monotonic() >= end:
            return event.is_set()
    return True


def _pass_on_program_error(
    exc: httpcore2.NetworkError | httpcore2.TimeoutException,
    started: float = 0.0,
    timeout: float | None = None,
) -> None:
    """Raise the program's own exception behind ``exc``: an ``OSError`` (a ``ConnectionError``,
    a ``TimeoutError``...) that a signal handler raised inside the socket call, which httpcore2
    took for the socket's. The system's carry an ``errno``; a program's do not. Nor does a
    socket's own timeout: a ``TimeoutError`` is the program's only if the socket's time
    (``timeout``, from ``started``) had not run out."""
    cause = exc.__cause__
    if not isinstance(cause, OSError) or cause.errno is not None:
        return
    if (
        isinstance(exc, httpcore2.TimeoutException)
        and timeout is not None
        and time.monotonic() - started + _EARLY >= timeout
    ):
        return  # the socket's own timeout
    chain = cause.__cause__, cause.__context__, cause.__suppress_context__
    try:
        raise cause
    finally:  # as the program raised it, not chained to httpcore2's error (itself caused by it)
        cause.__cause__, cause.__context__, cause.__suppress_context__ = chain
        _note_chain(cause)  # from any caller, which may not note what leaves its except clause


def _note_chain(exc: BaseException) -> None:
    """Show the current attempt an exception leaving a sync socket call with its chain as it
    was raised: httpcore2's pool re-raises what leaves a connect, a send or a head's read
    ``from None``, and ``Attempt.running`` gives a program's own exception its chain back.
    (An async program's signal handler raises from the event loop, not from these calls.)"""
    attempt = current_attempt.get()
    if attempt is not None:
        attempt.note_chain(exc)


def _look_for_an_answer(inner: Any) -> None:
    """After a write timed out: show the attempt any answer already waiting, unread, on the
    connection (a peek, which leaves it there), so that a 2xx is never taken for none."""
    attempt = current_attempt.get()
    sock = inner.get_extra_info("socket")
    if attempt is None or not _PEEK_NOW or not isinstance(sock, socket.socket):
        return
    try:  # the socket's own recv: on a TLS socket, the encrypted bytes, as a sign of life
        timeout = sock.gettimeout()
        # Not waiting at all: given a timeout, recv waits for a byte first, whatever its flags,
        # which spent the call's budget a second time (probe 21).
        sock.settimeout(0.0)
        try:
            waiting = socket.socket.recv(sock, _PEEKED, _PEEK_NOW)
        finally:
            sock.settimeout(timeout)
    except OSError:  # nothing waiting, or the connection is gone
        return
    if waiting:
        attempt.saw_waiting(waiting)


def _sending(buffer: bytes, handshake: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """Tell the attempt what a proxied connection writes before its request, and return what
    may still come of the proxy's ``handshake`` (nothing once the request goes out).

    A message of the handshake: what arrives next is the proxy's answer, whose success says
    nothing of the API's. The request: what arrives is the API's again (through SOCKS to a
    plain-http API, no TLS start says so). Only a proxied connection's first writes are looked
    at: a request's body may begin with any byte."""
    attempt = current_attempt.get()
    if not buffer or buffer.startswith(handshake):  # h11 ends a CONNECT with an empty write
        if buffer and attempt is not None:
            attempt.tunnelling = True
        return handshake
    if attempt is not None and attempt.tunnelling:
        attempt.restart()
    return ()


def _tunnelled() -> None:
    attempt = current_attempt.get()
    if attempt is not None:
        attempt.restart()


def _opened(stream: _Discardable) -> None:
    attempt = current_attempt.get()
    if attempt is not None:
        attempt.stream = stream


class _Streams:
    """The streams a backend opened, released in a forked child (``_after_fork_in_child``)."""

    def __init__(self) -> None:
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        _OWNERS.add(self)

    def add(self, stream: Any) -> None:
        self._streams.add(stream)

    def release_inherited(self) -> list[Any]:
        """Release every stream's socket. Returns the backend's own streams beneath them, which
        hold the descriptors: the caller keeps them (``keep_inherited``) where their finalisers
        must not run."""
        held = []
        for stream in list(self._streams):
            release_socket(stream.get_extra_info("socket"))
            held.append(stream.raw_stream)
        self._streams.clear()
        return held

    def close_after_trio_run(self) -> None:
        """Close every descriptor after the trio run that owned them ended: each trio socket
        gives its descriptor up (``detach``), so nothing of it can close that number again."""
        for stream in list(self._streams):
            with contextlib.suppress(OSError, AttributeError):  # None: a stream without one
                _close_detached(stream.get_extra_info("socket"))
        self._streams.clear()

    def close(self) -> None:
        for stream in list(self._streams):
            stream.close()


def _past(left: int) -> int:
    """What to ask for when ``left`` bytes of the answer are still to come: one byte more, or,
    above the cap, less than all; never exactly ``left``, as a read that ends an answer full
    costs the connection (``holds_more``)."""
    return left + 1 if left < _LARGE_READ else min(_LARGE_READ, left - 1)


class _RawStream(httpcore2.NetworkStream):
    """httpcore2's sync stream, beneath the SDK's TLS layer (``_tls``), for the main thread's
    connections only (its pool is its own: ``Pipeline._own_pool``): other threads run no
    signal handler, and their streams are not wrapped. A read first waits for the socket in
    slices (``_SIGNAL_SLICE``): a slice that ends with nothing to read raises nothing, so a
    pending handler runs outside any exception of the SDK's, and a ``TimeoutError`` is still
    the program's or the read's own. No ``start_tls``: TLS is ``_tls``'s, over this stream."""

    def __init__(self, inner: httpcore2.NetworkStream, poller: Any) -> None:
        self._inner = inner
        self._poller = poller

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._wait_readable(timeout)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def _wait_readable(self, timeout: float | None) -> None:
        """Return once the socket has something for a read (bytes, its end or an error, which
        the read then meets); raise ``ReadTimeout`` once ``timeout`` is up."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _SIGNAL_SLICE if end is None else min(end - time.monotonic(), _SIGNAL_SLICE)
            if self._poller.poll(max(math.ceil(left * 1000), 0)):
                return
            if end is not None and time.monotonic() >= end:
                # Chained as the socket's own timeout is, in the threads that read in one piece.
                raise httpcore2.ReadTimeout("timed out") from TimeoutError("timed out")


def _sliced(inner: httpcore2.NetworkStream) -> httpcore2.NetworkStream:
    """``inner`` as the main thread reads it: waited on in slices (``_RawStream``), or as it is
    where no ``poll()`` serves (``_poller_of``), which then costs its reads nothing."""
    poller = _poller_of(inner.get_extra_info("socket"))
    return inner if poller is None else _RawStream(inner, poller)


def _poller_of(sock: Any) -> Any:
    """A ``select.poll`` watching ``sock`` for bytes; ``None`` (reads wait in one piece, as
    before) without one (Windows, eventlet's ``select``), for a closed socket (the read says
    so), and for a green socket (gevent's, eventlet's): the system's ``poll`` would stop every
    green thread, which with threading unpatched all seem to be the main thread."""
    poll = getattr(select, "poll", None)
    if poll is None or type(sock).__module__ != "socket" or sock.fileno() < 0:
        return None
    poller = poll()
    poller.register(sock, select.POLLIN)
    return poller


class _Discardable:
    """What both stream kinds share: the inner stream, whether it may be reused, and a request
    head waiting for what follows it."""

    def __init__(self, inner: Any, handshake: tuple[bytes, ...]) -> None:
        self._inner = inner
        self._discarded = False
        self._head = b""
        self._head_next = True
        self._handshake = handshake  # a proxy's, until the request goes out (``_sending``)
        self._large = False  # a read of this answer came back full (``_asking``)
        self._filled = False  # the last read did (``holds_more``)

    def discard(self) -> None:
        """Never reuse this connection: it reads as "closed by the server" (readable while
        idle), which httpcore2 checks before reuse (2.16 as its pool tidies, 2.17 as a request
        comes; either way the request goes to another connection)."""
        self._discarded = True

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._discarded:
            return True
        return self._inner.get_extra_info(info)

    @property
    def raw_stream(self) -> Any:
        """The backend's own stream, beneath any TLS layer (``_tls``): what holds the socket."""
        inner = self._inner
        return getattr(inner, "raw_stream", inner)

    def holds_more(self) -> bool:
        """Whether bytes past what was read may wait unseen beneath: in the SDK's TLS layer
        (``_tls``), or behind a last read that brought all it asked for (asyncio keeps what a
        read did not ask for in a buffer that no look at the socket finds)."""
        holds_more = getattr(self._inner, "holds_more", None)
        return bool(holds_more()) if holds_more is not None else self._filled

    def _note_cut(self, attempt: Attempt | None) -> None:
        """A read ended (no bytes, or an error) inside a TLS record: part of an answer came and
        cannot be decrypted. It may be a 2xx (``Attempt.may_be_2xx``)."""
        unfinished = getattr(self._inner, "unfinished", None)
        if attempt is not None and unfinished is not None and unfinished():
            attempt.cut_record = True

    def _asking(self, max_bytes: int, attempt: Attempt | None) -> int:
        """What a read asks the socket for: after a read of this answer came back full (only a
        large answer's does), the rest of its body and one byte more (``_past``), whatever
        waits past it then showing in the count (``Attempt.clean_end``), not left behind."""
        left = attempt.body_left() if self._large and attempt is not None else 0
        return max(max_bytes, _past(left)) if left else max_bytes

    def _got(self, data: bytes, asked: int) -> None:
        self._filled = len(data) == asked
        self._large = self._large or self._filled

    def _outgoing(self, buffer: bytes) -> tuple[bytes, ...]:
        """What to send now for ``buffer``.

        A request's head is held and goes out with the write that always follows it (its body,
        or h11's end of message), as http.client sends headers and body: one segment and one
        wake-up of the server instead of two. A body too large to copy cheaply goes on its own.
        """
        if self._head_next:  # a request begins: its answer's first read asks what h11 asks
            self._head_next, self._large = False, False
            self._head = buffer
            return ()
        head, self._head = self._head, b""
        if len(head) + len(buffer) <= _WRITE_SLICE:
            return (head + buffer,)
        return (head, buffer)

    def _take_head(self) -> bytes:
        """A head still held when a read comes (none: every request ends with a write)."""
        head, self._head = self._head, b""
        return head


class _Stream(_Discardable, httpcore2.NetworkStream):
    """A sync stream, which ``close()`` from another thread (the client closed while calls
    run) must not pull from under a read or write: the descriptor is shut down, which wakes
    the call at once, and closed only when the call leaves it. Closed under a blocked read,
    its number could be handed to another socket of the process and read by the call."""

    def __init__(self, inner: Any, handshake: tuple[bytes, ...]) -> None:
        super().__init__(inner, handshake)
        self._guard = threading.Lock()
        self._busy = 0  # reads and writes under way
        self._shut = False  # closed: no read or write starts; the last one leaving closes

    def _enter(self, error: type[Exception]) -> None:
        with self._guard:
            if self._shut:
                raise error("the connection was closed: the client was closed")
            self._busy += 1

    def _leave(self) -> None:
        with self._guard:
            self._busy -= 1
            last = self._shut and not self._busy
        if last:
            self._inner.close()

    def close(self) -> None:
        with self._guard:
            busy, self._shut = self._busy, True
        if not busy:
            self._inner.close()
            return
        sock = self._inner.get_extra_info("socket")
        if sock is not None:  # TLS is the SDK's own, in memory (_tls): this is the TCP socket
            # Through the instance: eventlet's socket class has no shutdown of its own; its
            # instances hand it to the socket they wrap (probe 21).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._enter(httpcore2.ReadError)
        try:
            return self._read(max_bytes, timeout)
        except BaseException as exc:
            _note_chain(exc)
            raise
        finally:
            self._leave()

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._enter(httpcore2.WriteError)
        try:
            if self._handshake:
                self._handshake = _sending(buffer, self._handshake)
            for part in self._outgoing(buffer):
                self._send(part, timeout)
        except BaseException as exc:
            _note_chain(exc)
            raise
        finally:
            self._leave()

    def _read(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._head:
            self._send(self._take_head(), timeout)
        self._head_next = True  # what is written after a read starts a new request
        attempt = current_attempt.get()
        timeout, tunnelling = _read_bound(attempt, timeout)
        started, asked = time.monotonic(), self._asking(max_bytes, attempt)
        try:
            data: bytes = self._inner.read(asked, timeout)
        except httpcore2.TimeoutException as exc:
            self._note_cut(attempt)
            _read_timed_out(exc, started, timeout, tunnelling=tunnelling)
        except httpcore2.NetworkError as exc:
            self._note_cut(attempt)
            _pass_on_program_error(exc)
            raise
        self._got(data, asked)
        if attempt is not None:
            if not data:
                self._note_cut(attempt)
            attempt.saw(data)
        return data

    def _send(self, buffer: bytes, timeout: float | None) -> None:
        view = memoryview(buffer)
        for start in range(0, len(view), _WRITE_SLICE):
            bound = _bounded(timeout, httpcore2.WriteTimeout)
            started = time.monotonic()
            try:
                self._inner.write(view[start : start + _WRITE_SLICE], bound)
            except httpcore2.TimeoutException as exc:
                _pass_on_program_error(exc, started, bound)
                _look_for_an_answer(self._inner)
                raise
            except httpcore2.NetworkError as exc:
                _pass_on_program_error(exc)
                raise

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        from ._tls import TlsStream  # noqa: PLC0415  (https connections only)

        timeout = _bounded(timeout, httpcore2.ConnectTimeout)
        _tunnelled()
        self._enter(httpcore2.ConnectError)  # a close() meanwhile shuts it down, as a read
        started = time.monotonic()
        try:
            self._inner = TlsStream.start(self._inner, ssl_context, server_hostname, timeout)
        except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
            _pass_on_program_error(exc, started, timeout)
            _note_chain(exc)
            raise
        except BaseException as exc:
            _note_chain(exc)
            raise
        finally:
            self._leave()
        return self


def _addresses(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of ``host`` in the resolver's order, found within ``timeout``: a lookup
    that takes longer is left to end on its own, in its daemon thread."""
    if is_loopback_name(host):
        return list(_LOOPBACK_ADDRESSES)
    if timeout is None or is_ip(host):
        return [host]
    lookup = _lookup(host, port)
    if not wait_for(lookup.done, timeout):
        raise httpcore2.ConnectTimeout(f"looking up {host} took longer than the time left")
    found = lookup.found
    if isinstance(found, Exception):
        raise httpcore2.ConnectError(str(found))
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class _Lookup:
    """One name lookup under way; every call that needs the name soon after waits for it."""

    __slots__ = ("done", "found", "started")

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = threading.Event()
        self.found: Any = None  # getaddrinfo's list, or what it raised

    def end(self, key: tuple[str, int], found: Any) -> None:
        self.found = found
        with _lookups_lock:
            if _LOOKUPS.get(key) is self:
                del _LOOKUPS[key]
        self.done.set()


# The lookups under way, one thread each: a dead nameserver holds a lookup for up to 30 s, and
# a thread per call would pile up (700 under load: probe 8) and multiply the queries sent.
_LOOKUPS: Final[dict[tuple[str, int], _Lookup]] = {}
_lookups_lock = threading.Lock()
# What Thread.start raises when no thread can start: 3.13 raises its subclass at shutdown.
_THREAD_START_ERRORS: Final = (RuntimeError, getattr(builtins, "PythonFinalizationError", None))
# Only a lookup this young is joined: one whose query was lost waits out glibc's 5 s, while a
# new one may answer at once. Under a dead nameserver: one more thread a second per name.
_JOINED_FOR: Final = 1.0


def _lookup(host: str, port: int) -> _Lookup:
    key = (host, port)
    with _lookups_lock:
        lookup = _LOOKUPS.get(key)
        if lookup is not None and time.monotonic() - lookup.started < _JOINED_FOR:
            return lookup
        lookup = _LOOKUPS[key] = _Lookup()  # an older one still ends itself, and only itself
    try:
        threading.Thread(
            target=_look_up, args=(key, lookup), name="tapti-name-lookup", daemon=True
        ).start()
    except BaseException as exc:
        # The process's thread limit (a connection error, not a crash), or a signal handler's
        # exception landing here (passed on): either way no thread will end this lookup, and
        # every later call for the name would wait on it.
        lookup.end(key, OSError(f"no thread could be started to look {host} up ({exc!r})"))
        if type(exc) not in _THREAD_START_ERRORS:  # CPython's own; a subclass is the program's
            raise
    return lookup


def _look_up(key: tuple[str, int], lookup: _Lookup) -> None:
    found: Any = OSError(f"looking {key[0]} up ended without an answer")
    try:
        found = socket.getaddrinfo(*key, type=socket.SOCK_STREAM)
    except Exception as exc:  # handed to every waiting call, as a connection error
        found = exc
    finally:
        lookup.end(key, found)


class TrackingBackend(httpcore2.NetworkBackend):
    """httpcore2's sync backend, with deadline-bounded streams the fork hook can release."""

    def __init__(self) -> None:
        self._inner = httpcore2.SyncBackend()
        self.streams = _Streams()
        self._closed = False
        self.handshake: tuple[bytes, ...] = ()  # its proxy's (``_pool``), for each stream

    def close(self) -> None:
        """Close every stream opened here, whatever the pool still knows of: an idle one now,
        one in use when its call leaves it, one still connecting once it connects."""
        self._closed = True
        self.streams.close()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        try:
            return self._connect(host, port, timeout, local_address, socket_options)
        except BaseException as exc:
            _note_chain(exc)
            raise

    def _connect(
        self,
        host: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[Any] | None,
    ) -> httpcore2.NetworkStream:
        """``connect_tcp``: each address in turn, as ``socket.create_connection`` tries them."""
        failure: Exception | None = None
        for address in _addresses(host, port, _bounded(timeout, httpcore2.ConnectTimeout)):
            bound = _bounded(timeout, httpcore2.ConnectTimeout)  # raises once the call's is up
            started = time.monotonic()
            try:
                inner = self._inner.connect_tcp(address, port, bound, local_address, socket_options)
            except httpcore2.ConnectTimeout as exc:  # a dead address that drops what it is sent
                _pass_on_program_error(exc, started, bound)
                failure = exc
                continue
            except httpcore2.ConnectError as exc:  # each next address, as create_connection
                # A bare OSError is create_connection's own ("getaddrinfo returns an empty list").
                if type(exc.__cause__) is not OSError:
                    _pass_on_program_error(exc)
                failure = exc
                continue
            if threading.get_ident() == main_thread_id:
                inner = _sliced(inner)
            stream = _Stream(inner, self.handshake)
            self.streams.add(stream)
            _opened(stream)
            if self._closed:  # the client was closed while this connected
                stream.close()
                raise httpcore2.ConnectError("the client was closed")
            return stream
        raise failure or httpcore2.ConnectError(f"{host} has no address")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(_Discardable, httpcore2.AsyncNetworkStream):
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._head:
            await self._send(self._take_head(), timeout)
        self._head_next = True  # what is written after a read starts a new request
        attempt = current_attempt.get()
        timeout, tunnelling = _read_bound(attempt, timeout)
        started, asked = time.monotonic(), self._asking(max_bytes, attempt)
        try:
            data: bytes = await self._inner.read(asked, timeout)
        except httpcore2.TimeoutException as exc:
            self._note_cut(attempt)
            _read_timed_out(exc, started, timeout, tunnelling=tunnelling)
        except httpcore2.NetworkError:
            self._note_cut(attempt)
            raise
        self._got(data, asked)
        if attempt is not None:
            if not data:
                self._note_cut(attempt)
            attempt.saw(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._handshake:
            self._handshake = _sending(buffer, self._handshake)
        for part in self._outgoing(buffer):
            await self._send(part, timeout)

    async def _send(self, buffer: bytes, timeout: float | None) -> None:
        # anyio bounds a whole send by its timeout, slow reader or not.
        timeout = _bounded(timeout, httpcore2.WriteTimeout)
        started = time.monotonic()
        try:
            await self._inner.write(buffer, timeout)
        except httpcore2.TimeoutException as exc:
            _pass_on_program_error(exc, started, timeout)
            await self._look_for_an_answer()
            raise

    async def _look_for_an_answer(self) -> None:
        """``_look_for_an_answer`` for async backends, which read what arrives into buffers of
        their own: a peek at the socket finds nothing there. So this reads (the connection is
        dropped after a failed write anyway), waiting a moment at most."""
        attempt = current_attempt.get()
        if attempt is None:
            return
        try:
            waiting = await self._inner.read(_PEEKED, _A_MOMENT)
        except (httpcore2.NetworkError, httpcore2.TimeoutException, OSError):
            # Over TLS: a record that did not decrypt or stopped short may be the answer.
            self._note_cut(attempt)
            return
        if waiting:
            attempt.saw_waiting(waiting)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        from ._tls import AsyncTlsStream  # noqa: PLC0415  (https connections only)

        timeout = _bounded(timeout, httpcore2.ConnectTimeout)
        _tunnelled()
        started = time.monotonic()
        try:
            self._inner = await AsyncTlsStream.start(
                self._inner, ssl_context, server_hostname, timeout
            )
        except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
            _pass_on_program_error(exc, started, timeout)
            raise
        return self


class AsyncTrackingBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's asyncio or trio backend (chosen on first use, as httpcore2's own), wrapped."""

    def __init__(self) -> None:
        self._inner: httpcore2.AsyncNetworkBackend | None = None
        self.streams = _Streams()
        self.handshake: tuple[bytes, ...] = ()  # its proxy's (``_pool``), for each stream
        # Set when the client closes: calls still queued for a pool slot then open nothing.
        self.closed = False

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
        if not self.closed:
            *others, last = connect_addresses(host)
            inner = None
            for address in others:  # a name of this machine: its other loopback address next
                with contextlib.suppress(httpcore2.ConnectError):
                    inner = await self._backend().connect_tcp(
                        address, port, timeout, local_address, socket_options
                    )
                    break
            if inner is None:
                inner = await self._backend().connect_tcp(
                    last, port, timeout, local_address, socket_options
                )
            if not self.closed:  # closed while this connected
                stream = _AsyncStream(inner, self.handshake)
                self.streams.add(stream)
                _opened(stream)
                return stream
            await inner.aclose()
        raise httpcore2.ConnectError("the client was closed")

    async def sleep(self, seconds: float) -> None:
        await self._backend().sleep(seconds)


# Forks: what a child must never share with its parent.
# Bumped in every child at the fork; a pool built under another value came from the parent.
generation = 0
# Where signal handlers run, so where an interrupt can land mid-call (``Pipeline._own_pool``):
# threading's main thread, and in a forked child the thread that forked.
main_thread_id = threading.main_thread().ident
_OWNERS: Final[weakref.WeakSet[_Streams]] = weakref.WeakSet()
# Pools inherited from the parent, kept so that nothing of theirs is finalised (an asyncio
# transport's finaliser would touch the parent's event loop); their sockets are already released.
_INHERITED: Final[list[object]] = []


def keep_inherited(pool: object) -> None:
    _INHERITED.append(pool)


def release_socket(sock_like: Any) -> None:
    """Close this process's descriptor of a socket without touching the connection itself.

    ``sock_like`` is what a network stream reports as its socket: a ``socket.socket`` (sync),
    or an asyncio/trio wrapper of one, reached through its public ``fileno()`` only.
    """
    if isinstance(sock_like, socket.socket):
        _close_detached(sock_like)  # no shutdown(): the parent's copy of the connection stays open
    elif sock_like is not None:
        # A wrapper keeps its descriptor: point it at /dev/null, so it reads nothing, writes
        # nowhere, and the parent's connection loses the child's reference. The wrapper may
        # close it later, harmlessly.
        with contextlib.suppress(OSError, AttributeError, TypeError):
            _blank(sock_like.fileno())


def _close_detached(sock: Any) -> None:
    """Close a socket's descriptor, which the object forgets first, so it can never close it."""
    fd = sock.detach()
    if fd >= 0:
        os.close(fd)


def _blank(fd: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _after_fork_in_child() -> None:
    global generation, main_thread_id, _lookups_lock  # noqa: PLW0603  (read by every call)
    generation += 1
    main_thread_id = threading.get_ident()
    # The parent's lookups have no thread here, and their lock may have been held at the fork.
    _lookups_lock = threading.Lock()
    _LOOKUPS.clear()
    for owner in list(_OWNERS):
        with contextlib.suppress(Exception):  # a hook that raised would only print
            owner.release_inherited()


# Through a weak proxy: a function registered itself would keep this module's globals (and the
# pools they lead to) alive into the interpreter's last, slow clean-up pass, which cost every
# process ~2 ms at exit (callgrind: 4.6 million more instructions). A child forks only while
# the module is alive, so the proxy always finds the function.
os.register_at_fork(after_in_child=weakref.proxy(_after_fork_in_child))
