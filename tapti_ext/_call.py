"""One ``create_sdk_token`` call, shared by the sync and async clients.

The request is built once, through the generated client's own request builder, and sent as
often as the retry policy allows; each attempt's outcome is judged here. Only the send, the
body read and the sleep between attempts differ between ``Tapti`` and ``AsyncTapti``.
"""

from __future__ import annotations

import json
import logging
from enum import Enum
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

import attrs
import httpx
from tapti_api_client.api.users.create_sdk_token import _get_kwargs
from tapti_api_client.models.create_sdk_token_request import CreateSdkTokenRequest
from tapti_api_client.models.create_sdk_token_response import CreateSdkTokenResponse
from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from ._errors import (
    APIResponseValidationError,
    describe_transport_error,
    status_error_from_response,
)
from ._inputs import is_valid_text
from ._portal import SdkToken
from ._retry import RetryPolicy, parse_retry_after

__all__ = ["API_KEY_HEADER", "MAX_RESPONSE_BYTES", "Call", "ReadPlan", "read_plan", "with_body"]

log: Final = logging.getLogger("tapti_ext")

API_KEY_HEADER: Final = "x-api-key"
# The documented body is one short URL; anything near this size is not that body.
MAX_RESPONSE_BYTES: Final = 1 << 20
_WEB_SCHEMES: Final = frozenset({"http", "https"})
# Headers that describe the body as it travelled, not as it was read.
_TRANSFER_HEADERS: Final = frozenset({b"content-encoding", b"transfer-encoding", b"content-length"})


class ReadPlan(Enum):
    """How to read a body without ever holding more than ``MAX_RESPONSE_BYTES`` of it."""

    READ = "read"  # its declared length is small and it is not compressed
    SKIP = "skip"  # its declared length is already too large
    STREAM = "stream"  # unknown length (chunked) or compressed: count as it is decoded


def read_plan(response: httpx.Response) -> ReadPlan:
    headers = response.headers
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > MAX_RESPONSE_BYTES:
            return ReadPlan.SKIP
        if "content-encoding" not in headers:
            return ReadPlan.READ
    return ReadPlan.STREAM


def with_body(response: httpx.Response, content: bytes) -> httpx.Response:
    """``response`` as read by a counting loop: httpx offers no public way to set the content."""
    headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _TRANSFER_HEADERS]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=content,
        request=response.request,
        extensions=response.extensions,
    )


def _content(response: httpx.Response) -> bytes | None:
    """The body if it was read (it is not when it was too large)."""
    try:
        return response.content
    except httpx.ResponseNotRead:
        return None


@lru_cache(maxsize=1024)
def _absolute_url(prefix: str, path: str) -> httpx.URL:
    # An absolute httpx.URL, parsed once per user: httpx skips joining it to the pool's
    # base URL, which re-parses both and was the costliest step of building a request.
    return httpx.URL(prefix + path)


def _extra_headers(headers: dict[str, str]) -> dict[str, str]:
    """The generated headers, less the Content-Type that httpx sets itself for a JSON body."""
    if len(headers) == 1 and headers.get("Content-Type") == "application/json":
        return {}
    return {name: value for name, value in headers.items() if name.lower() != "content-type"}


@attrs.frozen
class Call:
    """A prepared request and what it asked for; judges each attempt's outcome."""

    request: httpx.Request
    platforms: tuple[Platform, ...]
    scopes: tuple[Scope, ...]
    retry: RetryPolicy
    secret: str = attrs.field(repr=False)

    @classmethod
    def build(
        cls,
        http: httpx.Client | httpx.AsyncClient,
        *,
        url_prefix: str,
        headers: dict[str, str],
        user_id: str,
        platforms: tuple[Platform, ...],
        scopes: tuple[Scope, ...],
        callback_url: str,
        redirect_url: str,
        timeout: httpx.Timeout | None,
        retry: RetryPolicy,
        secret: str,
    ) -> Call:
        """The request, built through the generated code; ``timeout=None``: the pool's own."""
        body = CreateSdkTokenRequest(
            user_platforms=list(platforms),
            enabled_scopes=list(scopes),
            callback_url=callback_url,
            redirect_url=redirect_url,
        )
        # The generated builder owns the method, the percent-encoded path and the JSON body.
        spec = _get_kwargs(user_id, body=body)
        extra = _extra_headers(spec["headers"])
        request = http.build_request(
            spec["method"],
            _absolute_url(url_prefix, spec["url"]),
            json=spec["json"],
            headers={**extra, **headers} if extra else headers,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        return cls(request, platforms, scopes, retry, secret)

    def settle(
        self, outcome: httpx.Response | httpx.RequestError, retries: int
    ) -> httpx.Response | float:
        """The 2xx response, or the seconds to wait before retrying; raises the final error."""
        if isinstance(outcome, httpx.Response):
            status = outcome.status_code
            self._log_attempt(retries, status)
            if 200 <= status < 300:
                return outcome
            retry_after = parse_retry_after(outcome.headers)
            error = status_error_from_response(
                outcome, _content(outcome), secret=self.secret, retry_after=retry_after
            )
            if self.retry.should_retry_status(status):
                delay = self.retry.delay(retries, retry_after)
                if delay is not None:
                    return self._again(delay, f"status {status}")
            raise error
        failure = describe_transport_error(outcome)
        self._log_attempt(retries, failure)
        delay = self.retry.delay(retries)
        if delay is None:
            raise failure from outcome
        return self._again(delay, type(failure).__name__)

    def parse(self, response: httpx.Response) -> SdkToken:
        """The token from a 2xx response, checked against the documented shape first."""
        content = _content(response)
        if content is None or len(content) > MAX_RESPONSE_BYTES:
            raise APIResponseValidationError(
                f"response body is larger than {MAX_RESPONSE_BYTES} bytes", response=response
            )
        try:
            data = json.loads(content)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise APIResponseValidationError(
                "response body is not JSON "
                f"(content-type {response.headers.get('content-type')!r})",
                response=response,
            ) from None
        if not isinstance(data, dict):
            raise APIResponseValidationError(
                f"response body is a JSON {type(data).__name__}, not an object", response=response
            )
        url = data.get("oauth_portal_url")
        if not isinstance(url, str):
            raise APIResponseValidationError(
                "response body has no string oauth_portal_url", response=response
            )
        if not _is_web_url(url):
            # The URL is not quoted: it would carry the SDK token into the message.
            raise APIResponseValidationError(
                "oauth_portal_url is not an absolute http(s) URL", response=response
            )
        parsed = CreateSdkTokenResponse.from_dict(data)
        return SdkToken(parsed.oauth_portal_url, self.platforms, self.scopes)

    def forget_secret(self) -> None:
        """Mask the key in the sent request: errors and raw responses keep a reference to it,
        and httpx's ``repr`` of headers masks only ``Authorization``."""
        self.request.headers[API_KEY_HEADER] = "***"

    def _log_attempt(self, retries: int, outcome: int | Exception) -> None:
        if log.isEnabledFor(logging.DEBUG):
            request = self.request
            log.debug(
                "%s %s -> %s (attempt %d)", request.method, request.url.path, outcome, retries + 1
            )

    def _again(self, delay: float, reason: str) -> float:
        request = self.request
        log.info(
            "retrying %s %s in %.2fs after %s", request.method, request.url.path, delay, reason
        )
        return delay


def _is_web_url(url: str) -> bool:
    if not is_valid_text(url):  # a lone surrogate from a JSON escape: not a sendable URL
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in _WEB_SCHEMES and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
