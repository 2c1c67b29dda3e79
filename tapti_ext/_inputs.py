"""Check and normalise every argument at the edge, so nothing past here handles a raw value.

Each checker raises ``InvalidInputError`` naming the argument and what was wrong with it. The
checks that a hot loop repeats with the same values (platform lists, URLs) are memoised: a
backend that creates a token per request pays for them once.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from enum import Enum
from functools import cache, lru_cache
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

import httpx2
from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from ._constants import API_KEY_VARIABLE
from ._errors import (
    InvalidInputError,
    carries_secret,
    excerpt,
    redacted,
    split_url,
    url_without_secrets,
)
from ._names import API_KEY_HEADER, PlatformName, ScopeName

__all__ = [
    "LONE_SURROGATE",
    "PlatformLike",
    "ScopeLike",
    "Timeout",
    "bad_host_label",
    "check_api_key",
    "check_base_url",
    "check_flag",
    "check_platform",
    "check_platforms",
    "check_scopes",
    "check_timeout",
    "check_url",
    "check_user_id",
    "from_argument_or_environment",
    "ip_of",
    "is_ip",
    "is_loopback",
    "is_valid_text",
    "key_in_environment",
    "listed",
    "refuse_plain_http",
    "segment_problem",
]

PlatformLike = Platform | PlatformName
"""A platform: a ``Platform`` member or its name (``PlatformName``)."""
ScopeLike = Scope | ScopeName
"""A scope: a ``Scope`` member or its name (``ScopeName``)."""
_E = TypeVar("_E", bound=Enum)  # str-valued here; an IntEnum too in `tapti api`

# The checks below use str methods, not ``re``: compiling a pattern costs 0.1-0.2 ms, which a
# cold start (make bench, figure 1) would pay for each one a first call meets.
# C0 controls, DEL and C1 controls: never valid in an id or a URL we send.
_CONTROLS = frozenset(map(chr, (*range(0x20), *range(0x7F, 0xA0))))
_WEB_SCHEMES = frozenset({"http", "https"})
_DIGITS = "0123456789"
# What a DNS label holds once IDNA-encoded (the underscore: names some resolvers serve).
_LABEL_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + _DIGITS + "_-"
# A host a browser reads as Python does: an ASCII name or address, or an IPv6 literal.
_NAME_CHARACTERS = _LABEL_CHARACTERS + "."
_IPV6_CHARACTERS = "0123456789ABCDEFabcdef:."
# Why a URL with "@" in its authority is refused (redirect_problem, and check_url on the URL as
# written, before httpx2's form of it drops an empty user name).
_USERINFO = "holds a user name or password"
LONE_SURROGATE = "must be valid Unicode text (it holds a lone surrogate)"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# A day: longer is no timeout (or Retry-After wait) in practice; the OS's clocks overflow beyond.
MAX_TIMEOUT_SECONDS = 86_400.0
# Far beyond any real id, far below httpx2's 64 KiB URL limit even when percent-encoded.
MAX_USER_ID_LENGTH = 1024
_TOO_LONG = f"must not be longer than {MAX_USER_ID_LENGTH} characters"
_MAX_INT_ID_BITS = 3400  # about 1,024 decimal digits; str() refuses far longer ints anyway


def check_api_key(api_key: object, *, argument: str = "api_key") -> str:
    """The key, stripped; ``argument`` names where it came from (``TAPTI_API_KEY``)."""
    if api_key is None:
        raise InvalidInputError(
            f"no API key: pass api_key=... or set the {API_KEY_VARIABLE} environment variable"
        )
    if not isinstance(api_key, str):
        raise InvalidInputError(f"{argument} must be a str, not {type(api_key).__name__}")
    key = api_key.strip()
    if not key:
        raise InvalidInputError(f"api_key is empty: pass api_key=... or set {API_KEY_VARIABLE}")
    if not (key.isascii() and key.isprintable()) or " " in key:
        # Said without the key itself: a message must never carry a secret. HTTP headers
        # are ASCII, so anything else could not be sent anyway.
        raise InvalidInputError(f"{argument} must be printable ASCII without whitespace")
    if "\\" in key:
        # Quoted by a server's error and again by a log, its escapes could not be told from
        # the key's own characters: it could not be masked there.
        raise InvalidInputError(f"{argument} must not contain a backslash")
    return key


def key_in_environment() -> str:
    """The key ``TAPTI_API_KEY`` holds, stripped as ``check_api_key`` strips it (``""`` when
    unset): what to mask or refuse where no client was made (the CLI's messages,
    ``oauth_portal_url()``)."""
    return os.environ.get(API_KEY_VARIABLE, "").strip()


def from_argument_or_environment(value: object, argument: str, variable: str) -> tuple[Any, str]:
    """The argument when given (even empty, so that it is refused), else the environment
    variable's value (an empty one counts as unset, as shells make it easy to leave one so),
    else ``None``; with the name a message should say for it."""
    if value is not None:
        return value, argument
    return os.environ.get(variable) or None, variable


def check_flag(value: object, *, argument: str) -> bool:
    """A yes-or-no argument: a bool only ("false" is truthy; 0.0 false by accident)."""
    if type(value) is not bool:
        raise InvalidInputError(f"{argument} must be True or False, not {type(value).__name__}")
    return value


def check_user_id(user_id: object, *, argument: str = "user id") -> str:
    """A user id is sent as one path segment; refuse what cannot round-trip as one."""
    if isinstance(user_id, str):
        # str.__str__, not str(): a (str, Enum) member would print as "Class.MEMBER".
        text = str.__str__(user_id)
    elif isinstance(user_id, int) and not isinstance(user_id, bool):
        if user_id.bit_length() > _MAX_INT_ID_BITS:
            raise InvalidInputError(f"{argument} {_TOO_LONG}")
        try:
            text = int.__repr__(user_id)
        except ValueError:  # beyond sys.set_int_max_str_digits()
            raise InvalidInputError(f"{argument} {_TOO_LONG}") from None
    else:
        raise InvalidInputError(f"{argument} must be a str or int, not {type(user_id).__name__}")
    if not text.strip():
        raise InvalidInputError(f"{argument} must not be empty or whitespace")
    problem = segment_problem(text)
    if problem is not None:
        raise InvalidInputError(f"{argument} {problem}")
    return text


def segment_problem(text: str) -> str | None:
    """Why ``text`` cannot travel as one path segment (``"must not ..."``), or ``None``.

    The wrapper's ids and every segment ``tapti.raw`` sends (percent-decoded) pass this one
    check, so no door sends what another refuses.
    """
    if text in {".", ".."}:
        return f"must not be {text!r}: it would change the request path"
    if text and not text.strip():  # an empty one is tapti.raw's to judge (has_empty_parameter)
        return "must not be whitespace"
    if len(text) > MAX_USER_ID_LENGTH:
        return _TOO_LONG
    if _has_control(text):
        return "must not contain control characters"
    if not is_valid_text(text):
        return LONE_SURROGATE
    return None


def listed(members: Iterable[Enum]) -> str:
    """Enum values as users write them: ``youtube, tiktok``."""
    return ", ".join(str(member.value).lower() for member in members)


def _str_url(value: object, argument: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{argument} must be a str URL, not {type(value).__name__}")
    return value


def check_platform(value: object, *, argument: str = "platform") -> Platform:
    return enum_member(Platform, value, argument)


def check_platforms(value: object, *, argument: str = "platforms") -> tuple[Platform, ...]:
    return _members(Platform, value, argument)


def check_scopes(value: object, *, argument: str = "scopes") -> tuple[Scope, ...]:
    return _members(Scope, value, argument)


def check_url(value: object, *, argument: str, ascii_host: bool = False) -> str:
    """An absolute http(s) URL with a host and no whitespace, where a browser finds the host
    Python does (``redirect_problem``): what Tapti can send a user's browser to.

    An internationalised host is judged in its IDNA form, as httpx2 and browsers send it;
    ``ascii_host``: it must be written so (the portal's, which ``SdkToken`` reads back).
    """
    return _checked_url(_str_url(value, argument), argument, ascii_host)


def redirect_problem(url: str) -> str | None:
    """Why ``url`` is no place to send a user's browser to, or ``None``. Never quotes it: the
    URL of an answer carries the SDK token. Lighter than ``check_url`` (no host encoding): it
    runs on every answer, and the browser, not httpx2, will read it."""
    if not url.isprintable() or " " in url:  # a lone surrogate, bidi control: not printable
        return "holds whitespace, control characters or invalid text"
    try:
        parts = split_url(url)
        host = parts.hostname
        parts.port  # noqa: B018  (urllib checks the port lazily; a bad one raises here)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return "is not a valid URL"
    if parts.scheme not in _WEB_SCHEMES or not host:
        return "is not an absolute http(s) URL"
    if "@" in parts.netloc:  # https://trusted@evil.example: a phishing shape
        return _USERINFO
    if not _plain_authority(parts.netloc):
        # "\", "%", "。" or text after "]": a browser finds another host there than Python
        return "has a host a browser could read otherwise"
    return None


def check_base_url(
    value: object, *, allow_insecure_http: bool, argument: str = "base_url", secret: str = ""
) -> str:
    """The API's root: absolute, https unless the host is this machine or the caller insists.

    ``argument`` names where the value came from (``TAPTI_BASE_URL`` when read from there);
    ``secret``, the API key, is masked wherever a message quotes the value.
    """
    value = _str_url(value, argument)
    parts, url = _split(value, argument, secret)
    if carries_secret(value, secret):  # written out or escaped: the server would read it
        raise InvalidInputError(
            f"{argument} holds the API key, which goes only in the {API_KEY_HEADER} header"
        )
    if "?" in value or "#" in value:  # even an empty one would swallow the request path
        raise InvalidInputError(f"{argument} must not have a query or fragment")
    if parts.username is not None or parts.password is not None:
        # Said without them: they are credentials, and httpx2 would send them as Basic auth.
        raise InvalidInputError(f"{argument} must not hold a user name or password")
    try:  # as httpx2 reads it for the pool and proxies: "xn--" anywhere decodes the host whole
        url.host  # noqa: B018
    except ValueError as exc:  # idna's errors
        raise InvalidInputError(
            f"{argument} has a host name httpx2 cannot read ({excerpt(str(exc), secret, 100)}): "
            f"{_shown_url(value, secret)}"
        ) from None
    if parts.scheme == "https" and url.raw_host.endswith(b"."):
        # httpx2 would verify the certificate (and send SNI) for the name as written, and no
        # certificate names a host with the root's dot: every handshake would fail. Judged as
        # httpx2 sends it: it makes a dot of an ideographic full stop ("\u3002") too.
        shown = _shown_url(value, secret)
        raise InvalidInputError(
            f"{argument} has a host name ending in a dot, which no TLS certificate matches; "
            f"remove the dot: {shown}"
        )
    if not allow_insecure_http:
        refuse_plain_http(parts, argument, "the API key")
    return value.rstrip("/")


def refuse_plain_http(parts: SplitResult, argument: str, carried: str) -> None:
    """``InvalidInputError`` for plain http to another machine: ``carried`` would cross the
    network unencrypted. This machine's own servers (the mock) are left alone."""
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InvalidInputError(
            f"{argument} uses plain http to a remote host, which would send {carried} "
            "unencrypted; use https, or pass allow_insecure_http=True"
        )


# Cached: a backend makes a call or a portal URL per request, from one or two settings.
@lru_cache(maxsize=256)
def _checked_url(value: str, argument: str, ascii_host: bool) -> str:
    parts, _ = _split(value, argument)
    if "@" in parts.netloc:  # looked for as written: httpx2 drops an empty "https://@host"
        raise InvalidInputError(f"{argument} {_USERINFO}")
    judged = value if ascii_host or value.isascii() else str(httpx2.URL(value))
    problem = redirect_problem(judged)  # never quotes it, as the URL of an answer is not
    if problem:
        raise InvalidInputError(f"{argument} {problem}")
    return value


def _split(value: str, argument: str, secret: str = "") -> tuple[SplitResult, httpx2.URL]:
    """``value`` taken apart by urllib and by httpx2 (once each: a client's base URL is checked
    at every construction), or the ``InvalidInputError`` that says why it cannot be sent."""
    if _has_whitespace_or_control(value):
        raise InvalidInputError(f"{argument} must not contain whitespace or control characters")
    if not is_valid_text(value):
        raise InvalidInputError(f"{argument} {LONE_SURROGATE}")
    try:
        parts = urlsplit(value)  # cached: a client's URLs come again on every call
        if parts.port == 0:  # urllib checks the port lazily; a bad one raises here
            # httpcore2 reads port 0 as none given: the call would go to 80 or 443.
            raise ValueError("port 0")  # noqa: TRY301  (said as urllib's own refusals are)
        url = httpx2.URL(value)
        host = url.raw_host.decode("ascii")  # what httpx2 will send, IDNA-encoded
    except (ValueError, httpx2.InvalidURL) as exc:
        shown = _shown_url(value, secret)
        raise InvalidInputError(
            f"{argument} is not a valid URL ({excerpt(str(exc), secret, 100)}): {shown}"
        ) from None
    if parts.scheme not in _WEB_SCHEMES or not parts.hostname:
        shown = _shown_url(value, secret)
        raise InvalidInputError(f"{argument} must be an absolute http(s) URL with a host: {shown}")
    bad_label = bad_host_label(host)
    if bad_label is not None:
        shown = _quoted(redacted(parts.hostname, secret))
        raise InvalidInputError(
            f"{argument} has a host name that cannot be sent ({bad_label}): {shown}"
        )
    return parts, url


_MAX_QUOTED = 200
_MAX_LABEL = 63
_MAX_HOST = 253


def _shown_url(value: str, secret: str) -> str:
    """A refused URL as a message quotes it (``url_without_secrets``), cut short."""
    return _quoted(url_without_secrets(value, secret))


def _quoted(value: object) -> str:
    """A value a caller gave, as a message repeats it: cut short, or named by its type alone
    (another object's repr could be any size, or raise; web apps pass ``?platform=`` on)."""
    if isinstance(value, str):
        return repr(value if len(value) <= _MAX_QUOTED else value[:_MAX_QUOTED] + "...")
    if value is None or type(value) in {int, float, bool}:
        try:
            shown = repr(value)
        except ValueError:  # an int beyond sys.get_int_max_str_digits()
            shown = ""
        if 0 < len(shown) <= _MAX_QUOTED:
            return shown
    return f"of type {type(value).__name__}"


def bad_host_label(host: str) -> str | None:
    """Why a DNS host name (already IDNA-encoded) cannot be looked up, or ``None``."""
    if host.startswith("[") or is_ip(host):
        return None
    name = host[:-1] if host.endswith(".") else host
    if len(name) > _MAX_HOST:
        return f"longer than {_MAX_HOST} characters"
    for label in name.split("."):
        problem = _label_problem(label)
        if problem:
            return problem
    return None


def _label_problem(label: str) -> str | None:
    if not label:
        return "an empty label"
    if label.strip(_LABEL_CHARACTERS):  # "*", a space: no name, yet a resolver may answer
        return f"a label no host name can hold {label!r}"
    if len(label) > _MAX_LABEL:
        return f"a label longer than {_MAX_LABEL} characters"
    if label.lower().startswith("xn--"):
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
        except UnicodeError:
            decoded = ""
        if not decoded:
            return f"an invalid IDNA label {label!r}"
    return None


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` writes out, or ``None`` for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_ip(host: str) -> bool:
    return ip_of(host) is not None


def is_valid_text(text: str) -> bool:
    """False for a str holding a lone surrogate (a JSON escape or a mis-decoded argv can)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a C0 or C1 control or DEL (printable text holds none)."""
    return not text.isprintable() and not _CONTROLS.isdisjoint(text)


def _has_whitespace_or_control(text: str) -> bool:
    """Whether ``text`` holds whitespace, a C0 or C1 control or DEL. Printable text holds no
    control and no whitespace but the space: a char-by-char look only for the rest."""
    if text.isprintable():
        return " " in text
    return not _CONTROLS.isdisjoint(text) or any(char.isspace() for char in text)


def _plain_authority(netloc: str) -> bool:
    """Whether ``netloc`` is an ASCII host name or address, or an IPv6 literal, with an optional
    port of digits: nothing a browser could read as another host than Python does."""
    if netloc.startswith("["):
        host, bracket, port = netloc[1:].partition("]")
        plain_host = bool(bracket) and not host.strip(_IPV6_CHARACTERS)
    else:
        host, colon, port = netloc.partition(":")
        port = colon + port
        plain_host = not host.strip(_NAME_CHARACTERS)
    if not host or not plain_host:
        return False
    return not port or (port[0] == ":" and not port[1:].strip(_DIGITS))


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` names this machine: the network layer connects it to loopback
    addresses only, never looking it up (``_network.connect_addresses``)."""
    return host.lower() in _LOOPBACK_NAMES


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if is_loopback_name(host):
        return True
    address = ip_of(host)
    return address is not None and address.is_loopback


def enum_member(enum: type[_E], value: object, argument: str) -> _E:
    """``value`` as a member of ``enum``: the member itself, or its value in any case."""
    if isinstance(value, enum):
        return value
    # ASCII only: str.upper() makes "TIKTOK" of "tiktok" written with a dotless i, a look-alike.
    if isinstance(value, str) and value.isascii():
        exact, upper = _spellings(enum)
        text = value.strip()
        found: _E | None = exact.get(text) or upper.get(text.upper())  # "YouTubeShorts" too
        if found is not None:
            return found
    valid = listed(enum)
    raise InvalidInputError(f"{argument}: unknown value {_quoted(value)}; valid values are {valid}")


@cache
def _spellings(enum: type[_E]) -> tuple[dict[str, _E], dict[str, _E]]:
    """An enum's members by value written as text (an ``IntEnum``'s ``1`` as ``"1"``, as
    ``tapti api`` reads it), and in upper case (the first of two values that differ only in
    case: the other is found by its exact value)."""
    members = list(enum)
    upper = {str(member.value).upper(): member for member in reversed(members)}
    return {str(member.value): member for member in members}, upper


def _members(enum: type[_E], value: object, argument: str) -> tuple[_E, ...]:
    """One value or many, enum members or strings in any case; duplicates dropped in order."""
    if isinstance(value, str):
        items: tuple[object, ...] = (value,)
    elif (
        type(value) is list  # most calls: no ABC's isinstance (and "is": a metaclass's __eq__
        or type(value) is tuple  # could say any class is list)
        or (isinstance(value, Iterable) and not isinstance(value, bytes | dict))
    ):
        items = tuple(value)
    else:
        raise InvalidInputError(
            f"{argument} must be a value or a list of values, not {type(value).__name__}"
        )
    try:
        return _members_cached(enum, items, argument)
    except TypeError:  # an unhashable item: check uncached to name it
        return _members_uncached(enum, items, argument)


@lru_cache(maxsize=256)
def _members_cached(enum: type[_E], items: tuple[object, ...], argument: str) -> tuple[_E, ...]:
    return _members_uncached(enum, items, argument)


def _members_uncached(enum: type[_E], items: tuple[object, ...], argument: str) -> tuple[_E, ...]:
    if not items:
        raise InvalidInputError(f"{argument} must not be empty")
    members = (enum_member(enum, item, argument) for item in items)
    return tuple(dict.fromkeys(members))


Timeout = float | httpx2.Timeout | None


def check_timeout(value: object) -> Timeout:
    """Seconds for the whole call, ``None`` for no limit, or an ``httpx2.Timeout`` (per phase)."""
    if value is None:
        return None
    if not isinstance(value, httpx2.Timeout):
        seconds = _duration(value)
        if seconds is None:
            raise InvalidInputError(
                f"timeout must be a positive number of seconds up to {MAX_TIMEOUT_SECONDS:g}, "
                "None or an httpx2.Timeout"
            )
        return seconds
    phases = value.as_dict()
    for phase, given in phases.items():
        phases[phase] = seconds = None if given is None else _duration(given)
        if given is not None and seconds is None:
            raise InvalidInputError(
                f"timeout: {phase} must be None or a positive number of seconds "
                f"up to {MAX_TIMEOUT_SECONDS:g}"
            )
    return httpx2.Timeout(**phases)


def _duration(value: object) -> float | None:
    """``value`` as seconds, or ``None`` if it is none. The float is checked, not the value: a
    float subclass may compare as one number and convert to another (NaN, 1e308)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int of hundreds of digits
        return None
    return seconds if 0 < seconds <= MAX_TIMEOUT_SECONDS else None  # NaN fails both
