"""The whole connect flow in a real browser, offline: the Flask example, the mock API and its
stand-in OAuth Portal, driven by Playwright in headless Chromium.

Chromium is Debian's package (/usr/bin/chromium), launched through ``executable_path``: Playwright
never downloads a browser here. Without a browser (or without the playwright package) the test
skips and says how to install one; with ``CI=true`` it fails instead, because CI must run it
(.ci/run installs chromium before ``make test``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import request
from werkzeug.serving import make_server

from examples.flask_backend import create_app
from tapti_ext import Tapti
from tapti_ext.testing import MockTaptiServer

CHROMIUM = "/usr/bin/chromium"
# As root Chromium needs --no-sandbox; the rest keep it from reaching for hosts outside this
# machine (there is no network but the loopback) and from work a test does not need.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
USER = "user_42"


def _require_browser() -> Any:
    """The ``playwright.sync_api`` module, or a skip (a failure under CI) saying what to install."""
    missing = []
    try:
        from playwright import sync_api  # noqa: PLC0415 - optional: skipped without it
    except ImportError:
        sync_api = None
        missing.append("the playwright package (`make install` installs the dev extra)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian/Ubuntu: `sudo apt-get install chromium`)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{message}; CI must run it (.ci/run installs chromium)")
        pytest.skip(message)
    return sync_api


@dataclass
class Backend:
    """The Flask example served over real HTTP, and the Referer of each request it received."""

    url: str
    referers: dict[str, str | None] = field(default_factory=dict)


@pytest.fixture
def mock() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(portal=True) as server:
        yield server


@pytest.fixture
def backend(mock: MockTaptiServer) -> Iterator[Backend]:
    apps: list[Any] = []

    def wsgi(environ: Any, start_response: Any) -> Any:
        return apps[0](environ, start_response)  # the app needs the port to know its own URL

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    seen = Backend(f"http://127.0.0.1:{server.port}")
    with Tapti(api_key=mock.api_key, base_url=mock.url, max_retries=0) as tapti:
        app = create_app(tapti, lambda: USER, redirect_url=f"{seen.url}/dashboard/accounts")

        @app.before_request
        def record_referer() -> None:
            seen.referers[request.path] = request.headers.get("Referer")

        apps.append(app)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield seen
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def test_connect_flow_through_the_stand_in_portal(mock: MockTaptiServer, backend: Backend) -> None:
    sync_api = _require_browser()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            # The user is on the app and clicks its link to /connect/youtube: the backend's 303
            # takes the browser on to the portal.
            page.goto(f"{backend.url}/")
            page.click("text=Connect YouTube")
            page.wait_for_url(f"{mock.url}/mock-portal?**")
            assert page.inner_text("#user-id") == USER
            assert page.locator("#platforms li").all_inner_texts() == ["YOUTUBE"]
            assert "MOCK" in page.inner_text("#mock-banner")
            page.click("#continue")
            page.wait_for_url(f"{backend.url}/dashboard/accounts")
            landed = page.inner_text("#back")
        finally:
            browser.close()

    assert landed == "Back from the portal"
    (token,) = mock.issued_tokens
    portal_visit = next(r for r in mock.requests if r.path.startswith("/mock-portal?"))
    assert portal_visit.status == 200
    assert "platform=youtube" in portal_visit.path
    # The browser does send a Referer to the backend, so its absence below is the policy's work:
    # the backend's Referrer-Policy keeps the app's URL from the portal, and the portal's keeps
    # its URL (it holds the token) from the app.
    assert backend.referers["/connect/youtube"] == f"{backend.url}/"
    assert "referer" not in portal_visit.headers
    assert backend.referers["/dashboard/accounts"] is None
    # The button used the token up.
    assert [r.status for r in mock.requests if r.path == "/mock-portal/continue"] == [303]
    assert token not in repr(mock.requests)


@pytest.mark.parametrize(
    ("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)]
)
def test_without_a_browser_it_skips_saying_how_to_install_one_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="apt-get install chromium"):
        _require_browser()
