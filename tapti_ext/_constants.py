"""The values more than one module needs: where a client looks for what it is not given, the
defaults it starts from, and the names the API's answers use.

No imports, so that the mock server (``testing``), which loads no HTTP client, shares them; so
it shares JSON Schema's reading of a parsed value's type (``has_json_type``) with the SDK's own
check of an answer's fields. The header that carries the key is the spec's:
``_names.API_KEY_HEADER``, written by ``make generate``.
"""

from typing import Final

# The environment variables a client reads for an argument left out.
API_KEY_VARIABLE: Final = "TAPTI_API_KEY"
BASE_URL_VARIABLE: Final = "TAPTI_BASE_URL"
PORTAL_URL_VARIABLE: Final = "TAPTI_PORTAL_URL"

DEFAULT_BASE_URL: Final = "https://api.tapti.ai"
"""The API's address, used unless ``base_url`` or ``TAPTI_BASE_URL`` says another."""
DEFAULT_PORTAL_URL: Final = "https://oauth.tapti.dev"
"""The OAuth Portal's address, used unless ``portal_url`` or ``TAPTI_PORTAL_URL`` says another."""
DEFAULT_TIMEOUT: Final = 30.0
"""Seconds a whole call may take, retries and waits included: a request handler must not hang."""
DEFAULT_MAX_RETRIES: Final = 2

# The portal URL's query parameters: the SDK token; the platform that skips the portal's
# picker; where the portal sends the user back (the token's redirect_url).
TOKEN_PARAM: Final = "sdk_token"  # noqa: S105  (a parameter name, not a secret)
PLATFORM_PARAM: Final = "platform"
ORIGIN_PARAM: Final = "origin"
REQUEST_ID_HEADER: Final = "x-request-id"


def header_as_read(name: str) -> str:
    """A header's name as a server may read it: CGI and WSGI servers take ``X_Api_Key`` for
    ``x-api-key`` (probe 39), and lighttpd and Apache 2.2 ``x.api.key`` too (review 37): each
    writes every character but a letter or digit as ``_``."""
    return "".join(char if char.isalnum() and char.isascii() else "-" for char in name.lower())


# The most a body read whole may hold: an answer once decoded, a `tapti api --body` input, a
# request to the mock. The documented bodies are a few short fields; none comes near it.
MAX_BODY_BYTES: Final = 1 << 20
# What stands for a secret wherever text that held one is shown.
MASK: Final = "***"
MAX_PORT: Final = 65535

# JSON Schema's types, each with the Python classes json.loads gives it, in the order that names
# a value's type (a bool is an int to Python, and no number to JSON).
JSON_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "string": str,
    "null": type(None),
    "array": list,
    "object": dict,
}


def has_json_type(value: object, name: str) -> bool:
    """Whether a parsed JSON value is of JSON Schema's type ``name``: ``true`` is no number,
    and ``2.0`` is an integer too."""
    if isinstance(value, bool):
        return name == "boolean"
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, JSON_TYPES[name])


def json_type_of(value: object) -> str | None:
    """The name of a parsed JSON value's type; None for what json.loads never gives."""
    return next((name for name in JSON_TYPES if has_json_type(value, name)), None)
