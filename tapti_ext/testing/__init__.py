"""An offline stand-in for the Tapti API, for testing code that uses the SDK.

``MockTaptiServer`` is a real HTTP server on 127.0.0.1 that answers ``POST /users/{id}/sdk-token``
the way the OpenAPI document describes it: it checks the ``x-api-key`` header, validates the body
against the generated request model and hands out fresh SDK tokens inside an OAuth Portal URL.
Point a ``Tapti`` client (or any HTTP client) at ``server.url`` to exercise your own code without
network access, inspect what it sent through ``server.requests`` and script outages with
``server.fail_next(...)``. With the package installed, pytest also gets the ``tapti_mock`` and
``tapti_client`` fixtures.

The names are resolved on first use so that pytest, which imports the fixture plugin in every run,
does not pay for ``http.server`` and the generated models until a test asks for the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import MockTaptiServer, RecordedRequest

__all__ = ["MockTaptiServer", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _server  # noqa: PLC0415 - deferred on purpose, see the module docstring

        value = getattr(_server, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
