"""Native tracing: each API call is one OpenTelemetry CLIENT span, and its trace travels along.

Spans are read back through opentelemetry-sdk's in-memory exporter, over real HTTP: against
``MockTaptiServer``, and against a raw socket server for 503s and dropped connections. The
SDK's tracer is swapped for one of a test provider (the process-wide provider can be set only
once, and would trace every later test); a subprocess checks the process-wide route, and
another one that, without OpenTelemetry, nothing of it is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from _fields import portal_body
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tapti_api_client.api.users import create_sdk_token as operation
from tapti_api_client.models import CreateSdkTokenRequest, Platform, Scope

from tapti_ext import (
    APIConnectionError,
    APIResponseValidationError,
    AsyncTapti,
    AuthenticationError,
    InternalServerError,
    Tapti,
    TaptiError,
)
from tapti_ext._call import spec_facts
from tapti_ext.testing import MockTaptiServer

KEY = "sk_test_tracing_7Qv2"
USER = "user-otel-5821"
TEMPLATE = "/users/{id}/sdk-token"
CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/otel-callback",
    "redirect_url": "https://app.example/otel-done",
}
BODY = CreateSdkTokenRequest(
    user_platforms=[Platform.YOUTUBE],
    enabled_scopes=[Scope.PROFILE_READ],
    callback_url=CALL["callback_url"],
    redirect_url=CALL["redirect_url"],
)
RAW_TOKEN = "tok_raw_secret_9bd1"
ROOT = Path(__file__).resolve().parent.parent


# --- spans ---------------------------------------------------------------------------------


class Traced:
    """A test's tracer provider: the SDK's spans and the test's own go to ``exporter``."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traced]:
    from tapti_ext import _tracing  # noqa: PLC0415 (imported by a traced call)

    traced = Traced()
    monkeypatch.setattr(_tracing, "_TRACER", traced.provider.get_tracer("tapti_ext"))
    yield traced
    traced.provider.shutdown()


def the_call_span(traced: Traced) -> ReadableSpan:
    """The one span the SDK made (the test's own spans left out)."""
    finished = traced.exporter.get_finished_spans()
    made = [s for s in finished if s.instrumentation_scope.name == "tapti_ext"]
    assert len(made) == 1, [s.name for s in made]
    return made[0]


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def assert_secret_free(traced: Traced, *secrets: str) -> None:
    """No span (names, attributes, events, links, resource: all of its JSON) holds a secret."""
    dumped = [s.to_json() for s in traced.exporter.get_finished_spans()]
    assert dumped
    for secret in (KEY, USER, CALL["callback_url"], CALL["redirect_url"], *secrets):
        for text in dumped:
            assert secret not in text


def expected_attributes(port: int, **more: Any) -> dict[str, Any]:
    return {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.template": TEMPLATE,
        "network.protocol.version": "1.1",
        **more,
    }


# --- the six ways of calling --------------------------------------------------------------


def _client(server: Any, **options: Any) -> Tapti:
    return Tapti(api_key=KEY, base_url=server.url, allow_insecure_http=True, **options)


def _async_client(server: Any, **options: Any) -> AsyncTapti:
    return AsyncTapti(api_key=KEY, base_url=server.url, allow_insecure_http=True, **options)


def wrapper_sync(server: Any) -> None:
    with _client(server) as tapti:
        tapti.user(USER).create_sdk_token(**CALL)


def call_sync(server: Any) -> None:
    with _client(server) as tapti:
        tapti.call(operation, USER, body=BODY)


def raw_sync(server: Any) -> None:
    with _client(server) as tapti:
        assert operation.sync_detailed(USER, client=tapti.raw, body=BODY).status_code == 200


def wrapper_async(server: Any) -> None:
    async def run() -> None:
        async with _async_client(server) as tapti:
            await tapti.user(USER).create_sdk_token(**CALL)

    asyncio.run(run())


def call_async(server: Any) -> None:
    async def run() -> None:
        async with _async_client(server) as tapti:
            await tapti.call(operation, USER, body=BODY)

    asyncio.run(run())


def raw_async(server: Any) -> None:
    async def run() -> None:
        async with _async_client(server) as tapti:
            response = await operation.asyncio_detailed(USER, client=tapti.raw, body=BODY)
            assert response.status_code == 200

    asyncio.run(run())


WAYS = [wrapper_sync, call_sync, raw_sync, wrapper_async, call_async, raw_async]


@pytest.mark.parametrize("way", WAYS, ids=lambda way: way.__name__)
def test_each_call_is_one_client_span_in_the_callers_trace(
    spans: Traced, way: Callable[[Any], None]
) -> None:
    with MockTaptiServer(api_key=KEY) as server:
        with spans.tracer.start_as_current_span("handler") as handler:
            way(server)
        (request,) = server.requests
        port = server.port
    span = the_call_span(spans)
    assert span.name == f"POST {TEMPLATE}"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == expected_attributes(
        port, **{"http.response.status_code": 200, "tapti.request_id": request.request_id}
    )
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is not None
    assert span.parent.span_id == handler.get_span_context().span_id
    assert span.context.trace_id == handler.get_span_context().trace_id
    # The API got the trace: the call's span is the parent of whatever the server does.
    assert request.headers["traceparent"] == traceparent_of(span)
    assert_secret_free(spans, *server.issued_tokens)


def test_without_a_current_span_the_call_starts_a_trace(spans: Traced) -> None:
    with MockTaptiServer(api_key=KEY) as server:
        wrapper_sync(server)
        (request,) = server.requests
    span = the_call_span(spans)
    assert span.parent is None
    assert request.headers["traceparent"] == traceparent_of(span)


def test_propagation_can_be_turned_off(spans: Traced) -> None:
    with MockTaptiServer(api_key=KEY) as server:
        with (
            spans.tracer.start_as_current_span("handler"),
            _client(server, propagate_trace_context=False) as tapti,
        ):
            tapti.user(USER).create_sdk_token(**CALL)
        (request,) = server.requests
    assert "traceparent" not in request.headers
    assert the_call_span(spans).name == f"POST {TEMPLATE}"  # still traced


def test_only_the_w3c_trace_context_goes_to_the_api_never_the_programs_baggage(
    spans: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Baggage carries what a program meant for its own services (an e-mail, a session id);
    the API is another party's. Neither it nor the program's other propagators reach it."""
    from opentelemetry import baggage, propagate  # noqa: PLC0415
    from opentelemetry.baggage.propagation import W3CBaggagePropagator  # noqa: PLC0415
    from opentelemetry.propagators.composite import CompositePropagator  # noqa: PLC0415
    from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
        TraceContextTextMapPropagator,
    )

    everything = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    monkeypatch.setattr(propagate, "get_global_textmap", lambda: everything)
    token = otel_context.attach(baggage.set_baggage("user.email", "alice@corp.example"))
    try:
        with MockTaptiServer(api_key=KEY) as server:
            with spans.tracer.start_as_current_span("handler"):
                wrapper_sync(server)
            (request,) = server.requests
    finally:
        otel_context.detach(token)
    assert request.headers["traceparent"] == traceparent_of(the_call_span(spans))
    assert "baggage" not in request.headers
    assert "alice" not in str(request.headers)


def test_a_raw_path_with_text_of_its_own_before_the_template_shows_no_path(
    spans: Traced,
) -> None:
    """A span shows the base URL's path and a spec template, never what a raw request put
    before the template: that text could be a user id."""
    with MockTaptiServer(api_key=KEY) as server:
        base_url = f"{server.url}/v1"
        with Tapti(api_key=KEY, base_url=base_url, allow_insecure_http=True) as tapti:
            with contextlib.suppress(TaptiError):  # the mock serves no /v1
                tapti.user(USER).create_sdk_token(**CALL)
            raw = tapti.raw.get_httpx_client()
            with contextlib.suppress(TaptiError):
                raw.post("/user-7731/users/u1/sdk-token", json=BODY.to_dict())
    assert [span.name for span in spans.exporter.get_finished_spans()] == [
        f"POST /v1{TEMPLATE}",
        "POST",
    ]
    assert_secret_free(spans, "user-7731")


def test_a_callers_http_client_sends_the_trace_and_never_traces_the_key(
    spans: Traced,
) -> None:
    with MockTaptiServer(api_key=KEY) as server, httpx2.Client() as http:
        tapti = _client(server, http_client=http)
        with spans.tracer.start_as_current_span("handler"):
            tapti.user(USER).create_sdk_token(**CALL)
        (request,) = server.requests
    span = the_call_span(spans)
    assert request.headers["traceparent"] == traceparent_of(span)
    assert_secret_free(spans, *server.issued_tokens)


def test_a_refused_status_is_the_error_type_and_is_not_resent(
    spans: Traced,
) -> None:
    with MockTaptiServer(api_key="another-key") as server, _client(server) as tapti:
        with pytest.raises(AuthenticationError):
            tapti.user(USER).create_sdk_token(**CALL)
        (request,) = server.requests
        port = server.port
    span = the_call_span(spans)
    assert dict(span.attributes or {}) == expected_attributes(
        port,
        **{
            "http.response.status_code": 401,
            "error.type": "401",
            "tapti.request_id": request.request_id,
        },
    )
    assert span.status.status_code is StatusCode.ERROR
    assert_secret_free(spans)


# --- retries and failures, on a raw socket server -------------------------------------------


class ScriptedServer:
    """An HTTP/1.1 server on 127.0.0.1 answering each request (one per connection) with the
    next step: a status code, bytes to send as they are, or ``None`` to close the connection
    without an answer."""

    def __init__(self, *steps: int | bytes | None) -> None:
        self.steps = list(steps)
        self.headers: list[dict[str, str]] = []  # each request's, as received
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):  # ends an accept still waiting
            self._listener.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self._listener.close()

    def _serve(self) -> None:
        for step in self.steps:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection, connection.makefile("rb") as reader:
                self.headers.append(_read_headers(reader))
                if isinstance(step, bytes):
                    connection.sendall(step)
                elif step is not None:
                    connection.sendall(_answer(step, f"raw-{len(self.headers)}"))


def _read_headers(reader: Any) -> dict[str, str]:
    reader.readline()
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    reader.read(int(headers.get("content-length", "0")))
    return headers


def _answer(status: int, request_id: str) -> bytes:
    body = json.dumps(
        portal_body(f"https://oauth.tapti.dev?sdk_token={RAW_TOKEN}")
        if status == 200
        else {"message": "unavailable"}
    ).encode()
    head = (
        f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def test_a_retried_call_is_one_span_with_its_resend_count(
    spans: Traced, slept: list[float]
) -> None:
    with ScriptedServer(503, 503, 200) as server, _client(server) as tapti:
        tapti.user(USER).create_sdk_token(**CALL)
    span = the_call_span(spans)
    assert dict(span.attributes or {}) == expected_attributes(
        server.port,
        **{
            "http.request.resend_count": 2,
            "http.response.status_code": 200,
            "tapti.request_id": "raw-3",
        },
    )
    assert len(slept) == 2
    # Every attempt carried the same trace context: the one span's.
    assert [h["traceparent"] for h in server.headers] == [traceparent_of(span)] * 3
    assert_secret_free(spans, RAW_TOKEN)


def test_a_status_still_failing_after_retries_is_the_error_type(
    spans: Traced, async_slept: list[float]
) -> None:
    async def run(server: ScriptedServer) -> None:
        async with _async_client(server, max_retries=1) as tapti:
            await tapti.user(USER).create_sdk_token(**CALL)

    with ScriptedServer(503, 503) as server, pytest.raises(InternalServerError):
        asyncio.run(run(server))
    span = the_call_span(spans)
    assert dict(span.attributes or {}) == expected_attributes(
        server.port,
        **{
            "http.request.resend_count": 1,
            "http.response.status_code": 503,
            "error.type": "503",
            "tapti.request_id": "raw-2",
        },
    )
    assert span.status.status_code is StatusCode.ERROR


def test_a_connection_error_is_the_error_type(spans: Traced, slept: list[float]) -> None:
    with (
        ScriptedServer(503, None, None) as server,
        _client(server) as tapti,
        pytest.raises(APIConnectionError),
    ):
        tapti.user(USER).create_sdk_token(**CALL)
    span = the_call_span(spans)
    # The last attempt got no status: no status code, and the error is the class raised.
    attributes = expected_attributes(
        server.port, **{"http.request.resend_count": 2, "error.type": "APIConnectionError"}
    )
    del attributes["network.protocol.version"]
    assert dict(span.attributes or {}) == attributes
    assert span.status.status_code is StatusCode.ERROR
    assert len(server.headers) == 3


def test_an_answer_without_a_status_line_has_no_status_on_the_span(spans: Traced) -> None:
    """The error keeps a stand-in 200 for an answer that may be a success: the span said the
    server answered 200 (probe 21b), and a dashboard counted the failure as one."""
    with (
        ScriptedServer(b"\x1b[31mNOT HTTP AT ALL\r\n\r\n") as server,
        _client(server) as tapti,
        pytest.raises(APIResponseValidationError),
    ):
        tapti.user(USER).create_sdk_token(**CALL)
    attributes = dict(the_call_span(spans).attributes or {})
    assert attributes["error.type"] == "APIResponseValidationError"
    assert "http.response.status_code" not in attributes
    assert "network.protocol.version" not in attributes


def test_a_refused_connection_is_the_error_type(spans: Traced, unused_port: int) -> None:
    tapti = Tapti(
        api_key=KEY,
        base_url=f"http://127.0.0.1:{unused_port}",
        max_retries=0,
        allow_insecure_http=True,
    )
    with tapti, pytest.raises(APIConnectionError):
        tapti.user(USER).create_sdk_token(**CALL)
    attributes = the_call_span(spans).attributes or {}
    assert attributes["error.type"] == "APIConnectionError"
    assert attributes["server.port"] == unused_port
    assert "http.response.status_code" not in attributes


# --- without a recording span ---------------------------------------------------------------


def test_without_an_sdk_nothing_is_recorded_but_a_callers_trace_is_passed_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OpenTelemetry's API alone (no SDK): spans record nothing and cost little; an incoming
    trace context, as a web framework's instrumentation would set, still reaches the API."""
    from tapti_ext import _tracing  # noqa: PLC0415

    monkeypatch.setattr(_tracing, "_TRACER", trace.NoOpTracer())
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with MockTaptiServer(api_key=KEY) as server, _client(server) as tapti:
        tapti.user(USER).create_sdk_token(**CALL)  # no trace: nothing to send
        token = otel_context.attach(extract({"traceparent": incoming}))
        try:
            tapti.user(USER).create_sdk_token(**CALL)
        finally:
            otel_context.detach(token)
        first, second = server.requests
    assert "traceparent" not in first.headers
    assert second.headers["traceparent"] == incoming


def _template(method: str, path: str) -> str | None:
    return spec_facts(method, path)[1]


def test_url_template_keeps_the_base_path_and_hides_the_id() -> None:
    assert _template("POST", "/users/u-1/sdk-token") == TEMPLATE
    assert _template("POST", "/tapti/v1/users/u-1/sdk-token") == f"/tapti/v1{TEMPLATE}"
    assert _template("GET", "/users/u-1/sdk-token") is None  # no such operation
    assert _template("POST", "/users/u-1") is None
    # The path as sent: an escaped "/" stays inside the id's segment, escapes stay as they are.
    assert _template("POST", "/users/a%2Fb/sdk-token") == TEMPLATE
    assert _template("POST", "/%C3%A9/v1/users/u-1/sdk-token") == f"/%C3%A9/v1{TEMPLATE}"


# --- process-wide: the global provider, and no OpenTelemetry at all ----------------------------


def run_python(*parts: str) -> Any:
    """What a Python program made of ``parts`` prints last, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", "\n".join(textwrap.dedent(part) for part in parts)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


_CALLS = """
    import asyncio
    from tapti_api_client.api.users import create_sdk_token as op
    from tapti_api_client.models.create_sdk_token_request import CreateSdkTokenRequest
    from tapti_ext import AsyncTapti, Tapti
    from tapti_ext.testing import MockTaptiServer

    CALL = dict(platforms="youtube", scopes="profile_read", callback_url="https://a.example/c",
                redirect_url="https://a.example/d")
    BODY = CreateSdkTokenRequest.from_dict({"user_platforms": ["YOUTUBE"],
        "enabled_scopes": ["PROFILE_READ"], "callback_url": "https://a.example/c",
        "redirect_url": "https://a.example/d"})

    def calls(server, before_calls=lambda: None):
        options = dict(api_key="k", base_url=server.url, allow_insecure_http=True)
        with Tapti(**options) as tapti:
            before_calls()
            tapti.user("u1").create_sdk_token(**CALL)
            tapti.call(op, "u1", body=BODY)
            op.sync_detailed("u1", client=tapti.raw, body=BODY)

        async def main():
            async with AsyncTapti(**options) as tapti:
                await tapti.user("u1").create_sdk_token(**CALL)
                await tapti.call(op, "u1", body=BODY)
                await op.asyncio_detailed("u1", client=tapti.raw, body=BODY)

        asyncio.run(main())
"""


def test_without_opentelemetry_nothing_of_it_is_imported() -> None:
    """A program that never imports OpenTelemetry: no import attempt of it, no module of the
    SDK's for it, no trace context sent, whichever door the calls take."""
    found = run_python(
        """
        import importlib.abc, json, sys

        attempts = []

        class NoOpenTelemetry(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "opentelemetry":
                    attempts.append(name)
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoOpenTelemetry())
        """,
        _CALLS,
        """
        with MockTaptiServer(api_key="k") as server:
            calls(server)
            sent = [r.headers.get("traceparent") for r in server.requests]
        loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "tapti_ext._tr")))
        print(json.dumps({"attempts": attempts, "loaded": loaded, "sent": sent}))
        """,
    )
    assert found == {
        "attempts": [],
        "loaded": [],
        "sent": [None] * 6,
    }


@pytest.mark.parametrize(
    ("setup", "environment"),
    [
        # A test suite hiding OpenTelemetry the usual way.
        ('sys.modules["opentelemetry.trace"] = None', {}),
        # An OpenTelemetry that cannot be loaded (a part of it missing).
        (
            "import opentelemetry.trace\n"
            'sys.modules["opentelemetry.trace.propagation.tracecontext"] = None',
            {},
        ),
        # A propagator named in the environment that is not installed: the program's own
        # propagators are never read.
        ("import opentelemetry.trace", {"OTEL_PROPAGATORS": "tracecontext,b3"}),
    ],
    ids=["hidden", "unloadable", "unknown-propagator"],
)
def test_an_opentelemetry_that_cannot_be_used_never_fails_a_call(
    setup: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    found = run_python(
        "import json, logging, sys",
        setup,
        _CALLS,
        """
        records = []
        logging.getLogger("tapti_ext").addHandler(logging.Handler())
        logging.getLogger("tapti_ext").handlers[-1].emit = records.append
        with MockTaptiServer(api_key="k") as server:
            calls(server)
            sent = len(server.requests)
        warned = [r.getMessage() for r in records if r.levelname == "WARNING"]
        print(json.dumps({"sent": sent, "warned": warned}))
        """,
    )
    unloadable = "propagation.tracecontext" in setup
    assert found == {
        "sent": 6,  # every call got its token, through every door
        "warned": ["tracing is off: OpenTelemetry cannot be loaded"] if unloadable else [],
    }


def test_the_process_wide_provider_traces_calls_even_when_set_after_the_client() -> None:
    found = run_python(
        _CALLS,
        """
        import json, sys
        imported_first = "opentelemetry" in sys.modules
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()

        def configure():
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)

        with MockTaptiServer(api_key="k") as server:
            calls(server, before_calls=configure)
            sent = [r.headers.get("traceparent") for r in server.requests]
        spans = exporter.get_finished_spans()
        print(json.dumps({
            "imported_first": imported_first,
            "names": [s.name for s in spans],
            "sent": [p.split("-")[1:3] == [f"{s.context.trace_id:032x}",
                                           f"{s.context.span_id:016x}"]
                     for p, s in zip(sent, spans, strict=True)],
        }))
        """,
    )
    assert found == {
        "imported_first": False,  # neither importing tapti_ext nor making a client does
        "names": [f"POST {TEMPLATE}"] * 6,
        "sent": [True] * 6,
    }


def test_a_client_made_before_the_program_imports_opentelemetry_traces_later_calls() -> None:
    """Tracing follows the program, call by call: a client made at start-up, before tracing
    is set up, traces the calls made after it."""
    found = run_python(
        _CALLS,
        """
        import json, sys

        with MockTaptiServer(api_key="k") as server:
            options = dict(api_key="k", base_url=server.url, allow_insecure_http=True)
            with Tapti(**options) as tapti:
                tapti.user("u1").create_sdk_token(**CALL)
                untouched = not any(m.startswith("opentelemetry") for m in sys.modules)
                from opentelemetry import trace
                from opentelemetry.sdk.trace import TracerProvider
                from opentelemetry.sdk.trace.export import SimpleSpanProcessor
                from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                    InMemorySpanExporter,
                )

                exporter = InMemorySpanExporter()
                provider = TracerProvider()
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(provider)
                tapti.user("u2").create_sdk_token(**CALL)
            sent = [r.headers.get("traceparent") is not None for r in server.requests]
        spans = len(exporter.get_finished_spans())
        print(json.dumps({"untouched": untouched, "spans": spans, "sent": sent}))
        """,
    )
    # The SDK imported nothing of OpenTelemetry before the program did.
    assert found == {"untouched": True, "spans": 1, "sent": [False, True]}


class _BrokenPropagator:
    """A vendor propagator with a bug: its ``inject`` raises."""

    fields: frozenset[str] = frozenset()

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        return context

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        raise RuntimeError("propagator bug")


class _RaisingProcessor(SpanProcessor):
    """A vendor span processor (or a synchronous exporter behind one) with a bug."""

    def __init__(self, when: str) -> None:
        self.when = when

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.when == "start":
            raise RuntimeError("processor bug at the start")

    def on_end(self, span: ReadableSpan) -> None:
        if self.when == "end":
            raise RuntimeError("exporter bug at the end")


@pytest.mark.parametrize("when", ["start", "end"])
@pytest.mark.parametrize("run", [wrapper_sync, wrapper_async], ids=["sync", "async"])
def test_a_span_processor_that_raises_never_fails_the_call(
    spans: Traced, when: str, run: Callable[[Any], None]
) -> None:
    """The token exists once the answer came: a processor raising as the span ends must not
    take it from the caller (a retry by the caller would make a second one)."""
    spans.provider.add_span_processor(_RaisingProcessor(when))
    with MockTaptiServer(api_key=KEY) as server:
        run(server)  # raises if the call failed
        assert len(server.requests) == 1


class _BrokenTracer:
    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")


@pytest.mark.parametrize("run", [wrapper_sync, wrapper_async], ids=["sync", "async"])
def test_a_broken_propagator_or_tracer_never_fails_the_call(
    spans: Traced, monkeypatch: pytest.MonkeyPatch, run: Callable[[Any], None]
) -> None:
    from tapti_ext import _tracing  # noqa: PLC0415

    monkeypatch.setattr(_tracing, "_PROPAGATOR", _BrokenPropagator())
    with MockTaptiServer(api_key=KEY) as server:
        run(server)  # the token is created: telemetry is no reason to fail a call
        assert len(server.requests) == 1
    assert the_call_span(spans).end_time is not None  # started, and ended
    monkeypatch.setattr(_tracing, "_TRACER", _BrokenTracer())
    with MockTaptiServer(api_key=KEY) as server:
        run(server)
        assert len(server.requests) == 1
