"""Errors survive pickling and copying, as worker pools need: a ``ProcessPoolExecutor`` or a
prefork task queue sends a job's exception back to its parent by pickle.

Each error comes from a real call to a raw-socket server on 127.0.0.1.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import pytest
from test_deadline import API_KEY, CALL, Server, respond, serve  # noqa: F401  (a fixture)

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    InternalServerError,
    RateLimitError,
    Tapti,
    TaptiError,
)

ANSWERS = {
    AuthenticationError: respond(401, b'{"message": "bad key"}', {"x-request-id": "req_1"}),
    RateLimitError: respond(429, b'{"message": "slow down"}', {"Retry-After": "7"}),
    InternalServerError: respond(503, b"down"),
    APIStatusError: respond(418, b""),
    APIResponseValidationError: respond(200, b'{"oauth_portal_url": 5}'),
}


def raised(url: str) -> TaptiError:
    with Tapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
        try:
            tapti.user("alice").create_sdk_token(**CALL)
        except TaptiError as exc:
            return exc
    raise AssertionError("the call succeeded")


def same_error(copied: TaptiError, original: TaptiError) -> None:
    assert type(copied) is type(original)
    assert str(copied) == str(original)
    for name in ("status_code", "request_id", "body", "retry_after"):
        assert getattr(copied, name, None) == getattr(original, name, None), name
    if hasattr(original, "response"):
        assert copied.response.status_code == original.response.status_code  # type: ignore[attr-defined]
        assert copied.response.content == original.response.content  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(ANSWERS), ids=lambda kind: kind.__name__)
@pytest.mark.parametrize(
    "duplicate",
    [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy],
    ids=["pickle", "copy", "deepcopy"],
)
def test_errors_survive_pickle_and_copy(
    kind: type[TaptiError],
    duplicate: Callable[[TaptiError], TaptiError],
    serve: Callable[..., Server],  # noqa: F811
) -> None:
    original = raised(serve(ANSWERS[kind]).url)
    assert type(original) is kind
    same_error(duplicate(original), original)


def test_a_connection_error_survives_pickle() -> None:
    original = raised("http://127.0.0.1:9")
    assert isinstance(original, APIConnectionError)
    same_error(pickle.loads(pickle.dumps(original)), original)


def _job(url: str) -> None:
    with Tapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
        tapti.user("alice").create_sdk_token(**CALL)


def test_a_worker_pools_job_hands_the_error_to_its_parent(
    serve: Callable[..., Server],  # noqa: F811
) -> None:
    url = serve(ANSWERS[AuthenticationError]).url
    with ProcessPoolExecutor(1) as pool, pytest.raises(AuthenticationError) as caught:
        pool.submit(_job, url).result(timeout=30)
    assert caught.value.request_id == "req_1"
    assert API_KEY not in repr(caught.value.response.request.headers)
