"""A minimal Flask backend that sends a signed-in user to Tapti's OAuth Portal.

Follows the reference page's security advice: the SDK token is created on the server for each
visit to /connect/<platform>, just before the redirect; it is never stored, logged or put into a
page's source, and the redirect response is marked uncacheable.

Run it against the mock API (`tapti mock-server` prints the two exports):

    export TAPTI_BASE_URL=http://127.0.0.1:PORT TAPTI_API_KEY=test-key
    flask --app examples.flask_backend run
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

from flask import Flask, Response, abort, session

from tapti_ext import InvalidInputError, Platform, Tapti, TaptiError

CALLBACK_URL = os.environ.get("APP_CALLBACK_URL", "https://your-app.com/api/oauth/callback")
REDIRECT_URL = os.environ.get("APP_REDIRECT_URL", "https://your-app.com/dashboard/accounts")


def _session_user() -> str | None:
    user_id = session.get("user_id")
    return user_id if isinstance(user_id, str) else None


def create_app(
    tapti: Tapti | None = None, current_user: Callable[[], str | None] = _session_user
) -> Flask:
    """The app; ``tapti`` defaults to one configured from the environment, and
    ``current_user`` stands in for your real authentication."""
    tapti = tapti or Tapti()
    app = Flask(__name__)
    app.secret_key = os.environ.get("APP_SECRET_KEY") or secrets.token_hex(32)

    @app.get("/connect/<platform>")
    def connect(platform: str) -> Response:
        user_id = current_user()
        if user_id is None:
            abort(401)
        try:
            chosen = Platform(platform.upper())
        except ValueError:
            abort(404)
        try:
            # A fresh token per visit, for just the platform being connected.
            token = tapti.user(user_id).create_sdk_token(
                platforms=chosen,
                scopes=["profile_read"],
                callback_url=CALLBACK_URL,
                redirect_url=REDIRECT_URL,
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

    return app


if __name__ == "__main__":  # pragma: no cover - a manual entry point
    create_app().run()
