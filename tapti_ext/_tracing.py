"""One OpenTelemetry client span per API call, when ``opentelemetry-api`` is installed.

The pipeline asks its ``span_starter()`` for a span at the start of each call, tells it
of each attempt (``span.attempt(retries)``) and ends it with the call's response or the
exception it raises (``span.end(outcome)``). Retries stay inside the one span: a traced backend
sees one call of the API, whose ``http.request.resend_count`` says how often it was re-sent.

Whether OpenTelemetry is there is decided once per process, by one import attempt when the
first client is made (not at ``import tapti_ext``: it costs tens of milliseconds, which a
program that never makes a client should not pay). Without it, every call gets one shared span
whose methods do nothing, and nothing of OpenTelemetry is imported.

Names and attributes follow OpenTelemetry's semantic conventions for HTTP client spans, with
one deliberate gap: no ``url.full``, as the path holds the caller's user id. The path appears
only as the spec's template (``url.template``); the key, tokens and bodies never reach a span,
as nothing here reads a header or a body.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:  # types only: a Protocol class costs ~15 µs to create at import
    from ._call import Answer, Call

    class Span(Protocol):
        """What the pipeline tells the span of one call."""

        def attempt(self, retries: int) -> None:
            """An attempt is about to be sent; ``retries`` were sent before it."""

        def end(self, outcome: Answer | BaseException) -> None:
            """The call is over: this is its response, or what it raises."""

    # The API's raw scheme, host and port (``httpx2.URL.raw_scheme``, ``raw_host``, ``port``):
    # every request of a client goes to this one origin, so its span attributes are known once.
    Origin = tuple[bytes, bytes, int | None]

    class SpanStarter(Protocol):
        def __call__(self, call: Call[Any], origin: Origin, *, propagate: bool) -> Span: ...


__all__ = ["span_starter"]


class _NoSpan:
    """The span of every call when OpenTelemetry is not installed."""

    __slots__ = ()

    def attempt(self, retries: int) -> None:
        pass

    def end(self, outcome: Answer | BaseException) -> None:
        pass


_NO_SPAN: Final = _NoSpan()


def _no_span(call: Call[Any], origin: Origin, *, propagate: bool) -> Span:  # noqa: ARG001
    return _NO_SPAN


@cache
def span_starter() -> SpanStarter:
    """Where every call's span comes from: chosen once per process, by one import attempt.

    The starter takes the call and ``propagate``: whether to send the trace context (W3C
    ``traceparent``, through OpenTelemetry's configured propagators) in its request headers.
    """
    try:
        # OpenTelemetry's own module first: where it is absent, the SDK's module for it is
        # never read either (0.3 ms of a cold start).
        import opentelemetry.trace  # noqa: F401, PLC0415  (the one attempt)

        from ._tracing_otel import start  # noqa: PLC0415
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "opentelemetry":
            raise  # the SDK's own bug, not an absent extra: never hidden
        return _no_span
    return start
