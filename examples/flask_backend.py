"""A minimal Flask backend that sends a signed-in user to Tapti's OAuth Portal.

The SDK token is created on the server for each visit to /connect/<platform>, just before the
redirect; it is never stored, logged or put into a
page's source, and the redirect response is marked uncacheable and sends no Referer on.

The whole connect flow offline, with one command (from the repository root, once
``pip install '.[examples]'`` has installed the SDK and Flask):

    python examples/flask_backend.py --mock

It starts the mock Tapti API with its stand-in OAuth Portal, signs every visitor in as
"demo-user" and serves the app on http://127.0.0.1:5000: open it, click "Connect YouTube", look at
the (mock) portal page, press its button and you are back on the app's /dashboard/accounts.

Against a mock you run yourself (`tapti mock-server --portal` prints the exports), or against
the real API with your key, sign-in is yours to add (the `current_user` argument); until then,
``--user ID`` signs every visitor in as ID:

    export TAPTI_BASE_URL=http://127.0.0.1:PORT TAPTI_API_KEY=test-key
    python examples/flask_backend.py --user demo-user
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Callable, Sequence

try:
    from flask import Flask, Response, abort, session

    from tapti_ext import InvalidInputError, Platform, Tapti, TaptiError
except ModuleNotFoundError as exc:  # a venv without the examples extra: say how to get it
    needs = (
        f"examples/flask_backend.py needs the package {exc.name!r}, which is not installed: "
        "run pip install '.[examples]' in the repository's root (the SDK and Flask)"
    )
    if __name__ == "__main__":  # run as a program: one line, no traceback
        raise SystemExit(needs) from None
    raise ModuleNotFoundError(needs, name=exc.name) from None

CALLBACK_URL = os.environ.get("APP_CALLBACK_URL", "https://your-app.com/api/oauth/callback")
REDIRECT_URL = os.environ.get("APP_REDIRECT_URL", "https://your-app.com/dashboard/accounts")


# How the platforms spell their names, where a plain title() would not (new ones still show up).
_NAMES = {"YOUTUBE": "YouTube", "TIKTOK": "TikTok", "LINKEDIN": "LinkedIn"}


def _session_user() -> str | None:
    user_id = session.get("user_id")
    return user_id if isinstance(user_id, str) else None


def create_app(
    tapti: Tapti | None = None,
    current_user: Callable[[], str | None] = _session_user,
    *,
    redirect_url: str = REDIRECT_URL,
    callback_url: str = CALLBACK_URL,
) -> Flask:
    """The app; ``tapti`` defaults to one configured from the environment, ``current_user``
    stands in for your real authentication, and ``redirect_url`` is where the portal sends the
    user back (this app's own /dashboard/accounts when it runs against the mock portal)."""
    tapti = tapti or Tapti()
    app = Flask(__name__)
    app.secret_key = os.environ.get("APP_SECRET_KEY") or secrets.token_hex(32)

    @app.get("/")
    def home() -> str:
        links = "".join(
            f'<li><a href="/connect/{p.value.lower()}">Connect {_NAMES.get(p, p.title())}</a></li>'
            for p in Platform
        )
        return f"<!doctype html><title>Your app</title><h1>Your accounts</h1><ul>{links}</ul>"

    @app.get("/connect/<platform>")
    def connect(platform: str) -> Response:
        user_id = current_user()
        if user_id is None:  # said plainly: a bare 401 reads like a wrong Tapti key
            abort(401, description=_SIGN_IN_FIRST)
        try:  # ASCII only: str.upper() makes "TIKTOK" of a look-alike with a dotless i
            chosen = Platform(platform.upper()) if platform.isascii() else abort(404)
        except ValueError:
            abort(404)
        try:
            # A fresh token per visit, for just the platform being connected.
            token = tapti.user(user_id).create_sdk_token(
                platforms=chosen,
                scopes=["profile_read"],
                callback_url=callback_url,
                redirect_url=redirect_url,
            )
        except InvalidInputError:
            abort(400)
        except TaptiError:
            abort(502)
        # An empty body: Flask's redirect() would repeat the URL, token and all, in an HTML page.
        return Response(
            status=303,
            headers={
                "Location": token.portal_url(platform=chosen),
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    @app.get("/dashboard/accounts")
    def accounts() -> str:
        # Where the portal sends the user back. Tapti reports the connection to callback_url;
        # the mock portal does not (that payload is not documented).
        return '<!doctype html><title>Your accounts</title><h1 id="back">Back from the portal</h1>'

    return app


_SIGN_IN_FIRST = (
    "Sign in first. This example has no sign-in of its own: run it with --mock (every visitor "
    "is demo-user) or --user ID, or give create_app your own current_user."
)


def main(argv: Sequence[str] | None = None) -> None:
    """``python examples/flask_backend.py [--mock] [--user ID] [--port N]``."""
    parser = argparse.ArgumentParser(prog="python examples/flask_backend.py")
    parser.add_argument(
        "--mock",
        action="store_true",
        help="run against an embedded mock Tapti API and stand-in portal, as demo-user",
    )
    parser.add_argument(
        "--user",
        help="sign every visitor in as this user (default with --mock); to try the flow only: "
        "anyone reaching the app then connects accounts as this user",
    )
    parser.add_argument("--port", type=int, default=5000, help="the app's port (default 5000)")
    args = parser.parse_args(argv)
    user = args.user or ("demo-user" if args.mock else None)
    if not args.mock:
        create_app(current_user=(lambda: user) if user else _session_user).run(port=args.port)
        return
    from tapti_ext.testing import MockTaptiServer  # noqa: PLC0415 - only the demo needs it

    app_url = f"http://127.0.0.1:{args.port}"
    with (
        MockTaptiServer(portal=True) as mock,
        Tapti(api_key=mock.api_key, base_url=mock.url) as tapti,
    ):
        app = create_app(tapti, lambda: user, redirect_url=f"{app_url}/dashboard/accounts")
        print(f"Mock Tapti API and its stand-in OAuth Portal on {mock.url} (a mock).")
        print(f"Open {app_url}/ and click Connect YouTube. Ctrl-C stops both.")
        app.run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":  # pragma: no cover - a manual entry point
    main()
