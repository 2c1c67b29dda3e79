"""One API call, whatever the operation: its request, and the judgement of each attempt.

A call is built from what the generated code says of the operation (``_get_kwargs``: method,
percent-encoded path, JSON body, headers), plus the caller's extras; it is sent by ``_pipeline``
as often as the retry policy and the deadline allow. ``Call.settle`` is the one place that
decides, from an attempt's outcome alone, whether to return, wait and retry, or raise: it does
no I/O, so the sync and async clients share it, and it is tested without sockets.

The classes here are plain ones with ``__slots__``: import time is most of a cold start, and
creating an attrs class costs ~0.3 ms, a NamedTuple ~70 µs, a plain class ~6 µs.
"""

from __future__ import annotations

import datetime
import itertools
import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from typing import Any, Final, Generic, TypeAlias, TypeVar

import httpx2
from tapti_api_client._unknown import KEEP_UNKNOWN

from ._constants import DEFAULT_MAX_RETRIES, MAX_BODY_BYTES, header_as_read
from ._deadline import Deadline
from ._decode import BodyTooLargeError
from ._errors import (
    APIResponseValidationError,
    APITimeoutError,
    InvalidInputError,
    TaptiError,
    describe_transport_error,
    excerpt,
    forget_locals,
    h11_words,
    lasting_failure,
    redacted_content,
    status_error_from_response,
)
from ._inputs import MAX_TIMEOUT_SECONDS, Timeout
from ._masking import ShapeError, masked
from ._names import API_KEY_HEADER, OPERATIONS

__all__ = [
    "DEFAULT_PORTS",
    "SDK_BODY_HEADERS",
    "STAND_IN",
    "Answer",
    "Call",
    "Extras",
    "RetryPolicy",
    "Sources",
    "Target",
    "Unreadable",
    "as_response",
    "check_operation_request",
    "error_response",
    "extras_of",
    "host_and_port",
    "is_token",
    "json_object",
    "model_from",
    "parse_retry_after",
    "parsed_base",
    "request_parts",
]

log: Final = logging.getLogger("tapti_ext")

_T = TypeVar("_T")
_M = TypeVar("_M")


# When to try again (a loop of our own, not stamina or tenacity: the decision needs the HTTP
# answer and must hand the last error back untouched). Transient by nature: timeouts,
# conflicts with in-flight state, rate limits, server failures.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


# A pattern: ``re`` compiles it at the first Retry-After (~0.2 ms), not on the import path.
_DELTA_SECONDS: Final = r"[0-9]+(?:\.[0-9]+)?"


def parse_retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP date), or ``None``."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    # HTTP's delta-seconds are digits (a fraction is read too); float() would also take "-5",
    # "1_0", "inf" and Arabic-Indic digits, none of which is advice a server can mean.
    if re.fullmatch(_DELTA_SECONDS, value):
        seconds = float(value)  # 400 digits read as inf: "not soon", capped below
    else:
        try:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:  # asctime's form, which RFC 9110 has recipients read as GMT
                when = when.replace(tzinfo=datetime.UTC)
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    # 400 digits or a date in the year 9999 mean "not soon": kept a wait a caller can still
    # sleep on or round (inf breaks int(), time.sleep() and asyncio.sleep()).
    return min(max(seconds, 0.0), MAX_TIMEOUT_SECONDS)


# The operating system's randomness: a program's random.seed() neither shifts nor fixes it, so
# workers seeded alike still spread their retries, and forked children differ.
_JITTER: Final = random.SystemRandom()


class RetryPolicy:
    """Exponential backoff, each wait drawn between half and all of its ceiling, capped; the
    server's ``Retry-After`` wins when sane.

    ``max_retries`` counts retries, not attempts: 2 means at most 3 requests.
    """

    __slots__ = ("max_retries",)
    initial_delay: Final = 0.5
    max_delay: Final = 8.0
    # A Retry-After beyond this is a server saying "not soon": raise, not hang a worker.
    max_retry_after: Final = 60.0

    def __init__(self, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        self.max_retries = max_retries

    def should_retry_status(self, status: int) -> bool:
        return status in RETRYABLE_STATUSES or status >= 500

    def delay(self, retries_done: int, retry_after: float | None = None) -> float | None:
        """Seconds to sleep before retry number ``retries_done + 1``, or ``None`` to give up."""
        if retries_done >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        # The exponent is capped too: 2.0**1024 overflows long before max_delay applies.
        ceiling = min(self.initial_delay * 2.0 ** min(retries_done, 32), self.max_delay)
        # Jitter between half and all of the ceiling spreads clients that failed together.
        return ceiling * (0.5 + _JITTER.random() / 2)


DEFAULT_PORTS: Final = {"https": 443, "http": 80}
_CLOSED_DURING_CALL: Final = "the client was closed during the call"


# A proxy's too: httpcore2 connects to a SOCKS proxy given without a port on 1080.
_SHOWN_PORTS: Final = {**DEFAULT_PORTS, "socks5": 1080, "socks5h": 1080}


def host_and_port(url: httpx2.URL) -> str:
    """``host:port`` as a URL writes them (an IPv6 address in brackets), the port filled in."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port or _SHOWN_PORTS.get(url.scheme)}"


# Marks the response an error keeps when no status line was read (``Call._stand_in``).
STAND_IN: Final = "tapti_stand_in"


# RFC 9110 token characters; values may hold no control character but tab. Strings, compiled
# (and cached by ``re``) on first use: most programs never pass extra headers.
_HEADER_NAME: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_HEADER_VALUE_FORBIDDEN: Final = r"[\x00-\x08\x0a-\x1f\x7f]"
# What the SDK sets on every request and no one else may: the key, and where and how the body goes.
_SDK_HEADERS: Final = frozenset({API_KEY_HEADER, "host", "content-length", "transfer-encoding"})
# ... and what a lent client's default headers may not add either: the SDK encodes its body.
SDK_BODY_HEADERS: Final = _SDK_HEADERS | {"content-encoding", "expect"}


class Extras:
    """What a caller adds to a request the SDK does not know of yet (a field added to the API
    before the spec, a header a proxy wants): merged into what the generated builder made."""

    __slots__ = ("body", "headers", "query")

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        secret: str = "",
    ) -> None:
        # Each read once: what a check sees is what is sent (a Mapping may answer anew).
        self.headers = _read_once(headers, "headers")
        self.query = _read_once(query, "query")
        self.body = _read_once(body, "body")
        if self.headers:
            _check_headers(self.headers, secret)
        if self.query:
            _check_query(self.query)


def _read_once(given: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    if given is None:
        return None
    if not isinstance(given, Mapping):
        raise InvalidInputError(f"extra_{name} must be a mapping, not {type(given).__name__}")
    try:
        return dict(given)
    except Exception as exc:  # a Mapping whose keys() names what it does not hold, say
        raise InvalidInputError(
            f"extra_{name} could not be read as a mapping ({type(exc).__name__})"
        ) from None


# What a query value can be and be sent as itself; anything else httpx2 would send as its
# str(): b"\xff" as "b'\\xff'", an object as its repr.
_QUERY_VALUES: Final = (str, int, float, type(None))


def _check_query(query: Mapping[str, Any]) -> None:
    for name, value in query.items():
        values = value if isinstance(value, list | tuple) else [value]
        if not isinstance(name, str) or not all(isinstance(v, _QUERY_VALUES) for v in values):
            raise InvalidInputError(
                "extra_query must map str names to str, int, float, bool or None values "
                "(or lists of them)"
            )


def is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 9110 token: what a header name or a method may be."""
    return re.fullmatch(_HEADER_NAME, text) is not None


def _check_headers(headers: Mapping[str, str], secret: str) -> None:
    """Headers that can be sent as given and leave the key and the framing to the SDK."""
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInputError("extra_headers must map str names to str values")
        if not is_token(name):
            shown = _header_name_shown(name, secret)
            raise InvalidInputError(f"extra_headers: {shown} is not a valid header name")
        read = header_as_read(name)
        if read in _SDK_HEADERS:
            said = "" if read == name.lower() else f" (a server may read it as {read})"
            raise InvalidInputError(f"extra_headers must not set {name}{said}: the SDK sets it")
        # The value is never quoted: it could be a credential.
        if not value.isascii() or re.search(_HEADER_VALUE_FORBIDDEN, value):
            shown = _header_name_shown(name, secret)
            raise InvalidInputError(f"extra_headers: the value of {shown} must be printable ASCII")
        if value != value.strip(" \t"):  # h11 refuses it, quoting it whole
            shown = _header_name_shown(name, secret)
            raise InvalidInputError(
                f"extra_headers: the value of {shown} must not begin or end with a space or tab"
            )


def _header_name_shown(name: str, secret: str) -> str:
    # A name may be long, hold terminal escapes, or the key (masked before it is cut). Made
    # only for a refusal: extra headers that pass are checked on every call that has them.
    return excerpt(repr(name), secret, 80)


NO_EXTRAS: Final = Extras()


def extras_of(
    headers: Mapping[str, str] | None,
    query: Mapping[str, Any] | None,
    body: Mapping[str, Any] | None,
    *,
    secret: str,
) -> Extras:
    """The call's extras; the shared empty one when none were given (most calls). ``secret``
    is masked where a refusal quotes what was given."""
    return (
        NO_EXTRAS
        if headers is None and query is None and body is None
        else Extras(headers, query, body, secret)
    )


# Where a call goes, as the SDK's pool sends it: scheme, host and port as the base URL has them,
# the request target (path and query, percent-encoded), and the URL, still a string while no
# one has been shown it. Parsing a URL costs a call ~14 µs, and every call is for another user.
Target: TypeAlias = tuple[bytes, bytes, int | None, bytes, "str | httpx2.URL"]

# A call's request before httpx2 models it: method, target, every header the SDK sends but the
# key (``Host`` and the framing included), and the body. The SDK's own pool sends these
# parts as they are; an ``httpx2.Request`` is built only for what shows one to a user.
RequestParts: TypeAlias = tuple[str, Target, list[tuple[bytes, bytes]], bytes]

# A path httpx2 sends exactly as written: it starts with "/", has no segment starting with "."
# (httpx2 drops dot segments), and every character is one httpx2's parser leaves as it is in a
# path (printable ASCII but space and ``"#<>?`{}``; a "%" stays, escape or not). The generated
# code percent-encodes every parameter, so the paths of the API's calls are all of this kind.
_PATH_AS_IS: Final = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) not in '"#<>?`{}')
_AS_IS_MAX: Final = 4096  # httpx2 refuses URLs past 64 KiB: a long one is its to judge


@lru_cache(maxsize=64)
def parsed_base(base_url: str) -> tuple[bytes, bytes, int | None, bytes, bytes | None]:
    """A base URL's scheme, host, port (what a request for its origin has: the pipelines
    compare them), ``Host`` header, and the target prefix that an as-written path is appended
    to (``None``: this base's own path must go through httpx2). Parsed once per base URL."""
    url = httpx2.URL(base_url)
    prefix = httpx2.URL(base_url + "/-").raw_path[:-2]
    joins = httpx2.URL(base_url + "/a/-").raw_path == prefix + b"/a/-"
    return url.raw_scheme, url.raw_host, url.port, url.netloc, prefix if joins else None


def _target(base_url: str, path: str, query: list[Mapping[str, Any]]) -> tuple[Target, bytes]:
    """Where ``base_url`` + ``path`` goes, with ``query`` merged in order, and its ``Host``."""
    scheme, host, port, netloc, prefix = parsed_base(base_url)
    if (
        type(path) is str  # anything else is httpx2's to accept or refuse
        and not query
        and prefix is not None
        and path[:1] == "/"
        and "/." not in path
        and len(base_url) + len(path) <= _AS_IS_MAX
        and not path.rstrip(_PATH_AS_IS)
    ):
        return (scheme, host, port, prefix + path.encode(), base_url + path), netloc
    url = httpx2.URL(base_url + path)
    for params in query:
        url = url.copy_merge_params(params)
    return (url.raw_scheme, url.raw_host, url.port, url.raw_path, url), url.netloc


def request_parts(
    spec: dict[str, Any], base_url: str, headers: Mapping[str, str], extras: Extras = NO_EXTRAS
) -> RequestParts:
    """The request the generated ``_get_kwargs`` describes, on ``base_url``, with ``extras``:
    what ``httpx2.Request(method, url, params=..., json=..., headers=...)`` would hold, without
    the ~20 µs that building one costs a call."""
    payload = spec.get("json")
    if extras.body:
        if not isinstance(payload, dict):
            raise InvalidInputError("extra_body needs an operation whose body is a JSON object")
        payload = {**payload, **extras.body}
    method = spec["method"].upper()  # the generated code writes it lower-case
    generated = spec.get("headers")
    body = (
        (_body_bytes(payload, extras), _JSON_TYPE)
        if payload is not None
        else _encoded_body(spec, method, generated)
    )
    if (
        generated
        and body is not None
        and (payload is None or generated.get("Content-Type") == "application/json")
    ):
        # The framing below sets it after Content-Length, as httpx2 does (an encoded body's
        # own type: a multipart one names the boundary httpx2 chose).
        generated = {k: v for k, v in generated.items() if k != "Content-Type"}
    if generated or extras.headers:
        headers = _merged(generated or {}, headers, extras.headers or {})
    # A value JSON or a URL cannot carry (an object, a lone surrogate, a 64 KiB query, absurd
    # nesting) is refused before anything is sent, naming where it was; never quoting it.
    try:
        query = [found for found in (spec.get("params"), extras.query) if found]
        target, host = _target(base_url, spec["url"], query)
    except (TypeError, ValueError, RecursionError, httpx2.InvalidURL) as exc:
        if extras.query and not _fits_a_url(extras.query):
            raise InvalidInputError(
                f"extra_query cannot be sent in a URL ({why_unsendable(exc)})"
            ) from None
        raise InvalidInputError(
            f"the request cannot be built: its URL ({why_unsendable(exc)})"
        ) from None
    try:
        sent = [(b"Host", host)]
        if body is None and method in _BODY_METHODS:
            sent.append(_NO_CONTENT)  # where httpx2 puts it for a request without a body
        sent += [(_header_bytes(name), _header_bytes(value)) for name, value in headers.items()]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the request cannot be built: a header ({why_unsendable(exc)})"
        ) from None
    if body is None:
        return method, target, sent, b""
    content, content_type = body
    sent.append((b"Content-Length", str(len(content)).encode()))
    if content_type[1] and not any(name.lower() == b"content-type" for name, _ in sent):
        sent.append(content_type)
    return method, target, sent, content


def _merged(*layers: Mapping[str, str]) -> dict[str, str]:
    """Headers of each layer over the layers before it, a name in any case naming one header:
    an extra ``User-Agent`` replaces the SDK's ``user-agent`` rather than going beside it (two
    of them, or two ``Accept-Encoding``, a server reads as it likes). The last spelling wins."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def check_operation_request(spec: dict[str, Any]) -> None:
    """What a generated ``_get_kwargs`` made for ``tapti.call`` that ``request_parts`` cannot
    send as asked: a part it does not know (cookies), or a header parameter the SDK sets
    (``Host``: its own would go beside it). The wrapper's own operation has neither."""
    if not isinstance(spec.get("method"), str) or "url" not in spec:  # a url's type: _target's
        raise InvalidInputError("this operation's request has no method (a str) or no url")
    unsent = sorted(part for part in spec.keys() - _GENERATED_KWARGS if spec[part])
    if unsent:  # an optional cookie parameter not given leaves "cookies": {}, nothing to send
        raise InvalidInputError(
            f"this operation's request has {', '.join(unsent)}, which tapti.call cannot send; "
            "send it through tapti.raw"
        )
    headers = spec.get("headers") or {}
    taken = sorted(name for name in headers if header_as_read(name) in _SDK_HEADERS)
    if taken:
        raise InvalidInputError(f"this operation sets {', '.join(taken)}, which the SDK sets")


def _encoded_body(
    spec: dict[str, Any], method: str, headers: Mapping[str, str] | None
) -> tuple[bytes, tuple[bytes, bytes]] | None:
    """A form, multipart or binary body (``data=``, ``files=``, ``content=``) and its
    Content-Type, encoded by httpx2. A multipart body gets a boundary of httpx2's choosing:
    the generator writes a fixed one (``+++``), which a file's own bytes could hold."""
    given = {key: spec[key] for key in _OTHER_BODIES if spec.get(key) is not None}
    if not given:
        return None
    if _reads_asynchronously(given):
        raise InvalidInputError("tapti.call sends a body it can read at once: give bytes")
    if "files" in given and headers:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    try:
        request = httpx2.Request(method, "http://body.invalid/", headers=headers, **given)
        content = request.read()
    except (TypeError, ValueError, RuntimeError) as exc:  # a value httpx2 cannot encode
        raise InvalidInputError(
            f"the request body cannot be encoded ({why_unsendable(exc)})"
        ) from None
    return content, (b"Content-Type", request.headers.get("content-type", "").encode())


def _reads_asynchronously(given: Mapping[str, Any]) -> bool:
    """Whether a body or a file of it is read with ``await`` (an async stream, an aiofiles
    file): httpx2 would loop for ever reading it at once."""
    import inspect  # noqa: PLC0415  (only for a body that is not JSON)

    files = given.get("files") or ()
    fields = files.values() if isinstance(files, Mapping) else files
    parts = [given.get("content")]
    for field in fields:  # ("name", file) pairs, or a mapping's files; a file or its tuple
        file = field[1] if isinstance(field, tuple) and len(field) > 1 else field
        parts.append(file[1] if isinstance(file, tuple) and len(file) > 1 else file)
    return any(
        hasattr(part, "__aiter__") or inspect.iscoroutinefunction(getattr(part, "read", None))
        for part in parts
    )


def _body_bytes(payload: object, extras: Extras) -> bytes:
    try:
        return _json_bytes(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        culprit = extras.body and not _encodes(extras.body)
        where = "extra_body" if culprit else "the request body"
        raise InvalidInputError(f"{where} cannot be sent as JSON ({why_unsendable(exc)})") from None


def _json_bytes(value: object) -> bytes:
    """``value`` as httpx2 encodes ``json=``: compact, UTF-8, no NaN."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _encodes(value: object) -> bool:
    try:
        _json_bytes(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _fits_a_url(query: Mapping[str, Any]) -> bool:
    try:
        httpx2.URL("http://example.invalid/", params=query)
    except (TypeError, ValueError, RecursionError, httpx2.InvalidURL):
        return False
    return True


def why_unsendable(exc: BaseException) -> str:
    """What made a value unsendable, in words that never quote it."""
    if isinstance(exc, UnicodeError):
        return "text that cannot be encoded: a lone surrogate, or a header beyond ASCII"
    if isinstance(exc, RecursionError):
        return "it nests too deeply"
    said = str(exc)
    if said.startswith("Out of range float values"):
        return "NaN and infinite numbers have no JSON form"
    if said.startswith("Circular reference"):
        return "it contains itself"
    kind = re.match(r"Object of type (\w+) is not JSON serializable", said)
    if kind:
        return f"{kind[1]} values have no JSON form"
    return type(exc).__name__


_JSON_TYPE: Final = (b"Content-Type", b"application/json")
_NO_CONTENT: Final = (b"Content-Length", b"0")
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "QUERY"})  # httpx2 frames them
# What a generated _get_kwargs may hold: anything else (cookies) would be dropped unsent.
_OTHER_BODIES: Final = ("content", "data", "files")
_GENERATED_KWARGS: Final = frozenset({"method", "url", "params", "json", "headers", *_OTHER_BODIES})


def _header_bytes(text: object) -> bytes:
    """A header name or value as httpx2 takes one: ``str`` (ASCII) or ``bytes``, else a
    ``TypeError`` (a generated builder passes header parameters on unconverted)."""
    if isinstance(text, str):
        return text.encode("ascii")
    if isinstance(text, bytes):
        return text
    raise TypeError(f"a header must be str or bytes, not {type(text).__name__}")


class Answer:
    """A response as the pipeline read it: status, headers and decoded body. Making and
    reading an ``httpx2.Response`` costs ~15 µs, so one is made only for what shows a response
    to a user (an error, a raw response, ``tapti.raw``, a generated parser); a call that
    succeeds is parsed from the body."""

    __slots__ = (
        "_call",
        "_headers",
        "_response",
        "content",
        "extensions",
        "raw_headers",
        "status_code",
    )

    def __init__(
        self,
        status_code: int,
        raw_headers: list[tuple[bytes, bytes]],
        content: bytes,
        extensions: dict[str, Any],
        call: Call[Any],
    ) -> None:
        self.status_code, self.raw_headers, self.content = status_code, raw_headers, content
        self.extensions, self._call = extensions, call
        self._headers: httpx2.Headers | None = None
        self._response: httpx2.Response | None = None

    @property
    def headers(self) -> httpx2.Headers:
        if self._headers is None:
            self._headers = httpx2.Headers(self.raw_headers)
        return self._headers

    def response(self) -> httpx2.Response:
        """The answer as an ``httpx2.Response`` with its request, read; the same one each time.
        The body is the server's, as the call's own parse reads it (``error_response`` masks)."""
        if self._response is None:
            self._response = _read_response(
                self.status_code,
                self.raw_headers,
                self.content,
                self._call.request,
                self.extensions,
            )
        return self._response


def _read_response(
    status: int,
    headers: list[tuple[bytes, bytes]],
    content: bytes,
    request: httpx2.Request,
    extensions: dict[str, Any],
) -> httpx2.Response:
    response = httpx2.Response(
        status,
        headers=headers,
        stream=httpx2.ByteStream(content),
        request=request,
        extensions=extensions,
    )
    response.read()
    return response


def as_response(answer: Answer | httpx2.Response) -> httpx2.Response:
    return answer.response() if isinstance(answer, Answer) else answer


def error_response(answer: Answer | httpx2.Response, secret: str) -> httpx2.Response:
    """The response an error keeps: its body with the key masked, as the rest of the error,
    should the server have echoed it there (a new response then, its length set to match)."""
    response = as_response(answer)
    content = redacted_content(response.content, secret, response.encoding or "utf-8")
    if content is response.content:
        return response
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-length"]
    headers.append((b"Content-Length", str(len(content)).encode()))
    return _read_response(
        response.status_code, headers, content, response.request, response.extensions
    )


# Only a proxy answers so (to a plain-http request it forwards): its words may echo the
# credentials it was sent, which masking the key does not cover (reviews 21 and 21b).
_PROXY_AUTHENTICATION: Final = 407


def _bare_proxy_refusal(answer: Answer, call: Call[Any]) -> Answer:
    """A proxy's 407 with the standard reason phrase, and of its headers only the one that
    says which credentials it wants (``Proxy-Authenticate``)."""
    extensions = {k: v for k, v in answer.extensions.items() if k != "reason_phrase"}
    wants = [(k, v) for k, v in answer.raw_headers if k.lower() == b"proxy-authenticate"]
    return Answer(answer.status_code, wants, b"", extensions, call)


class Unreadable:
    """An attempt that got a status (or only a 2xx status line) but not a readable body."""

    __slots__ = ("error", "response")

    def __init__(self, response: Answer | None, error: Exception) -> None:
        self.response = response  # None: only the status line of a 2xx arrived
        self.error = error


def spec_facts(method: str, path: str) -> tuple[tuple[int, ...] | None, str | None]:
    """What the spec says of ``method path`` (any base path before it): the 2xx statuses it
    documents, and the path as its template (``/users/{id}/sdk-token``, the base path kept),
    what a trace may show of a path whose parameters name a user. ``(None, None)`` for a
    request that is none of the spec's operations. The most specific operation wins.

    Not cached: every call is for another user, so a path is seldom seen twice."""
    for verb, template, success in _MOST_SPECIFIC_FIRST:
        if verb == method:
            start = _template_start(path, template)
            if start is not None:
                return success, path[:start] + template
    return None, None


def _specificity(operation: tuple[str, str, tuple[int, ...]]) -> tuple[int, int]:
    """More segments first (they match more of the path), then more literal text: as OpenAPI
    says, ``/users/me`` matches before ``/users/{id}``, whose template is the longer text."""
    template = operation[1]
    parameters = [part.partition("}")[0] for part in template.split("{")[1:] if "}" in part]
    return template.count("/"), len(template) - sum(len(name) + 2 for name in parameters)


_MOST_SPECIFIC_FIRST: Final = sorted(OPERATIONS, key=_specificity, reverse=True)
# Whether a template writes text beside a parameter within a segment (``{day}.csv``): then a
# parameter can be empty without leaving an empty segment.
_TEXT_BESIDE_PARAMETER: Final = any(
    "{" in segment and not (segment.startswith("{") and segment.endswith("}"))
    for _, template, _ in OPERATIONS
    for segment in template.split("/")
)


def _template_start(path: str, template: str) -> int | None:
    """Where ``template`` matches the end of ``path``, a ``{parameter}`` standing for text
    within one segment, or ``None``. Segment by segment, not by a pattern: compiling one
    costs a cold start 0.1-0.2 ms (make bench, figure 1)."""
    wanted = template.split("/")  # an OpenAPI path template starts with "/": wanted[0] is ""
    base, *found = path.rsplit("/", len(wanted) - 1)
    if len(found) < len(wanted) - 1 or not all(map(_segment_fits, found, wanted[1:])):
        return None
    return len(base)


def _segment_fits(segment: str, template: str) -> bool:
    """Whether ``segment`` fits ``template``'s segment, where each ``{parameter}`` stands for
    one or more characters (a ``{`` never closed is text)."""
    if "}" not in template:  # no parameter: most segments
        return segment == template
    head, _, rest = template.partition("{")
    _, close, tail = rest.partition("}")
    if not close:
        return segment == template
    if not segment.startswith(head):
        return False
    value = segment[len(head) :]
    if "{" not in tail:  # the last parameter: it is what lies between head and tail
        return len(value) > len(tail) and value.endswith(tail)
    return any(_segment_fits(value[cut:], tail) for cut in range(1, len(value) + 1))


def has_empty_parameter(method: str, path: str) -> bool:
    """Whether ``path`` is one of the spec's operations with a path parameter left empty:
    ``/users//sdk-token``, which a proxy merging slashes sends as ``/users/sdk-token``, or
    ``/reports/.csv``. Some template, with some of its parameters written as nothing, matches
    it, and no template as written matches as much of it: ``/posts/{id}`` matches only the end
    of ``/users//posts/7``, while ``/files/{name}`` takes ``/files/.bashrc`` whole, which is
    then that operation's (the URL cannot tell it from ``/files/{name}.{ext}`` with no name)."""
    if "//" not in path and not path.endswith("/") and not _TEXT_BESIDE_PARAMETER:
        return False  # only a whole segment can be empty, and the path has none
    templates = [template for verb, template, _ in _MOST_SPECIFIC_FIRST if verb == method]
    emptied = (_template_start(path, each) for template in templates for each in _emptied(template))
    widest = min((start for start in emptied if start is not None), default=None)
    if widest is None:
        return False
    filled = (_template_start(path, template) for template in templates)
    return all(start is None or start > widest for start in filled)


@cache
def _emptied(template: str) -> tuple[str, ...]:
    """``template`` written with each non-empty set of its parameters as nothing."""
    head, *parts = template.split("{")
    choices = [
        ("{" + part, part.partition("}")[2]) if "}" in part else ("{" + part,) for part in parts
    ]
    written = {head + "".join(choice) for choice in itertools.product(*choices)}
    written.discard(template)
    return tuple(written)


class Sources:
    """Where a client's base URL and key came from, so that errors say it in the caller's terms."""

    __slots__ = ("api_key", "base_url", "proxy", "trust")

    def __init__(
        self,
        base_url: str,  # "the base_url argument", "TAPTI_BASE_URL" or "the default"
        api_key: str,  # "the api_key argument" or "TAPTI_API_KEY"
    ) -> None:
        self.base_url, self.api_key = base_url, api_key
        # The environment's proxy the SDK's pool goes through: "HTTPS_PROXY (host:port)".
        self.proxy: str | None = None
        # Where the certificates trusted came from: "the CAs in SSL_CERT_FILE", say.
        self.trust = "the trusted CAs"


class Call(Generic[_T]):
    """A prepared request, how to turn its 2xx response into a result, and when to give up."""

    __slots__ = (
        "_header_list",
        "_headers",
        "_parse",
        "_request",
        "body",
        "method",
        "path",
        "replayable",
        "retry",
        "secret",
        "sources",
        "success",
        "target",
        "template",
        "timeout",
    )

    def __init__(  # noqa: PLR0917  (private; every argument is what a call is made of)
        self,
        request: httpx2.Request | RequestParts,
        parse: Callable[..., _T],  # (response, *, secret)
        retry: RetryPolicy,
        timeout: Timeout,
        secret: str,
        sources: Sources,
    ) -> None:
        self._parse, self.retry = parse, retry
        self.timeout, self.secret, self.sources = timeout, secret, sources
        self.body: Any  # bytes, or a raw request's own stream
        self.target: Target
        self._headers: httpx2.Headers | None
        if isinstance(request, httpx2.Request):
            self._request: httpx2.Request | None = request
            url = request.url
            self.method, self._headers, self.body = request.method, request.headers, request.stream
            self._header_list: list[tuple[bytes, bytes]] = []  # its headers are _headers
            self.target = (url.raw_scheme, url.raw_host, url.port, url.raw_path, url)
            # A body streamed from a generator or a file can be read once: never sent again.
            self.replayable = isinstance(request.stream, httpx2.ByteStream)
        else:
            self._request = self._headers = None
            self.method, self.target, self._header_list, self.body = request
            self.replayable = True
        # A 2xx the operation does not document is no success: its body is not the model's. The
        # template is for tracing; both come from one match of the path as sent (an id's
        # escaped "/" stays inside its segment).
        # The path as sent, escapes kept: what logs and reprs show (decoded, an escaped line
        # break would forge a log line).
        self.path = self.target[3].partition(b"?")[0].decode("ascii")
        self.success, self.template = spec_facts(self.method, self.path)

    @property
    def url(self) -> httpx2.URL:
        """The URL as httpx2 models it, made where one is shown (an error, a caller's client)."""
        scheme, host, port, path, url = self.target
        if isinstance(url, str):
            url = httpx2.URL(url)
            self.target = (scheme, host, port, path, url)
        return url

    @property
    def headers(self) -> httpx2.Headers:
        """The headers as httpx2 models them (tracing adds its own), made where one is used:
        a call on the SDK's own pool that is not traced sends ``raw_headers`` as they are."""
        if self._headers is None:
            self._headers = httpx2.Headers(self._header_list)
        return self._headers

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """Every header to send but the key, as bytes."""
        return self._header_list if self._headers is None else self._headers.raw

    @property
    def request(self) -> httpx2.Request:
        """The request as httpx2 models it, for errors, responses and a caller's client; made
        at the first use, so that a call on the SDK's own pool that succeeds never makes one."""
        if self._request is None:
            self._request = httpx2.Request(
                self.method, self.url, headers=self.headers, content=self.body
            )
            self._headers = self._request.headers  # one set of headers from now on
        return self._request

    def __repr__(self) -> str:  # never the secret
        return f"Call({self.method} {self.path}, timeout={self.timeout!r})"

    def parse(self, answer: Answer | httpx2.Response) -> _T:
        """The result of a 2xx answer; the key is masked in what it holds beyond the spec's
        fields, should the server echo it there."""
        handling = sys.exception()  # the caller's own, should they call from an except block
        try:
            return self._parse(answer, secret=self.secret)
        except BaseException as exc:  # the parsers' frames hold the key: cleared, as elsewhere
            forget_locals(exc, until=handling)
            raise

    def settle(
        self,
        outcome: Answer | Unreadable | httpx2.RequestError,
        retries: int,
        deadline: Deadline,
        handling: BaseException | None = None,
        *,
        closed: bool = False,
    ) -> Answer | float:
        """The 2xx response, or the seconds to wait before retrying; raises the final error.

        Never retries once a 2xx status arrived (the server did the work: another attempt
        would create a second token), and never starts a wait the deadline would cut short.
        ``handling``: the exception the caller was handling when the call began (its chain is
        theirs, not this call's). ``closed``: the client was closed meanwhile, which is then
        what failed the attempt (the pool shut its socket), not the server.
        """
        if closed:
            self._raise_if_closed_during(outcome)
        if isinstance(outcome, Unreadable):
            return self._settle_unreadable(outcome, retries, deadline)
        if isinstance(outcome, Answer):
            return self._settle_answer(outcome, retries, deadline)
        if isinstance(outcome, httpx2.LocalProtocolError):  # h11 refused what it was to send
            said = h11_words(str(outcome))  # not what it quotes: a header may be a credential
            raise InvalidInputError(
                f"the request cannot be sent: {said or 'refused by h11'}"
            ) from None
        lasting = lasting_failure(outcome, self.sources.trust, handling)
        failure = describe_transport_error(
            outcome,
            secret=self.secret,
            where=self._where(retries),
            lasting=lasting,
            until=handling,
        )
        self._log_attempt(retries, failure)
        if lasting:
            raise failure from outcome  # the pipeline masks and clears the chain (Pipeline.run)
        return self._again(failure, retries, deadline, None, type(failure).__name__, outcome)

    def _settle_answer(self, outcome: Answer, retries: int, deadline: Deadline) -> Answer | float:
        """``settle`` for a status that arrived: a 2xx is the answer, never retried."""
        status = outcome.status_code
        self._log_attempt(retries, status)
        if 200 <= status < 300:
            return self._documented(outcome)
        if status == _PROXY_AUTHENTICATION:
            outcome = _bare_proxy_refusal(outcome, self)
        retry_after = parse_retry_after(outcome.headers)
        error = status_error_from_response(
            error_response(outcome, self.secret),
            secret=self.secret,
            retry_after=retry_after,
            key_source=self.sources.api_key,
            attempts=retries + 1,
        )
        if self.retry.should_retry_status(status):
            return self._again(error, retries, deadline, retry_after, f"status {status}")
        raise error

    @staticmethod
    def end_if_closed(closed: bool) -> None:
        """After a wait between attempts: a client closed meanwhile ends the call."""
        if closed:
            raise TaptiError(_CLOSED_DURING_CALL)

    def _raise_if_closed_during(self, outcome: Answer | Unreadable | httpx2.RequestError) -> None:
        """A failed attempt of a client closed meanwhile: the close shut its socket, not the
        server. A status that arrived says what happened instead (settled as usual), unless it
        is a 2xx whose body the close cut: a token may exist, which the error must say."""
        if isinstance(outcome, httpx2.RequestError):
            raise TaptiError(_CLOSED_DURING_CALL) from outcome
        if not isinstance(outcome, Unreadable):
            return
        response = outcome.response
        if response is not None and not 200 <= response.status_code < 300:
            return
        what = "a successful response" if response else "an answer that may be a success"
        raise APIResponseValidationError(
            f"{_CLOSED_DURING_CALL}, while {what} was read (not retried: a token may exist)",
            response=self._stand_in(response),
        ) from outcome.error

    def _stand_in(self, response: Answer | None) -> httpx2.Response:
        """What an error about an unread 2xx keeps as its response: the head that came, or
        only a 200 for the request when just a 2xx status line did."""
        if response is None:  # its status says no more than "maybe a 2xx": marked so
            return httpx2.Response(200, request=self.request, extensions={STAND_IN: True})
        return error_response(response, self.secret)

    def _where(self, retries: int) -> str:
        """Where the call went and how often, in the caller's terms (never the path's ids)."""
        attempts = f"{retries + 1} attempt{'s' if retries else ''}"
        where = f"{self.url.scheme}://{host_and_port(self.url)}, {attempts}; base URL from "
        where += self.sources.base_url
        proxy = self.sources.proxy
        return f"{where}; through the proxy in {proxy}" if proxy else where

    def _documented(self, response: Answer) -> Answer:
        status = response.status_code
        if self.success is None or status in self.success:
            return response
        documented = ", ".join(map(str, self.success)) or "no 2xx"
        raise APIResponseValidationError(
            f"status {status} is not an answer this operation documents ({documented})",
            response=error_response(response, self.secret),
        )

    def _settle_unreadable(
        self, outcome: Unreadable, retries: int, deadline: Deadline
    ) -> Answer | float:
        response, error = outcome.response, outcome.error
        if response is not None and not 200 <= response.status_code < 300:
            # The status is what counts; the body is left out of the error.
            unread = Answer(
                response.status_code, response.raw_headers, b"", response.extensions, self
            )
            return self.settle(unread, retries, deadline)
        self._log_attempt(retries, error)
        # Without a parsed head, the bytes that came only may be a 2xx: say so, and why no retry.
        what = "a successful response" if response else "an answer that may be a success"
        if isinstance(error, httpx2.TimeoutException):
            # A write that timed out with an answer already waiting (``Attempt.saw_waiting``).
            doing = "sending the request, with" if isinstance(error, httpx2.WriteTimeout) else ""
            raise APITimeoutError(
                f"the call's time ran out while {doing or 'reading'} {what} "
                f"({self._where(retries)}; not retried: a token may have been issued)",
                request=self.request,
            ) from error
        stand_in = self._stand_in(response)
        if isinstance(error, BodyTooLargeError):
            message = f"response body is larger than {MAX_BODY_BYTES} bytes once decoded"
        else:
            detail = excerpt(f"{type(error).__name__}: {error}", self.secret)
            message = f"{what} could not be read ({detail}; not retried: a token may exist)"
        raise APIResponseValidationError(message, response=stand_in) from error

    def _again(  # noqa: PLR0917  (private: the error and what decides its retry)
        self,
        error: Exception,
        retries: int,
        deadline: Deadline,
        retry_after: float | None,
        reason: str,
        cause: Exception | None = None,
    ) -> float:
        delay = self.retry.delay(retries, retry_after) if self.replayable else None
        if delay is None or not deadline.allows_wait(delay):
            raise error from cause  # the pipeline masks and clears the chain (Pipeline.run)
        log.info("retrying %s %s in %.2fs after %s", self.method, self.path, delay, reason)
        return delay

    def _log_attempt(self, retries: int, outcome: int | Exception) -> None:
        if log.isEnabledFor(logging.DEBUG):
            said = outcome if isinstance(outcome, int) else excerpt(str(outcome), self.secret)
            log.debug("%s %s -> %s (attempt %d)", self.method, self.path, said, retries + 1)


def json_object(answer: Answer | httpx2.Response, secret: str) -> dict[str, Any]:
    """The body as a JSON object, or ``APIResponseValidationError``."""
    try:
        data = json.loads(answer.content)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise APIResponseValidationError(
            "response body is not JSON (content-type "
            f"{excerpt(repr(answer.headers.get('content-type')), '', 100)})",
            response=error_response(answer, secret),
        ) from None
    if not isinstance(data, dict):
        raise APIResponseValidationError(
            f"response body is a JSON {type(data).__name__}, not an object",
            response=error_response(answer, secret),
        )
    return data


def model_from(
    build: Callable[[], _M], answer: Answer | httpx2.Response, what: str, secret: str = ""
) -> _M:
    """``build()``: a generated parser, whose failures on a misshapen body become one error.

    The generated ``from_dict`` raises ``KeyError`` for a missing field, ``TypeError`` or
    ``ValueError`` for a wrong type or format; none of that may reach a user raw. An enum value
    the spec does not list (yet) is no such failure: it is kept (``tapti_api_client._unknown``).
    The result's reprs mask SDK tokens at any depth (``_masking``), and ``secret`` is masked in
    its ``additional_properties``.
    """
    keep = KEEP_UNKNOWN.set(True)
    try:
        return masked(build(), key=secret)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else type(exc).__name__
        if isinstance(exc, ShapeError):  # its message is the SDK's own, quoting nothing
            detail = str(exc)
        raise APIResponseValidationError(
            f"response body is not a valid {what} ({detail})",
            response=error_response(answer, secret),
        ) from None
    finally:
        KEEP_UNKNOWN.reset(keep)
