"""TLS through memory buffers over a stream of raw bytes: the SDK's own, on every connection.

httpcore2's TLS (a TLS socket when sync, asyncio's or trio's TLS streams when async) hides what
the SDK must know to keep two promises:

- **nothing past an answer reaches the next caller**: asyncio's and trio's TLS take everything
  the socket holds and decrypt a record per read, so a second answer sent in a record of its
  own waits in their buffer, where a look at the socket does not find it;
- **a 2xx is never taken for no answer**: when a connection breaks or stalls inside the first
  record of an answer, nothing of it decrypts, and the call looked unanswered and was sent
  again (a second token). Here every raw byte passes through ``_Records``, which knows whether
  a record was left unfinished.

The same ``ssl`` module and OpenSSL do the work (``SSLContext.wrap_bio``, as TLS inside a
proxy's TLS always did); this layer only moves the bytes, so one class serves sync streams and
one async ones, over httpcore2's public stream interface, a proxy's TLS included.
"""

from __future__ import annotations

import ssl
import time
from typing import Any, Final

import httpcore2

__all__ = ["AsyncTlsStream", "TlsStream"]

# What one raw read asks for: a few records (16 KiB of payload each at most).
_RAW_READ: Final = 64 * 1024
_HEADER: Final = 5  # a record's type, version and length
# What a record header may hold (RFC 8446 5.1, RFC 5246 6.2): change_cipher_spec, alert,
# handshake, application_data (and heartbeat); version 3.x; at most 2^14 + 2048 bytes.
_CONTENT_TYPES: Final = frozenset(range(20, 25))
_MAJOR: Final = 3
_MAX_RECORD: Final = 2**14 + 2048
# How much a look past an answer reads: any application data at all means more.
_LOOK: Final = 1


class _Records:
    """Where the raw bytes stand in the record layer: inside a record or between two; and
    whether any came since the last write, to judge a failure. Bytes that cannot start a
    record (plain text where TLS was expected) end the count."""

    __slots__ = ("_header", "_left", "broken", "garbled", "heard")

    def __init__(self) -> None:
        self._header = b""  # a header arrived in part
        self._left = 0  # bytes of the current record still to come
        self.heard = False  # raw bytes came since the last write
        self.broken = False
        self.garbled = False  # what may hold an answer failed

    def saw(self, data: bytes) -> None:
        self.heard = True
        at = 0
        while at < len(data) and not self.broken:
            if self._left:
                taken = min(self._left, len(data) - at)
                self._left -= taken
                at += taken
                continue
            needed = _HEADER - len(self._header)
            self._header += data[at : at + needed]
            at += needed
            if self._header[0] not in _CONTENT_TYPES:
                self.broken = True
            elif len(self._header) == _HEADER:
                length = int.from_bytes(self._header[3:], "big")
                self.broken = self._header[1] != _MAJOR or length > _MAX_RECORD
                self._left, self._header = length, b""

    def wrote(self) -> None:
        """A request went out: what comes now answers it."""
        self.heard = False

    def failed(self, reason: str) -> None:
        """OpenSSL refused what came. If bytes came after the request, an answer (a 2xx, a
        token) may be in them, unless the refusal is the server's own alert: a damaged record
        is no less an answer than a cut one, and plain text or a forged alert may stand in
        front of one, sent with it or just after it (probe 19)."""
        self.garbled = self.heard and not _refusal(reason)
        self.broken = True  # what follows is no record of an answer

    def unfinished(self) -> bool:
        """Whether an answer may have begun that cannot be read: the bytes stopped inside a
        record, or what may hold one failed."""
        return self.garbled or (not self.broken and bool(self._left or self._header))


def _refusal(reason: str) -> bool:
    """Whether OpenSSL's reason is an alert the server sent: after the handshake only one
    decrypted with the connection's keys is read as an alert (``SSLV3_ALERT_...``), so no one
    on the path can forge it. Any other failure proves nothing about what follows it."""
    return "ALERT" in reason


class _Tls:
    """The state both stream kinds share: the TLS object, its two buffers, the records."""

    def __init__(self, inner: Any, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._inner = inner
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        try:
            self.ssl_object = context.wrap_bio(
                self._incoming, self._outgoing, server_hostname=server_hostname
            )
        except ValueError as exc:  # a server name ``ssl`` refuses (empty, a leading dot, bad IDNA)
            raise httpcore2.ConnectError(str(exc)) from exc
        self.records = _Records()
        self._failed: httpcore2.ReadError | None = None  # found while reading ahead
        self._ended = False  # a read met the end: close_notify, an EOF or an error
        self._settled = False  # the handshake is over
        self._renegotiating = False  # TLS 1.2 only: a handshake began after the first
        self._raw_filled = False  # the last raw read brought all it asked for (``holds_more``)

    @property
    def raw_stream(self) -> Any:
        """The stream beneath every TLS layer (two through an https proxy)."""
        inner = self._inner
        return inner.raw_stream if isinstance(inner, _Tls) else inner

    def _took(self, data: bytes, asked: int = _RAW_READ) -> None:
        self._raw_filled = len(data) == asked
        if data:
            self.records.saw(data)
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def _idle(self) -> bool:
        """Whether OpenSSL has nothing to work on: no raw bytes waiting, none decrypted, no end
        met. A read then needs raw bytes, known without asking OpenSSL, whose answer (an
        exception) made a small call over https cost about 4% more CPU than httpx2's."""
        return not (
            self._incoming.pending or self._incoming.eof or self._ended or self.ssl_object.pending()
        )

    def _shaken(self) -> bool:
        """One step of the handshake: whether it is done (else raw bytes are needed)."""
        try:
            self.ssl_object.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def _decrypted(self, max_bytes: int) -> bytes | None:
        """What is decrypted so far, up to ``max_bytes`` from every whole record here (``b""``
        once the connection closed, with or without close_notify, as httpcore2's TLS said), or
        ``None`` when raw bytes are needed.

        OpenSSL hands over one record (16 KiB at most) per read, and every read is a pass
        through h11 and the SDK's layers: read record by record, a 900 KiB answer cost 10% more
        CPU than over httpx2's TLS socket. What is read past an answer is counted by the
        network layer, which then drops the connection, as with plain HTTP's reads."""
        data = self._record(max_bytes)
        if not data or not self._incoming.pending:
            return data
        parts, size = [data], len(data)
        while size < max_bytes and self._incoming.pending:
            try:
                more = self._record(max_bytes - size)
            except httpcore2.ReadError as exc:
                self._failed = exc  # raised by the next read, after the data before it
                break
            if not more:  # part of a record, or closed: the next read finds it again
                break
            parts.append(more)
            size += len(more)
        return b"".join(parts)

    def _record(self, max_bytes: int) -> bytes | None:
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed
        if self._idle():
            return None
        try:
            data: bytes = self.ssl_object.read(max_bytes)
        except ssl.SSLWantReadError:
            return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b""
        except ssl.SSLError as exc:
            self._ended = True
            self.records.failed(exc.reason or "")
            raise httpcore2.ReadError(str(exc)) from exc
        if not data:  # closed (after a close_notify, OpenSSL says so with no exception)
            self._ended = True
        return data

    def _output(self) -> bytes:
        """What OpenSSL has to send. Between requests a TLS 1.2 connection says nothing but
        for a renegotiation, which refuses the next request's write until it ends."""
        data: bytes = self._outgoing.read()
        if data and self._settled and self.ssl_object.version() != "TLSv1.3":
            self._renegotiating = True
        return data

    def _encrypted(self, buffer: bytes) -> bytes:
        self.records.wrote()
        try:
            self.ssl_object.write(buffer)
        except ssl.SSLError as exc:
            raise httpcore2.WriteError(str(exc)) from exc
        return self._outgoing.read()

    def holds_more(self) -> bool:
        """Whether bytes past what was read wait here or in a TLS layer below (a proxy's):
        application data, an alert, or part of a record; or whether OpenSSL has output of its
        own to send first (a TLS 1.2 HelloRequest began a renegotiation). Whole records that
        carry no data (a TLS 1.3 session ticket, a key update) are taken in, as a read would.
        The network layer drops the connection if so; anything read here would have been
        dropped with it. A last raw read that brought all it asked for may have left more in
        a buffer beneath, which no look at the socket finds (asyncio's, under anyio)."""
        if self._raw_filled:
            return True
        if not self._idle():
            try:
                self.ssl_object.read(_LOOK)
            except ssl.SSLWantReadError:  # no application data: only part of a record, if any
                pass
            except (ssl.SSLError, ValueError):
                return True
            else:
                return True
        if self._outgoing.pending or self._renegotiating:  # the next request's write would be
            return True  # refused until the handshake ends (httpcore2 took that for an answer)
        below = self._inner  # a proxy's layer: its holds_more covers its unfinished()
        return self.records.unfinished() or (isinstance(below, _Tls) and below.holds_more())

    def unfinished(self) -> bool:
        """Whether the bytes stopped inside a record, here or in a TLS layer below."""
        below = self._inner
        return self.records.unfinished() or (isinstance(below, _Tls) and below.unfinished())

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self.ssl_object
        if info == "is_readable" and self.holds_more():
            return True
        return self._inner.get_extra_info(info)


def _left(end: float | None) -> float | None:
    """The time left until ``end``; raises once it has passed (a raw read given 0 would not
    wait at all, and say so as a connection error)."""
    if end is None:
        return None
    left = end - time.monotonic()
    if left <= 0.0:
        raise httpcore2.ReadTimeout("the read's time ran out")
    return left


def _end(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _cause(exc: Exception) -> BaseException:
    """What a handshake's failure is chained to: the ``ssl`` or socket error itself, as
    httpcore2's own TLS chained it (the SDK's messages and retry decisions read it there)."""
    if isinstance(exc, httpcore2.NetworkError | httpcore2.TimeoutException) and exc.__cause__:
        return exc.__cause__
    return exc


def _handshake_failed(exc: Exception) -> httpcore2.ConnectError | httpcore2.ConnectTimeout:
    if isinstance(exc, httpcore2.TimeoutException):
        return httpcore2.ConnectTimeout(str(exc))
    return httpcore2.ConnectError(str(exc))


class TlsStream(_Tls, httpcore2.NetworkStream):
    """TLS over a sync raw stream; ``start`` makes one and shakes hands."""

    @classmethod
    def start(
        cls,
        inner: Any,
        context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
    ) -> TlsStream:
        end = _end(timeout)
        try:
            stream = cls(inner, context, server_hostname)
            while not stream._shaken():
                stream._flush(_left(end))
                stream._took(inner.read(_RAW_READ, _left(end)))
            stream._flush(_left(end))
            stream._settled = True
        except (ssl.SSLError, httpcore2.NetworkError, httpcore2.TimeoutException) as exc:
            inner.close()
            raise _handshake_failed(exc) from _cause(exc)
        except BaseException:  # an interrupt mid-handshake: the socket is closed now, not later
            inner.close()
            raise
        return stream

    def _flush(self, timeout: float | None) -> None:
        data = self._output()
        if data:
            self._inner.write(data, timeout)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        end = _end(timeout)
        data = self._decrypted(max_bytes)
        while data is None:
            self._flush(_left(end))  # what OpenSSL has to say first (a renegotiation)
            asked = max(_RAW_READ, max_bytes)
            self._took(self._inner.read(asked, _left(end)), asked)
            data = self._decrypted(max_bytes)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(self._encrypted(buffer), timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        return TlsStream.start(self, ssl_context, server_hostname, timeout)


class AsyncTlsStream(_Tls, httpcore2.AsyncNetworkStream):
    """``TlsStream`` over an async raw stream (asyncio or trio, through httpcore2's)."""

    @classmethod
    async def start(
        cls,
        inner: Any,
        context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
    ) -> AsyncTlsStream:
        end = _end(timeout)
        try:
            stream = cls(inner, context, server_hostname)
            while not stream._shaken():
                await stream._flush(_left(end))
                stream._took(await inner.read(_RAW_READ, _left(end)))
            await stream._flush(_left(end))
            stream._settled = True
        except (ssl.SSLError, httpcore2.NetworkError, httpcore2.TimeoutException) as exc:
            await inner.aclose()
            raise _handshake_failed(exc) from _cause(exc)
        except BaseException:  # cancelled mid-handshake: nothing else would close the socket
            await inner.aclose()
            raise
        return stream

    async def _flush(self, timeout: float | None) -> None:
        data = self._output()
        if data:
            await self._inner.write(data, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        end = _end(timeout)
        data = self._decrypted(max_bytes)
        while data is None:
            await self._flush(_left(end))  # what OpenSSL has to say first (a renegotiation)
            asked = max(_RAW_READ, max_bytes)
            self._took(await self._inner.read(asked, _left(end)), asked)
            data = self._decrypted(max_bytes)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(self._encrypted(buffer), timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return await AsyncTlsStream.start(self, ssl_context, server_hostname, timeout)
