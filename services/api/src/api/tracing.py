"""The server span of each HTTP request, when tracing is on (:mod:`shared.tracing`).

Installed only when the ``OTEL_*`` environment asks for traces, so with tracing off a
request never enters this module. The span continues the caller's trace when the
request carries a W3C ``traceparent``; it is named ``METHOD /route/{template}`` once
Litestar has routed the request (the raw path stays an attribute), and it is the
current span while the handler runs, so a job the handler requests stores it
(:func:`shared.tracing.current_traceparent`).

Most requests are not sampled (a 1% sampler drops 99 in 100), so the dropped ones take
the short way. A request without trace context gets its span from
:func:`shared.tracing.start_root_span` (a ratio sampler's drop made without the SDK's
round trip); one with context from the SDK, whose sampler follows the caller's
decision. A dropped span is non-recording: it holds only its context (trace id, span
id, sampled flag off). It is made current with one context attach and detach, so the
request's log lines and the job it asks for still carry its ``traceparent`` (the job's
span is then dropped too, as its parent was), and nothing else is done for it: no
context-manager machinery, no names or attributes set on a span that keeps none. A
recorded span takes the SDK's own ``use_span``, which also records an exception
escaping the application.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from api.request_context import response_status
from shared.tracing import start_root_span, tracer

_PROPAGATOR = TraceContextTextMapPropagator()
_CONTEXT_HEADERS = (b"traceparent", b"tracestate")


class Tracing:
    """ASGI middleware: one SERVER span per HTTP request."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        carrier: dict[str, str] | None = None
        for key, value in scope["headers"]:
            if key in _CONTEXT_HEADERS:
                carrier = carrier or {}
                carrier[key.decode("latin-1")] = value.decode("latin-1")
        method = scope["method"]
        attributes = {"http.request.method": method, "url.path": scope["path"]}
        if carrier:
            context = _PROPAGATOR.extract(carrier)
            span = tracer().start_span(method, context=context, kind=SpanKind.SERVER, attributes=attributes)
        else:
            span = start_root_span(method, SpanKind.SERVER, attributes)
        if not span.is_recording():
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        with trace.use_span(span, end_on_exit=True):
            try:
                await self.app(scope, receive, send)
            finally:
                route = scope.get("path_template")
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                status = response_status(scope)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
