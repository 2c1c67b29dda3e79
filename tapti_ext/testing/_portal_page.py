"""The stand-in OAuth Portal's pages: what ``MockTaptiServer(portal=True)`` shows a browser.

Plain HTML with no script, every value escaped: a user id or redirect URL a test sends may hold
``<``, ``"`` or ``&``. The pages say loudly that they are a mock, and that the mock does not call
``callback_url`` (Tapti does not document what it sends there).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from .._constants import TOKEN_PARAM

__all__ = ["CONTINUE_PATH", "HEADERS", "PORTAL_PATH", "IssuedToken", "error_page", "portal_page"]

PORTAL_PATH: Final = "/mock-portal"
CONTINUE_PATH: Final = "/mock-portal/continue"
# No script may run, nothing may frame the page, and the URL (it holds the token) is not sent on
# as a Referer. form-action is left open on purpose: the button's POST redirects to redirect_url,
# and Chromium applies form-action to the redirect as well.
HEADERS: Final = (
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
)

_STYLE: Final = """
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
.mock { background: #fff3cd; border: 2px dashed #b58100; padding: .75rem 1rem; }
dt { font-weight: bold; margin-top: .75rem; }
button { font-size: 1.1rem; padding: .5rem 1.25rem; margin-top: 1.5rem; }
"""
_BANNER: Final = (
    '<p class="mock" id="mock-banner" role="note"><strong>MOCK</strong>: this page is '
    "MockTaptiServer's stand-in for Tapti's OAuth Portal, for testing offline. It connects no "
    "account and contacts no social platform.</p>"
)


@dataclass(slots=True)
class IssuedToken:
    """What the mock remembers of a token it issued, to show it on the portal page."""

    user_id: str | None
    platforms: tuple[str, ...]
    scopes: tuple[str, ...]
    redirect_url: str | None
    callback_url: str | None
    used: bool = field(default=False)


def _document(title: str, body: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} (mock)</title><style>{_STYLE}</style></head>"
        f"<body>{_BANNER}{body}</body></html>\n"
    ).encode()


def _items(element_id: str, values: Sequence[str]) -> str:
    items = "".join(f"<li>{html.escape(value)}</li>" for value in values)
    return f'<ul id="{element_id}">{items or "<li>(none)</li>"}</ul>'


def portal_page(token: str, issued: IssuedToken, platforms: Sequence[str]) -> bytes:
    """The page for a valid, unused token; ``platforms`` are the ones to show."""
    user = html.escape(issued.user_id or "(none)")
    redirect = html.escape(issued.redirect_url or "(none)")
    callback = html.escape(issued.callback_url or "(none)")
    body = (
        "<h1>Connect your accounts</h1>"
        "<dl>"
        f'<dt>User</dt><dd id="user-id">{user}</dd>'
        f"<dt>Platforms</dt><dd>{_items('platforms', platforms)}</dd>"
        f"<dt>Scopes</dt><dd>{_items('scopes', issued.scopes)}</dd>"
        f'<dt>Redirect URL</dt><dd id="redirect-url">{redirect}</dd>'
        f'<dt>Callback URL</dt><dd><span id="callback-url">{callback}</span>: '
        "<em>not called by this mock</em>, because Tapti does not document what its portal "
        "sends there.</dd>"
        "</dl>"
        f'<form method="post" action="{CONTINUE_PATH}">'
        f'<input type="hidden" name="{TOKEN_PARAM}" value="{html.escape(token, quote=True)}">'
        '<button type="submit" id="continue">Finish (mock): back to the redirect URL</button>'
        "</form>"
        "<p>The button uses up this SDK token, as a finished portal visit would.</p>"
    )
    return _document("Tapti OAuth Portal", body)


def error_page(title: str, message: str) -> bytes:
    """A 4xx page that says what is wrong in words a developer testing the flow can act on."""
    body = f'<h1 id="error">{html.escape(title)}</h1><p>{html.escape(message)}</p>'
    return _document(title, body)
