"""The generated ``AuthenticatedClient`` behind ``tapti.raw``, configured like its ``Tapti``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import httpx
from tapti_api_client import AuthenticatedClient

if TYPE_CHECKING:
    from ._client import _BaseTapti

__all__ = ["raw_client"]


@attrs.define(repr=False)
class _MaskedAuthenticatedClient(AuthenticatedClient):
    """The generated client with a repr that hides the API key (attrs would print it)."""

    def __repr__(self) -> str:
        return f"AuthenticatedClient(base_url={self._base_url!r}, token='***')"


def raw_client(
    tapti: _BaseTapti[httpx.Client] | _BaseTapti[httpx.AsyncClient],
    pool: httpx.Client | httpx.AsyncClient,
) -> AuthenticatedClient:
    client = _MaskedAuthenticatedClient(
        base_url=tapti.base_url,
        token=tapti._api_key,
        prefix="",
        auth_header_name="x-api-key",
        timeout=tapti.timeout,
        follow_redirects=False,
    )
    if isinstance(pool, httpx.Client):
        client.set_httpx_client(pool)
    else:
        client.set_async_httpx_client(pool)
    return client
