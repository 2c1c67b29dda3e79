"""pytest fixtures for code that uses the Tapti SDK: ``tapti_mock``, ``tapti_client`` and
``tapti_async_client``.

Registered through the ``pytest11`` entry point, so pytest imports this module in every run of an
environment where the package is installed. It therefore imports only pytest at module level; the
server and the clients are imported when a test first asks for a fixture.

``tapti_async_client`` is an async fixture: it runs in tests that an async plugin drives, such as
anyio's (``@pytest.mark.anyio``; anyio comes with httpx2) or pytest-asyncio in auto mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tapti_ext import AsyncTapti, Tapti
    from tapti_ext.testing import MockTaptiServer

__all__ = ["tapti_async_client", "tapti_client", "tapti_mock"]


@pytest.fixture
def tapti_mock() -> Iterator[MockTaptiServer]:
    """A started ``MockTaptiServer`` accepting the API key ``"test-key"``, stopped afterwards."""
    from tapti_ext.testing._server import MockTaptiServer  # noqa: PLC0415 - see the docstring

    with MockTaptiServer(api_key="test-key") as server:
        yield server


@pytest.fixture
def tapti_client(tapti_mock: MockTaptiServer) -> Iterator[Tapti]:
    """A ``Tapti`` client pointed at ``tapti_mock``, without retries, closed afterwards."""
    from tapti_ext import Tapti  # noqa: PLC0415 - see the module docstring

    with Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url, max_retries=0) as client:
        yield client


@pytest.fixture
async def tapti_async_client(tapti_mock: MockTaptiServer) -> AsyncIterator[AsyncTapti]:
    """An ``AsyncTapti`` pointed at ``tapti_mock``, without retries, closed afterwards.

    Opened and closed on the test's own event loop, to which its pooled connections belong.
    """
    from tapti_ext import AsyncTapti  # noqa: PLC0415 - see the module docstring

    async with AsyncTapti(
        api_key=tapti_mock.api_key, base_url=tapti_mock.url, max_retries=0
    ) as client:
        yield client
