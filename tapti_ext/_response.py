"""``with_raw_response``: the HTTP response itself, for headers and status, with lazy parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

from ._errors import TaptiError, public_door, request_id_of

if TYPE_CHECKING:
    from ._portal import SdkToken

__all__ = ["APIResponse"]


class APIResponse:
    """A successful response before it is turned into an ``SdkToken``.

    ``parse()`` applies the same checks as the plain call and raises
    ``APIResponseValidationError`` on a body that is not the documented shape.
    """

    __slots__ = ("_parse", "_parsed", "http_response")

    def __init__(
        self, http_response: httpx2.Response, parse: Callable[[httpx2.Response], SdkToken]
    ) -> None:
        self.http_response = http_response
        self._parse = parse
        self._parsed: SdkToken | None = None

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx2.Headers:
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.http_response.headers)

    @public_door
    def parse(self) -> SdkToken:
        if self._parsed is None:
            self._parsed = self._parse(self.http_response)
        return self._parsed

    def __reduce__(self) -> tuple[object, ...]:
        # Parsed first: the parser is the call's own, and the call holds the key, which a
        # response cache or a task queue's result store must never be given.
        try:
            parsed = self.parse()
        except TaptiError as exc:  # what pickle and copy raise for what they cannot take
            raise TypeError(
                f"cannot pickle an APIResponse whose body does not parse: {exc}"
            ) from exc
        return (_parsed_response, (self.http_response, parsed))

    def __repr__(self) -> str:
        return f"<APIResponse [{self.status_code}] request_id={self.request_id!r}>"


def _parsed_response(http_response: httpx2.Response, token: SdkToken) -> APIResponse:
    """An unpickled ``APIResponse``: parsed already, and its parser the token itself."""
    response = APIResponse(http_response, lambda _: token)
    response.parse()  # as it was when pickled; the lambda is never pickled (``__reduce__``)
    return response
