"""The ``tapti`` command: a thin shell over the public API, nothing the library cannot do.

Exit codes: 0 success, 2 bad input (usage errors and ``InvalidInputError``), 1 API or network
errors, 130 interrupted. Errors are one line on stderr, never a traceback. The API key is read
from ``TAPTI_API_KEY`` only: a command-line flag would show it to every user of the machine.
``tapti mock-server`` runs until SIGINT (Ctrl-C) or SIGTERM (how containers stop), then exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ._version import __version__

if TYPE_CHECKING:
    from ._portal import SdkToken

__all__ = ["main"]

_EXIT_OK, _EXIT_API, _EXIT_USAGE, _EXIT_INTERRUPTED = 0, 1, 2, 130


_PLATFORMS, _SCOPES = "<platforms>", "<scopes>"  # filled in from the generated enums


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 with no usage dump to scroll."""

    def error(self, message: str) -> NoReturn:
        self.exit(_EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

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


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tapti",
        description="Create Tapti SDK tokens and OAuth Portal URLs. "
        "The API key comes from the TAPTI_API_KEY environment variable.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sdk_token(commands)
    _add_portal_url(commands)
    _add_mock_server(commands)
    return parser


def _add_sdk_token(commands: argparse._SubParsersAction[_Parser]) -> None:
    sdk_token = commands.add_parser(
        "sdk-token", help="SDK tokens for the OAuth Portal", description="SDK tokens."
    )
    sdk_token_commands = sdk_token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sdk_token_commands.add_parser(
        "create",
        help="create an SDK token for a user and print its portal URL",
        description="Create an SDK token for USER_ID and print the OAuth Portal URL. "
        "Reads TAPTI_API_KEY (required) and TAPTI_BASE_URL.",
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
    create.add_argument(
        "--base-url", help="the API's base URL (default: TAPTI_BASE_URL or Tapti's)"
    )
    create.add_argument("--timeout", type=float, help="seconds to wait for the API (default 30)")
    create.add_argument("--max-retries", type=int, default=2, help="retries on transient errors")
    create.add_argument(
        "--json", action="store_true", help="print a JSON object instead of the URL"
    )
    create.set_defaults(handler=_create_sdk_token)


def _add_portal_url(commands: argparse._SubParsersAction[_Parser]) -> None:
    portal = commands.add_parser(
        "portal-url",
        help="print the OAuth Portal URL for an SDK token",
        description="Print the OAuth Portal URL for SDK_TOKEN.",
    )
    portal.add_argument("sdk_token", metavar="SDK_TOKEN")
    portal.add_argument(
        "--platform", help=f"skip the portal's platform picker for one of: {_PLATFORMS}"
    )
    portal.add_argument(
        "--portal-url", help="the portal's base URL (default: TAPTI_PORTAL_URL or Tapti's)"
    )
    portal.set_defaults(handler=_portal_url)


def _add_mock_server(commands: argparse._SubParsersAction[_Parser]) -> None:
    mock = commands.add_parser(
        "mock-server",
        help="run a local mock Tapti API until Ctrl-C or SIGTERM",
        description="Run the embedded mock Tapti API on 127.0.0.1 in the foreground, until "
        "Ctrl-C (SIGINT) or SIGTERM. Fault flags script its next answers, for testing error "
        "handling from any language or with curl.",
    )
    mock.add_argument(
        "--port", type=tcp_port, default=0, help="port to listen on (default: a free one)"
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
    faults = mock.add_argument_group("faults", "script the mock's next answers")
    faults.add_argument(
        "--fail-next", type=int, default=0, metavar="N", help="fail the next N API calls"
    )
    faults.add_argument(
        "--fail-status",
        type=int,
        metavar="STATUS",
        help="the status of those failures (default 503), e.g. 401, 429, 500",
    )
    faults.add_argument(
        "--retry-after",
        metavar="SECONDS",
        help="send Retry-After with those failures: seconds, or an HTTP date",
    )
    faults.add_argument(
        "--delay", type=float, metavar="SECONDS", help="hold back each answer this long"
    )
    faults.add_argument(
        "--delay-count",
        type=int,
        metavar="N",
        help="delay only the next N answers (default: every answer)",
    )
    mock.set_defaults(handler=_mock_server)


def tcp_port(text: str) -> int:
    port = int(text)  # argparse turns the ValueError into a usage error
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def _create_sdk_token(args: argparse.Namespace) -> int:
    from ._client import DEFAULT_TIMEOUT, Tapti  # noqa: PLC0415  (keep `tapti --help` fast)
    from ._errors import InvalidInputError  # noqa: PLC0415
    from ._inputs import check_platform, check_platforms, check_scopes  # noqa: PLC0415

    platforms = check_platforms(_split_values(args.platform), argument="--platform")
    if args.portal_platform is not None:
        # Refused before a token is created for nothing.
        portal_platform = check_platform(args.portal_platform, argument="--portal-platform")
        if portal_platform not in platforms:
            raise InvalidInputError("--portal-platform must be one of the --platform values")
    with Tapti(
        base_url=args.base_url,
        max_retries=args.max_retries,
        timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
    ) as tapti:
        token = tapti.user(args.user_id).create_sdk_token(
            platforms=platforms,
            scopes=check_scopes(_split_values(args.scope), argument="--scope"),
            callback_url=args.callback_url,
            redirect_url=args.redirect_url,
        )
    url = token.portal_url(args.portal_platform)
    print(json.dumps(_as_json(token, url), indent=2, default=str) if args.json else url)
    return _EXIT_OK


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
    from ._portal import oauth_portal_url  # noqa: PLC0415

    print(oauth_portal_url(args.sdk_token, args.platform, portal_url=args.portal_url))
    return _EXIT_OK


def _mock_server(args: argparse.Namespace) -> int:
    from ._errors import InvalidInputError  # noqa: PLC0415
    from .testing import MockTaptiServer  # noqa: PLC0415

    try:
        mock = MockTaptiServer(api_key=args.api_key, port=args.port, portal=args.portal)
        faults = _script_faults(mock, args)
    except ValueError as exc:  # its own argument checks: bad input, like the SDK's
        raise InvalidInputError(str(exc)) from None
    # The handlers outlive the server: a second signal cannot interrupt its shutdown.
    with contextlib.suppress(_StopSignal), _stop_signals(), mock as server:
        print(f"Mock Tapti API listening on {server.url}", flush=True)
        exports = f"TAPTI_BASE_URL={server.url} TAPTI_API_KEY={args.api_key}"
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
        _wait_forever()
    print("Mock Tapti API stopped.", flush=True)
    return _EXIT_OK


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
        mock.fail_next(args.fail_next, status=status, retry_after=retry_after)
        extra = "" if retry_after is None else f" (Retry-After: {args.retry_after})"
        lines.append(f"Fault: the next {args.fail_next} API call(s) fail with {status}{extra}.")
    if args.delay is not None:
        count = sys.maxsize if args.delay_count is None else args.delay_count
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
    parser = _build_parser()
    args = parser.parse_args(argv)
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
        message, code = failure
        print(f"tapti: {message}", file=sys.stderr)
        return code


def _failure(exc: Exception) -> tuple[str, int] | None:
    """The one line and the exit code for an expected failure, or None for a bug."""
    from ._errors import InvalidInputError, TaptiError  # noqa: PLC0415  (httpx2: not for --help)

    if isinstance(exc, UnicodeEncodeError):  # output the terminal cannot show, not bad input
        return f"cannot print in this terminal's encoding ({exc.reason})", _EXIT_API
    if isinstance(exc, InvalidInputError):
        return f"error: {exc}", _EXIT_USAGE
    if isinstance(exc, TaptiError | OSError):  # the API, the network, a port in use
        return f"{type(exc).__name__}: {exc}", _EXIT_API
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os  # noqa: PLC0415

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
