"""The ``tapti`` command: a thin shell over the public API, nothing the library cannot do.

Exit codes: 0 success, 2 bad input (usage errors and ``InvalidInputError``: nothing was sent),
1 API or network errors, 130 interrupted. An error is one line on stderr, never a traceback, or
with ``--json`` one JSON object on stdout. The library's messages name Python arguments
(``api_key=...``); the CLI says them in its own terms, flags and environment variables
(``_WORDING``), leaving the library's text alone. The API key is read from ``TAPTI_API_KEY`` only:
a command-line flag would show it to every user of the machine. ``tapti mock-server`` runs until
SIGINT (Ctrl-C) or SIGTERM (how containers stop), then exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, NoReturn

from ._version import __version__

if TYPE_CHECKING:
    from ._client import Tapti
    from ._errors import InvalidInputError
    from ._operation import RequiredFieldError
    from ._portal import SdkToken

__all__ = ["main"]

_EXIT_OK, _EXIT_API, _EXIT_USAGE, _EXIT_INTERRUPTED = 0, 1, 2, 130


_PLATFORMS, _SCOPES = "<platforms>", "<scopes>"  # filled in from the generated enums

_EXIT_CODES: Final = """\
exit codes:
  0    success
  1    the API answered with an error, or could not be reached
  2    bad input: a usage error, or a value refused before anything was sent
  130  interrupted (Ctrl-C)

With --json, an error is one JSON object on stdout instead of a line on stderr:
  {"error": {"type": "authentication_error", "message": "...", "request_id": "..."}}"""
_MOCK_EXIT_CODES: Final = """\
exit codes:
  0    stopped by Ctrl-C (SIGINT) or SIGTERM
  1    the port is in use, or cannot be listened on
  2    bad input: a usage error or a refused flag value"""
_ENVIRONMENT: Final = """\
environment:
  TAPTI_API_KEY     your API key (required to call the API; never a flag)
  TAPTI_BASE_URL    the API's base URL, as --base-url (default: Tapti's API)
  TAPTI_PORTAL_URL  the OAuth Portal's URL, as --portal-url (default: Tapti's portal)"""
_CREATE_EXAMPLE: Final = """\
  export TAPTI_API_KEY=...
  tapti sdk-token create user_123 --platform youtube,tiktok --scope profile_read \\
      --callback-url https://your-app.com/api/oauth/callback \\
      --redirect-url https://your-app.com/dashboard/accounts"""


def _epilog(examples: str, codes: str = _EXIT_CODES) -> str:
    return f"examples:\n{examples}\n\n{codes}"


def _text(*paragraphs: str) -> str:
    """Descriptions, wrapped here: the raw formatter (kept for the epilogs) does not wrap them."""
    return "\n\n".join(textwrap.fill(paragraph, 78) for paragraph in paragraphs)


# The library's words for what, in the CLI, are flags and environment variables: (pattern,
# replacement) in order, applied to every message the CLI prints. Small on purpose: checks the
# CLI makes itself (the user id, --platform) already name their flag.
_WORDING: Final[tuple[tuple[str, str | Callable[[re.Match[str]], str]], ...]] = (
    (r"pass api_key=\.\.\. or set", "set"),
    (r"\bapi_key\b", "TAPTI_API_KEY"),
    (r"\ballow_insecure_http=True\b", "--allow-insecure-http"),
    (r"\bbase_url\b", "--base-url"),
    (r"\bportal_url\b", "--portal-url (or TAPTI_PORTAL_URL)"),
    (r"\b(callback|redirect)_url\b", r"--\1-url"),
    (r"^timeout\b", "--timeout"),
    (r", None or an httpx2?\.Timeout\b", ""),
    (r"^sdk_token must be a non-empty str$", "SDK_TOKEN must not be empty"),
    (r"^sdk_token\b", "SDK_TOKEN"),
    (r"\ban int\b", "a whole number"),
    # A Python class quoted in a message (TypeError, httpx2.RemoteProtocolError) said in words.
    (
        r"\b(?:httpx2?\.)?([A-Z][A-Za-z0-9]+?(?:Error|Exception|Warning|Request|Response))\b",
        lambda m: _words(m[1]),
    ),
)


def _in_cli_terms(message: str) -> str:
    for pattern, replacement in _WORDING:
        message = re.sub(pattern, replacement, message)
    return message


def _words(name: str) -> str:
    """``APIConnectionError`` -> ``API connection error``: a class name as a sentence says it."""
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name)
    return " ".join(part if len(part) > 1 and part.isupper() else part.lower() for part in parts)


def _snake(name: str) -> str:
    """``AuthenticationError`` -> ``authentication_error``: the ``type`` of a JSON error."""
    return _words(name).lower().replace(" ", "_")


class _Failure(NamedTuple):
    code: int
    type: str  # snake case: "authentication_error", "usage_error"
    message: str
    text: str  # the line printed on stderr without --json, "tapti: ..."
    request_id: str | None = None


class _UsageError(Exception):
    """A usage error from argparse, reported like every other failure (in JSON with --json)."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.failure = _Failure(
            _EXIT_USAGE,
            "usage_error",
            f"{prog}: {message}",
            f"{prog}: error: {message} (see --help)",
        )


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (or one JSON object) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self.prog, message)

    def format_help(self) -> str:
        # The platform and scope lists come from the generated enums, so they follow the spec
        # after `make generate`. Imported only when help is shown: they pull in httpx2.
        if any(_PLATFORMS in (a.help or "") or _SCOPES in (a.help or "") for a in self._actions):
            from tapti_api_client.models.platform import Platform  # noqa: PLC0415
            from tapti_api_client.models.scope import Scope  # noqa: PLC0415

            platforms = ", ".join(member.value.lower() for member in Platform)
            scopes = ", ".join(member.value.lower() for member in Scope)
            for action in self._actions:
                if action.help:
                    action.help = action.help.replace(_PLATFORMS, platforms)
                    action.help = action.help.replace(_SCOPES, scopes)
        return super().format_help()


def _split_values(values: Sequence[str] | None) -> list[str] | None:
    """``--platform youtube --platform tiktok`` and ``--platform youtube,tiktok`` mean the same."""
    if values is None:
        return None
    return [item for value in values for item in value.split(",") if item]


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
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0-65535)")
    return value


def _build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tapti",
        description=_text(
            "Create Tapti SDK tokens and OAuth Portal URLs, call any operation of the Tapti "
            "API, or run a local mock of it. The API key comes from the TAPTI_API_KEY "
            "environment variable."
        ),
        epilog=_epilog(
            f"{_CREATE_EXAMPLE}\n"
            "  tapti portal-url SDK_TOKEN --platform youtube\n"
            "  tapti api create-sdk-token --help     # any operation, its answer as JSON\n"
            "  tapti mock-server --portal            # try it all offline\n"
            "  tapti COMMAND --help                  # a command's options and examples",
            f"{_ENVIRONMENT}\n\n{_EXIT_CODES}",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sdk_token(commands)
    _add_portal_url(commands)
    # The operations are found by importing the generated package: only for `tapti api ...`.
    _add_api(commands, with_operations=argv[:1] == ["api"])
    _add_mock_server(commands)
    return parser


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that calls the API."""
    parser.add_argument(
        "--base-url", help="the API's base URL (default: TAPTI_BASE_URL, else Tapti's API)"
    )
    parser.add_argument(
        "--timeout",
        type=number,
        metavar="SECONDS",
        help="seconds for the whole call, retries included (default 30)",
    )
    parser.add_argument(
        "--max-retries",
        type=retries,
        default=2,
        metavar="N",
        help="retries after a transient error (default 2)",
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// base URL on another machine (sends the key unencrypted)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the answer, or the error, as JSON on stdout"
    )


def _add_sdk_token(commands: argparse._SubParsersAction[_Parser]) -> None:
    sdk_token = commands.add_parser(
        "sdk-token",
        help="SDK tokens for the OAuth Portal",
        description="SDK tokens for the OAuth Portal.",
        epilog=_epilog(_CREATE_EXAMPLE),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sdk_token_commands = sdk_token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sdk_token_commands.add_parser(
        "create",
        help="create an SDK token for a user and print its portal URL",
        description=_text(
            "Create an SDK token for USER_ID and print the OAuth Portal URL to send the user "
            "to. Reads TAPTI_API_KEY (required) and TAPTI_BASE_URL."
        ),
        epilog=_epilog(
            f"{_CREATE_EXAMPLE}\n"
            "  tapti sdk-token create user_123 --platform youtube --scope profile_read \\\n"
            "      --callback-url https://your-app.com/cb --redirect-url https://your-app.com/ \\\n"
            "      --portal-platform youtube --json    # skip the picker; the whole answer"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("user_id", metavar="USER_ID", help="your app's id for the user")
    create.add_argument(
        "--platform",
        action="append",
        required=True,
        help=f"a platform the user may connect (repeat, or comma-separate): {_PLATFORMS}",
    )
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        help=f"a scope to enable (repeat, or comma-separate): {_SCOPES}",
    )
    create.add_argument("--callback-url", required=True, help="where Tapti sends the result")
    create.add_argument("--redirect-url", required=True, help="where the user lands afterwards")
    create.add_argument(
        "--portal-platform",
        help="add platform=... to the printed URL to skip the picker (a --platform value)",
    )
    _add_connection_options(create)
    create.set_defaults(handler=_create_sdk_token)


def _add_portal_url(commands: argparse._SubParsersAction[_Parser]) -> None:
    portal = commands.add_parser(
        "portal-url",
        help="print the OAuth Portal URL for an SDK token",
        description="Print the OAuth Portal URL for SDK_TOKEN. Nothing is sent.",
        epilog=_epilog(
            "  tapti portal-url SDK_TOKEN\n"
            "  tapti portal-url SDK_TOKEN --platform youtube    # skip the platform picker"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    portal.add_argument("sdk_token", metavar="SDK_TOKEN")
    portal.add_argument(
        "--platform", help=f"skip the portal's platform picker for one of: {_PLATFORMS}"
    )
    portal.add_argument(
        "--portal-url", help="the portal's base URL (default: TAPTI_PORTAL_URL or Tapti's)"
    )
    portal.add_argument(
        "--json", action="store_true", help="print a JSON object, or the error, on stdout"
    )
    portal.set_defaults(handler=_portal_url)


def _add_api(commands: argparse._SubParsersAction[_Parser], *, with_operations: bool) -> None:
    api = commands.add_parser(
        "api",
        help="call any operation of the API and print its answer as JSON",
        description=_text(
            "Call any operation of the API (as the spec names it, with - or _) and print its "
            "answer as JSON. Path parameters are arguments, query and header parameters are "
            "options named as in the spec, and --body takes the request body as JSON. Reads "
            "TAPTI_API_KEY (required) and TAPTI_BASE_URL."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if with_operations:
        from ._cli_api import add_operations  # noqa: PLC0415

        add_operations(api, _add_connection_options, _epilog)
    api.set_defaults(handler=_api)


def _add_mock_server(commands: argparse._SubParsersAction[_Parser]) -> None:
    mock = commands.add_parser(
        "mock-server",
        help="run a local mock Tapti API until Ctrl-C or SIGTERM",
        description=_text(
            "Run the embedded mock Tapti API on 127.0.0.1 in the foreground, until Ctrl-C "
            "(SIGINT) or SIGTERM. Fault flags script its next answers, for testing error "
            "handling from any language or with curl."
        ),
        epilog=_epilog(
            "  tapti mock-server --port 8080 --portal     # then run the export line it prints\n"
            "  tapti mock-server --fail-next 2 --fail-status 429 --retry-after 1\n"
            "  tapti mock-server --delay 5 --delay-count 1",
            _MOCK_EXIT_CODES,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mock.add_argument(
        "--port", type=port, default=0, help="port to listen on (default: a free one)"
    )
    mock.add_argument(
        "--api-key", default="test-key", help="the key the mock accepts (a test value)"
    )
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
    faults = mock.add_argument_group("faults", "script the mock's next answers")
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
    mock.set_defaults(handler=_mock_server)


# --- the commands ------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Tapti:
    """The client a command's options describe."""
    from ._client import DEFAULT_TIMEOUT, Tapti  # noqa: PLC0415  (keep `tapti --help` fast)

    return Tapti(
        base_url=args.base_url,
        max_retries=args.max_retries,
        timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
        allow_insecure_http=args.allow_insecure_http,
    )


def _create_sdk_token(args: argparse.Namespace) -> int:
    from ._errors import InvalidInputError  # noqa: PLC0415
    from ._inputs import (  # noqa: PLC0415
        check_platform,
        check_platforms,
        check_scopes,
        check_user_id,
    )
    from ._operation import RequiredFieldError  # noqa: PLC0415

    user_id = check_user_id(args.user_id, argument="USER_ID")
    platforms = check_platforms(_split_values(args.platform), argument="--platform")
    scopes = check_scopes(_split_values(args.scope), argument="--scope")
    if args.portal_platform is not None:
        # Refused before a token is created for nothing.
        portal_platform = check_platform(args.portal_platform, argument="--portal-platform")
        if portal_platform not in platforms:
            raise InvalidInputError("--portal-platform must be one of the --platform values")
    with _client(args) as tapti:
        try:
            token = tapti.user(user_id).create_sdk_token(
                platforms=platforms,
                scopes=scopes,
                callback_url=args.callback_url,
                redirect_url=args.redirect_url,
            )
        except RequiredFieldError as exc:
            raise _needs_fields(exc) from None
    url = token.portal_url(args.portal_platform)
    print(json.dumps(_as_json(token, url), indent=2, default=str) if args.json else url)
    return _EXIT_OK


def _needs_fields(exc: RequiredFieldError) -> InvalidInputError:
    """A request field the spec made required and this command does not send yet, said in the
    CLI's terms (the library's message names ``extra_body``)."""
    from ._cli_api import CliInputError  # noqa: PLC0415

    return CliInputError(
        f"the API now requires {', '.join(exc.names)} in the request, which this version of "
        "`tapti sdk-token create` does not send; send the whole request body with "
        "`tapti api create-sdk-token USER_ID --body JSON`"
    )


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


def _portal_url(args: argparse.Namespace) -> int:
    from ._inputs import check_platform  # noqa: PLC0415
    from ._portal import oauth_portal_url  # noqa: PLC0415

    platform = args.platform
    if platform is not None:
        platform = check_platform(platform, argument="--platform")
    url = oauth_portal_url(args.sdk_token, platform, portal_url=args.portal_url)
    print(json.dumps({"portal_url": url}, indent=2) if args.json else url)
    return _EXIT_OK


def _api(args: argparse.Namespace) -> int:
    from ._cli_api import as_json, call_arguments  # noqa: PLC0415

    path, keywords = call_arguments(args)  # bad input is refused before the key is looked at
    with _client(args) as tapti:
        answer = tapti.call(args.api_operation.module, *path, **keywords)
    print(json.dumps(as_json(answer), indent=2, default=str))
    return _EXIT_OK


def _mock_server(args: argparse.Namespace) -> int:
    from .testing import MockTaptiServer  # noqa: PLC0415

    with _flags({"api_key": "--api-key", "port": "--port"}):
        mock = MockTaptiServer(api_key=args.api_key, port=args.port, portal=args.portal)
    faults = _script_faults(mock, args)
    # The handlers outlive the server: a second signal cannot interrupt its shutdown.
    with contextlib.suppress(_StopSignal), _stop_signals(), mock as server:
        if args.json:
            print(json.dumps(_mock_settings(server, args.api_key, faults)), flush=True)
        else:
            _print_banner(server, args.api_key, faults)
        _wait_forever()
    if not args.json:
        print("Mock Tapti API stopped.", flush=True)
    return _EXIT_OK


def _mock_settings(server: Any, api_key: str, faults: list[str]) -> dict[str, object]:
    return {
        "base_url": server.url,
        "api_key": api_key,
        "portal_url": server.portal_url if server.portal else None,
        "faults": faults,
    }


def _print_banner(server: Any, api_key: str, faults: list[str]) -> None:
    print(f"Mock Tapti API listening on {server.url}", flush=True)
    exports = f"TAPTI_BASE_URL={server.url} TAPTI_API_KEY={api_key}"
    if server.portal:
        exports += f" TAPTI_PORTAL_URL={server.portal_url}"
    print(f"export {exports}", flush=True)
    if server.portal:
        print(
            f"Stand-in OAuth Portal (a mock) at {server.portal_url}: it does not call "
            "callback_url; its button goes to the token's redirect_url.",
            flush=True,
        )
    for fault in faults:
        print(fault, flush=True)
    print("Press Ctrl-C to stop.", flush=True)


@contextlib.contextmanager
def _flags(names: Mapping[str, str]) -> Iterator[None]:
    """The mock's own argument checks (``ValueError``) as bad input that names the flags."""
    from ._cli_api import CliInputError  # noqa: PLC0415
    from ._errors import InvalidInputError  # noqa: PLC0415

    try:
        yield
    except InvalidInputError:
        raise
    except ValueError as exc:
        message = str(exc)
        for name, flag in names.items():
            message = re.sub(rf"\b{name}\b", flag, message)
        raise CliInputError(_in_cli_terms(message)) from None


def _script_faults(mock: Any, args: argparse.Namespace) -> list[str]:
    """Apply the fault flags to ``mock``; the lines that tell the user what was scripted."""
    from ._errors import InvalidInputError  # noqa: PLC0415

    lines = []
    if args.fail_next == 0 and (args.fail_status is not None or args.retry_after is not None):
        raise InvalidInputError("--fail-status and --retry-after need --fail-next N")
    if args.delay is None and args.delay_count is not None:
        raise InvalidInputError("--delay-count needs --delay SECONDS")
    if args.fail_next:
        status = 503 if args.fail_status is None else args.fail_status
        retry_after = _seconds_or_text(args.retry_after)
        with _flags(
            {"count": "--fail-next", "status": "--fail-status", "retry_after": "--retry-after"}
        ):
            mock.fail_next(args.fail_next, status=status, retry_after=retry_after)
        extra = "" if retry_after is None else f" (Retry-After: {args.retry_after})"
        lines.append(f"Fault: the next {args.fail_next} API call(s) fail with {status}{extra}.")
    if args.delay is not None:
        count = sys.maxsize if args.delay_count is None else args.delay_count
        with _flags({"seconds": "--delay", "count": "--delay-count"}):
            mock.delay_next(args.delay, count=count)
        which = "every answer" if args.delay_count is None else f"the next {count} answer(s)"
        lines.append(f"Fault: {which} held back {args.delay:g} s.")
    return lines


def _seconds_or_text(value: str | None) -> float | str | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value  # an HTTP date, sent verbatim


class _StopSignal(BaseException):
    """Raised in the main thread by SIGINT or SIGTERM: ``tapti mock-server`` ends cleanly.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it.
    """


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM stop the server, whatever disposition the process inherited.

    A shell starting a background job leaves SIGINT ignored, and Python keeps an inherited
    ignore, so without a handler of our own Ctrl-C or ``kill -INT`` would do nothing; SIGTERM's
    default would end the process without closing the server. The first signal raises
    ``_StopSignal``; later ones are ignored so that they cannot interrupt the shutdown.
    """
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread; Ctrl-C works as it does
        return
    signals = (signal.SIGINT, signal.SIGTERM)

    def stop(signum: int, frame: object) -> None:  # noqa: ARG001
        for number in signals:
            signal.signal(number, signal.SIG_IGN)
        raise _StopSignal

    previous = {number: signal.signal(number, stop) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _wait_forever() -> None:
    import threading  # noqa: PLC0415

    threading.Event().wait()  # until a signal raises in this (the main) thread


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["api"] and len(arguments) > 1 and not arguments[1].startswith("-"):
        arguments[1] = arguments[1].replace("_", "-")  # an operation by its function name
    in_json = _wants_json(arguments)
    try:
        args = _build_parser(arguments).parse_args(arguments)
    except _UsageError as exc:
        return _report(exc.failure, in_json=in_json)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return _EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`tapti ... | head -c1`): nothing left to tell anyone.
        _silence_stdout()
        return _EXIT_API
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:
            raise  # a bug of ours: the traceback is the useful report
        return _report(failure, in_json=in_json)


def _wants_json(arguments: list[str]) -> bool:
    """``--json`` among the options: known before parsing, so usage errors follow it too."""
    end = arguments.index("--") if "--" in arguments else len(arguments)
    return "--json" in arguments[:end]


def _failure(exc: Exception) -> _Failure | None:
    """How an expected failure is reported, or None for a bug."""
    from ._cli_api import CliInputError  # noqa: PLC0415
    from ._errors import InvalidInputError, TaptiError  # noqa: PLC0415  (httpx2: not for --help)

    if isinstance(exc, UnicodeEncodeError):  # output the terminal cannot show, not bad input
        message = f"cannot print in this terminal's encoding ({exc.reason})"
        return _Failure(_EXIT_API, "output_error", message, f"tapti: error: {message}")
    if not isinstance(exc, TaptiError | OSError):
        return None
    said = str(exc) if isinstance(exc, CliInputError) else _in_cli_terms(str(exc))
    # The library's messages already say where the base URL and the key came from.
    message = said
    if isinstance(exc, InvalidInputError):
        return _Failure(_EXIT_USAGE, "invalid_input_error", message, f"tapti: error: {message}")
    if not isinstance(exc, TaptiError):  # a port in use, a file that cannot be read
        return _Failure(_EXIT_API, "system_error", message, f"tapti: system error: {message}")
    kind = _snake(type(exc).__name__)
    text = f"tapti: {_label(exc)}{message}"
    return _Failure(_EXIT_API, kind, message, text, getattr(exc, "request_id", None))


def _label(exc: Exception) -> str:
    """What the line says before the message: nothing where the message says what failed."""
    from ._errors import APIConnectionError, APIResponseValidationError, APIStatusError  # noqa: PLC0415

    if isinstance(exc, APIResponseValidationError):
        return "unexpected answer from the API: "
    return "" if isinstance(exc, APIConnectionError | APIStatusError) else "error: "


def _report(failure: _Failure, *, in_json: bool) -> int:
    if in_json:
        error = {"type": failure.type, "message": failure.message, "request_id": failure.request_id}
        print(json.dumps({"error": error}), flush=True)
    else:
        print(failure.text, file=sys.stderr)
    return failure.code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
