"""One OpenTelemetry client span per API call, read only where the program uses OpenTelemetry.

The pipeline starts a call's span (``start``), tells it of each attempt
(``span.attempt(retries)``) and ends it with the call's response or the exception it raises
(``span.end(outcome)``). Retries stay inside the one span: a traced backend sees one call of
the API, whose ``http.request.resend_count`` says how often it was re-sent.

The span is a CLIENT span in the caller's current trace, made current while the call runs (so
that the SDK's log lines and a caller's own instrumented ``http_client`` nest in it). Without
an OpenTelemetry SDK configured the API hands out non-recording spans: nothing is recorded,
and the caller's trace context, if any, is still passed on.

Names and attributes follow OpenTelemetry's semantic conventions for HTTP client spans, with
one deliberate gap: no ``url.full``, as the path holds the caller's user id. The path appears
only as the spec's template (``url.template``); the key, tokens and bodies never reach a span,
as nothing here reads a header or a body.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import httpx2
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import __version__
from ._call import DEFAULT_PORTS, STAND_IN, Answer, log
from ._errors import ResponseError, request_id_of
from ._names import OPERATIONS
from ._pipeline import NO_SPAN

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context

    from ._call import Call
    from ._pipeline import Origin, Span

__all__ = ["start"]

# The logger's name too: one name to filter the SDK's telemetry by.
_TRACER: Final = trace.get_tracer("tapti_ext", __version__)
# What goes to the API: the W3C trace context (traceparent, tracestate), never the program's
# other propagators: its baggage holds what it meant for its own services (an e-mail, a
# tenant), and the API is another party's.
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_SPEC_TEMPLATES: Final = frozenset(template for _, template, _ in OPERATIONS)
# Methods the conventions name; any other is reported as "_OTHER" (a method is no free text).
_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)


class _OtelSpan:
    """One call's span, current from ``start`` until ``end``."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span, token: Token[Context]) -> None:
        self._span, self._token = span, token

    def attempt(self, retries: int) -> None:
        if retries:
            try:
                self._span.set_attribute("http.request.resend_count", retries)
            except Exception:  # a span implementation's bug: the attempt goes on
                log.debug("tracing: the resend count could not be set", exc_info=True)

    def end(self, outcome: Answer | BaseException) -> None:
        try:
            self._finish(outcome)
        except Exception:  # a span processor's or exporter's bug: the call is over already
            log.debug("tracing: the span could not be ended", exc_info=True)

    def _finish(self, outcome: Answer | BaseException) -> None:
        span = self._span
        try:
            if span.is_recording():
                attributes, failed = _attributes_at_end(outcome)
                span.set_attributes(attributes)
                if failed:
                    span.set_status(Status(StatusCode.ERROR))
        finally:
            otel_context.detach(self._token)
            span.end()  # span processors run here, exporters too when they are synchronous


def start(call: Call[Any], origin: Origin, *, propagate: bool) -> Span:
    """A span for ``call`` (see ``_pipeline._start_span``), current until it ends.

    A span that records nothing (no OpenTelemetry SDK configured, or not sampled) is not made
    current and gets nothing at its end; the trace context is still sent. Telemetry never
    fails a call: a tracer or propagator that raises costs the call its span or its
    ``traceparent``, not its token.
    """
    try:
        return _started(call, origin, propagate=propagate)
    except Exception:  # a tracer provider's or span processor's bug
        log.debug("tracing: no span for this call", exc_info=True)
        return NO_SPAN


def _started(call: Call[Any], origin: Origin, *, propagate: bool) -> Span:
    name, attributes = _at_start(call.method, origin, _shown(call.template, origin[3]))
    span = _TRACER.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    if not span.is_recording():
        if propagate:
            _pass_on(span, call)
        return NO_SPAN
    current = trace.set_span_in_context(span)
    if propagate:
        # Into the request's headers, which never hold the key on the SDK's own pool (it is
        # added below httpx2); a caller's client gets the key on the request only later.
        _inject(call.headers, current)
    return _OtelSpan(span, otel_context.attach(current))


def _pass_on(span: trace.Span, call: Call[Any]) -> None:
    """Send the context of a span that records nothing: its own (unsampled by an SDK), else
    the caller's (older APIs' no-op spans carry none); nothing, cheaply, without a trace (the
    call's ``httpx2.Headers`` is not even made)."""
    if span.get_span_context().is_valid:
        _inject(call.headers, trace.set_span_in_context(span))
    elif trace.get_current_span().get_span_context().is_valid:
        _inject(call.headers, None)


def _inject(headers: httpx2.Headers, context: Context | None) -> None:
    try:
        _PROPAGATOR.inject(headers, context=context)
    except Exception:  # a propagator's bug: the call goes without its trace context
        log.debug("tracing: the trace context could not be sent", exc_info=True)


def _shown(template: str | None, base_path: str) -> str | None:
    """The template a span may show: the base URL's path, then one of the spec's templates.
    A request through ``tapti.raw`` may put text of its own before the template (a user id):
    then the span shows no path at all."""
    if template is None or not template.startswith(base_path):
        return None
    return template if template[len(base_path) :] in _SPEC_TEMPLATES else None


@lru_cache(maxsize=64)
def _at_start(method: str, origin: Origin, template: str | None) -> tuple[str, dict[str, Any]]:
    """The span's name and what is known before sending (which samplers see too): the same
    for every call of an operation. The dict is shared: OpenTelemetry copies what it gets."""
    known = method in _METHODS
    scheme, host, port, _ = origin
    attributes: dict[str, Any] = {
        "http.request.method": method if known else "_OTHER",
        "server.address": host.decode("ascii"),
        "server.port": port or DEFAULT_PORTS.get(scheme.decode("ascii"), 0),
    }
    if not known:
        attributes["http.request.method_original"] = method
    if template is not None:
        attributes["url.template"] = template
    name = method if known else "HTTP"
    return (f"{name} {template}" if template else name), attributes


def _attributes_at_end(outcome: Answer | BaseException) -> tuple[dict[str, Any], bool]:
    """What the outcome adds to the span, and whether the call failed."""
    attributes: dict[str, Any] = {}
    response = outcome.response if isinstance(outcome, ResponseError) else outcome
    if isinstance(response, Answer):
        response = response.response()
    status = None
    if isinstance(response, httpx2.Response) and not response.extensions.get(STAND_IN):
        status = response.status_code
        attributes["http.response.status_code"] = status
        version = response.http_version.partition("/")[2]
        if version:
            attributes["network.protocol.version"] = version
        request_id = request_id_of(response.headers)
        if request_id:
            attributes["tapti.request_id"] = request_id
    if not isinstance(outcome, BaseException):
        return attributes, False
    # The status is the error's type when the server gave one; otherwise the class raised.
    failed_status = status is not None and status >= 400
    attributes["error.type"] = str(status) if failed_status else type(outcome).__qualname__
    return attributes, True
