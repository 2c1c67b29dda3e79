"""MockTaptiServer: the sdk-token endpoint served over real HTTP from a background thread.

Built on the standard library only (``http.server``), so testing with it adds no dependency. What
it accepts is derived from the generated ``CreateSdkTokenRequest`` model, so the mock follows the
spec after ``make generate`` instead of restating it.
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import logging
import math
import secrets
import socket
import socketserver
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from enum import Enum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Self, TypeAlias, Union, get_args, get_origin, get_type_hints
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import attrs
from tapti_api_client.models import CreateSdkTokenRequest, CreateSdkTokenResponse
from tapti_api_client.types import Unset

__all__ = ["MockTaptiServer", "RecordedRequest"]

_LOG: Final = logging.getLogger("tapti_ext.testing")

_MAX_BODY_BYTES: Final = 1024 * 1024
_PATH_TEMPLATE: Final = "/users/{id}/sdk-token"  # the spec's path, the one route served
_PREFIX, _SUFFIX = _PATH_TEMPLATE.split("{id}")
# Values a test could leak through ``server.requests``; the key is never stored in clear.
_SECRET_HEADERS: Final = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
_MASK: Final = "***"
_JSON: Final = "application/json"
# Enough for a load test's burst of connections; the kernel caps it at somaxconn.
_LISTEN_BACKLOG: Final = 1024
# A connection whose request body was not read is drained this long before closing, so the client
# reads the answer instead of a reset.
_LINGER_SECONDS: Final = 2.0
_LINGER_MAX_BYTES: Final = 64 * 1024 * 1024

_Request: TypeAlias = socket.socket | tuple[bytes, socket.socket]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the mock answered, as a test wants to assert on it.

    ``headers`` has lower-case names, with credentials (``x-api-key``, ``authorization``, ...)
    replaced by ``"***"``. ``json`` is the parsed body, or ``None`` when there was none or it was
    not JSON. ``status`` is what the mock answered and ``request_id`` the ``x-request-id`` it sent.
    """

    method: str
    path: str
    user_id: str | None
    headers: Mapping[str, str]
    json: Any
    status: int
    request_id: str


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
    return _Reply(status, json.dumps(payload).encode(), _JSON, headers, close)


def _message(status: int, message: str, *, close: bool = False) -> _Reply:
    return _json_reply(status, {"message": message}, close=close)


_NOT_FOUND: Final = _message(404, f"not found; the mock serves POST {_PATH_TEMPLATE}")
_NOT_ALLOWED: Final = _json_reply(
    405, {"message": "method not allowed; use POST"}, (("Allow", "POST"),)
)
_UNAUTHORIZED: Final = _message(401, "invalid or missing API key")
_LENGTH_REQUIRED: Final = _message(411, "send the body with a Content-Length", close=True)
_TOO_LARGE: Final = _message(413, f"request body exceeds {_MAX_BODY_BYTES} bytes", close=True)
_BAD_LENGTH: Final = _message(400, "invalid Content-Length header", close=True)
_TRUNCATED: Final = _message(400, "request body is shorter than its Content-Length", close=True)
_NOT_JSON_TYPE: Final = _message(400, "Content-Type must be application/json")
_EMPTY: Final = _message(400, "request body is empty; expected a JSON object")
_BAD_JSON: Final = _message(400, "request body is not valid JSON")
_BUG: Final = _message(500, "MockTaptiServer failed to handle the request (a bug in the mock)")
_INVALID_BODY: Final = "request body does not match CreateSdkTokenRequest"
_INJECTED: Final = {"message": "injected failure"}


# --- request validation, derived from the generated model -----------------------------------

_Errors = list[dict[str, str]]
_Check = Callable[[str, object, _Errors], None]


def _check_string(field: str, value: object, errors: _Errors) -> None:
    if not isinstance(value, str):
        errors.append({"field": field, "message": "must be a string"})


def _check_enum(enum: type[Enum]) -> _Check:
    allowed = frozenset(member.value for member in enum)
    listing = ", ".join(sorted(allowed))

    def check(field: str, value: object, errors: _Errors) -> None:
        if not isinstance(value, str):
            errors.append({"field": field, "message": "must be a string"})
        elif value not in allowed:
            errors.append({"field": field, "message": f"must be one of {listing}"})

    return check


def _check_array(item: _Check) -> _Check:
    def check(field: str, value: object, errors: _Errors) -> None:
        if not isinstance(value, list):
            errors.append({"field": field, "message": "must be an array"})
            return
        for index, element in enumerate(value):
            item(f"{field}[{index}]", element, errors)

    return check


def _check_nullable(inner: _Check) -> _Check:
    def check(field: str, value: object, errors: _Errors) -> None:
        if value is not None:
            inner(field, value, errors)

    return check


def _check_for(hint: object) -> _Check:
    """The check for one annotation of a generated model: the type checks ``from_dict`` skips."""
    if hint is str:
        return _check_string
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _check_enum(hint)
    origin = get_origin(hint)
    if origin is list:
        (item,) = get_args(hint)
        return _check_array(_check_for(item))
    if origin in (Union, types.UnionType):
        # Optional properties are `Unset | T`; nullable ones add `None`.
        members = [arg for arg in get_args(hint) if arg is not Unset]
        nullable = type(None) in members
        members = [arg for arg in members if arg is not type(None)]
        if len(members) == 1:
            check = _check_for(members[0])
            return _check_nullable(check) if nullable else check
    # Fail at import, where a regenerated model with a new kind of property is noticed at once.
    raise TypeError(f"MockTaptiServer cannot validate a property of type {hint!r}")


def _body_fields() -> tuple[tuple[str, bool, _Check], ...]:
    hints = get_type_hints(CreateSdkTokenRequest)
    return tuple(
        (field.name, field.default is attrs.NOTHING, _check_for(hints[field.name]))
        for field in attrs.fields(CreateSdkTokenRequest)
        if field.init
    )


_BODY_FIELDS: Final = _body_fields()


def _validate(data: object) -> _Errors:
    """Every way ``data`` misses the request schema; empty when it matches."""
    if not isinstance(data, dict):
        return [{"field": "body", "message": "must be a JSON object"}]
    errors: _Errors = []
    for name, required, check in _BODY_FIELDS:
        if name in data:
            check(name, data[name], errors)
        elif required:
            errors.append({"field": name, "message": "is required"})
    return errors


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_NO_JSON: Final = object()


def _parse_json(body: bytes) -> object:
    """The parsed body, or ``_NO_JSON`` (``None`` is a valid JSON document)."""
    if not body:
        return _NO_JSON
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _NO_JSON


def _user_id(raw_path: str) -> str | None:
    """The decoded ``{id}`` when the path is the endpoint's; the id must be one raw segment."""
    path = raw_path.partition("?")[0]
    if (
        len(path) > len(_PREFIX) + len(_SUFFIX)
        and path.startswith(_PREFIX)
        and path.endswith(_SUFFIX)
    ):
        segment = path[len(_PREFIX) : -len(_SUFFIX)]
        if "/" not in segment:
            return unquote(segment)
    return None


def _is_json_media_type(content_type: str | None) -> bool:
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == _JSON


def _format_retry_after(value: float | str) -> str:
    if isinstance(value, str):
        if not value or not all(" " <= char <= "~" for char in value):
            raise ValueError("retry_after must be printable ASCII")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("retry_after must be a number of seconds or a string")
    if not math.isfinite(value) or value < 0:
        raise ValueError("retry_after must be a finite number of seconds >= 0")
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(slots=True)
class _Failure:
    remaining: int
    reply: _Reply


@dataclass(frozen=True, slots=True)
class _Incoming:
    method: str
    user_id: str | None  # None: not the endpoint's path
    headers: Message
    body: bytes
    framing_error: _Reply | None  # why the body was not read
    parsed: object  # the JSON body, or _NO_JSON


def _route_problem(incoming: _Incoming) -> _Reply | None:
    if incoming.user_id is None:
        return _NOT_FOUND
    if incoming.method != "POST":
        return _NOT_ALLOWED
    return None


def _body_problem(incoming: _Incoming) -> _Reply | None:
    if not _is_json_media_type(incoming.headers.get("Content-Type")):
        return _NOT_JSON_TYPE
    if not incoming.body:
        return _EMPTY
    if incoming.parsed is _NO_JSON:
        return _BAD_JSON
    return None


# --- the HTTP layer ------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    """One daemon thread per connection, tracked so that ``stop()`` can end them all.

    The base class neither joins daemon threads nor closes idle keep-alive connections, so a
    stopped server would leave threads and sockets behind until their timeout.
    """

    request_queue_size = _LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], mock: MockTaptiServer) -> None:
        self.mock = mock
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
        self._request_id: str | None = None
        self._linger = False

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
        length = int(text)
        if length > _MAX_BODY_BYTES:
            self._linger = True
            return b"", _TOO_LARGE
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return body, _TRUNCATED
        return body, None

    def _dispatch(self) -> None:
        # A socket error or timeout while reading ends the connection in the base class.
        body, framing_error = self._read_body()
        try:
            request_id, reply = self.server.mock._answer(
                self.command, self.path, self.headers, body, framing_error
            )
        except Exception:
            _LOG.exception("MockTaptiServer failed on %s %s", self.command, self.path)
            request_id, reply = self.server.mock._next_request_id(), _BUG
        self._send(reply, request_id)
        if _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug("%s %s -> %d (%s)", self.command, self.path, reply.status, request_id)

    # The base class dispatches on do_<METHOD>; every method is routed so that others get a 405.
    do_POST = do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = _dispatch  # noqa: N815

    def _send(self, reply: _Reply, request_id: str | None = None) -> None:
        self._request_id = request_id
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.close or self._linger:
            self.send_header("Connection", "close")  # also ends the keep-alive loop
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        request_id, self._request_id = self._request_id, None
        self.send_header("x-request-id", request_id or self.server.mock._next_request_id())

    def send_error(
        self,
        code: int,
        message: str | None = None,
        explain: str | None = None,  # noqa: ARG002 - only the base class's HTML page uses it
    ) -> None:
        # Protocol errors found by the base class (bad request line, too many headers...) would be
        # answered in HTML; keep every answer JSON.
        self.log_error("code %d, message %s", code, message)
        self._send(_message(code, message or HTTPStatus(code).phrase, close=True))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs each request once, with its request id

    def log_message(self, format: str, *args: Any) -> None:
        if _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug(format, *args)


# --- the public server ---------------------------------------------------------------------------


class MockTaptiServer:
    """A local, offline Tapti API serving ``POST /users/{id}/sdk-token`` as the spec describes.

    Use it as a context manager (``with MockTaptiServer(api_key="k") as server:``) or call
    ``start()``/``stop()``. It answers, in this order: 404 for another path (405 with
    ``Allow: POST`` for another method on the endpoint), 401 when ``x-api-key`` is missing or
    wrong, 400 for a body that is not JSON (411/413 for one without a length or over 1 MiB), 422
    with ``{"message", "errors": [{"field", "message"}]}`` for JSON that is not a valid
    ``CreateSdkTokenRequest``, and otherwise 200 with
    ``{"oauth_portal_url": "<portal_url>?sdk_token=<fresh token>&origin=<redirect_url>"}``.
    Every answer is JSON and carries an ``x-request-id`` header.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        portal_url: str = "https://oauth.tapti.dev",
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        if not (api_key.isascii() and api_key.isprintable()):
            raise ValueError("api_key must be printable ASCII, as an HTTP header value is")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError("port must be an int from 0 (a free port) to 65535")
        portal = urlsplit(portal_url)
        if portal.scheme not in ("http", "https") or not portal.netloc or portal.fragment:
            raise ValueError("portal_url must be an absolute http(s) URL without a fragment")
        self._api_key = api_key
        self._key_bytes = api_key.encode()
        self._address = (host, port)
        self._portal_url = portal_url
        self._portal = portal
        self._portal_query = parse_qsl(portal.query, keep_blank_values=True)

        self._lock = threading.Lock()  # guards the recorded state below
        self._requests: list[RecordedRequest] = []
        self._tokens: list[str] = []
        self._failures: deque[_Failure] = deque()
        self._ids = itertools.count(1)

        self._lifecycle = threading.Lock()  # serialises start() and stop()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Bind and serve from a daemon thread; does nothing when already running."""
        with self._lifecycle:
            if self._httpd is None:
                httpd = _HTTPServer(self._address, self)
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

        Returns once every thread of the server has ended; does nothing when not running.
        """
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            if httpd is None or thread is None:
                return
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
    def portal_url(self) -> str:
        """The base of the ``oauth_portal_url`` answers."""
        return self._portal_url

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
        """Every request that reached routing, oldest first (a copy).

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

    def clear(self) -> None:
        """Forget recorded requests and issued tokens, and cancel pending ``fail_next`` failures."""
        with self._lock:
            self._requests.clear()
            self._tokens.clear()
            self._failures.clear()

    def fail_next(
        self,
        count: int,
        *,
        status: int = 503,
        retry_after: float | str | None = None,
        body: object | None = None,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` instead of handling them.

        Any request that reaches routing counts, valid or not. ``retry_after`` (seconds, or a
        string sent verbatim such as an HTTP date) adds a ``Retry-After`` header. ``body`` is sent
        as JSON (default ``{"message": "injected failure"}``); ``bytes`` are sent verbatim as
        ``text/plain``, to imitate a proxy's non-JSON error page. Calls queue up in order.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("count must be an int >= 0")
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
            except (TypeError, ValueError) as exc:
                raise ValueError("body must be JSON-serialisable, or bytes") from exc
        if count:
            with self._lock:
                self._failures.append(_Failure(count, reply))

    # request handling (called from connection threads)

    def _next_request_id(self) -> str:
        return f"req_{next(self._ids)}"  # next() on a count is atomic in CPython

    def _answer(
        self, method: str, path: str, headers: Message, body: bytes, framing_error: _Reply | None
    ) -> tuple[str, _Reply]:
        """Decide the answer and record the request before it is sent, so a test that has the
        response always finds the request in ``requests``."""
        request_id = self._next_request_id()
        incoming = _Incoming(
            method, _user_id(path), headers, body, framing_error, _parse_json(body)
        )
        try:
            reply = self._decide(incoming)
        except Exception:
            _LOG.exception("MockTaptiServer failed on %s %s", method, path)
            reply = _BUG
        record = RecordedRequest(
            method=method,
            path=path,
            user_id=incoming.user_id,
            headers=types.MappingProxyType(_recorded_headers(headers)),
            json=None if incoming.parsed is _NO_JSON else incoming.parsed,
            status=reply.status,
            request_id=request_id,
        )
        with self._lock:
            self._requests.append(record)
        return request_id, reply

    def _decide(self, incoming: _Incoming) -> _Reply:
        # The checks in the documented order; the first problem found is the answer.
        return (
            self._take_failure()
            or _route_problem(incoming)
            or self._key_problem(incoming.headers)
            or incoming.framing_error
            or _body_problem(incoming)
            or self._create(incoming.parsed)
        )

    def _key_problem(self, headers: Message) -> _Reply | None:
        keys = headers.get_all("x-api-key")
        if not keys or len(keys) != 1:
            return _UNAUTHORIZED
        # The header arrives decoded as latin-1; comparing bytes works for any key.
        if not hmac.compare_digest(keys[0].encode("latin-1"), self._key_bytes):
            return _UNAUTHORIZED
        return None

    def _create(self, parsed: object) -> _Reply:
        errors = _validate(parsed)
        if not errors and isinstance(parsed, dict):
            try:
                request = CreateSdkTokenRequest.from_dict(parsed)
            except (KeyError, TypeError, ValueError):
                errors = [{"field": "body", "message": "rejected by the generated model"}]
            else:
                return _json_reply(200, self._issue(request).to_dict())
        return _json_reply(422, {"message": _INVALID_BODY, "errors": errors})

    def _take_failure(self) -> _Reply | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining == 0:
                self._failures.popleft()
            return failure.reply

    def _issue(self, request: CreateSdkTokenRequest) -> CreateSdkTokenResponse:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens.append(token)
        query = urlencode(
            [*self._portal_query, ("sdk_token", token), ("origin", request.redirect_url)]
        )
        return CreateSdkTokenResponse(
            oauth_portal_url=urlunsplit(self._portal._replace(query=query))
        )


def _recorded_headers(headers: Message) -> dict[str, str]:
    recorded: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        shown = _MASK if key in _SECRET_HEADERS else value
        recorded[key] = f"{recorded[key]}, {shown}" if key in recorded else shown
    return recorded
