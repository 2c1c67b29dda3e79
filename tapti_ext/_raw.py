"""The generated ``AuthenticatedClient`` behind ``tapti.raw``, configured like its ``Tapti``.

It rides on the ``Tapti`` client's connection pool, so it must neither change nor close it:
the generated ``with_headers`` would add headers to the shared pool, and ``with raw:`` would
close it under the ``Tapti`` client. The copies ``with_*`` return get pools of their own.
"""

from __future__ import annotations

from typing import Any, Self

import attrs
import httpx
from tapti_api_client import AuthenticatedClient

__all__ = ["raw_client"]


@attrs.define(repr=False)
class _MaskedAuthenticatedClient(AuthenticatedClient):
    """The generated client with a repr that hides the API key (attrs would print it)."""

    def __repr__(self) -> str:
        return f"AuthenticatedClient(base_url={self._base_url!r}, token='***')"


@attrs.define(repr=False)
class _SharedPoolClient(_MaskedAuthenticatedClient):
    """``tapti.raw``: the pool is the ``Tapti`` client's, to use but not to alter or close."""

    def with_headers(self, headers: dict[str, str]) -> AuthenticatedClient:
        return self._copy(headers={**self._headers, **headers})

    def with_cookies(self, cookies: dict[str, str]) -> AuthenticatedClient:
        return self._copy(cookies={**self._cookies, **cookies})

    def with_timeout(self, timeout: httpx.Timeout) -> AuthenticatedClient:
        return self._copy(timeout=timeout)

    def get_httpx_client(self) -> httpx.Client:
        if self._client is None:
            raise TypeError("AsyncTapti.raw serves the generated asyncio functions; use Tapti.raw")
        return self._client

    def get_async_httpx_client(self) -> httpx.AsyncClient:
        if self._async_client is None:
            raise TypeError("Tapti.raw serves the generated sync functions; use AsyncTapti.raw")
        return self._async_client

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        """Nothing to close here: the pool closes with the ``Tapti`` client."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *args: object, **kwargs: Any) -> None:
        """Nothing to close here: the pool closes with the ``AsyncTapti`` client."""

    def _copy(self, **changes: Any) -> AuthenticatedClient:
        settings = {f.alias: getattr(self, f.name) for f in attrs.fields(type(self)) if f.init}
        return _MaskedAuthenticatedClient(**{**settings, **changes})


def raw_client(
    pool: httpx.Client | httpx.AsyncClient, *, base_url: str, api_key: str, timeout: httpx.Timeout
) -> AuthenticatedClient:
    client = _SharedPoolClient(
        base_url=base_url,
        token=api_key,
        prefix="",
        auth_header_name="x-api-key",
        timeout=timeout,
        follow_redirects=False,
    )
    if isinstance(pool, httpx.Client):
        client.set_httpx_client(pool)
    else:
        client.set_async_httpx_client(pool)
    return client
