"""Every exception the SDK raises, in one hierarchy, so ``except TaptiError`` catches them all.

    TaptiError
    ├── InvalidInputError(ValueError)      bad arguments; raised before any byte is sent (but
    │   │                                  for a raw streamed body that belies its length)
    │   └── RequiredFieldError(TypeError)  a field the spec made required that no one sent
    ├── APIConnectionError                 the request got no HTTP response at all
    │   └── APITimeoutError                ... because the time ran out; or it ran out while a
    │                                      2xx was read: a token may exist, the message says so
    ├── APIResponseValidationError         a 2xx whose body is not the documented shape
    └── APIStatusError                     any non-2xx (3xx too: redirects are never followed)
        ├── BadRequestError                400
        ├── AuthenticationError            401
        ├── PermissionDeniedError          403
        ├── NotFoundError                  404
        ├── ConflictError                  409
        ├── UnprocessableEntityError       422
        ├── RateLimitError                 429; ``retry_after`` holds the server's wait, if sent
        └── InternalServerError            500 and above

Messages never hold the API key or an SDK token: errors are built from the response in one place
(``status_error_from_response``), which redacts the key should a server ever echo it back.
"""

from __future__ import annotations

import codecs
import inspect
import json
import re
import ssl
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from functools import cache, lru_cache, wraps
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeAlias, TypeVar, cast
from urllib.parse import SplitResult, unquote, unquote_plus, urlsplit, urlunsplit

import httpx2

from ._constants import MASK, REQUEST_ID_HEADER, TOKEN_PARAM, header_as_read
from ._names import API_KEY_HEADER

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "TaptiError",
    "UnprocessableEntityError",
]

# urllib's urlsplit keeps its last answers (an lru_cache, 3.11+), so a URL holding an SDK token
# or the key would outlive the call there; its uncached original parses alike. A client's own
# URLs (callback, redirect, portal), the same on every call, keep the cache.
split_url: Final[Callable[[str], SplitResult]] = getattr(urlsplit, "__wrapped__", urlsplit)

JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None
"""What ``json.loads`` can return: ``APIStatusError.body``, when the body is JSON."""

# How deep an answer's JSON may nest: the documented bodies nest 2 levels. Deeper ones are no
# answer of this API, and walking them (masking, printing) would exhaust Python's stack.
MAX_NESTING: Final = 32
# The parameter outside a query too (a fragment, a form body, a message quoting a URL), written
# as a query pair (any character of its name, or "=", percent-encoded or not) or a JSON member.
# Patterns, here and below: ``re`` compiles them at first use (a repr, a message), off the import.
_TOKEN_NAME: Final = "".join(f"(?:{re.escape(char)}|%{ord(char):02x})" for char in "sdk_token")
_TOKEN_ANYWHERE: Final = (
    rf"""(?i)({_TOKEN_NAME}(?:=|%3d|"?\s*:\s*"?))"""
    # The value, on past a line break or tab (a URL parser drops them: a wrapped token is one).
    r"""[^&#\s"',}]*(?:[\t\r\n]+[^&#\s"',}]*)*"""
)
# The longest server message quoted in an exception; the full body stays on ``error.body``.
_MAX_QUOTED_MESSAGE = 300
_MAX_QUOTED_REASON = 100
_MAX_QUOTED_ID = 200
_MASKING_ROUNDS: Final = 4
# Codecs Python accepts as a charset that no text is written in (``decoded``).
_HOST_NAME_CODECS: Final = frozenset({"idna", "punycode"})
SHORT_SECRET = 8  # shorter keys are searched for only alone (no key-like character beside)
# What a spelling of a secret holds unless it is written out: a percent-encoded character, an
# escaped one, an HTML character reference (``_spellings``).
ENCODED_MARKS: Final = ("%", "\\", "&")


class TaptiError(Exception):
    """The base of everything the SDK raises."""

    def __reduce__(self) -> tuple[object, ...]:
        # Worker pools send a job's exception to the parent by pickle, which calls the class
        # with ``args`` only; the keyword-only arguments of the response errors would be missing.
        return _rebuilt, (type(self), self.args), self.__dict__


def _rebuilt(kind: type[TaptiError], args: tuple[object, ...]) -> TaptiError:
    """An error of ``kind`` with ``args``, its ``__init__`` skipped: the state follows."""
    error = kind.__new__(kind)
    error.args = args
    return error


class InvalidInputError(TaptiError, ValueError):
    """An argument is wrong; nothing was sent (but for a raw request whose streamed body
    belies its own ``Content-Length``: docs/errors.md). A ``ValueError`` too, as Python code
    expects."""


class RequiredFieldError(InvalidInputError, TypeError):
    """A request field the spec made required that this code does not send, nor the caller.

    A ``TypeError`` too, as the generated constructor's error was: code that caught that keeps
    working.
    """

    def __init__(self, what: str, names: list[str]) -> None:
        quoted = ", ".join(repr(name) for name in names)
        example = ", ".join(f'"{name}": ...' for name in names)
        verb = "is" if len(names) == 1 else "are"
        super().__init__(
            f"{what}: {quoted} {verb} required by the API and not sent by this version of the "
            f"SDK; pass {'it' if len(names) == 1 else 'them'} with extra_body={{{example}}}"
        )
        self.names = tuple(names)


class APIConnectionError(TaptiError):
    """No HTTP response arrived: the connection failed, broke, or was refused. The message
    names the origin, the attempts made and where the base URL came from.

    Attributes:
        request (httpx2.Request | None): The last request sent, without the key.
    """

    request: httpx2.Request | None

    def __init__(self, message: str, *, request: httpx2.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The call's time ran out before a response arrived, or while a 2xx was being read: then
    a token may have been issued, and the message says so (the call is not retried)."""


class ResponseError(TaptiError):
    """An error about a response that did arrive (its subclasses document the attributes)."""

    response: httpx2.Response
    status_code: int
    request_id: str | None

    def __init__(self, message: str, *, response: httpx2.Response) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.request_id = request_id_of(response.headers)


class APIResponseValidationError(ResponseError):
    """The server answered 2xx with a body that is not what the API documents (a
    ``TaptiError``). Not retried: a token may have been issued.

    Attributes:
        response (httpx2.Response): The response, read; the key masked should a server echo it.
        status_code (int): Its HTTP status.
        request_id (str | None): Its ``x-request-id``: the thing to quote to Tapti's support.
    """


class APIStatusError(ResponseError):
    """The server answered with a non-2xx status (a ``TaptiError``); each common status has
    a subclass below.

    Attributes:
        status_code (int): The HTTP status.
        request_id (str | None): The ``x-request-id`` header: the thing to quote to Tapti's
            support.
        body (JSONValue): The parsed JSON when the body is JSON, else its text (``None`` when
            empty or too large to read); a key the server echoed is masked.
        response (httpx2.Response): The response, read, masked as ``body``.
    """

    body: JSONValue

    def __init__(self, message: str, *, response: httpx2.Response, body: JSONValue) -> None:
        super().__init__(message, response=response)
        self.body = body


class BadRequestError(APIStatusError):
    """400: the API refused the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the API key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such user (or a wrong base URL)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state; retried, as it is often transient."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but its values were refused."""


class RateLimitError(APIStatusError):
    """429: too many requests.

    Attributes:
        retry_after (float | None): The server's wait in seconds (its ``Retry-After``), when it
            said one; retries already waited it where the call's time allowed.
    """

    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        response: httpx2.Response,
        body: JSONValue,
        retry_after: float | None,
    ) -> None:
        super().__init__(message, response=response, body=body)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the API failed; retried with backoff before this is raised."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
}


def decode_body(response: httpx2.Response, secret: str = "") -> JSONValue:
    """``response``'s body as JSON when it parses, else as text, else ``None``: never raises.
    Every string in it has ``secret`` masked, should a server echo the key. JSON nesting deeper
    than ``MAX_NESTING`` gives ``None``.
    """
    content = response.content
    if not content:
        return None
    try:
        parsed: JSONValue = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        pass
    else:
        if not nests_within(parsed):  # nor kept as text: its escapes could spell the key
            return None
        # Walking a large body to mask costs; skipped when no key can be in it: in none of its
        # spellings, and not in a UTF-16 or UTF-32 body (which json.loads reads too).
        if secret and (b"\x00" in content or might_spell(content, secret)):
            return without_secret(parsed, secret)
        return parsed
    text = decoded(content, response.encoding or "utf-8")
    if text is None:
        text = content.decode("utf-8", errors="replace")
    return redacted(text, secret)


def decoded(content: bytes, encoding: str) -> str | None:
    """``content`` as ``.text`` decodes it, or ``None`` where the codec fails (a charset Python
    lacks, one that is not text, a warning of its raised under ``-W error``) or is one of the
    host-name codecs: no text is written in them, their ASCII is ASCII, and punycode decodes in
    quadratic time (a 1 MiB body: two minutes)."""
    try:
        if codecs.lookup(encoding).name in _HOST_NAME_CODECS:
            return None
        return content.decode(encoding, errors="replace")
    except Exception:  # a server names the codec: any of its errors
        return None


def without_secret(value: JSONValue, secret: str) -> JSONValue:
    """Parsed JSON with ``secret`` masked in every string and member name. The marks and the
    pattern are looked up once, not per string: a hostile answer may hold 250,000 of them."""
    if not secret:
        return value
    marks, spellings = _marks(secret), _spellings(secret)

    def text(string: str) -> str:
        return spellings.sub(MASK, string) if _has_mark(string, marks) else string

    def walk(item: JSONValue) -> JSONValue:
        if isinstance(item, str):
            return text(item)
        if isinstance(item, list):
            return _alike(item, [walk(child) for child in item])
        if isinstance(item, dict):
            return _alike(item, {text(name): walk(child) for name, child in item.items()})
        return item

    return walk(value)


def _alike(original: JSONValue, copied: JSONValue) -> JSONValue:
    # A parsed answer's lists and dicts carry masking reprs (_masking): their copies keep them.
    if type(original) in {list, dict}:
        return copied
    alike: Any = getattr(original, "alike", None)
    return cast("JSONValue", alike(copied)) if alike is not None else copied


def server_message(body: JSONValue) -> str | None:
    """The human message a JSON error body carries, under the names APIs commonly use."""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict):  # {"error": {"message": ...}}
                nested = server_message(value)
                if nested:
                    return nested
    return None


def status_error_from_response(
    response: httpx2.Response,
    *,
    secret: str,
    retry_after: float | None,
    key_source: str | None = None,
    attempts: int = 1,
) -> APIStatusError:
    """Build the ``APIStatusError`` subclass that matches ``response``'s status, from the
    response the error keeps (``_call.error_response``: its body masked for every reader).

    ``key_source`` (``TAPTI_API_KEY`` or the argument) is named on a 401 or 403, never the key;
    ``attempts``, when more than one, says the status is the last of that many.
    """
    body = decode_body(response, secret)
    status = response.status_code
    # Everything quoted comes from the server: each part goes through excerpt().
    reason = excerpt(response.reason_phrase or "Error", secret, _MAX_QUOTED_REASON)
    message = f"{status} {reason}".rstrip()
    said = server_message(body)
    if said:
        message = f"{message}: {excerpt(said, secret)}"
    request_id = request_id_of(response.headers)
    if request_id:  # as the error's attribute says it
        message = f"{message} (request id {redacted(request_id, secret)})"
    if key_source and status in {401, 403}:
        message = f"{message}; the API key came from {key_source}"
    location = response.headers.get("location") if 300 <= status < 400 else None
    if location is not None:
        # Never followed: the key would go along. Mostly a base URL missing its https or its path.
        shown = excerpt(url_without_secrets(location, secret), secret, _MAX_QUOTED_REASON)
        message = f"{message}; a redirect to {shown}, which the SDK does not follow"
        message += ": is the base URL right?"
    if attempts > 1:
        message = f"{message}; after {attempts} attempts"
    if status == 429:
        return RateLimitError(message, response=response, body=body, retry_after=retry_after)
    if status >= 500:
        return InternalServerError(message, response=response, body=body)
    error_class = _STATUS_ERRORS.get(status, APIStatusError)
    return error_class(message, response=response, body=body)


def url_without_secrets(value: str, secret: str) -> str:
    """A URL as a message may show it: no user name or password, each query value and the
    fragment as ``***`` (where an SDK token, a key or a one-time code would travel), ``secret``
    masked. Scheme, host and path stay: they are what tells a wrong URL."""
    scheme, sep, rest = value.partition("://")
    if sep:
        authority, slash, tail = rest.partition("/")
        value = f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{tail}"
    value, hashed, _ = value.partition("#")
    value, asked, query = value.partition("?")
    names = [pair.partition("=")[0] for pair in query.split("&")] if asked else []
    shown = (
        value + asked + "&".join(f"{name}={MASK}" for name in names) + hashed + MASK * bool(hashed)
    )
    return redacted(shown, secret)


def excerpt(text: str, secret: str, limit: int = _MAX_QUOTED_MESSAGE) -> str:
    """What an error message may quote of what a server sent: the key and any SDK token
    masked, made printable (no terminal escapes, no line breaks to forge log lines with), then
    bounded."""
    shown = hidden(text, secret)[: limit + 1]  # escapes only lengthen it
    printable = shown if shown.isprintable() else "".join(map(_printable, shown))
    return printable if len(printable) <= limit else printable[:limit] + "..."


_BREAKS: Final = "\u2028\u2029"  # spaces to Python, line and paragraph breaks to a log


def _printable(char: str) -> str:
    """``char``, or its escape when it is not printable: a control, a line or paragraph
    separator, a format character (bidi marks, zero-width ones, Unicode tags that spell hidden
    text: probe 21b). Spaces stay, the no-break ones of French or Japanese text among them."""
    if char.isprintable() or (char.isspace() and char >= "\xa0" and char not in _BREAKS):
        return char
    return ascii(char)[1:-1]


def hidden(text: str, secret: str) -> str:
    """``text`` with ``secret`` masked in any spelling, and the value of any ``sdk_token``."""
    return masked_url(redacted(text, secret))


def redacted(text: str, secret: str) -> str:
    """``text`` with ``secret`` masked, however it is spelled (``_spellings``).

    A real key (8 characters or more) is masked wherever it stands, in any case (h11 quotes
    some of what it refuses lower-cased). A shorter one only where it stands alone, not inside
    a longer run of key-like characters, so that a test key such as ``k`` does not turn "key"
    into "***ey".
    """
    if not secret or not _has_mark(text, _marks(secret)):
        return text
    return _spellings(secret).sub(MASK, text)


def redacted_bytes(content: bytes, secret: str) -> bytes:
    """``redacted`` for bytes as they came: each byte read as one character (Latin-1)."""
    return redacted(content.decode("latin-1"), secret).encode("latin-1")


def redacted_content(content: bytes, secret: str, charset: str = "utf-8") -> bytes:
    """A body with ``secret`` masked as ``redacted`` masks it in text, however it is read.

    Read as Latin-1, so that every byte not part of a spelling of the key (all ASCII) stays as
    the server sent it; decoded as ``.text`` (``charset``) and ``.json()`` (the encoding
    ``json.loads`` detects) decode it, masked and encoded back: there an ISO-2022 escape may
    split the key's bytes, or ``unicode_escape`` write them as escapes; and with NULs between
    its characters (UTF-16 or UTF-32 shown as bytes). Repeated until nothing changes, as
    encoding one reading back can shift another's bytes into the key; a body still changing
    after a few rounds was built to defeat this, and is replaced by the mask.
    """
    if not secret or not content:
        return content
    masked = content
    for _ in range(_MASKING_ROUNDS):
        again = _masked_once(masked, secret, charset)
        if again == masked:
            return content if masked == content else masked
        masked = again
    return MASK.encode()


def _masked_once(content: bytes, secret: str, charset: str) -> bytes:
    if might_spell(content, secret):
        content = redacted_bytes(content, secret)
    for encoding in dict.fromkeys((charset, _json_encoding(content))):
        text = decoded(content, encoding)
        if text is not None and (masked := redacted(text, secret)) != text:
            content = _encoded_like(masked, encoding, content)
    if b"\x00" in content:  # what no reading decodes: UTF-16 with neither charset nor JSON
        content = _nul_spaced(secret).sub(_starred, content)
    return content


# How json.loads (and so httpx2's .json()) reads bytes: UTF-8, or UTF-16/32 by BOM or NULs.
# Outside json's __all__ and its documentation: without it, UTF-8, and the NUL pass below
# still masks the key in UTF-16 and UTF-32 (starred, its length shown).
_json_encoding: Callable[[bytes], str] = getattr(json, "detect_encoding", lambda _: "utf-8")


@lru_cache(maxsize=8)
def _nul_spaced(secret: str) -> re.Pattern[bytes]:
    """The key written out, any case, with up to three NULs after each character."""
    return re.compile(b"\x00{0,3}".join(re.escape(c.encode()) for c in secret), re.IGNORECASE)


def _starred(found: re.Match[bytes]) -> bytes:
    # Each character starred, the NULs kept: a UTF-16 or UTF-32 reader stays in step.
    return bytes(byte and 42 for byte in found.group())


_BYTE_ORDERS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16's, whose little-endian mark it starts with
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _encoded_like(text: str, encoding: str, content: bytes) -> bytes:
    """``text`` encoded as ``content`` was: in the byte order of its BOM (``"utf-16"`` itself
    would write this machine's), or as UTF-8 where ``encoding`` cannot encode what it read."""
    try:
        name = codecs.lookup(encoding).name
        for mark, exact in _BYTE_ORDERS:
            if exact.startswith(name) and content.startswith(mark):
                return mark + text.encode(exact, errors="replace")
        return text.encode(encoding, errors="replace")
    except Exception:  # a codec that cannot encode what it decodes
        return text.encode("utf-8", errors="replace")


def carries_secret(url: str, secret: str) -> bool:
    """Whether ``url`` hands ``secret`` to whoever follows it: written out, or percent-encoded
    once or twice (what a server decodes). Unlike ``redacted``, which over-masks to be safe, this
    refuses: a key shorter than a real one (a test key, ``k``) is not looked for, as it stands in
    common words and hosts."""
    if len(secret) < SHORT_SECRET:
        return False
    for _ in range(3):  # as written, then decoded once, then twice
        if secret in url:
            return True
        if "%" not in url:
            return False
        url = unquote(url)
    return False


def body_carries_secret(body: str, secret: str) -> bool:
    """Whether a request body hands ``secret`` to the server: as ``carries_secret`` finds it,
    or as JSON writes a key holding ``"`` or ``/`` (``\\"``, and ``\\/`` as some
    serialisers write it), which the server's JSON parser reads back as the key."""
    return any(carries_secret(body, spelling) for spelling in _json_spellings(secret))


@lru_cache(maxsize=8)
def _json_spellings(secret: str) -> tuple[str, ...]:
    escaped = json.dumps(secret)[1:-1]  # printable ASCII without a backslash: only " changes
    return tuple(dict.fromkeys((secret, escaped, escaped.replace("/", "\\/"))))


def might_spell(content: bytes, secret: str) -> bool:
    """Whether ``content`` may hold ``secret`` in one of its spellings (``_marks``)."""
    return _has_mark(content.decode("latin-1"), _marks(secret))


def _has_mark(text: str, marks: tuple[str, ...]) -> bool:
    # Written out, not a loop over the marks: 20 ms for 250,000 short strings against 156 ms.
    # Each is a scan of the whole string where absent (10 µs in 900 KiB): four when the key
    # has a character without case, five when both cases of one are needed.
    if len(marks) == 4:
        percent, backslash, ampersand, written = marks
        return percent in text or backslash in text or ampersand in text or written in text
    percent, backslash, ampersand, lower, upper = marks
    return (
        percent in text or backslash in text or ampersand in text or lower in text or upper in text
    )


@lru_cache(maxsize=64)
def _marks(secret: str) -> tuple[str, ...]:
    """Characters one of which every spelling of ``secret`` holds: ``%`` where a character is
    percent-encoded, a backslash where one is escaped, ``&`` where one is an HTML character
    reference, and where all are written out, a character of it that has no case (else its
    first, in both cases). Each is looked for alone: a single character is found at memchr
    speed, 10 µs in 900 KiB, where a case-insensitive search for the key costs 650 µs."""
    caseless = next((char for char in secret if char.lower() == char.upper()), None)
    written = (caseless,) if caseless else (secret[0].lower(), secret[0].upper())
    return (*ENCODED_MARKS, *written)


# Compiled once per key (~100 µs): a process uses one key or a few, as its environment holds.
@lru_cache(maxsize=64)
def _spellings(secret: str) -> re.Pattern[str]:
    """Every way a server's text can spell ``secret`` (printable ASCII, ``check_api_key``):
    each character as written in any case, percent-encoded once or twice in either case of
    hex, an HTML character reference (numeric, or named as HTML5 names it), or escaped by
    JSON (``\\u002f``, ``\\/``, ``\\"``), in any mix.

    A key holds no backslash (``check_api_key``): one that could be a character of the key or
    half of an escape would let a key of many make the search backtrack exponentially, and
    each layer of quoting (h11's, then httpcore2's log) doubles it. A JSON body is parsed before
    it is searched, so its escapes are gone.
    """
    spelled = []
    for char in secret:
        code = ord(char)
        ways = [
            re.escape(char),
            f"%(?:25)?{code:02x}",
            rf"\\u{code:04x}",
            f"&#0*{code};",
            f"&#x0*{code:x};",
        ]
        if not char.isalnum() and char != "\\":  # escaped by JSON or repr(), or twice
            ways.append(rf"\\{{1,3}}{re.escape(char)}")
        ways += _named_references().get(char, [])
        spelled.append(f"(?:{'|'.join(ways)})")
    pattern = "".join(spelled)
    if len(secret) < SHORT_SECRET:  # alone: no key-like character, or an escape, beside it
        pattern = rf"{_ALONE_AFTER}{pattern}(?![A-Za-z0-9_\-])"
    return re.compile(pattern, re.IGNORECASE)


@cache
def _named_references() -> dict[str, list[str]]:
    """HTML5's named character references of each printable ASCII character (``&amp;``,
    ``&lowbar;``...), as patterns: what ``html.escape()``, Jinja and HTML error pages write."""
    from html.entities import html5  # noqa: PLC0415  (1.7 ms, once a key's pattern is made)

    named: dict[str, list[str]] = {}
    for name, char in html5.items():
        if len(char) == 1 and " " < char <= "~":
            # Once per name in any case (``&amp;``, ``&AMP;``): the pattern ignores case, and
            # two ways to match one text would make the search backtrack exponentially.
            ways = named.setdefault(char, [])
            way = re.escape(f"&{name.lower()}")
            if way not in ways:
                ways.append(way)
    return named


# What may stand before a short key: no key-like character, or the end of an escape.
_ALONE_AFTER: Final = (
    r"(?:(?<![A-Za-z0-9_\-])|(?<=%[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4})|(?<=\\[nrtbf]))"
)


def masked_url(text: str) -> str:
    """``text`` with the value of each ``sdk_token`` parameter replaced by ``***``: in a URL's
    query (whatever the name's percent-encoding), or written out anywhere else."""
    if TOKEN_PARAM not in unquote_plus(text).lower():  # most strings: nothing to take apart
        return text
    # A URL holds no whitespace: in a message, each word is taken apart alone, so that the
    # words after a URL stay out of its query (and out of the masked value).
    text = "".join(_masked_query(word) for word in re.split(r"(\s+)", text))
    return re.sub(_TOKEN_ANYWHERE, rf"\g<1>{MASK}", text)


# Header names and values as httpcore2 and hpack log them: a pair, ``(b'X-Sdk-Token', b'...')``,
# ``b'X-Sdk-Token': b'...'`` or (hpack 4.2's "Adding") ``b'X-Sdk-Token'=b'...'``, each quoted
# as repr() quotes bytes; and hpack's raw blocks, ``Decoding b'...'``. Possessive, and a
# backslash only ever an escape's start: a server's header makes no try twice (a value of 60
# backslashes, never closed, took 2^60 tries).
_HEADER_PAIR: Final = r"""(b(['"])(?:\\.|(?!\2)[^\\])*+\2)(, |: |=)b(['"])(?:\\.|(?!\4)[^\\])*+\4"""
_RAW_BLOCK: Final = r"""((?:Decoding|Encoded header block to) )(b(['"])(?:\\.|(?!\3)[^\\])*+\3)"""


def masked_token_headers(text: str) -> str:
    """``text``, a log line of headers, with the value of each header named for a token (any
    name holding "token") or for the key masked, and each raw header block masked whole.

    By name, not by value: a token a server or gateway echoes (``X-Sdk-Token``) is not yet
    known when the headers are logged, before the body that carries it, and a lent HTTP/2
    connection's HPACK table outlives the client whose key it holds (hpack logs the eviction).
    A raw block is HPACK-coded, Huffman often: no spelling of a secret shows in it, and every
    one decodes back from it (probe 39)."""
    if "Decoding b" in text or "header block to b" in text:
        text = re.sub(_RAW_BLOCK, rf"\g<1>b'{MASK}'", text)
    lowered = text.lower()
    if "token" not in lowered and "key" not in lowered:  # cheap: _masked_pair judges each name
        return text
    return re.sub(_HEADER_PAIR, _masked_pair, text)


# A status and its reason phrase as httpcore2 logs an answer's head, and as httpx2 logs a
# caller's client's status line.
_LOGGED_REASON: Final = (
    r"""(?<=\(b'HTTP/\d\.\d', )(\d{3}), b(['"])(?:\\.|(?!\2)[^\\])*+\2"""
    r"""|(?<=\"HTTP/\d\.\d )(\d{3}) .*(?="$)"""
)


def standard_reasons(text: str) -> str:
    """``text``, a log line, with each logged reason phrase the standard one for its status:
    a proxy may fill its own with the credentials it was sent, in spellings (bytes escapes)
    masking cannot know (probe 21b)."""
    if "HTTP/" not in text:
        return text
    return re.sub(_LOGGED_REASON, _standard_reason, text)


def _standard_reason(logged: re.Match[str]) -> str:
    if logged[1] is not None:  # httpcore2's (version, status, reason, headers)
        return f"{logged[1]}, {httpx2.codes.get_reason_phrase(int(logged[1])).encode()!r}"
    return f"{logged[3]} {httpx2.codes.get_reason_phrase(int(logged[3]))}"


def _masked_pair(pair: re.Match[str]) -> str:
    name, between, quote = pair.group(1, 3, 4)
    named = header_as_read(name[2:-1])  # b'X-Api-Key' -> x-api-key
    secret = "token" in named or named == API_KEY_HEADER
    return f"{name}{between}b{quote}{MASK}{quote}" if secret else pair[0]


def _masked_query(word: str) -> str:
    if TOKEN_PARAM not in unquote_plus(word).lower():
        return word
    try:
        parts = split_url(word)
        pairs = [
            f"{TOKEN_PARAM}={MASK}" if pair_name(pair) == TOKEN_PARAM else pair
            for pair in query_pairs(parts.query)
        ]
        return urlunsplit(parts._replace(query="&".join(pairs)))
    except ValueError:  # not a URL (an unbalanced IPv6 bracket): the pattern still masks
        return word


def query_pairs(query: str) -> list[str]:
    return [pair for pair in query.split("&") if pair]


def pair_name(pair: str) -> str:
    return unquote_plus(pair.partition("=")[0])


def request_id_of(headers: httpx2.Headers) -> str | None:
    """The ``x-request-id`` a server sent, fit to show: any ``sdk_token`` in it masked, made
    printable and bounded. (The pipeline has masked the key in every header of an answer.)"""
    value: str | None = headers.get(REQUEST_ID_HEADER)
    return excerpt(value, "", _MAX_QUOTED_ID) if value else value  # excerpt masks tokens


def nests_within(value: JSONValue, limit: int = MAX_NESTING) -> bool:
    """Whether parsed JSON nests lists and objects at most ``limit`` deep. Level by level, not
    recursively: no depth can exhaust the stack here."""
    level = [value]
    for _ in range(limit + 1):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return True
    return False


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH: no CA is to blame.
_NAME_MISMATCH: Final = frozenset({62, 64})
# OpenSSL's reason for bytes that are no TLS record: plain text where TLS was expected.
_PLAIN_TEXT_REASON: Final = "WRONG_VERSION_NUMBER"
# A server's TLS alerts that another attempt would meet again (OpenSSL's reason names), and
# what each means to the caller: the same client brings the same certificate (or none) and the
# same hello every time.
_CERTIFICATE_REFUSED: Final = "the server refused this client's certificate, or its lack of one"
_NO_SHARED_VERSION: Final = "the server speaks no TLS version this client does (1.2 or later)"
_LASTING_ALERTS: Final = {
    **dict.fromkeys(
        [
            "TLSV13_ALERT_CERTIFICATE_REQUIRED",
            "SSLV3_ALERT_BAD_CERTIFICATE",
            "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
            "SSLV3_ALERT_CERTIFICATE_REVOKED",
            "SSLV3_ALERT_CERTIFICATE_EXPIRED",
            "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
            "TLSV1_ALERT_UNKNOWN_CA",
        ],
        _CERTIFICATE_REFUSED,
    ),
    # How a TLS 1.2 server refuses a missing client certificate too (probe 38).
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the TLS handshake: it may want a "
    "client certificate, or share no cipher with this client",
    "TLSV1_ALERT_PROTOCOL_VERSION": _NO_SHARED_VERSION,
    "UNSUPPORTED_PROTOCOL": _NO_SHARED_VERSION,
}


class ServerSpeaksTlsError(httpx2.ConnectError):
    """An answer that began as a TLS record: the URL says ``http://`` to a server that speaks
    ``https://`` (``Attempt.answered_in_tls``). h11 read it as a garbled status line, which
    counted as a 2xx that may have made a token (probe 38)."""


def _chain(exc: BaseException, until: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and what it was raised from (httpx2's error, httpcore2's, then ssl's or the
    socket's), as far as ``until``: the exception the caller was handling when the call began,
    which a failure inside their ``except`` block carries as its context."""
    current: BaseException | None = exc
    for _ in range(8):  # a short chain: the bound only guards against a cycle
        if current is None or current is until:
            return
        yield current
        current = current.__cause__ or current.__context__


NOT_SOCKS5: Final = "the proxy's answer is not SOCKS5"
# How a proxy's refusal that another attempt would meet again begins (httpcore2's words for
# SOCKS5's), and what the caller is told of it.
_PROXY_REFUSALS: Final = (
    ("407", "the proxy answered 407: the user and password of the proxy URL are missing or wrong"),
    ("Invalid username/password", "the SOCKS proxy refused the user and password of its URL"),
    ("Requested ", "the SOCKS proxy wants a user and password in its URL, or none"),
    (NOT_SOCKS5, "is the proxy URL's port an HTTP proxy's? (http://, not socks5://)"),
)


def without_proxy_reason(said: str) -> str:
    """httpcore2's words for a proxy's refusal of a tunnel ("407 <its reason phrase>") with
    the standard phrase for the status instead of the proxy's own: a proxy may echo the
    credentials it was sent there, and those are the proxy URL's (probe 20)."""
    status = said[:3]
    if not (status.isdigit() and said[3:4] in ("", " ")):
        return said
    return f"{status} {httpx2.codes.get_reason_phrase(int(status))}".rstrip()


def h11_words(said: str) -> str:
    """h11's own words in its error, not the line or value it quotes (``illegal status line:
    bytearray(b'...')``), which may hold a credential the other side echoed."""
    return re.split(r"\s*b?['\"]|[^A-Za-z ]", said, maxsplit=1)[0].strip()


def lasting_failure(
    exc: httpx2.RequestError, trust: str, until: BaseException | None = None
) -> str | None:
    """Why another attempt would fail the same way, in the caller's terms; ``None`` when it may
    not. Retrying these only spends the call's budget: a certificate the client does not trust
    stays untrusted, a server that wants a client certificate gets the same one (or none), a
    proxy that wants other credentials refuses them again. ``trust``: where
    the trusted CAs came from (``Sources.trust``); ``until``: see ``_chain``."""
    if isinstance(exc, httpx2.ProxyError):
        said = str(exc)
        refusal = next((why for start, why in _PROXY_REFUSALS if said.startswith(start)), None)
        if refusal is not None:
            return refusal
    chain = list(_chain(exc, until))
    alert = next((getattr(c, "reason", None) for c in chain if isinstance(c, ssl.SSLError)), None)
    if alert in _LASTING_ALERTS:
        return f"{_LASTING_ALERTS[alert]} ({alert})"
    scheme = _other_scheme(exc, alert)
    if scheme is not None:
        return scheme
    refused = [c for c in chain if isinstance(c, ssl.SSLCertVerificationError)]
    if not refused:
        return None
    # The API's certificate, or an https proxy's (the message names the proxy if there is one).
    if getattr(refused[0], "verify_code", None) in _NAME_MISMATCH:  # one made in Python has none
        return "the certificate presented names another host (or address)"
    return f"the certificate presented failed verification against {trust}"


def _other_scheme(exc: httpx2.RequestError, alert: str | None) -> str | None:
    """Why a server met at its address speaks another scheme than the URL's, if it does."""
    # What OpenSSL makes of a plain-http answer to its hello (later, mid-connection, it is a
    # middlebox's doing, which another connection may not meet).
    if alert == _PLAIN_TEXT_REASON and isinstance(exc, httpx2.ConnectError):
        return "the server does not speak TLS there: is its URL (the base URL's, or the proxy's) http://?"
    if isinstance(exc, ServerSpeaksTlsError):
        return "the server speaks TLS there: is its URL (the base URL's, or the proxy's) https://?"
    return None


def describe_transport_error(
    exc: httpx2.RequestError,
    *,
    secret: str,
    where: str = "",
    lasting: str | None = None,
    until: BaseException | None = None,
) -> APIConnectionError:
    """Wrap an httpx2 failure to get a response. Its text may quote what the server sent (h11
    quotes a malformed header line), which may echo the key: it is redacted here too.
    ``where`` says where the call went and how often (``Call``); ``lasting``, why it was not
    retried (``lasting_failure``). An error without words of its own (anyio's, under httpx2's
    async transport) is described by the first one in its chain that has some."""
    suffix = f" ({where})" if where else ""
    if isinstance(exc, httpx2.TimeoutException):
        kind = type(exc).__name__.replace("Timeout", " timeout").strip().lower()
        return APITimeoutError(f"request timed out ({kind}){suffix}", request=_request_of(exc))
    said = (str(cause) for cause in _chain(exc, until))
    detail = next((text for text in said if text and text != type(exc).__name__), "")
    detail = excerpt(detail or type(exc).__name__, secret)
    if lasting:
        suffix += f"; not retried: {lasting}"
    return APIConnectionError(f"connection error: {detail}{suffix}", request=_request_of(exc))


def forget_locals(
    exc: BaseException | None, secret: str = "", *, until: BaseException | None = None
) -> None:
    """Clear the local variables of every frame in ``exc``'s chain of causes (and the members
    of a group) and, given the key, mask it (and any SDK token) in each message of the chain.

    httpcore2's frames hold the request's headers, the key among them; error reporters such as
    Sentry, ``pytest --showlocals`` and rich tracebacks print frame locals, scrubbing them by
    variable name only. httpx2's and h11's errors quote what a server sent (a malformed header
    line), and ``traceback.format_exception`` prints every message of the chain. The stack
    itself stays for debugging. ``until``: the exception the caller was handling when the call
    began, where the walk stops: its frames are the caller's own.
    """
    pending, seen = [exc], {id(until)}
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        _clear_returned_callers(current.__traceback__)
        if secret:
            _mask_messages(current, secret)
        pending += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):  # a transport's, anyio's: each member too
            pending += current.exceptions


# A generator's, coroutine's or async generator's frame (inspect is loaded with the clients).
_SUSPENDABLE: Final = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _clear_returned_callers(tb: TracebackType | None) -> None:
    """Clear the callers of ``tb``'s first frame that have returned since. CPython keeps a
    caller alive as ``f_back`` of a frame that outlives its call: an error caught, handed up as
    an outcome and raised later as a cause keeps the frame that received it, with its pipeline
    and pool (probe 20b). The first caller still running ends the walk, and so does a
    generator's or coroutine's frame, which clearing would close."""
    caller = tb.tb_frame.f_back if tb is not None else None
    while caller is not None and not caller.f_code.co_flags & _SUSPENDABLE:
        try:
            caller.clear()
        except RuntimeError:  # running: it and its callers are the call's own stack
            return
        caller = caller.f_back


_P = ParamSpec("_P")
_R = TypeVar("_R")


def public_door(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """``method`` as a way into the SDK: when it raises, every frame it ran keeps no locals,
    its own included, and nothing of its arguments stays.

    Each SDK frame that clears the frames below it still runs as it does so, so it keeps its
    own (``self``, ``call``): error reporters that evaluate what a frame's source names
    (Sentry's pure_eval, stackprinter, IPython's verbose tracebacks) would print
    ``call.secret``, and every reporter would print a key passed by mistake in
    ``extra_headers``. The door is above them all and finishes last."""

    @wraps(method)
    def door(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        handling = sys.exception()  # the caller's own, should they call from an except block
        try:
            return method(*args, **kwargs)
        except BaseException as exc:
            del args, kwargs
            forget_locals(exc, until=handling)
            raise

    return door


def public_async_door(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """``public_door`` for a coroutine function."""

    @wraps(method)
    async def door(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        handling = sys.exception()
        try:
            return await method(*args, **kwargs)
        except BaseException as exc:
            del args, kwargs
            forget_locals(exc, until=handling)
            raise

    return door


def _mask_messages(exc: BaseException, secret: str) -> None:
    # Through ``args`` (what ``str()`` of an exception shows) and PEP 678 notes; only a text
    # that holds a secret is replaced, so other exceptions keep theirs as they were.
    def shown(value: object) -> object:
        return hidden(value, secret) if isinstance(value, str) else value

    masked = tuple(shown(arg) for arg in exc.args)
    if masked != exc.args:
        exc.args = masked
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [shown(note) for note in notes]


def _request_of(exc: httpx2.RequestError) -> httpx2.Request | None:
    try:
        return exc.request
    except RuntimeError:  # httpx2 raises when the error was not tied to a request
        return None
