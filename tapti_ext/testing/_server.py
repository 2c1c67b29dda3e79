"""MockTaptiServer: the API that openapi/tapti.yaml describes, served over real HTTP.

Built on the standard library only (``http.server`` in a background thread), so testing with it
adds no dependency. What it routes, accepts and answers comes from the spec: ``_spec.py`` reads
the JSON copy that ``make generate`` writes beside this module, so a path, a security scheme or a
property added to the spec needs no edit here. Besides the API it can serve a stand-in for
Tapti's OAuth Portal (``portal=True``), for click-through tests of the whole connect flow offline.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import itertools
import json
import logging
import math
import re
import secrets
import socket
import socketserver
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Self, TypeAlias, cast
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

from .._constants import (
    DEFAULT_PORTAL_URL,
    MASK,
    MAX_BODY_BYTES,
    MAX_PORT,
    ORIGIN_PARAM,
    PLATFORM_PARAM,
    REQUEST_ID_HEADER,
    TOKEN_PARAM,
)
from ._portal_page import (
    CONTINUE_PATH,
    HEADERS,
    PORTAL_PATH,
    IssuedToken,
    error_page,
    portal_page,
)
from ._spec import (
    Credentials,
    FieldError,
    Filter,
    Operation,
    Route,
    Spec,
    is_json_media_type,
    load_spec,
)

__all__ = ["MockTaptiServer", "RecordedRequest"]

_LOG: Final = logging.getLogger("tapti_ext.testing")

# Credentials of any HTTP request; the spec adds the headers its apiKey schemes name
# (``Spec.secret_headers``). None of them is ever recorded or logged in clear.
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
_JSON: Final = "application/json"
_HTML: Final = "text/html; charset=utf-8"
# Enough for a load test's burst of connections; the kernel caps it at somaxconn.
_LISTEN_BACKLOG: Final = 1024
# A connection whose request body was not read is drained this long before closing, so the client
# reads the answer instead of a reset.
_LINGER_SECONDS: Final = 2.0
_LINGER_MAX_BYTES: Final = 64 * 1024 * 1024
# RFC 9112 5: a field line is a token, a colon with no whitespace before it, and a value with no
# control character but tab, ended by CRLF (or LF). http.server parses the lines with the email
# package, which reads a bare CR as a line end and, at the first line it cannot read, stops
# without a word and takes the rest for the body: a request could hide in a header's place.
_FIELD_LINE: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r?\n")
_VERSION: Final = re.compile(r"HTTP/[0-9]\.[0-9]")  # RFC 9112 2.3: one digit each side
# RFC 3986's host (a name, an IPv4 address or a bracketed IPv6 one) and an optional port.
_HOST: Final = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?")
# Digits beyond these are a length no body can have; int() refuses more than 4,300 anyway.
_MAX_LENGTH_DIGITS: Final = 20

_Request: TypeAlias = socket.socket | tuple[bytes, socket.socket]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the mock answered, as a test wants to assert on it.

    ``path`` is the request target as sent (query included), except that an ``sdk_token``
    query parameter reads ``***``. ``user_id`` is the decoded ``{id}`` of ``/users/{id}/...``
    (whatever the spec names it), or ``None``. ``headers`` has lower-case names,
    with credentials (every header an apiKey security scheme of the spec names, such as
    ``x-api-key``, and ``authorization``, ``cookie``...) replaced by ``"***"``. ``json`` is
    the parsed body, or ``None`` when there was none or it was not JSON (or escaped a lone
    surrogate, which no UTF-8 text holds). ``status`` is what the mock answered and
    ``request_id`` the ``x-request-id`` it sent.
    """

    method: str
    path: str
    user_id: str | None
    headers: Mapping[str, str]
    json: Any
    status: int
    request_id: str

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle cannot take the read-only headers view as it is.
        fields = (self.method, self.path, self.user_id, dict(self.headers))
        return (_recorded, (*fields, self.json, self.status, self.request_id))


def _recorded(
    method: str, path: str, user_id: str | None, headers: dict[str, str], *rest: Any
) -> RecordedRequest:
    return RecordedRequest(method, path, user_id, types.MappingProxyType(headers), *rest)


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = _JSON
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False


def _json_reply(
    status: int, payload: object, headers: tuple[tuple[str, str], ...] = (), *, close: bool = False
) -> _Reply:
    return _Reply(status, json.dumps(payload, allow_nan=False).encode(), _JSON, headers, close)


def _message(status: int, message: str, *, close: bool = False) -> _Reply:
    return _json_reply(status, {"message": message}, close=close)


def _not_allowed(allow: str) -> _Reply:
    return _json_reply(405, {"message": f"method not allowed; use {allow}"}, (("Allow", allow),))


def _page(
    status: int, title: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    return _Reply(status, error_page(title, message), _HTML, (*HEADERS, *headers))


_UNAUTHORIZED: Final = _message(401, "invalid or missing API key")
_LENGTH_REQUIRED: Final = _message(411, "send the body with a Content-Length", close=True)
_TOO_LARGE: Final = _message(413, f"request body exceeds {MAX_BODY_BYTES} bytes", close=True)
_BAD_LENGTH: Final = _message(400, "invalid Content-Length header", close=True)
_TRUNCATED: Final = _message(400, "request body is shorter than its Content-Length", close=True)
_NOT_JSON_TYPE: Final = _message(400, "Content-Type must be application/json")
_EMPTY: Final = _message(400, "request body is empty; expected a JSON object")
_BAD_JSON: Final = _message(400, "request body is not valid JSON in UTF-8")
# RFC 9112 3.2: an HTTP/1.1 request without exactly one valid Host header is answered 400.
_ONE_HOST: Final = _message(
    400, "an HTTP/1.1 request needs exactly one valid Host header", close=True
)
_BAD_VERSION: Final = _message(400, "invalid HTTP version", close=True)
_BAD_FIELD: Final = _message(400, "malformed header line", close=True)
_EVERY_INTERFACE: Final = "0.0.0.0"  # noqa: S104  (refused unless written so; IPv4 only)
_LONE_SURROGATE: Final = _message(
    400, "request body escapes a lone surrogate (\\ud800-\\udfff), which no UTF-8 text holds"
)
_BUG: Final = _message(500, "MockTaptiServer failed to handle the request (a bug in the mock)")
_INJECTED: Final = {"message": "injected failure"}
_UNKNOWN_TOKEN: Final = _page(
    404,
    "Unknown SDK token",
    "This mock did not issue this SDK token, or clear() has forgotten it. Create a token "
    "through this server, then open the portal URL it returns.",
)
_USED_TOKEN: Final = _page(
    410,
    "SDK token already used",
    "The portal visit for this SDK token was already finished. Create a fresh token for each "
    "visit, just before redirecting the user, as Tapti advises.",
)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_NO_JSON: Final = object()


def _parse_json(body: bytes) -> object:
    """The parsed body, or ``_NO_JSON`` (``None`` is a valid JSON document). JSON escaping a
    lone surrogate (``"\\ud800"``) is none: no UTF-8 text holds one, nor could a URL built
    from it (the mock's own portal URL failed on it with a token already issued)."""
    if not body:
        return _NO_JSON
    try:
        parsed = _loads(body)
        json.dumps(parsed, ensure_ascii=False).encode()  # UnicodeEncodeError: a lone surrogate
    except (ValueError, RecursionError):
        return _NO_JSON
    return parsed


def _loads(body: bytes) -> object:
    """JSON in UTF-8 without a byte-order mark, as RFC 8259 has systems exchange it: given
    bytes, json.loads would also read UTF-16 and UTF-32, which an API need not."""
    return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)


def _masked_path(path: str) -> str:
    """``path`` with the value of an ``sdk_token`` query parameter replaced by ``***``, its name
    read as the portal reads it (percent-decoded: ``sdk%5Ftoken`` is that parameter too)."""
    base, mark, query = path.partition("?")
    if not mark or TOKEN_PARAM not in unquote_plus(query):
        return path
    pairs = [
        f"{TOKEN_PARAM}={MASK}" if unquote_plus(pair.partition("=")[0]) == TOKEN_PARAM else pair
        for pair in query.split("&")
    ]
    return f"{base}?{'&'.join(pairs)}"


def _origin_form(target: str) -> str:
    """The path and query of a request target. A server must accept the absolute-form
    (``http://host/path``) that clients send to proxies (RFC 9112 3.2.2); its authority names
    this server, whatever it spells."""
    scheme, separator, rest = target.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        return target
    ends = [at for at in (rest.find("/"), rest.find("?")) if at >= 0]
    path = rest[min(ends) :] if ends else ""
    return path if path.startswith("/") else f"/{path}"


def _format_retry_after(value: float | str) -> str:
    if isinstance(value, str):
        if not value or not all(" " <= char <= "~" for char in value):
            raise ValueError("retry_after must be printable ASCII")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(  # noqa: TRY004  (ValueError, as for every bad argument of the mock)
            "retry_after must be a number of seconds or a string"
        )
    if not _finite(value) or value < 0:
        raise ValueError("retry_after must be a finite number of seconds >= 0")
    if float(value).is_integer():
        return str(int(value))
    # Digits and a point, as HTTP's delta-seconds are read: repr() writes 1e-07.
    return format(Decimal(repr(float(value))), "f")


def _checked_portal_url(portal_url: object) -> str:
    """The base of the portal URLs the mock issues: one the SDK will accept in its answers
    (``redirect_problem``), else every call against the mock would fail."""
    if portal_url is None:
        return DEFAULT_PORTAL_URL
    # Here, not at the top: the mock alone runs without the generated client _inputs imports.
    from .._inputs import redirect_problem  # noqa: PLC0415

    if not isinstance(portal_url, str):
        raise ValueError(  # noqa: TRY004  (ValueError, as for every bad argument of the mock)
            f"portal_url must be a str, not {type(portal_url).__name__}"
        )
    problem = redirect_problem(portal_url)
    if problem is not None:
        raise ValueError(f"portal_url {problem}")
    base = urlsplit(portal_url)
    if base.fragment or TOKEN_PARAM in unquote_plus(base.query):
        raise ValueError("portal_url must have no fragment and no sdk_token of its own")
    return portal_url


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float: no finite number of seconds either
        return False


def _check_count(count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("count must be an int >= 0")
    return count


def _strings(value: object) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _is_http_url(value: str | None) -> bool:
    if value is None:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass(slots=True)
class _Scripted:
    """A ``fail_next`` or ``delay_next`` order: what to do, for how many more requests."""

    remaining: int
    reply: _Reply | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class _Incoming:
    method: str
    path: str  # without the query
    query: str
    route: Route | None  # None: no path of the spec
    params: Mapping[str, str]  # the decoded path parameters
    headers: Message
    body: bytes
    framing_error: _Reply | None  # why the body was not read
    parsed: object  # the JSON body, or _NO_JSON

    @property
    def operation(self) -> Operation | None:
        return None if self.route is None else self.route.operations.get(self.method)

    @property
    def user_id(self) -> str | None:
        """The parameter after ``/users/`` (``{id}``), whatever the spec names it: a renamed
        ``{user_id}`` is still the user, and ``/posts/{post_id}`` names none."""
        if self.route is None:
            return None
        segments = self.route.template.split("/")
        for before, segment in itertools.pairwise(segments):
            if before == "users" and segment[:1] == "{" and segment[-1:] == "}":
                return self.params.get(segment[1:-1])
        return None


def _fill_tokens(value: object, issue: Callable[[], tuple[str, str]]) -> object:
    """``value`` with a fresh token in every ``sdk_token`` string and the portal URL in every
    ``*portal_url`` string, at any depth: what a spec calls them is all the mock assumes."""
    if isinstance(value, list):
        return [_fill_tokens(item, issue) for item in value]
    if not isinstance(value, dict):
        return value
    filled: dict[str, object] = {}
    for name, item in value.items():
        if isinstance(item, str) and name == TOKEN_PARAM:
            filled[name] = issue()[0]
        elif isinstance(item, str) and name.endswith("portal_url"):
            filled[name] = issue()[1]
        else:
            filled[name] = _fill_tokens(item, issue)
    return filled


def _filtered(
    items: list[Any], filters: tuple[Filter, ...], query: str, *, built: bool
) -> list[Any]:
    """The items of a list answer that match the enum query parameters given, as the real API
    filters. Items the mock built (no example in the spec) stand for any item, so they are
    given a requested value first: a filtered call then gets a non-empty answer to test with."""
    pairs = parse_qsl(query, keep_blank_values=True)
    for where in filters:
        given = {value for name, value in pairs if name == where.name}
        wanted = [value for value in where.allowed if str(value) in given]
        if not wanted:
            continue  # not filtered on (a value outside the enum was already refused with 422)
        if built:
            value = list(wanted) if where.several else wanted[0]
            items = [
                {**item, where.name: value} if isinstance(item, dict) else item for item in items
            ]
        items = [item for item in items if _matches(item, where, wanted)]
    return items


def _matches(item: object, where: Filter, wanted: list[Any]) -> bool:
    if not isinstance(item, dict) or where.name not in item:
        return False
    value = item[where.name]
    values = value if where.several and isinstance(value, list) else [value]
    return any(_same_json(part, want) for part in values for want in wanted)


def _same_json(value: object, expected: object) -> bool:
    return type(value) is type(expected) and value == expected


def _coerce(schema: Mapping[str, Any], values: list[str]) -> object:
    """A parameter's text as the JSON value its schema describes."""
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        return [_coerce(items if isinstance(items, Mapping) else {}, [value]) for value in values]
    text = values[0]
    converters: dict[str, Callable[[str], object]] = {
        "integer": int,
        "number": float,
        "boolean": {"true": True, "false": False}.__getitem__,
    }
    convert = converters.get(str(kind))
    if convert is not None:
        with contextlib.suppress(ValueError, KeyError):
            return convert(text)
    return text  # left as text, so the validator reports the wrong type


# --- the HTTP layer ------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    """One daemon thread per connection, tracked so that ``stop()`` can end them all.

    The base class neither joins daemon threads nor closes idle keep-alive connections, so a
    stopped server would leave threads and sockets behind until their timeout.
    """

    request_queue_size = _LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], mock: MockTaptiServer) -> None:
        self.mock = mock
        # Set by stop(): a response held back by delay_next() is dropped instead of waited for.
        self.stopping = threading.Event()
        self._tracking_lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN (a DNS lookup); nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: _Request, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"MockTaptiServer:{self.server_port} connection",
            daemon=True,  # a server that is never stopped must not hold the interpreter open
        )
        with self._tracking_lock:
            if isinstance(request, socket.socket):
                self._open.add(request)
            self._connection_threads.add(thread)
        thread.start()

    def process_request_thread(self, request: _Request, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._tracking_lock:
                self._connection_threads.discard(threading.current_thread())

    def shutdown_request(self, request: _Request) -> None:
        # Under the lock, so that close_connections() never shuts down a socket being closed.
        with self._tracking_lock:
            if isinstance(request, socket.socket):
                self._open.discard(request)
            super().shutdown_request(request)

    def handle_error(self, request: _Request, client_address: Any) -> None:  # noqa: ARG002
        # The default prints a traceback to stderr; a client hanging up is routine for a mock.
        _LOG.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut down every open connection, then wait for the threads serving them to end."""
        with self._tracking_lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)  # the thread reads EOF and returns
            threads = list(self._connection_threads)
        for thread in threads:
            thread.join()


class _HeadLines:
    """A connection's reader that keeps the lines of the head being read, for ``_Handler`` to
    judge as RFC 9112 does; a body is read past it."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self.lines: list[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        line = self._raw.readline(limit)
        self.lines.append(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "MockTaptiServer"
    sys_version = ""
    timeout = 30.0  # an idle keep-alive connection is closed after this long
    # Buffered writes: the base class flushes once per request, so headers and body leave in one
    # segment; with Nagle off, no delayed-ACK stalls either.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self._head = _HeadLines(self.rfile)
        self.rfile = cast("io.BufferedIOBase", self._head)
        self._request_id: str | None = None
        self._linger = False

    def handle_one_request(self) -> None:
        self._head.lines.clear()  # the next request's head
        super().handle_one_request()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._linger:
                self._drain()

    def _drain(self) -> None:
        """Lingering close: half-close, then read what the client still sends, within limits."""
        connection = self.connection
        deadline = time.monotonic() + _LINGER_SECONDS
        received = 0
        try:
            connection.shutdown(socket.SHUT_WR)
            connection.settimeout(_LINGER_SECONDS)
            while time.monotonic() < deadline and received < _LINGER_MAX_BYTES:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += len(chunk)
        except OSError:
            pass

    def handle_expect_100(self) -> bool:
        # The base class would leave "100 Continue" in the write buffer until the final answer.
        result = super().handle_expect_100()
        self.wfile.flush()
        return result

    def _read_body(self) -> tuple[bytes, _Reply | None]:
        """The body, or why it was not read (then the connection closes after the answer)."""
        if self.headers.get("Transfer-Encoding") is not None:
            self._linger = True
            return b"", _LENGTH_REQUIRED
        lengths = self.headers.get_all("Content-Length")
        if not lengths:
            return b"", None  # HTTP/1.1: no Content-Length and no Transfer-Encoding, no body
        text = lengths[0].strip()
        if len(set(lengths)) != 1 or not (text.isascii() and text.isdigit()):
            self._linger = True
            return b"", _BAD_LENGTH
        digits = text.lstrip("0")
        length = int(digits or "0") if len(digits) <= _MAX_LENGTH_DIGITS else MAX_BODY_BYTES + 1
        if length > MAX_BODY_BYTES:
            self._linger = True
            return b"", _TOO_LARGE
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return body, _TRUNCATED
        return body, None

    def _dispatch(self) -> None:
        refused = self._head_refused()
        if refused is not None:
            self._linger = True  # the body is left unread
            self._send(refused)
            return
        # A socket error or timeout while reading ends the connection in the base class.
        body, framing_error = self._read_body()
        self.path = _origin_form(self.path)
        shown = _masked_path(self.path)
        delay = 0.0
        try:
            request_id, reply, delay = self.server.mock._answer(
                self.command, self.path, self.headers, body, framing_error
            )
        except Exception:
            _LOG.exception("MockTaptiServer failed on %s %s", self.command, shown)
            request_id, reply = self.server.mock._next_request_id(), _BUG
        if delay > 0 and self.server.stopping.wait(delay):
            self.close_connection = True  # stop() was called: the held answer is never sent
            return
        self._send(reply, request_id)
        if _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug("%s %s -> %d (%s)", self.command, shown, reply.status, request_id)

    def _head_refused(self) -> _Reply | None:
        """Why the request's head is no HTTP/1.x request the RFCs accept, or ``None``."""
        fields = self._head.lines[1:-1]  # between the request line and the empty line
        if not all(_FIELD_LINE.fullmatch(line) for line in fields):
            return _BAD_FIELD
        if not _VERSION.fullmatch(self.request_version):
            return _BAD_VERSION
        hosts = self.headers.get_all("Host") or ()
        if self.request_version != "HTTP/1.0" and (
            len(hosts) != 1 or not _HOST.fullmatch(hosts[0].strip())
        ):
            return _ONE_HOST  # HTTP/1.2 and later minors are read as 1.1 (RFC 9110 6.2)
        return None

    def __getattr__(self, name: str) -> Callable[[], None]:
        # handle_one_request() looks up do_<METHOD> and answers 501 when there is none. Every
        # method name, known to http.server or not (QUERY, FOO), is dispatched instead, so that
        # a path of the spec answers 405 with its Allow header, as HTTP asks.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _send(self, reply: _Reply, request_id: str | None = None) -> None:
        self._request_id = request_id
        self.send_response(reply.status)
        if reply.status != 204:  # RFC 9110 15.3.5: a 204 has no content, and no Content-Length
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.close or self._linger:
            self.send_header("Connection", "close")  # also ends the keep-alive loop
        self.end_headers()
        if self.command != "HEAD" and reply.status != 204:
            self.wfile.write(reply.body)

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        request_id, self._request_id = self._request_id, None
        self.send_header(REQUEST_ID_HEADER, request_id or self.server.mock._next_request_id())

    def send_error(
        self,
        code: int,
        message: str | None = None,
        explain: str | None = None,  # noqa: ARG002 - only the base class's HTML page uses it
    ) -> None:
        # Protocol errors found by the base class (bad request line, too many headers...) would be
        # answered in HTML; keep every answer JSON.
        self.log_error("code %d, message %s", code, message)
        # A request line refused before its version was read leaves http.server's default,
        # HTTP/0.9, under which it writes no status line or headers: a bare body.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"
        self._send(_message(code, message or HTTPStatus(code).phrase, close=True))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs each request once, with its request id

    def log_message(self, format: str, *args: Any) -> None:
        if _LOG.isEnabledFor(logging.DEBUG):
            # The base class quotes a refused request line whole, a portal URL's token with it.
            from .._errors import masked_url  # noqa: PLC0415  (with DEBUG on only)

            _LOG.debug("%s", masked_url(format % args))


# --- the public server ---------------------------------------------------------------------------


class MockTaptiServer:
    """A local, offline Tapti API: every operation of the bundled OpenAPI spec, over real HTTP.

    Use it as a context manager (``with MockTaptiServer(api_key="k") as server:``) or call
    ``start()``/``stop()``. For ``POST /users/{id}/sdk-token`` it answers, in this order: 400
    for a head RFC 9112 refuses; 404 for a path the spec does not declare, or whose ``{id}`` the
    SDK would not send (``..``, blank, a control character, bytes that are not UTF-8, once
    percent-decoded); 405 with ``Allow`` for an undeclared method on one of its paths, whatever
    the method's name; 401 unless the API key comes as one of the operation's security
    alternatives in the spec (the ``x-api-key`` header); 400 for a body not sent as
    ``application/json`` or that is not JSON (411 for a chunked one, 413 over 1 MiB); 422 with
    ``{"message", "errors": [{"field", "message"}]}`` for JSON the request schema refuses, and
    otherwise 200 with the response schema's object: ``oauth_portal_url`` is
    ``<portal_url>?sdk_token=<fresh token>&origin=<redirect_url>``. Every API answer is JSON
    (but a 204, which has no content) and carries an ``x-request-id`` header. A list answer is
    filtered by the enum query parameters the spec declares for its items' properties.

    ``portal=True`` also serves a stand-in for the OAuth Portal at ``/mock-portal`` and makes the
    issued portal URLs point there; ``portal_url`` (default Tapti's) sets their base otherwise.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        portal_url: str | None = None,
        portal: bool = False,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        if not (api_key.isascii() and api_key.isprintable()) or " " in api_key or "\\" in api_key:
            raise ValueError(
                "api_key must be printable ASCII without spaces or backslashes, as the SDK's is"
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
            raise ValueError(f"port must be an int from 0 (a free port) to {MAX_PORT}")
        if type(portal) is not bool:  # ValueError, as for every bad argument of the mock
            raise ValueError("portal must be True or False")
        if portal and portal_url is not None:
            raise ValueError("portal=True serves the portal itself: do not pass portal_url too")
        if not isinstance(host, str):
            raise ValueError(f"host must be a str, not {type(host).__name__}")  # noqa: TRY004
        if not host or not host.isprintable():
            # An empty host would bind every interface: anyone reaching this machine could
            # take tokens from it. Say "0.0.0.0" to mean that.
            raise ValueError(
                "host must be a printable, non-empty address or name (127.0.0.1 by default)"
            )
        base = urlsplit(_checked_portal_url(portal_url))
        self._api_key = api_key
        self._key_bytes = api_key.encode()
        self._address = (host, port)
        self._serves_portal = portal
        self._portal = base
        self._portal_query = parse_qsl(base.query, keep_blank_values=True)
        self._spec: Spec = load_spec()

        self._lock = threading.Lock()  # guards the recorded and scripted state below
        self._requests: list[RecordedRequest] = []
        self._tokens: dict[str, IssuedToken] = {}  # insertion order: oldest first
        self._failures: deque[_Scripted] = deque()
        self._delays: deque[_Scripted] = deque()
        self._ids = itertools.count(1)

        self._lifecycle = threading.Lock()  # serialises start() and stop()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Bind and serve from a daemon thread; does nothing when already running."""
        with self._lifecycle:
            if self._httpd is None:
                try:
                    httpd = _HTTPServer(self._address, self)
                except socket.gaierror as exc:  # a host that names no address here
                    host = self._address[0][:100]
                    raise ValueError(
                        f"host {host!r} cannot be served on ({exc.strerror})"
                    ) from None
                bound = httpd.server_address[0]
                if bound == _EVERY_INTERFACE and self._address[0] != _EVERY_INTERFACE:
                    httpd.server_close()  # "0", "0.0": every interface, said by accident
                    raise ValueError(
                        f"host {self._address[0][:100]!r} binds every interface; "
                        "say '0.0.0.0' if that is meant"
                    )
                thread = threading.Thread(
                    target=httpd.serve_forever,
                    kwargs={"poll_interval": 0.01},  # how quickly stop() is noticed
                    name=f"MockTaptiServer:{httpd.server_port}",
                    daemon=True,
                )
                thread.start()
                self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and every open connection.

        Returns once every thread of the server has ended, promptly even while ``delay_next``
        holds answers back (those are dropped); does nothing when not running.
        """
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            if httpd is None or thread is None:
                return
            httpd.stopping.set()
            httpd.shutdown()  # no new connections from here on
            httpd.close_connections()
            httpd.server_close()
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving (between ``start()`` and ``stop()``)."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``); only once started."""
        return self._running_httpd().server_port

    @property
    def url(self) -> str:
        """The base URL to give a client, e.g. ``http://127.0.0.1:54321``; only once started."""
        httpd = self._running_httpd()
        return f"http://{httpd.server_name}:{httpd.server_port}"

    @property
    def portal(self) -> bool:
        """Whether this server serves the stand-in OAuth Portal (``portal=True``)."""
        return self._serves_portal

    @property
    def portal_url(self) -> str:
        """The base of the issued ``oauth_portal_url``s (with ``portal=True``, only once started:
        ``<url>/mock-portal``)."""
        if self._serves_portal:
            return f"{self.url}{PORTAL_PATH}"
        return urlunsplit(self._portal)

    @property
    def api_key(self) -> str:
        """The key the server accepts (to configure the client under test)."""
        return self._api_key

    def _running_httpd(self) -> _HTTPServer:
        httpd = self._httpd
        if httpd is None:
            raise RuntimeError("MockTaptiServer is not running; call start() or use `with`")
        return httpd

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not running"
        return f"<MockTaptiServer {where}>"

    # what tests inspect and script

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request that reached routing, oldest first (a copy), portal pages included.

        Requests the HTTP layer rejects before routing (a malformed request line, too many
        headers) are answered in JSON but not recorded.
        """
        with self._lock:
            return list(self._requests)

    @property
    def issued_tokens(self) -> list[str]:
        """The SDK tokens handed out so far, oldest first (a copy)."""
        with self._lock:
            return list(self._tokens)

    def user_of(self, token: str) -> str | None:
        """The user id ``token`` was issued for: to check, under concurrent calls, that each
        caller got its own user's token. ``None`` for a token this mock did not issue (or
        forgot: ``clear``)."""
        with self._lock:
            issued = self._tokens.get(token)
        return None if issued is None else issued.user_id

    def clear(self) -> None:
        """Forget recorded requests and issued tokens (the portal then refuses them), and cancel
        pending ``fail_next`` failures and ``delay_next`` delays."""
        with self._lock:
            self._requests.clear()
            self._tokens.clear()
            self._failures.clear()
            self._delays.clear()

    def fail_next(
        self,
        count: int,
        *,
        status: int = 503,
        retry_after: float | str | None = None,
        body: object | None = None,
    ) -> None:
        """Answer the next ``count`` API requests with ``status`` instead of handling them.

        Any request that reaches routing counts, valid or not (the portal's pages do not).
        ``retry_after`` (seconds, or a string sent verbatim such as an HTTP date) adds a
        ``Retry-After`` header. ``body`` is sent as JSON (default
        ``{"message": "injected failure"}``); ``bytes`` are sent verbatim as ``text/plain``, to
        imitate a proxy's non-JSON error page. Calls queue up in order. Combine with
        ``delay_next`` for a slow failure: each request takes one of each.
        """
        _check_count(count)
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError("status must be an HTTP status code from 200 to 599")
        if status in (204, 304):
            raise ValueError("status must allow a response body (not 204 or 304)")
        headers = (
            () if retry_after is None else (("Retry-After", _format_retry_after(retry_after)),)
        )
        if isinstance(body, bytes):
            reply = _Reply(status, body, "text/plain; charset=utf-8", headers)
        else:
            try:
                reply = _json_reply(status, _INJECTED if body is None else body, headers)
            except (TypeError, ValueError, RecursionError) as exc:
                raise ValueError(
                    "body must be JSON-serialisable (no NaN or infinity, no absurd nesting), "
                    "or bytes"
                ) from exc
        if count:
            with self._lock:
                self._failures.append(_Scripted(count, reply=reply))

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Hold back the answers to the next ``count`` API requests for ``seconds`` each.

        The request is recorded when it arrives; its answer, whatever it is, leaves ``seconds``
        later. A delay longer than the client's timeout is a hang. Delays queue up in order and
        are taken independently of ``fail_next`` failures, so ``delay_next(2)`` with
        ``fail_next(1, status=503)`` makes the next answer a 503 sent after 2 s. ``stop()`` does
        not wait for a held answer: it drops it and closes the connection.
        """
        _check_count(count)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not _finite(seconds)
            or not 0 <= seconds <= threading.TIMEOUT_MAX  # a longer wait raises in the thread
        ):
            raise ValueError(f"seconds must be a number from 0 to {threading.TIMEOUT_MAX:.0f}")
        if count:
            with self._lock:
                self._delays.append(_Scripted(count, delay=float(seconds)))

    # request handling (called from connection threads)

    def _next_request_id(self) -> str:
        return f"req_{next(self._ids)}"  # next() on a count is atomic in CPython

    def _answer(
        self, method: str, path: str, headers: Message, body: bytes, framing_error: _Reply | None
    ) -> tuple[str, _Reply, float]:
        """The answer and how long to hold it. The request is recorded before the answer is
        sent, so a test that has the response always finds the request in ``requests``."""
        request_id = self._next_request_id()
        incoming = self._incoming(method, path, headers, body, framing_error)
        delay = 0.0
        try:
            if self._is_portal_path(incoming.path):
                reply = self._portal_reply(incoming)
            else:
                failure, delay = self._take_scripted()
                reply = failure or self._decide(incoming)
        except Exception:
            _LOG.exception("MockTaptiServer failed on %s %s", method, _masked_path(path))
            reply = _BUG
        record = RecordedRequest(
            method=method,
            path=_masked_path(path),
            user_id=incoming.user_id,
            headers=types.MappingProxyType(self._recorded_headers(headers)),
            json=None if incoming.parsed is _NO_JSON else incoming.parsed,
            status=reply.status,
            request_id=request_id,
        )
        with self._lock:
            self._requests.append(record)
        return request_id, reply, delay

    def _recorded_headers(self, headers: Message) -> dict[str, str]:
        """The headers with lower-case names, every credential masked: the headers the spec's
        apiKey schemes name, the usual credential headers, and any header carrying the key."""
        secret = self._spec.secret_headers | _CREDENTIAL_HEADERS
        keys = {self._api_key, f"Bearer {self._api_key}"}  # e.g. under a header renamed since
        recorded: dict[str, str] = {}
        for name, value in headers.items():
            key = name.lower()
            shown = MASK if key in secret or value.strip() in keys else value
            recorded[key] = f"{recorded[key]}, {shown}" if key in recorded else shown
        return recorded

    def _incoming(
        self, method: str, path: str, headers: Message, body: bytes, framing_error: _Reply | None
    ) -> _Incoming:
        raw_path, _, query = path.partition("?")
        found = self._spec.route_for(method, raw_path)
        route, params = found if found is not None else (None, {})
        parsed = _parse_json(body)
        return _Incoming(
            method, raw_path, query, route, params, headers, body, framing_error, parsed
        )

    def _take_scripted(self) -> tuple[_Reply | None, float]:
        """The pending failure and delay for this request, each used up by one."""
        with self._lock:
            failure = _take(self._failures)
            delay = _take(self._delays)
        return (
            None if failure is None else failure.reply,
            0.0 if delay is None else delay.delay,
        )

    def _decide(self, incoming: _Incoming) -> _Reply:
        # The checks in the documented order; the first problem found is the answer.
        operation = incoming.operation
        if incoming.route is None:
            return self._not_found()
        if operation is None:
            return _not_allowed(incoming.route.allow)
        return (
            self._key_problem(operation, incoming.headers)
            or incoming.framing_error
            or _body_problem(operation, incoming)
            or self._request_problem(operation, incoming)
            or self._respond(operation, incoming)
        )

    def _not_found(self) -> _Reply:
        served = "; ".join(
            f"{' '.join(route.operations)} {route.template}" for route in self._spec.routes
        )
        return _message(404, f"not found; the mock serves {served}")

    def _key_problem(self, operation: Operation, headers: Message) -> _Reply | None:
        """401 unless the request meets one of the operation's security alternatives."""
        if not operation.security or any(
            self._presents_key(credentials, headers) for credentials in operation.security
        ):
            return None
        return _UNAUTHORIZED

    def _presents_key(self, credentials: Credentials, headers: Message) -> bool:
        if not credentials.checkable:
            return False
        # A field value's surrounding spaces and tabs are not part of it (RFC 9110, 5.5).
        presented = [
            [value.strip(" \t") for value in headers.get_all(name) or []] or None
            for name in credentials.key_headers
        ]
        if credentials.bearer:
            presented.append(
                [
                    value.strip(" \t").removeprefix("Bearer ")
                    for value in headers.get_all("Authorization") or []
                ]
            )
        # The header arrives decoded as latin-1; comparing bytes works for any key.
        return all(
            values is not None
            and len(values) == 1
            and hmac.compare_digest(values[0].encode("latin-1"), self._key_bytes)
            for values in presented
        )

    def _request_problem(self, operation: Operation, incoming: _Incoming) -> _Reply | None:
        errors = self._parameter_errors(operation, incoming)
        message = "request parameters do not match the spec"
        if operation.body_schema is not None and incoming.parsed is not _NO_JSON:
            body_errors = self._spec.validate(operation.body_schema, incoming.parsed)
            if body_errors:
                message = f"request body does not match {operation.body_name}"
            errors += body_errors
        if not errors:
            return None
        return _json_reply(422, {"message": message, "errors": errors})

    def _parameter_errors(self, operation: Operation, incoming: _Incoming) -> list[FieldError]:
        query = parse_qsl(incoming.query, keep_blank_values=True)
        errors: list[FieldError] = []
        for parameter in operation.parameters:
            name, place = parameter["name"], parameter["in"]
            if place == "path":
                values = [incoming.params[name]] if name in incoming.params else []
            elif place == "query":
                values = [value for key, value in query if key == name]
            else:
                values = incoming.headers.get_all(name) or []
            if not values:
                if parameter.get("required"):
                    errors.append({"field": f"{place}.{name}", "message": "is required"})
                continue
            schema = self._spec.resolve(parameter.get("schema", {}))
            value = _coerce(schema, values)
            errors += self._spec.validate(schema, value, f"{place}.{name}")
        return errors

    def _respond(self, operation: Operation, incoming: _Incoming) -> _Reply:
        """The success response, built from the response schema (its examples and types)."""
        schema = operation.response_schema
        if schema is None:
            return _Reply(operation.status, b"")
        issued: list[tuple[str, str]] = []

        def issue() -> tuple[str, str]:
            if not issued:
                issued.append(self._issue(incoming))
            return issued[0]

        payload = _fill_tokens(self._spec.example(schema), issue)
        if operation.filters and isinstance(payload, list):
            built = not self._spec.has_example(schema)
            payload = _filtered(payload, operation.filters, incoming.query, built=built)
        errors = self._spec.validate(schema, payload)
        if errors:  # an example of the spec contradicts its own schema
            _LOG.error("MockTaptiServer built a response its spec refuses: %s", errors)
            return _json_reply(500, {"message": "the spec's example is invalid", "errors": errors})
        return _json_reply(operation.status, payload)

    def _issue(self, incoming: _Incoming) -> tuple[str, str]:
        """A fresh SDK token, remembered for the portal, and the portal URL carrying it."""
        token = secrets.token_urlsafe(32)
        body = incoming.parsed if isinstance(incoming.parsed, dict) else {}
        redirect_url = body.get("redirect_url")
        callback_url = body.get("callback_url")
        issued = IssuedToken(
            user_id=incoming.user_id,
            platforms=_strings(body.get("user_platforms")),
            scopes=_strings(body.get("enabled_scopes")),
            redirect_url=redirect_url if isinstance(redirect_url, str) else None,
            callback_url=callback_url if isinstance(callback_url, str) else None,
        )
        with self._lock:
            self._tokens[token] = issued
        params = [*self._portal_query, (TOKEN_PARAM, token)]
        if issued.redirect_url is not None:
            params.append((ORIGIN_PARAM, issued.redirect_url))
        base = urlsplit(self.portal_url)
        return token, urlunsplit(base._replace(query=urlencode(params)))

    # the stand-in OAuth Portal

    def _is_portal_path(self, path: str) -> bool:
        # The browser's favicon request is the portal's too: it must not use up a fail_next.
        return self._serves_portal and path in (PORTAL_PATH, CONTINUE_PATH, "/favicon.ico")

    def _portal_reply(self, incoming: _Incoming) -> _Reply:
        if incoming.path == PORTAL_PATH:
            if incoming.method not in ("GET", "HEAD"):
                return _page(405, "Method not allowed", "Open this page with GET.", _ALLOW_GET)
            return self._portal_view(parse_qsl(incoming.query, keep_blank_values=True))
        if incoming.path == CONTINUE_PATH:
            if incoming.method != "POST":
                return _page(
                    405, "Method not allowed", "The portal's button POSTs here.", _ALLOW_POST
                )
            form = parse_qsl(incoming.body.decode("utf-8", "replace"), keep_blank_values=True)
            return self._portal_finish(form)
        return _page(404, "Not found", "The mock portal has no such page.")

    def _portal_token(self, pairs: list[tuple[str, str]]) -> tuple[str, IssuedToken] | _Reply:
        """The one ``sdk_token`` of ``pairs`` and what was issued for it, or the page refusing it.

        Called under ``self._lock``.
        """
        tokens = [value for name, value in pairs if name == TOKEN_PARAM]
        if len(tokens) != 1 or not tokens[0]:
            return _page(400, "No SDK token", "A portal URL carries exactly one sdk_token.")
        issued = self._tokens.get(tokens[0])
        if issued is None:
            return _UNKNOWN_TOKEN
        if issued.used:
            return _USED_TOKEN
        return tokens[0], issued

    def _portal_view(self, pairs: list[tuple[str, str]]) -> _Reply:
        with self._lock:
            found = self._portal_token(pairs)
        if isinstance(found, _Reply):
            return found
        token, issued = found
        # In any case, as the SDK writes it (lower) and whatever case the spec gives a value.
        spelled = {platform.upper(): platform for platform in issued.platforms}
        # ASCII only: str.upper() makes "TIKTOK" of a look-alike written with a dotless i.
        chosen = [
            spelled.get(value.upper(), value) if value.isascii() else value
            for name, value in pairs
            if name == PLATFORM_PARAM
        ]
        if len(chosen) > 1 or (chosen and chosen[0] not in issued.platforms):
            mine = ", ".join(platform.lower() for platform in issued.platforms) or "none"
            return _page(
                400,
                "Not a platform of this token",
                f"platform= must name one of this token's platforms ({mine}).",
            )
        shown = tuple(chosen) or issued.platforms
        return _Reply(200, portal_page(token, issued, shown), _HTML, HEADERS)

    def _portal_finish(self, form: list[tuple[str, str]]) -> _Reply:
        """The button: use the token up and send the browser to its ``redirect_url``."""
        with self._lock:
            found = self._portal_token(form)
            if isinstance(found, _Reply):
                return found
            issued = found[1]
            if not _is_http_url(issued.redirect_url):
                return _page(
                    400,
                    "No redirect URL to follow",
                    "This token's redirect_url is not an absolute http(s) URL.",
                )
            issued.used = True
        # Percent-encode what a header cannot carry (non-ASCII, spaces, CR/LF); keep the rest.
        location = quote(str(issued.redirect_url), safe=":/?#[]@!$&'()*+,;=%~")
        body = error_page("Back to your app", "Redirecting to the redirect URL.")
        return _Reply(303, body, _HTML, (*HEADERS, ("Location", location)))


_ALLOW_GET: Final = (("Allow", "GET, HEAD"),)
_ALLOW_POST: Final = (("Allow", "POST"),)


def _take(queue: deque[_Scripted]) -> _Scripted | None:
    """The order at the head of ``queue``, used once (called under the server's lock)."""
    if not queue:
        return None
    order = queue[0]
    order.remaining -= 1
    if order.remaining == 0:
        queue.popleft()
    return order


def _body_problem(operation: Operation, incoming: _Incoming) -> _Reply | None:
    if operation.body_schema is None or (not incoming.body and not operation.body_required):
        return None
    if not is_json_media_type(incoming.headers.get("Content-Type")):
        return _NOT_JSON_TYPE
    if not incoming.body:
        return _EMPTY
    if incoming.parsed is _NO_JSON:
        return _LONE_SURROGATE if _parses(incoming.body) else _BAD_JSON
    return None


def _parses(body: bytes) -> bool:
    """Whether ``body`` is JSON (all that ``_parse_json`` refuses besides is a lone surrogate)."""
    try:
        _loads(body)
    except (ValueError, RecursionError):
        return False
    return True
