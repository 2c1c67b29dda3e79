"""Helpers for tests that record the requests a transport saw."""

from __future__ import annotations

import httpx


def snapshot(request: httpx.Request) -> httpx.Request:
    """A copy of ``request`` as it was sent.

    The SDK masks the API key in its request once a call is over (errors and raw responses
    keep a reference to it), so a test that inspects headers afterwards needs its own copy.
    """
    return httpx.Request(
        request.method,
        request.url,
        headers=request.headers.copy(),
        content=request.read(),
        extensions=dict(request.extensions),
    )
