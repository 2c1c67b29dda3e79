"""What is retried, how often, and how long the client waits in between."""

from __future__ import annotations

import random
import time
from email.utils import formatdate
from typing import Any

import httpx2
import pytest
from _fields import portal_body
from _http import snapshot

from tapti_ext import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncTapti,
    ConflictError,
    InternalServerError,
    RateLimitError,
    Tapti,
)
from tapti_ext._call import RetryPolicy, parse_retry_after
from tapti_ext.testing import MockTaptiServer

API_KEY = "sk_test_retries"
PORTAL = "https://oauth.tapti.dev?sdk_token=tok_retries"
CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
OK = httpx2.Response(200, json=portal_body(PORTAL))
# Backoff windows for retry 1, 2, ...: full jitter between half and all of 0.5 s doubling, cap 8.
WINDOWS = [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (4.0, 8.0)]

Step = httpx2.Response | Exception


class Script:
    """A MockTransport handler playing its steps in order; the last one repeats."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(snapshot(request))
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        return httpx2.Response(step.status_code, headers=step.headers, content=step.content)


def run(script: Script, **client_args: Any) -> Any:
    with httpx2.Client(transport=httpx2.MockTransport(script)) as http:
        tapti = Tapti(api_key=API_KEY, http_client=http, **client_args)
        return tapti.user("user_123").create_sdk_token(**CALL)


def assert_backoff(delays: list[float]) -> None:
    assert len(delays) <= len(WINDOWS)
    for delay, (low, high) in zip(delays, WINDOWS, strict=False):
        assert low <= delay <= high, delays


# --- what is retried ---------------------------------------------------------------------------

RETRYABLE: list[tuple[int, type[APIStatusError]]] = [
    (408, APIStatusError),
    (409, ConflictError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, InternalServerError),
    (503, InternalServerError),
    (504, InternalServerError),
    (599, InternalServerError),
]


@pytest.mark.parametrize(("status", "error_class"), RETRYABLE)
def test_retryable_status_is_tried_three_times(
    status: int, error_class: type[APIStatusError], slept: list[float]
) -> None:
    script = Script(httpx2.Response(status, json={"message": "again"}))
    with pytest.raises(error_class) as info:
        run(script)
    assert type(info.value) is error_class
    assert len(script.requests) == 3
    assert len(slept) == 2
    assert_backoff(slept)


@pytest.mark.parametrize(("status", "_"), RETRYABLE)
def test_retryable_status_then_success(status: int, _: object, slept: list[float]) -> None:
    script = Script(httpx2.Response(status), httpx2.Response(status), OK)
    token = run(script)
    assert token.sdk_token == "tok_retries"
    assert len(script.requests) == 3
    assert_backoff(slept)
    assert len(slept) == 2


def test_every_attempt_sends_the_same_request(slept: list[float]) -> None:
    script = Script(httpx2.Response(503), httpx2.ConnectError("x"), OK)
    run(script)
    first = script.requests[0]
    for again in script.requests[1:]:
        assert again.url == first.url
        assert again.content == first.content
        assert again.headers["x-api-key"] == API_KEY


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (httpx2.ConnectError("refused"), APIConnectionError),
        (httpx2.RemoteProtocolError("disconnected"), APIConnectionError),
        (httpx2.ReadError("reset"), APIConnectionError),
        (httpx2.ConnectTimeout("connect"), APITimeoutError),
        (httpx2.ReadTimeout("read"), APITimeoutError),
        (httpx2.PoolTimeout("pool"), APITimeoutError),
    ],
)
def test_transport_failure_is_retried(
    exc: Exception, error_class: type[APIConnectionError], slept: list[float]
) -> None:
    script = Script(exc)
    with pytest.raises(error_class) as info:
        run(script)
    assert type(info.value) is error_class
    assert len(script.requests) == 3
    assert len(slept) == 2
    assert_backoff(slept)


def test_transport_failure_then_success(slept: list[float]) -> None:
    script = Script(httpx2.ReadTimeout("slow"), OK)
    assert run(script).sdk_token == "tok_retries"
    assert len(script.requests) == 2
    assert len(slept) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 418, 422, 451])
def test_other_4xx_is_never_retried(status: int, slept: list[float]) -> None:
    script = Script(httpx2.Response(status, headers={"retry-after": "1"}), OK)
    with pytest.raises(APIStatusError) as info:
        run(script, max_retries=5)
    assert info.value.status_code == status
    assert len(script.requests) == 1
    assert slept == []


@pytest.mark.parametrize("status", [301, 302, 303, 304, 307, 308])
def test_3xx_is_never_retried(status: int, slept: list[float]) -> None:
    script = Script(httpx2.Response(status, headers={"location": "https://elsewhere.example"}))
    with pytest.raises(APIStatusError):
        run(script)
    assert len(script.requests) == 1
    assert slept == []


def test_validation_error_is_not_retried(slept: list[float]) -> None:
    script = Script(httpx2.Response(200, text="not json"), OK)
    with pytest.raises(Exception, match="not JSON"):
        run(script)
    assert len(script.requests) == 1
    assert slept == []


# --- how many times ----------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [httpx2.Response(503), httpx2.ConnectError("refused")])
def test_max_retries_zero_means_one_attempt(failure: Step, slept: list[float]) -> None:
    script = Script(failure, OK)
    with pytest.raises((InternalServerError, APIConnectionError)):
        run(script, max_retries=0)
    assert len(script.requests) == 1
    assert slept == []


@pytest.mark.parametrize("max_retries", [1, 3, 5])
def test_max_retries_counts_retries_not_attempts(max_retries: int, slept: list[float]) -> None:
    script = Script(httpx2.Response(500))
    with pytest.raises(InternalServerError):
        run(script, max_retries=max_retries)
    assert len(script.requests) == max_retries + 1
    assert len(slept) == max_retries
    assert_backoff(slept)


# --- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503, 408, 409])
@pytest.mark.parametrize(("header", "delay"), [("1", 1.0), ("0", 0.0), ("2.5", 2.5), ("60", 60.0)])
def test_retry_after_seconds_is_honoured(
    status: int, header: str, delay: float, slept: list[float]
) -> None:
    script = Script(httpx2.Response(status, headers={"retry-after": header}), OK)
    run(script)
    assert len(script.requests) == 2
    assert slept == [delay]


def test_retry_after_http_date_is_honoured(slept: list[float]) -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    script = Script(httpx2.Response(429, headers={"retry-after": when}), OK)
    run(script)
    assert len(script.requests) == 2
    assert len(slept) == 1
    assert 28.0 <= slept[0] <= 31.0


def test_retry_after_date_in_the_past_means_now(slept: list[float]) -> None:
    script = Script(httpx2.Response(503, headers={"retry-after": formatdate(0, usegmt=True)}), OK)
    run(script)
    assert slept == [0.0]


@pytest.mark.parametrize(
    "header",
    ["61", "120", "86400", "9" * 400, "__date_in_an_hour__"],
)
def test_retry_after_beyond_cap_is_not_retried(header: str, slept: list[float]) -> None:
    if header == "__date_in_an_hour__":
        header = formatdate(time.time() + 3600, usegmt=True)
    script = Script(httpx2.Response(429, headers={"retry-after": header}), OK)
    with pytest.raises(RateLimitError) as info:
        run(script)
    assert len(script.requests) == 1
    assert slept == []
    assert info.value.retry_after is not None
    assert info.value.retry_after > 60


@pytest.mark.parametrize("header", ["soon", "", "nan", "Mon, 99 Foo 2020"])
def test_unparseable_retry_after_falls_back_to_backoff(header: str, slept: list[float]) -> None:
    script = Script(httpx2.Response(503, headers={"retry-after": header}), OK)
    run(script)
    assert len(script.requests) == 2
    assert_backoff(slept)
    assert len(slept) == 1


def test_retry_after_with_max_retries_zero(slept: list[float]) -> None:
    script = Script(httpx2.Response(429, headers={"retry-after": "1"}), OK)
    with pytest.raises(RateLimitError) as info:
        run(script, max_retries=0)
    assert info.value.retry_after == 1.0
    assert len(script.requests) == 1
    assert slept == []


def test_last_rate_limit_error_keeps_its_retry_after(slept: list[float]) -> None:
    script = Script(httpx2.Response(429, headers={"retry-after": "3"}))
    with pytest.raises(RateLimitError) as info:
        run(script)
    assert len(script.requests) == 3
    assert slept == [3.0, 3.0]
    assert info.value.retry_after == 3.0


# --- the policy itself -------------------------------------------------------------------------


@pytest.mark.parametrize(("retries_done", "window"), list(enumerate(WINDOWS)))
def test_policy_delay_windows(retries_done: int, window: tuple[float, float]) -> None:
    policy = RetryPolicy(max_retries=20)
    delays = [policy.delay(retries_done) for _ in range(200)]
    low, high = window
    assert all(d is not None and low <= d <= high for d in delays)
    assert len(set(delays)) > 1, "no jitter"


def test_policy_delay_is_capped_near_eight_seconds() -> None:
    policy = RetryPolicy(max_retries=100)
    assert all(4.0 <= (policy.delay(n) or 0) <= 8.0 for n in range(4, 60))


@pytest.mark.parametrize(("random_value", "expected"), [(0.0, 0.25), (0.5, 0.375)])
def test_policy_jitter_bounds(
    random_value: float, expected: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tapti_ext._call._JITTER.random", lambda: random_value)
    assert RetryPolicy().delay(0) == pytest.approx(expected)


def test_jitter_neither_uses_nor_follows_the_programs_random(tapti_mock: MockTaptiServer) -> None:
    """A retry drew from the module ``random``: it shifted a seeded program's own sequence, and
    workers that all called ``random.seed(42)`` waited alike, bunched together again."""
    random.seed(42)
    expected = [random.random() for _ in range(3)]
    delays = []
    for _ in range(3):
        random.seed(42)
        delays.append(RetryPolicy().delay(0))
    tapti_mock.fail_next(1)
    random.seed(42)
    with Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url, max_retries=1) as tapti:
        tapti.user("u1").create_sdk_token(**CALL)
    assert [random.random() for _ in range(3)] == expected
    assert len(tapti_mock.requests) == 2
    assert len(set(delays)) == 3, delays


def test_policy_gives_up_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.delay(0) is not None
    assert policy.delay(1) is not None
    assert policy.delay(2) is None
    assert policy.delay(2, retry_after=1.0) is None
    assert RetryPolicy(max_retries=0).delay(0) is None


def test_policy_retry_after() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.delay(0, retry_after=5.0) == 5.0
    assert policy.delay(1, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=60.0) == 60.0
    assert policy.delay(0, retry_after=60.5) is None


@pytest.mark.parametrize(
    ("status", "retried"),
    [(408, True), (409, True), (429, True), (500, True), (503, True), (599, True)]
    + [(s, False) for s in (200, 302, 400, 401, 403, 404, 410, 422, 499)],
)
def test_policy_retryable_statuses(status: int, retried: bool) -> None:
    assert RetryPolicy().should_retry_status(status) is retried


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("1.5", 1.5),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("soon", None),
        ("", None),
        ("nan", None),
        (formatdate(0, usegmt=True), 0.0),
        # Not HTTP's delta-seconds: a negative wait, and what only Python's float() reads.
        ("-5", None),
        ("-1e308", None),
        ("-inf", None),
        ("inf", None),
        ("1e999", None),
        ("+5", None),
        ("5e1", None),
        ("1_0", None),
        ("\u0663".encode(), None),  # an Arabic-Indic 3, as UTF-8 on the wire
        # asctime's form of a date, which has no zone: GMT, as RFC 9110 says.
        ("Thu Jan  1 00:00:00 1970", 0.0),
    ],
)
def test_parse_retry_after(value: str | bytes, expected: float | None) -> None:
    assert parse_retry_after(httpx2.Headers({"retry-after": value})) == expected


def test_parse_retry_after_absent_and_date() -> None:
    assert parse_retry_after(httpx2.Headers()) is None
    seconds = parse_retry_after(
        httpx2.Headers({"Retry-After": formatdate(time.time() + 20, usegmt=True)})
    )
    assert seconds is not None
    assert 18.0 <= seconds <= 21.0


# --- async -------------------------------------------------------------------------------------


async def run_async(script: Script, **client_args: Any) -> Any:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(script)) as http:
        tapti = AsyncTapti(api_key=API_KEY, http_client=http, **client_args)
        return await tapti.user("user_123").create_sdk_token(**CALL)


@pytest.mark.anyio
async def test_async_retries_status_then_success(async_slept: list[float]) -> None:
    script = Script(httpx2.Response(503), httpx2.Response(409), OK)
    token = await run_async(script)
    assert token.sdk_token == "tok_retries"
    assert len(script.requests) == 3
    assert len(async_slept) == 2
    assert_backoff(async_slept)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (httpx2.ConnectError("refused"), APIConnectionError),
        (httpx2.ReadTimeout("r"), APITimeoutError),
    ],
)
async def test_async_transport_failure_retried(
    exc: Exception, error_class: type[Exception], async_slept: list[float]
) -> None:
    script = Script(exc)
    with pytest.raises(error_class):
        await run_async(script)
    assert len(script.requests) == 3
    assert len(async_slept) == 2


@pytest.mark.anyio
async def test_async_retry_after_and_non_retry(async_slept: list[float]) -> None:
    script = Script(httpx2.Response(429, headers={"retry-after": "1"}), OK)
    await run_async(script)
    assert async_slept == [1.0]
    huge = Script(httpx2.Response(429, headers={"retry-after": "3600"}), OK)
    with pytest.raises(RateLimitError):
        await run_async(huge)
    assert len(huge.requests) == 1
    bad = Script(httpx2.Response(400), OK)
    with pytest.raises(APIStatusError):
        await run_async(bad, max_retries=4)
    assert len(bad.requests) == 1
    zero = Script(httpx2.Response(500), OK)
    with pytest.raises(InternalServerError):
        await run_async(zero, max_retries=0)
    assert len(zero.requests) == 1
    assert async_slept == [1.0]


def test_retry_after_date_beyond_any_calendar_is_ignored() -> None:
    headers = httpx2.Headers({"retry-after": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"})
    assert parse_retry_after(headers) is None


def test_backoff_stays_capped_after_thousands_of_retries() -> None:
    policy = RetryPolicy(max_retries=5000)
    delay = policy.delay(4000)
    assert delay is not None
    assert policy.max_delay / 2 <= delay <= policy.max_delay


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9" * 400, 86_400.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 86_400.0),
    ],
)
def test_an_endless_retry_after_is_at_most_a_day(value: str, expected: float) -> None:
    # float() reads these; int() and time.sleep() raise OverflowError on inf, and
    # asyncio.sleep(inf) never returns: a caller must be able to use what it is given.
    seconds = parse_retry_after(httpx2.Headers({"retry-after": value}))
    assert seconds == expected
    assert int(seconds) >= 0
