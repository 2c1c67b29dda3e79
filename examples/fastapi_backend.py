"""A minimal FastAPI backend that sends a signed-in user to Tapti's OAuth Portal.

One ``AsyncTapti`` serves the whole app: the lifespan creates it on the server's event loop, to
which its pooled connections belong, and closes it at shutdown. A client created at import time
or per request would either meet another event loop or pay for a new pool on every visit.

The SDK token is created for each visit to /connect/{user_id}, just before the redirect; it is
never stored, logged or put into a page, and the 303 is marked uncacheable and sends no Referer
on. ``?platform=youtube`` asks for that platform only and skips the portal's platform picker.

The whole connect flow offline, with one command (from the repository root, once
``pip install '.[examples]'`` has installed the SDK, FastAPI and uvicorn):

    python examples/fastapi_backend.py --mock

It starts the mock Tapti API with its stand-in OAuth Portal, signs every visitor in as
"demo-user" and serves the app on http://127.0.0.1:8000: open it, click "Connect YouTube", press
the (mock) portal's button and you are back on the app's /dashboard/accounts. Against the real
API (``TAPTI_API_KEY`` set), ``--user ID`` stands in for your sign-in, which ``signed_in_user``
is for.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import asynccontextmanager
from html import escape
from urllib.parse import quote

try:
    import uvicorn
    from fastapi import FastAPI, HTTPException, Request, Response
    from fastapi.responses import HTMLResponse

    from tapti_ext import AsyncTapti, InvalidInputError, Platform, TaptiError
except ModuleNotFoundError as exc:  # a venv without the examples extra: say how to get it
    needs = (
        f"examples/fastapi_backend.py needs the package {exc.name!r}, which is not installed: "
        "run pip install '.[examples]' in the repository's root (the SDK and FastAPI and uvicorn)"
    )
    if __name__ == "__main__":  # run as a program: one line, no traceback
        raise SystemExit(needs) from None
    raise ModuleNotFoundError(needs, name=exc.name) from None

CALLBACK_URL = os.environ.get("APP_CALLBACK_URL", "https://your-app.com/api/oauth/callback")
REDIRECT_URL = os.environ.get("APP_REDIRECT_URL", "https://your-app.com/dashboard/accounts")


def _nobody(request: Request) -> str | None:  # noqa: ARG001 - a stand-in
    """Your sign-in goes here: the id of the user this request is from, or ``None``."""
    return None


def _platform(name: str | None) -> Platform | None:
    if name is None:
        return None
    # ASCII only: str.upper() makes "TIKTOK" of a look-alike written with a dotless i.
    if not name.isascii():
        raise HTTPException(404, "unknown platform")
    try:
        return Platform(name.upper())
    except ValueError:
        raise HTTPException(404, "unknown platform") from None


def create_app(
    new_client: Callable[[], AsyncTapti] = AsyncTapti,
    signed_in_user: Callable[[Request], str | None] = _nobody,
    *,
    redirect_url: str = REDIRECT_URL,
    callback_url: str = CALLBACK_URL,
) -> FastAPI:
    """The app. ``new_client`` makes its one ``AsyncTapti`` (default: configured from the
    environment), ``signed_in_user`` stands in for your authentication, and ``redirect_url`` is
    where the portal sends the user back."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        async with new_client() as tapti:
            app.state.tapti = tapti
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        user = signed_in_user(request)
        if user is None:
            return "<!doctype html><title>Your app</title><p>Sign in first.</p>"
        # URL-encoded for the path ("#" or "?" in an id would end it), then escaped for HTML.
        base = escape(f"/connect/{quote(user, safe='')}")
        return (
            "<!doctype html><title>Your app</title><h1>Your accounts</h1><ul>"
            f'<li><a href="{base}?platform=youtube">Connect YouTube</a></li>'
            f'<li><a href="{base}">Connect an account (any platform)</a></li></ul>'
        )

    @app.get("/connect/{user_id:path}")  # ":path": an id may hold "/"
    async def connect(user_id: str, request: Request, platform: str | None = None) -> Response:
        signed_in = signed_in_user(request)
        if signed_in is None:
            raise HTTPException(401, "sign in first")
        if signed_in != user_id:  # the path names the user; only that user may use it
            raise HTTPException(403, "you can connect only your own accounts")
        chosen = _platform(platform)
        tapti: AsyncTapti = request.app.state.tapti
        try:
            # A fresh token per visit, for the one platform asked for or for all of them.
            token = await tapti.user(user_id).create_sdk_token(
                platforms=chosen or list(Platform),
                scopes=["profile_read"],
                callback_url=callback_url,
                redirect_url=redirect_url,
            )
        except InvalidInputError:
            raise HTTPException(400, "this user id cannot be sent to Tapti") from None
        except TaptiError:  # an outage, a timeout, a rejected key...
            raise HTTPException(502, "the account service is unavailable, try again") from None
        headers = {
            "Location": token.portal_url(platform=chosen),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
        return Response(status_code=303, headers=headers)

    @app.get("/dashboard/accounts", response_class=HTMLResponse)
    async def accounts() -> str:
        # Where the portal sends the user back; Tapti reports the connection to callback_url.
        return '<!doctype html><title>Your accounts</title><h1 id="back">Back from the portal</h1>'

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python examples/fastapi_backend.py [--mock] [--user ID] [--port N]``."""
    parser = argparse.ArgumentParser(prog="python examples/fastapi_backend.py")
    parser.add_argument(
        "--mock", action="store_true", help="run against an embedded mock Tapti API and portal"
    )
    parser.add_argument(
        "--user",
        help="sign every visitor in as this user (default with --mock); to try the flow only: "
        "anyone reaching the app then connects accounts as this user",
    )
    parser.add_argument("--port", type=int, default=8000, help="the app's port (default 8000)")
    args = parser.parse_args(argv)
    app_url = f"http://127.0.0.1:{args.port}"
    user = args.user or ("demo-user" if args.mock else None)

    def as_user(request: Request) -> str | None:  # noqa: ARG001 - a stand-in
        return user

    if not args.mock:
        try:  # the settings, checked now: a missing key is one line, not a failed start-up
            AsyncTapti()
        except InvalidInputError as exc:
            parser.exit(2, f"{parser.prog}: {exc} (or run with --mock)\n")
        uvicorn.run(create_app(AsyncTapti, as_user), host="127.0.0.1", port=args.port)
        return
    from tapti_ext.testing import MockTaptiServer  # noqa: PLC0415 - only the demo needs it

    with MockTaptiServer(portal=True) as mock:
        app = create_app(
            lambda: AsyncTapti(api_key=mock.api_key, base_url=mock.url),
            as_user,
            redirect_url=f"{app_url}/dashboard/accounts",
        )
        print(f"Mock Tapti API and its stand-in OAuth Portal on {mock.url} (a mock).", flush=True)
        print(f"Open {app_url}/ and click Connect YouTube. Ctrl-C stops both.", flush=True)
        uvicorn.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":  # pragma: no cover - a manual entry point
    main()
