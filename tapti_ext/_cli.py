"""The ``tapti`` command: a thin shell over the public API, nothing the library cannot do.

Exit codes: 0 success, 2 bad input (usage errors and ``InvalidInputError``), 1 API or network
errors, 130 interrupted. Errors are one line on stderr, never a traceback. The API key is read
from ``TAPTI_API_KEY`` only: a command-line flag would show it to every user of the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from ._version import __version__

if TYPE_CHECKING:
    from ._portal import SdkToken

__all__ = ["main"]

_EXIT_OK, _EXIT_API, _EXIT_USAGE, _EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 with no usage dump to scroll."""

    def error(self, message: str) -> NoReturn:
        self.exit(_EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


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
        help="a platform the user may connect (repeat, or comma-separate): "
        "youtube, tiktok, instagram, instapro, facebook, x, linkedin",
    )
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        help="a scope to enable (repeat, or comma-separate), e.g. profile_read",
    )
    create.add_argument("--callback-url", required=True, help="where Tapti sends the result")
    create.add_argument("--redirect-url", required=True, help="where the user lands afterwards")
    create.add_argument(
        "--portal-platform", help="add platform=... to the printed URL to skip the picker"
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

    portal = commands.add_parser(
        "portal-url",
        help="print the OAuth Portal URL for an SDK token",
        description="Print the OAuth Portal URL for SDK_TOKEN.",
    )
    portal.add_argument("sdk_token", metavar="SDK_TOKEN")
    portal.add_argument("--platform", help="skip the portal's platform picker, e.g. youtube")
    portal.add_argument(
        "--portal-url", help="the portal's base URL (default: TAPTI_PORTAL_URL or Tapti's)"
    )
    portal.set_defaults(handler=_portal_url)

    mock = commands.add_parser(
        "mock-server",
        help="run a local mock Tapti API until Ctrl-C",
        description="Run the embedded mock Tapti API on 127.0.0.1 in the foreground.",
    )
    mock.add_argument(
        "--port", type=tcp_port, default=0, help="port to listen on (default: a free one)"
    )
    mock.add_argument(
        "--api-key", default="test-key", help="the key the mock accepts (a test value)"
    )
    mock.set_defaults(handler=_mock_server)
    return parser


def tcp_port(text: str) -> int:
    port = int(text)  # argparse turns the ValueError into a usage error
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def _create_sdk_token(args: argparse.Namespace) -> int:
    from ._client import DEFAULT_TIMEOUT, Tapti  # noqa: PLC0415  (keep `tapti --help` fast)
    from ._errors import InvalidInputError  # noqa: PLC0415
    from ._inputs import check_platform, check_platforms  # noqa: PLC0415

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
            scopes=_split_values(args.scope),
            callback_url=args.callback_url,
            redirect_url=args.redirect_url,
        )
    url = token.portal_url(args.portal_platform)
    print(json.dumps(_as_json(token, url), indent=2) if args.json else url)
    return _EXIT_OK


def _as_json(token: SdkToken, url: str) -> dict[str, object]:
    return {
        "oauth_portal_url": token.oauth_portal_url,
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
    import threading  # noqa: PLC0415

    from ._errors import InvalidInputError  # noqa: PLC0415
    from .testing import MockTaptiServer  # noqa: PLC0415

    try:
        mock = MockTaptiServer(api_key=args.api_key, port=args.port)
    except ValueError as exc:  # its own argument checks: bad input, like the SDK's
        raise InvalidInputError(str(exc)) from None
    with mock as server:
        print(f"Mock Tapti API listening on {server.url}", flush=True)
        print(f"export TAPTI_BASE_URL={server.url} TAPTI_API_KEY={args.api_key}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how this command ends
            threading.Event().wait()
    return _EXIT_OK


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
    from ._errors import InvalidInputError, TaptiError  # noqa: PLC0415  (httpx: not for --help)

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
