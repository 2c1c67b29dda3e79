"""The ``tapti`` command: a thin shell over the public API, nothing the library cannot do.

An error is one line on stderr, never a traceback, or with ``--json`` one JSON object on stdout;
only a bug of tapti's own adds its traceback. The exit codes are the help's, ``_EXIT_CODES``.
Messages name flags and environment variables: the CLI's own say them already; the library's,
which name Python arguments, are reworded (``_CLI_TERMS``), but for a status error's, whose
words are the API's. The API key is read from ``TAPTI_API_KEY`` only: a command-line flag
would show it to every user of the machine.
``tapti api`` (any generated operation) is in ``_cli_api``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import enum
import errno
import json
import math
import os
import re
import secrets
import shlex
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, NoReturn

from . import __version__
from ._constants import (
    API_KEY_VARIABLE,
    BASE_URL_VARIABLE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PORTAL_URL,
    DEFAULT_TIMEOUT,
    MAX_PORT,
    PORTAL_URL_VARIABLE,
)

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from ._client import Tapti
    from ._portal import SdkToken

__all__ = ["main"]

_API_ERROR, _BAD_INPUT, _INTERRUPTED = 1, 2, 130
_TERMINATED: Final = 128 + signal.SIGTERM  # 143, what a shell reports for a SIGTERM
# 128 + SIGPIPE: what a shell reports for a program the closed pipe ended, as 130 for Ctrl-C.
_READER_GONE: Final = 141
_FROM_STDIN: Final = "-"  # SDK_TOKEN read from standard input: `ps` shows an argument
_MAX_TOKEN_LINE: Final = 64 * 1024  # what `portal-url -` reads of standard input, at most

# --- help text: each page ends with examples, then the environment (tapti) and exit codes ---

_EXIT_CODES: Final = """\
exit codes:
  0    success
  1    the API answered with an error, or could not be reached; or the output
       could not be written (a full disk)
  2    bad input: a usage error, or a value refused before anything was sent
  130  interrupted (Ctrl-C)
  141  the output's reader went away (a closed pipe: `tapti ... | head -c1`)
  143  terminated (SIGTERM: `timeout`, a process manager)

With --json, an error is one JSON object on stdout instead of a line on stderr
(an interrupt or a SIGTERM too, as type "interrupted"):
  {"error": {"type": "rate_limit_error", "message": "...", "request_id": "...",
             "status_code": 429, "retry_after": 30.0}}
(status_code: the API's error status; retry_after: a 429's wait; else null)"""
_MOCK_EXIT_CODES: Final = """\
exit codes:
  0    stopped by Ctrl-C (SIGINT) or SIGTERM
  1    the port is in use, or cannot be listened on; or the output could not be
       written (a full disk)
  2    bad input: a usage error or a refused flag value
  141  the output's reader went away (a closed pipe)"""
_ENVIRONMENT: Final = """\
environment:
  TAPTI_API_KEY     your API key (required to call the API; never a flag)
  TAPTI_BASE_URL    the API's base URL, as --base-url (default: Tapti's API)
  TAPTI_PORTAL_URL  the OAuth Portal's URL, as --portal-url (default: Tapti's portal)"""
_READS: Final = "Reads TAPTI_API_KEY (required) and TAPTI_BASE_URL."
_CREATE_EXAMPLE: Final = """\
  export TAPTI_API_KEY=...
  tapti sdk-token create user_123 --platform youtube,tiktok --scope profile_read \\
      --callback-url https://your-app.com/api/oauth/callback \\
      --redirect-url https://your-app.com/dashboard/accounts"""
# Filled in when help is shown: the generated enums, so the lists follow the spec.
_ENUMS: Final = re.compile(r"<(platforms|scopes)>")


def epilog(examples: str, codes: str = _EXIT_CODES) -> str:
    return f"examples:\n{examples}\n\n{codes}"


def _enum_values(match: re.Match[str]) -> str:
    # Imported only when help is shown: they pull in httpx2.
    from tapti_api_client.models.platform import Platform  # noqa: PLC0415
    from tapti_api_client.models.scope import Scope  # noqa: PLC0415

    from ._inputs import listed  # noqa: PLC0415

    return listed({"platforms": Platform, "scopes": Scope}[match[1]])


# --- failures: one line on stderr, or one JSON object with --json ---------------------------

# The library's words for what, in the CLI, are flags and environment variables: (pattern,
# replacement) in order, for every message but the CLI's own (``bad_input``).
_CLI_TERMS: Final[tuple[tuple[str, str | Callable[[re.Match[str]], str]], ...]] = (
    (r"pass api_key=\.\.\. or set", "set"),
    (r"\bapi_key\b", API_KEY_VARIABLE),
    (r"\ballow_insecure_http=True\b", "--allow-insecure-http"),
    (r"\b(base|callback|redirect)_url\b", r"--\1-url"),
    (r"\bportal_url\b", f"--portal-url (or {PORTAL_URL_VARIABLE})"),
    (r"^timeout\b", "--timeout"),
    (r"^the request body\b", "--body"),
    (r", None or an httpx2?\.Timeout\b", ""),
    (r"^sdk_token must be a non-empty str$", "SDK_TOKEN must not be empty"),
    (r"^sdk_token\b", "SDK_TOKEN"),
    (r"\ban int\b", "a whole number"),
    # A Python class quoted in a message (TypeError, httpx2.RemoteProtocolError) said in words.
    (
        r"\b(?:httpx2?\.)?([A-Z][A-Za-z0-9]+?(?:Error|Exception|Warning|Request|Response))\b",
        lambda match: _words(match[1]),
    ),
)


# A value a message quotes (``repr``): the caller's own text, never reworded.
_QUOTED: Final = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def _in_cli_terms(message: str) -> str:
    parts = _QUOTED.split(message)  # the words at even places, quoted values at odd ones
    for pattern, replacement in _CLI_TERMS:
        parts[::2] = [re.sub(pattern, replacement, words) for words in parts[::2]]
    return "".join(parts)


def _words(name: str) -> str:
    """``APIConnectionError`` -> ``API connection error``: a class name as a sentence says it."""
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name)
    return " ".join(part if len(part) > 1 and part.isupper() else part.lower() for part in parts)


class _Failure(NamedTuple):
    """Every field but ``line`` is a key of the ``--json`` error object, in this order."""

    type: str  # the JSON error's type: "authentication_error", "usage_error"
    message: str
    line: str  # what stderr shows without --json: "tapti: ..."
    request_id: str | None = None
    status_code: int | None = None  # the error status the API answered with
    retry_after: float | None = None  # seconds a 429 asked to wait

    @classmethod
    def error(cls, kind: str, message: str, label: str = "", **details: Any) -> _Failure:
        """A failure whose line reads ``tapti: error: ...``: every error line begins so, as
        argparse's do, for one grep; ``label`` says what failed where the message does not."""
        return cls(kind, message, f"tapti: error: {label}{message}", **details)

    @property
    def exit_code(self) -> int:
        return _BAD_INPUT if self.type in {"usage_error", "invalid_input_error"} else _API_ERROR


class _Version(argparse.Action):
    """``--version``, written by ``write_out`` (argparse's own action ignores a failed write)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        _namespace: argparse.Namespace,
        _values: str | Sequence[Any] | None,
        _option_string: str | None = None,
    ) -> None:
        write_out(f"{parser.prog} {__version__}\n")
        parser.exit()


class _CliError(Exception):
    """A failure the CLI found and worded itself: reported as it is, never reworded."""

    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def bad_input(message: str) -> _CliError:
    """Bad input (exit 2) in the CLI's own terms: ``message`` names the flag to change."""
    return _CliError(_Failure.error("invalid_input_error", message))


_LONG_QUOTE: Final = re.compile(r"('[^']{80})[^']+'")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (or one JSON object) with exit code 2, and the
    text after the options (examples, environment, exit codes) keeps its line breaks."""

    def __init__(self, **kwargs: Any) -> None:
        # No abbreviations: "--js" would be --json to argparse, and not to main(), which must
        # know before parsing whether errors are JSON.
        kwargs.setdefault("allow_abbrev", False)
        self._enum_helps: list[argparse.Action] = []  # options whose help lists enum values
        super().__init__(formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)

    # Not through argument groups, which add their own: an option listing enum values belongs to
    # the parser itself (a help test fails on any "<platforms>" left).
    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help and _ENUMS.search(action.help):
            self._enum_helps.append(action)
        return action

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        # argparse ignores a failed write (a full disk); written here, the exit code tells.
        if file is None or file is sys.stdout:
            write_out(self.format_help())
        else:
            super().print_help(file)

    def error(self, message: str) -> NoReturn:
        prog = self.prog
        # argparse quotes what it refuses in full: a pasted 100 KB value stays 80 characters.
        message = _usage_shown(re.sub(_LONG_QUOTE, r"\1...'", message))
        raise _CliError(
            _Failure("usage_error", f"{prog}: {message}", f"{prog}: error: {message} (see --help)")
        )

    def format_help(self) -> str:
        # Filled in only when shown: the values come from the generated models (httpx2).
        for action in self._enum_helps:
            action.help = _ENUMS.sub(_enum_values, action.help or "")
        self._enum_helps.clear()
        return super().format_help()


def _usage_shown(message: str) -> str:
    """argparse's refusal as shown: it quotes what it refuses as given, which may be the key
    (a shifted argument, ``--timeout "$TAPTI_API_KEY"``), terminal escapes, or 100 KB unquoted
    ("unrecognized arguments: ..."), where every other message masks, escapes and bounds them
    (probe 41). ``main`` spells an operation's ``_`` as ``-``: so is the key looked for."""
    from ._errors import excerpt, redacted  # noqa: PLC0415  (httpx2: not for --help)
    from ._inputs import key_in_environment  # noqa: PLC0415

    key = key_in_environment()
    for spelling in {key, key.replace("_", "-")} - {""}:
        message = redacted(message, spelling)
    return excerpt(message, "", _MAX_USAGE_ERROR)


_MAX_USAGE_ERROR: Final = 300


# --- the parser -----------------------------------------------------------------------------

REPEATABLE: Final = "(repeat, or comma-separate)"


# argparse names a type function in its messages ("invalid number value: 'x'"): plain names.
def number(text: str) -> float:
    return float(text)


def integer(text: str) -> int:
    return int(text)


def retries(text: str) -> int:
    if int(text) < 0:
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more")
    return int(text)


def port(text: str) -> int:
    value = int(text)  # argparse turns the ValueError into a usage error
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0-{MAX_PORT})")
    return value


def split_values(values: Sequence[str]) -> list[str]:
    """``--platform youtube --platform tiktok`` and ``--platform youtube,tiktok`` mean the same."""
    return [item for value in values for item in value.split(",") if item]


def _build_parser(argv: Sequence[str]) -> _Parser:
    parser = _Parser(
        prog="tapti",
        description=textwrap.fill(
            "Create Tapti SDK tokens and OAuth Portal URLs, call any operation of the Tapti API, "
            "or run a local mock of it. The API key comes from the TAPTI_API_KEY environment "
            "variable.",
            78,
        ),
        epilog=epilog(
            f"{_CREATE_EXAMPLE}\n"
            "  tapti portal-url SDK_TOKEN --platform youtube\n"
            "  tapti api create-sdk-token --help     # any operation, its answer as JSON\n"
            "  tapti mock-server --portal            # try it all offline\n"
            "  tapti COMMAND --help                  # a command's options and examples",
            f"{_ENVIRONMENT}\n\n{_EXIT_CODES}",
        ),
    )
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="show the version number and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sdk_token(commands)
    _add_portal_url(commands)
    api = _command(
        commands,
        "api",
        "call any operation of the API and print its answer as JSON",
        "Call any operation of the API (as the spec names it, with - or _) and print its answer "
        "as JSON. Path parameters are arguments, query and header parameters are options named "
        f"as in the spec, and --body takes the request body as JSON. {_READS}",
    )
    if argv[:1] == ["api"]:  # the operations come from importing the generated package
        from ._cli_api import add_operations  # noqa: PLC0415

        add_operations(api)
    _add_mock_server(commands)
    return parser


def _command(
    commands: argparse._SubParsersAction[_Parser],
    name: str,
    summary: str,
    description: str,
    ending: str | None = None,
) -> _Parser:
    """A subcommand: ``ending`` (its ``epilog``) ends its help page."""
    return commands.add_parser(
        name, help=summary, description=textwrap.fill(description, 78), epilog=ending
    )


def add_connection_options(parser: argparse.ArgumentParser) -> set[str]:
    """The options of every command that calls the API; their flags are returned."""
    added = [
        parser.add_argument(
            "--base-url", help="the API's base URL (default: TAPTI_BASE_URL, else Tapti's API)"
        ),
        parser.add_argument(
            "--timeout",
            type=number,
            metavar="SECONDS",
            help=f"seconds for the whole call, retries included (default {DEFAULT_TIMEOUT:g})",
        ),
        parser.add_argument(
            "--max-retries",
            type=retries,
            default=DEFAULT_MAX_RETRIES,
            metavar="N",
            help="retries after a transient error (default %(default)s)",
        ),
        parser.add_argument(
            "--allow-insecure-http",
            action="store_true",
            help="allow plain http:// base and portal URLs on another machine (sends the key "
            "and SDK tokens unencrypted)",
        ),
        parser.add_argument(
            "--json", action="store_true", help="print the answer, or the error, as JSON on stdout"
        ),
    ]
    return {flag for action in added for flag in action.option_strings}


def _add_sdk_token(commands: argparse._SubParsersAction[_Parser]) -> None:
    sdk_token = _command(
        commands,
        "sdk-token",
        "SDK tokens for the OAuth Portal",
        "SDK tokens for the OAuth Portal.",
        epilog(_CREATE_EXAMPLE),
    )
    create = _command(
        sdk_token.add_subparsers(dest="action", required=True, metavar="ACTION"),
        "create",
        "create an SDK token for a user and print its portal URL",
        "Create an SDK token for USER_ID and print the OAuth Portal URL to send the user to. "
        + _READS,
        epilog(
            f"{_CREATE_EXAMPLE}\n"
            "  tapti sdk-token create user_123 --platform youtube --scope profile_read \\\n"
            "      --callback-url https://your-app.com/cb --redirect-url https://your-app.com/ \\\n"
            "      --portal-platform youtube --json    # skip the picker; the whole answer"
        ),
    )
    create.add_argument("user_id", metavar="USER_ID", help="your app's id for the user")
    create.add_argument(
        "--platform",
        action="append",
        required=True,
        help=f"a platform the user may connect {REPEATABLE}: <platforms>",
    )
    create.add_argument(
        "--scope", action="append", required=True, help=f"a scope to enable {REPEATABLE}: <scopes>"
    )
    create.add_argument("--callback-url", required=True, help="where Tapti sends the result")
    create.add_argument("--redirect-url", required=True, help="where the user lands afterwards")
    create.add_argument(
        "--portal-platform",
        help="add platform=... to the printed URL to skip the picker (a --platform value)",
    )
    add_connection_options(create)
    create.set_defaults(handler=_create_sdk_token)


def _add_portal_url(commands: argparse._SubParsersAction[_Parser]) -> None:
    portal = _command(
        commands,
        "portal-url",
        "print the OAuth Portal URL for an SDK token",
        "Print the OAuth Portal URL for SDK_TOKEN. Nothing is sent.",
        epilog(
            "  tapti portal-url SDK_TOKEN\n"
            "  tapti portal-url SDK_TOKEN --platform youtube    # skip the platform picker\n"
            "  tapti portal-url - < token.txt    # kept out of `ps` and the shell's history"
        ),
    )
    portal.add_argument(
        "sdk_token", metavar="SDK_TOKEN", help="the token, or - to read it from standard input"
    )
    portal.add_argument(
        "--platform", help="skip the portal's platform picker for one of: <platforms>"
    )
    portal.add_argument(
        "--portal-url", help="the portal's base URL (default: TAPTI_PORTAL_URL or Tapti's)"
    )
    portal.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// portal URL on another machine (the token goes unencrypted)",
    )
    portal.add_argument(
        "--json", action="store_true", help="print a JSON object, or the error, on stdout"
    )
    portal.set_defaults(handler=_portal_url)


def _add_mock_server(commands: argparse._SubParsersAction[_Parser]) -> None:
    mock = _command(
        commands,
        "mock-server",
        "run a local mock Tapti API until Ctrl-C or SIGTERM",
        "Run the embedded mock Tapti API on 127.0.0.1 in the foreground, until Ctrl-C (SIGINT) "
        "or SIGTERM. Fault flags script its next answers, for testing error handling from any "
        "language or with curl.",
        epilog(
            "  tapti mock-server --port 8080 --portal     # then run the export line it prints\n"
            "  tapti mock-server --fail-next 2 --fail-status 429 --retry-after 1\n"
            "  tapti mock-server --delay 5 --delay-count 1",
            _MOCK_EXIT_CODES,
        ),
    )
    mock.add_argument(
        "--port", type=port, default=0, help="port to listen on (default: a free one)"
    )
    mock.add_argument("--api-key", help="the key the mock accepts (a test value)")
    mock.add_argument(
        "--portal",
        action="store_true",
        help="also serve a stand-in OAuth Portal at /mock-portal (issued portal URLs point "
        "there): it shows the token's user, platforms and scopes, and its button goes to the "
        "redirect URL",
    )
    mock.add_argument(
        "--json",
        action="store_true",
        help="print the URLs and key as one JSON object (or the error) on stdout",
    )
    mock.set_defaults(handler=_mock_server)
    _add_mock_faults(mock.add_argument_group("faults", "script the mock's next answers"))


def _add_mock_faults(faults: argparse._ArgumentGroup) -> None:
    faults.add_argument(
        "--fail-next", type=integer, default=0, metavar="N", help="fail the next N API calls"
    )
    faults.add_argument(
        "--fail-status",
        type=integer,
        metavar="STATUS",
        help="the status of those failures (default 503), e.g. 401, 429, 500",
    )
    faults.add_argument(
        "--retry-after",
        metavar="SECONDS",
        help="send Retry-After with those failures: seconds, or an HTTP date",
    )
    faults.add_argument(
        "--delay", type=number, metavar="SECONDS", help="hold back each answer this long"
    )
    faults.add_argument(
        "--delay-count",
        type=integer,
        metavar="N",
        help="delay only the next N answers (default: every answer)",
    )


# --- the commands ---------------------------------------------------------------------------


def client(args: argparse.Namespace) -> Tapti:
    """The client a command's options describe."""
    from ._client import Tapti  # noqa: PLC0415  (keep `tapti --help` fast)

    return Tapti(
        base_url=args.base_url,
        # No command that makes a client builds portal URLs (sdk-token create prints the
        # API's): TAPTI_PORTAL_URL, read otherwise, could only fail it.
        portal_url=DEFAULT_PORTAL_URL,
        max_retries=args.max_retries,
        timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
        allow_insecure_http=args.allow_insecure_http,
    )


def to_json(value: object) -> str:
    """``value`` as indented JSON: generated models through their ``to_dict``.

    JSON has no Infinity or NaN, which ``json.dumps`` writes and ``jq`` refuses: a number too
    large for a float (an answer's ``1e999``) is written ``1e999`` again, a NaN ``null``.
    """
    text = json.dumps(value, indent=2, default=_plain)
    if "Infinity" not in text and "NaN" not in text:  # the usual case: one pass
        return text
    # Each such number becomes a string no answer can hold (a fresh nonce), then its JSON form.
    nonce = secrets.token_hex(16)
    text = json.dumps(_marked_non_finite(value, nonce), indent=2, default=_plain)
    for mark, written in (("-inf", "-1e999"), ("inf", "1e999"), ("nan", "null")):
        text = text.replace(f'"{nonce}{mark}"', written)
    return text


def _marked_non_finite(value: object, nonce: str) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return nonce + ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf")
    if hasattr(value, "to_dict"):  # a generated model: its floats are inside
        value = value.to_dict()
    if isinstance(value, dict):
        return {name: _marked_non_finite(item, nonce) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_marked_non_finite(item, nonce) for item in value]
    return value


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def _create_sdk_token(args: argparse.Namespace) -> None:
    from ._errors import RequiredFieldError  # noqa: PLC0415
    from ._inputs import check_platform, check_platforms, check_scopes, check_user_id  # noqa: PLC0415

    user_id = check_user_id(args.user_id, argument="USER_ID")
    platforms = check_platforms(split_values(args.platform), argument="--platform")
    scopes = check_scopes(split_values(args.scope), argument="--scope")
    portal_platform = args.portal_platform
    # Refused before a token is created for nothing.
    if portal_platform is not None and (
        check_platform(portal_platform, argument="--portal-platform") not in platforms
    ):
        raise bad_input("--portal-platform must be one of the --platform values")
    with client(args) as tapti:
        try:
            token = tapti.user(user_id).create_sdk_token(
                platforms=platforms,
                scopes=scopes,
                callback_url=args.callback_url,
                redirect_url=args.redirect_url,
            )
        except RequiredFieldError as exc:  # the library's message names extra_body
            raise bad_input(
                f"the API now requires {', '.join(exc.names)} in the request, which this version "
                "of `tapti sdk-token create` does not send; send the whole request body with "
                "`tapti api create-sdk-token USER_ID --body JSON`"
            ) from None
    url = token.portal_url(portal_platform)
    write_result((to_json(_as_json(token, url)) if args.json else _ascii_url(url)) + "\n")


def _as_json(token: SdkToken, url: str) -> dict[str, object]:
    # The whole answer first, so a field added to the spec reaches the JSON after make generate.
    return {
        **token.response.to_dict(),
        "portal_url": url,
        "sdk_token": token.sdk_token,
        "origin": token.origin,
        "platforms": [platform.value for platform in token.platforms],
        "scopes": [scope.value for scope in token.scopes],
    }


def _portal_url(args: argparse.Namespace) -> None:
    from ._inputs import check_platform  # noqa: PLC0415
    from ._portal import oauth_portal_url  # noqa: PLC0415

    platform = args.platform
    if platform is not None:
        platform = check_platform(platform, argument="--platform")
    sdk_token = args.sdk_token
    if sdk_token == _FROM_STDIN:
        sdk_token = _token_from_stdin()
    insecure = args.allow_insecure_http
    url = oauth_portal_url(
        sdk_token, platform, portal_url=args.portal_url, allow_insecure_http=insecure
    )
    write_result((to_json({"portal_url": url}) if args.json else _ascii_url(url)) + "\n")


def _ascii_url(url: str) -> str:
    """The URL as a terminal of any encoding can print it, so that the token is not lost: each
    character beyond ASCII as its UTF-8 bytes percent-encoded, the URI RFC 3987 maps an IRI to,
    which browsers read alike."""
    if url.isascii():
        return url
    from string import punctuation  # noqa: PLC0415  (rarely needed)
    from urllib.parse import quote  # noqa: PLC0415

    return quote(url, safe=punctuation)  # "%" among them: escapes already there stay


def _token_from_stdin() -> str:
    """The first line of standard input, bounded (not the whole of a stream that never ends),
    without the BOM a Windows editor writes."""
    line = sys.stdin.buffer.readline(_MAX_TOKEN_LINE + 1) if sys.stdin is not None else b""
    if len(line) > _MAX_TOKEN_LINE:
        raise bad_input(f"SDK_TOKEN from standard input is longer than {_MAX_TOKEN_LINE} bytes")
    return line.decode("utf-8", "surrogateescape").removeprefix("\ufeff").strip()


# --- tapti mock-server ----------------------------------------------------------------------


def _mock_server(args: argparse.Namespace) -> None:
    from .testing import MockTaptiServer  # noqa: PLC0415

    with _mock_flags(api_key="--api-key", port="--port"):
        key = {} if args.api_key is None else {"api_key": args.api_key}  # else the mock's own
        mock = MockTaptiServer(port=args.port, portal=args.portal, **key)
    faults = _script_faults(mock, args)
    quiet = sys.stdout is None  # `tapti mock-server >&- &`: it serves all the same
    # The handlers outlive the server: a second signal cannot interrupt its shutdown. Set
    # before the port listens: a SIGTERM as soon as it does (a supervisor's) stopped the
    # process (143) rather than the server (0) (probe 41; CI's Python 3.13 run).
    stopping = _stop_signals(leave_ignored=args.as_program)
    with contextlib.suppress(KeyboardInterrupt), stopping, _started(mock, args.port) as server:
        portal_url = server.portal_url if server.portal else None
        settings = {"base_url": server.url, "api_key": server.api_key, "portal_url": portal_url}
        started = {**settings, "faults": faults}
        if not quiet:
            write_out((json.dumps(started) if args.json else _banner(settings, faults)) + "\n")
        # Until a signal's handler raises here, in the main thread. Woken every 0.1 s: a signal
        # the kernel gave a server thread would not end a wait without a timeout, and its
        # handler (run only here) would never run: a SIGTERM at start-up was lost.
        while True:
            time.sleep(0.1)
    if not args.json and not quiet:
        write_out("Mock Tapti API stopped.\n")


def _started(mock: Any, port: int | None) -> Any:
    """``mock`` listening, to be used as its context manager; a port in use said plainly."""
    try:
        return mock.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise OSError(  # the machine's state, not the input: a system error (exit 1)
            f"port {port} on 127.0.0.1 is already in use: pick another --port, or leave it "
            "out (a free one is chosen)"
        ) from None


_VARIABLES: Final = {
    "api_key": API_KEY_VARIABLE,
    "base_url": BASE_URL_VARIABLE,
    "portal_url": PORTAL_URL_VARIABLE,
}


def _banner(settings: Mapping[str, str | None], faults: list[str]) -> str:
    # Each setting as the environment variable the SDK reads it from, quoted for the shell: the
    # line is meant to be pasted, and a key may hold "$(...)".
    exports = (
        f"{_VARIABLES[name]}={shlex.quote(value)}" for name, value in settings.items() if value
    )
    lines = [f"Mock Tapti API listening on {settings['base_url']}", f"export {' '.join(exports)}"]
    if settings["portal_url"]:
        lines.append(
            f"Stand-in OAuth Portal (a mock) at {settings['portal_url']}: it does not call "
            "callback_url; its button goes to the token's redirect_url."
        )
    return "\n".join([*lines, *faults, "Press Ctrl-C to stop."])


@contextlib.contextmanager
def _mock_flags(**flags: str) -> Iterator[None]:
    """The mock's own argument checks (``ValueError``) as bad input that names the flags."""
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        for name, flag in flags.items():  # the argument leads; "status" recurs in the sentence
            message = re.sub(rf"^{name}\b", flag, message)
        raise bad_input(_in_cli_terms(message)) from None


def _script_faults(mock: Any, args: argparse.Namespace) -> list[str]:
    """Apply the fault flags to ``mock``; the lines that tell the user what was scripted."""
    if args.fail_next == 0 and (args.fail_status is not None or args.retry_after is not None):
        raise bad_input("--fail-status and --retry-after need --fail-next N")
    if args.delay is None and args.delay_count is not None:
        raise bad_input("--delay-count needs --delay SECONDS")
    lines = []
    if args.fail_next:
        status = 503 if args.fail_status is None else args.fail_status
        with _mock_flags(count="--fail-next", status="--fail-status", retry_after="--retry-after"):
            mock.fail_next(
                args.fail_next, status=status, retry_after=_seconds_or_text(args.retry_after)
            )
        extra = "" if args.retry_after is None else f" (Retry-After: {args.retry_after})"
        lines.append(f"Fault: the next {args.fail_next} API call(s) fail with {status}{extra}.")
    if args.delay is not None:
        count = sys.maxsize if args.delay_count is None else args.delay_count
        with _mock_flags(seconds="--delay", count="--delay-count"):
            mock.delay_next(args.delay, count=count)
        which = "every answer" if args.delay_count is None else f"the next {count} answer(s)"
        lines.append(f"Fault: {which} held back {args.delay:g} s.")
    return lines


def _seconds_or_text(value: str | None) -> float | str | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return value  # an HTTP date, sent verbatim


class _Terminated(KeyboardInterrupt):
    """A SIGTERM, raised as Ctrl-C is: the call stops as for Ctrl-C, and a script reading
    ``--json`` still gets its one object (the default disposition ended the process silently)."""


@contextlib.contextmanager
def _terminate_as_interrupt(as_program: bool) -> Iterator[None]:
    """SIGTERM raises ``_Terminated`` while the ``tapti`` command runs; an inherited ignore is
    kept, and a program calling ``main()`` keeps its own handlers."""
    if not as_program or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield
        return

    def terminated(signum: int, frame: object) -> None:  # noqa: ARG001
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the report
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:  # unless a SIGTERM came, here or in mock-server's own handler: it stays ignored
        if signal.getsignal(signal.SIGTERM) is terminated:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _stop_signals(*, leave_ignored: bool) -> Iterator[None]:
    """SIGINT and SIGTERM raise ``KeyboardInterrupt``, whatever disposition was inherited.

    A shell starting a background job leaves SIGINT ignored (Python keeps an inherited ignore),
    and SIGTERM's default would end the process without closing the server. Once one has come,
    later ones are ignored: the first already asked for the stop, and a second, as container
    runtimes send, must not cut the shutdown short. ``leave_ignored`` (the process is the
    command, and ends): they stay so, to its exit; else the handlers of before are put back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread; Ctrl-C works as it does
        return
    signals = (signal.SIGINT, signal.SIGTERM)

    stopping = False

    def stop(signum: int, frame: object) -> None:  # noqa: ARG001
        nonlocal stopping
        stopping = True
        for number in signals:
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, stop) for number in signals}
    try:
        yield
    finally:
        if not (stopping and leave_ignored):
            for number, handler in previous.items():
                signal.signal(number, handler)


# --- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["api"] and len(arguments) > 1 and not arguments[1].startswith("-"):
        arguments[1] = arguments[1].replace("_", "-")  # an operation by its function name
    # Known before parsing, so that usage errors follow it too.
    in_json = "--json" in arguments[: arguments.index("--") if "--" in arguments else None]
    _RUN["answered"] = False
    try:
        with _terminate_as_interrupt(argv is None):
            _run(arguments, as_program=argv is None)
    except KeyboardInterrupt as stop:
        if _RUN["answered"]:
            return 0  # the result is out: what the signal cut short came after it
        # A script reading stdout still gets its one object; a second ^C ends it. (One landing
        # in the last write of a result leaves part of it before this: the exit code tells.)
        said = "terminated" if isinstance(stop, _Terminated) else "interrupted"
        if in_json:
            with contextlib.suppress(KeyboardInterrupt):
                _report(_Failure("interrupted", said, f"tapti: {said}"), in_json=True)
        return _TERMINATED if isinstance(stop, _Terminated) else _INTERRUPTED
    except BrokenPipeError:  # the reader went away: nothing left to tell anyone
        _silence(sys.stdout)
        return _READER_GONE
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:  # a bug of ours: the traceback is the useful report
            if in_json:  # and a script reading stdout still gets its one object
                _report(_bug(exc), in_json=True)
            raise
        _report(failure, in_json=in_json)
        return failure.exit_code
    return 0


def _run(arguments: list[str], *, as_program: bool) -> None:
    """Parse and run one command. Its output goes through ``write_out``: a closed pipe or a full
    disk is then told by the exit code, where argparse and the interpreter would lose it.

    ``as_program``: this process is the ``tapti`` command (not a test or a program calling
    ``main()``), and may leave its signal handlers as its end needs them.
    """
    try:
        args = _build_parser(arguments).parse_args(arguments)
    except SystemExit as done:  # --help and --version, written; usage errors raise _CliError
        if done.code not in {0, None}:
            raise
        return
    if sys.stdout is None and args.command != "mock-server":
        # Closed (`>&-`): the answer would be lost, a token issued unseen. Refused first.
        raise _output_error("standard output is closed")
    args.as_program = as_program
    args.handler(args)


# Whether this run's result is out whole (``write_result``): a signal landing after it (while
# the client closes, or on the way out) interrupts nothing a caller waits for. Reported, it put
# a second object after the result under --json, and an "interrupted" exit code (probe 41).
_RUN: Final[dict[str, bool]] = {"answered": False}


def write_result(text: str) -> None:
    """The command's result on stdout (``write_out``), remembered as written."""
    write_out(text)
    _RUN["answered"] = True


def write_out(text: str) -> None:
    """``text`` on stdout, flushed. A failed write is the command's failure: a closed pipe ends
    it with ``BrokenPipeError``, anything else (a full disk) with an output error."""
    stream = sys.stdout
    if stream is None:
        raise _output_error("standard output is closed")
    try:
        binary = getattr(stream, "buffer", None)
        if binary is None:  # a text-only stream (a test's StringIO)
            stream.write(text)
            stream.flush()
            return
        stream.flush()  # what was written before goes first
        data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
        while data:
            # Unbuffered (python -u, PYTHONUNBUFFERED), a write may take part of it, and the
            # text layer would drop the rest without a word: a full disk, a reader gone.
            written = binary.write(data)
            if written is None:  # a non-blocking stdout that would block
                raise BlockingIOError(errno.EAGAIN, "the output would block")
            data = data[written:]
        binary.flush()
    except OSError as exc:
        _silence(stream)
        if isinstance(exc, BrokenPipeError):
            raise
        raise _output_error(f"{_CANNOT_WRITE} ({exc.strerror or exc})") from None


_CANNOT_WRITE = "cannot write the output"


def _output_error(message: str) -> _CliError:
    return _CliError(_Failure.error("output_error", message))


def _report(failure: _Failure, *, in_json: bool) -> None:
    """The failure on stdout as JSON, or as a line on stderr; a reader gone away or a full disk
    cannot add a traceback to it (the exit code still tells)."""
    error = {name: value for name, value in failure._asdict().items() if name != "line"}
    # Closed, or failing its writes (a full disk): the line goes to stderr instead.
    in_json = in_json and sys.stdout is not None and not failure.message.startswith(_CANNOT_WRITE)
    stream = sys.stdout if in_json else sys.stderr
    if stream is None:  # closed (`2>&-`): print() would fall back to stdout, into `$(...)`
        return
    try:
        print(json.dumps({"error": error}) if in_json else failure.line, file=stream, flush=True)
    except OSError:
        _silence(stream)


def _silence(stream: Any) -> None:
    """Point ``stream`` at /dev/null: what stays buffered in it is then flushed there, and the
    interpreter's final flush cannot fail with a traceback."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _bug(exc: Exception) -> _Failure:
    # The type only: the exception's own words may hold an SDK token read from stdin.
    message = f"a bug in tapti ({type(exc).__name__}); the traceback is on stderr"
    return _Failure.error("internal_error", message)


def _failure(exc: Exception) -> _Failure | None:
    """How an expected failure is reported, or None for a bug."""
    if isinstance(exc, _CliError):
        return exc.failure
    from ._errors import (  # noqa: PLC0415  (httpx2: not for --help)
        APIResponseValidationError,
        APIStatusError,
        InvalidInputError,
        TaptiError,
        redacted,
    )
    from ._inputs import key_in_environment  # noqa: PLC0415

    if not isinstance(exc, TaptiError | OSError):
        return None  # a bug, whose str() may fail too
    # A command that makes no client (portal-url) has no key to mask; the environment's is it.
    message = redacted(str(exc), key_in_environment())
    if not isinstance(exc, APIStatusError):  # its words are the server's: quoted as they came
        message = _in_cli_terms(message)
    if isinstance(exc, InvalidInputError):
        return _Failure.error("invalid_input_error", message)
    if not isinstance(exc, TaptiError):  # an OSError: a port in use
        return _Failure.error("system_error", message)
    # Said before the message, unless the message says what failed ("401 ...", "connection
    # error: ...").
    label = ""
    if isinstance(exc, APIResponseValidationError):
        label = "unexpected answer from the API: "
    kind = _words(type(exc).__name__).lower().replace(" ", "_")  # "authentication_error"
    return _Failure.error(
        kind,
        message,
        label,
        request_id=getattr(exc, "request_id", None),
        # An unreadable answer's status may be a stand-in: only an error status is reported.
        status_code=exc.status_code if isinstance(exc, APIStatusError) else None,
        retry_after=getattr(exc, "retry_after", None),
    )
