"""A full session over real HTTP leaks neither the API key nor any SDK token.

One ``MockTaptiServer`` serves a whole working session of ``Tapti`` and ``AsyncTapti``: tokens
created (plain, ``with_raw_response``, the ``createSDKToken`` alias, the generated client on
``tapti.raw``), retries that end in success, and every error class the SDK raises: 400, 401 (a
wrong key, and a server that echoes the key back), 403, 404 (a wrong base URL), 409, 422, 429
(retried, and with a Retry-After too long to wait), 5xx, a 3xx, 2xx bodies of the wrong shape
(one quoting a token), a refused connection and a read timeout on a socket that never answers.

Logging is at DEBUG for ``tapti_ext`` (the mock's own ``tapti_ext.testing`` included), ``httpx2``
and ``httpcore2``, captured both by ``caplog`` and by a handler of our own that formats each
record in full (exception text included). Afterwards the API keys, every token the server issued
and every token-like value it was told to send must appear in no captured record (message,
format string, args), no repr/str of any object returned or raised, no exception message, no
formatted traceback (with its exception chain) and no ``RecordedRequest`` the mock keeps; and
the API key must not show even in a traceback formatted with frame locals, as error trackers
capture it, unless the server itself echoed the key into a body.

``test_secrets.py`` covers each case in isolation over ``MockTransport``; this is the session
end to end, over sockets.
"""

from __future__ import annotations

import io
import logging
import socket
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx2
import pytest
from _fields import portal_body
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest, Platform, Scope

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncTapti,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SdkToken,
    Tapti,
    TaptiError,
    UnprocessableEntityError,
)
from tapti_ext.testing import MockTaptiServer

API_KEY = "sk_live_SESSION_4b1dKeyThatMustNotLeak"
WRONG_KEY = "sk_live_WRONG_9e2fAlsoASecret"
# Token-like values the server is told to put in bodies the SDK refuses.
FAKE_TOKENS = ("tok_FAKE_relative_7Q", "tok_FAKE_array_3Z", "tok_FAKE_text_8K")
LOGGERS = ("tapti_ext", "httpx2", "httpcore2")
CALL: dict[str, Any] = {
    "platforms": ["youtube", "TikTok"],
    "scopes": "profile_read",
    "callback_url": "https://app.example/api/oauth/callback",
    "redirect_url": "https://app.example/dashboard",
}


class Session:
    """Everything the session produced: returned objects, raised errors, issued tokens."""

    def __init__(self) -> None:
        self.returned: list[object] = []
        self.raised: list[BaseException] = []

    def keep(self, *objects: object) -> None:
        self.returned.extend(objects)

    def expect(self, error_class: type[TaptiError], call: Any) -> TaptiError:
        with pytest.raises(error_class) as info:
            call()
        assert type(info.value) is error_class, repr(info.value)
        self.raised.append(info.value)
        return info.value

    async def expect_async(self, error_class: type[TaptiError], call: Any) -> TaptiError:
        with pytest.raises(error_class) as info:
            await call()
        assert type(info.value) is error_class, repr(info.value)
        self.raised.append(info.value)
        return info.value


@pytest.fixture(autouse=True)
def _no_sleep(slept: list[float], async_slept: list[float]) -> None:
    """Retries wait for nothing here: the shared fixtures record the delays instead."""


@pytest.fixture
def full_log(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """DEBUG on the three loggers, into caplog and into a fully formatting handler of our own."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)  # logger.setLevel(DEBUG), undone afterwards
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(name)s %(levelname)s %(threadName)s %(message)s")
    )
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield stream
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never answers a byte."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield listener.getsockname()[1]


def secret_forms(secrets: list[str]) -> list[str]:
    forms = {form for s in secrets for form in (s, quote_plus(s), quote(s, safe=""))}
    return sorted(forms)


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def texts_of(obj: object) -> dict[str, str]:
    """The repr and str of an object, and of the httpx2 objects an error or response carries."""
    texts = {"repr": repr(obj), "str": str(obj)}
    for attribute in ("response", "request", "http_response"):
        value = getattr(obj, attribute, None)
        if value is not None:
            texts[f".{attribute} repr"] = repr(value)
    if isinstance(obj, BaseException):
        texts["traceback"] = "".join(traceback.format_exception(obj))
        for name, value in vars(obj).items():
            if isinstance(value, str):
                texts[f".{name}"] = value
    return texts


def run_sync_session(server: MockTaptiServer, session: Session, refused: int, silent: int) -> None:
    url = server.url
    with Tapti(api_key=API_KEY, base_url=url) as tapti:
        user = tapti.user("user_42")
        session.keep(tapti, user, tapti.with_raw_response, tapti.raw)

        # success, three ways, and through the generated client on the same pool
        token = user.create_sdk_token(**CALL)
        raw = tapti.with_raw_response.user("user_42").create_sdk_token(**CALL)
        alias = Tapti.user(tapti).createSDKToken("user_43", **CALL)
        session.keep(token, raw, raw.parse(), raw.http_response, alias)
        generated = create_sdk_token.sync_detailed(
            "user_44",
            client=tapti.raw,
            body=CreateSdkTokenRequest(
                user_platforms=[Platform.YOUTUBE],
                enabled_scopes=[Scope.PROFILE_READ],
                callback_url=CALL["callback_url"],
                redirect_url=CALL["redirect_url"],
            ),
        )
        assert generated.status_code == 200  # its Response repr shows the body: not ours to mask

        # retries that end well
        server.fail_next(2, status=503, retry_after=0)
        session.keep(user.create_sdk_token(**CALL))
        server.fail_next(1, status=429, retry_after=0)
        server.fail_next(1, status=409)
        session.keep(user.create_sdk_token(**CALL))

        # every status error class
        create = lambda: user.create_sdk_token(**CALL)  # noqa: E731
        server.fail_next(1, status=400, body={"message": "malformed request"})
        session.expect(BadRequestError, create)
        server.fail_next(1, status=401, body={"message": f"unknown key {API_KEY}"})
        error = session.expect(AuthenticationError, create)
        assert "unknown key" in str(error)
        server.fail_next(1, status=403, body={"error": {"message": f"{API_KEY} may not do this"}})
        session.expect(PermissionDeniedError, create)
        server.fail_next(3, status=409, retry_after=0)
        session.expect(ConflictError, create)
        server.fail_next(1, status=422, body={"detail": f"x-api-key {API_KEY} refused"})
        session.expect(UnprocessableEntityError, create)
        server.fail_next(3, status=429, retry_after=0)
        session.expect(RateLimitError, create)
        server.fail_next(1, status=429, retry_after=3600)
        session.expect(RateLimitError, create)
        server.fail_next(3, status=500)
        session.expect(InternalServerError, create)
        server.fail_next(1, status=302, body={"message": "moved"})
        session.expect(APIStatusError, create)

        # 2xx bodies of the wrong shape, one of them quoting a token
        relative = portal_body(f"oauth.tapti.dev?sdk_token={FAKE_TOKENS[0]}")
        server.fail_next(1, status=200, body=relative)
        session.expect(APIResponseValidationError, create)
        server.fail_next(1, status=200, body=[f"https://p.example?sdk_token={FAKE_TOKENS[1]}"])
        session.expect(APIResponseValidationError, create)
        server.fail_next(1, status=200, body=f"<html>sdk_token={FAKE_TOKENS[2]}</html>".encode())
        session.expect(APIResponseValidationError, create)
        server.fail_next(1, status=200, body=portal_body(f"/p?sdk_token={API_KEY}"))
        session.expect(APIResponseValidationError, create)

    # a wrong key, for real
    with Tapti(api_key=WRONG_KEY, base_url=url, max_retries=0) as wrong:
        session.keep(wrong)
        session.expect(AuthenticationError, lambda: wrong.user("u").create_sdk_token(**CALL))
    # a wrong base URL: the mock has no such route
    with Tapti(api_key=API_KEY, base_url=f"{url}/v2", max_retries=0) as lost:
        session.expect(NotFoundError, lambda: lost.user("u").create_sdk_token(**CALL))
    # no server at all, and a server that never answers
    with Tapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{refused}") as nowhere:
        session.expect(APIConnectionError, lambda: nowhere.user("u").create_sdk_token(**CALL))
    with Tapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{silent}", max_retries=1) as mute:
        session.expect(
            APITimeoutError, lambda: mute.user("u").create_sdk_token(**CALL, timeout=0.3)
        )


async def run_async_session(
    server: MockTaptiServer, session: Session, refused: int, silent: int
) -> None:
    async with AsyncTapti(api_key=API_KEY, base_url=server.url) as tapti:
        user = tapti.user("user_async")
        session.keep(tapti, user, tapti.with_raw_response, tapti.raw)
        token = await user.create_sdk_token(**CALL)
        raw = await tapti.with_raw_response.user("user_async").create_sdk_token(**CALL)
        session.keep(token, raw, raw.parse(), raw.http_response)
        server.fail_next(1, status=502, retry_after=0)
        session.keep(await user.create_sdk_token(**CALL))

        async def create() -> SdkToken:
            return await user.create_sdk_token(**CALL)

        server.fail_next(1, status=401, body={"message": f"bad key {API_KEY}"})
        await session.expect_async(AuthenticationError, create)
        server.fail_next(3, status=429, retry_after="0")
        await session.expect_async(RateLimitError, create)
        server.fail_next(3, status=504)
        await session.expect_async(InternalServerError, create)
        relative = portal_body(f"oauth.tapti.dev?sdk_token={FAKE_TOKENS[0]}")
        server.fail_next(1, status=200, body=relative)
        await session.expect_async(APIResponseValidationError, create)
    async with AsyncTapti(api_key=WRONG_KEY, base_url=server.url, max_retries=0) as wrong:
        await session.expect_async(
            AuthenticationError, lambda: wrong.user("u").create_sdk_token(**CALL)
        )
    async with AsyncTapti(api_key=API_KEY, base_url=f"http://127.0.0.1:{refused}") as nowhere:
        await session.expect_async(
            APIConnectionError, lambda: nowhere.user("u").create_sdk_token(**CALL)
        )
    async with AsyncTapti(
        api_key=API_KEY, base_url=f"http://127.0.0.1:{silent}", max_retries=1
    ) as mute:
        await session.expect_async(
            APITimeoutError, lambda: mute.user("u").create_sdk_token(**CALL, timeout=0.3)
        )


def assert_nothing_leaked(
    session: Session,
    server: MockTaptiServer,
    caplog: pytest.LogCaptureFixture,
    full_log: io.StringIO,
) -> None:
    issued = server.issued_tokens
    secrets = secret_forms([API_KEY, WRONG_KEY, *issued, *FAKE_TOKENS])
    # The test is only meaningful if the secrets did travel: the SDK received these tokens.
    received = [obj for obj in session.returned if isinstance(obj, SdkToken)]
    assert received, "the session must have created tokens"
    assert {token.sdk_token for token in received} <= set(issued)

    found: list[str] = []
    for obj in [*session.returned, *session.raised, *server.requests]:
        for where, text in texts_of(obj).items():
            found += [f"{where} of {type(obj).__name__}: {s}" for s in leaks(text, secrets)]

    assert caplog.records, "nothing was logged"
    names = {record.name for record in caplog.records}
    assert "tapti_ext" in names
    assert any(name.startswith("httpcore2") for name in names)
    assert "tapti_ext.testing" in names, "the mock's own DEBUG lines were not captured"
    formatter = logging.Formatter()
    for record in caplog.records:
        for where, text in (
            ("message", record.getMessage()),
            ("format string", str(record.msg)),
            ("args", repr(record.args)),
            ("formatted record", formatter.format(record)),
        ):
            found += [f"log {where} of {record.name}: {s}" for s in leaks(text, secrets)]
    found += [f"caplog.text: {s}" for s in leaks(caplog.text, secrets)]
    found += [f"formatted log: {s}" for s in leaks(full_log.getvalue(), secrets)]

    # A traceback formatted with frame locals (as error trackers capture it) may show the body
    # of a refused response, tokens included: that body is the data being judged. The API key,
    # though, must not be in the SDK's locals unless the server itself echoed it into a body.
    keys = secret_forms([API_KEY, WRONG_KEY])
    for error in session.raised:
        if any(key.encode() in body_of(error) for key in keys):
            continue
        with_locals = traceback.TracebackException.from_exception(error, capture_locals=True)
        text = "".join(with_locals.format())
        found += [f"locals of {type(error).__name__}: {s}" for s in leaks(text, keys)]
    assert found == [], "\n".join(found)


def body_of(error: BaseException) -> bytes:
    response = getattr(error, "response", None)
    if response is None:
        return b""
    try:
        return bytes(response.content)
    except httpx2.ResponseNotRead:
        return b""


def test_sync_session_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
    full_log: io.StringIO,
    unused_port: int,
    silent_port: int,
) -> None:
    session = Session()
    with MockTaptiServer(api_key=API_KEY) as server:
        run_sync_session(server, session, unused_port, silent_port)
    assert len(session.raised) == 17
    assert len(server.issued_tokens) == 6  # 3 ways + the generated client + 2 after retries
    assert_nothing_leaked(session, server, caplog, full_log)


@pytest.mark.anyio
async def test_async_session_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
    full_log: io.StringIO,
    unused_port: int,
    silent_port: int,
) -> None:
    session = Session()
    with MockTaptiServer(api_key=API_KEY) as server:
        await run_async_session(server, session, unused_port, silent_port)
    assert len(session.raised) == 7
    assert len(server.issued_tokens) == 3
    assert_nothing_leaked(session, server, caplog, full_log)


def test_a_leak_would_be_caught(caplog: pytest.LogCaptureFixture, full_log: io.StringIO) -> None:
    """The checker itself: a token logged by mistake is reported."""
    with MockTaptiServer(api_key=API_KEY) as server:
        with Tapti(api_key=API_KEY, base_url=server.url) as tapti:
            token = tapti.user("u").create_sdk_token(**CALL)
        logging.getLogger("tapti_ext").debug("oops %s", token.sdk_token)
        session = Session()
        session.keep(token)
        with pytest.raises(AssertionError, match="log args of tapti_ext"):
            assert_nothing_leaked(session, server, caplog, full_log)
