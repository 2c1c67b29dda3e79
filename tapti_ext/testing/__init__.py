"""An offline stand-in for the Tapti API, for testing code that uses the SDK.

``MockTaptiServer`` is a real HTTP server on 127.0.0.1 that serves the API the way the bundled
OpenAPI document describes it: it checks the API key in the header its security scheme names
(``x-api-key``), validates requests against the spec's schemas, and builds answers from them, with
fresh SDK tokens inside OAuth Portal URLs. Point a ``Tapti`` client (or any HTTP client) at
``server.url`` to exercise your own code without network access, inspect what it sent through
``server.requests``, script outages and slowness with ``server.fail_next(...)`` and
``server.delay_next(...)``, and click through the connect flow with ``portal=True`` (a stand-in
OAuth Portal). With the package installed, pytest also gets the ``tapti_mock``, ``tapti_client``
and ``tapti_async_client`` fixtures.
"""

# The names are resolved on first use so that pytest, which imports the fixture plugin in every
# run, does not pay for http.server and the spec until a test asks for the server.

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import MockTaptiServer, RecordedRequest

__all__ = ["MockTaptiServer", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _server  # noqa: PLC0415 - deferred on purpose (see the top)

        value = getattr(_server, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
