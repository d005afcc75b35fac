"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` variables and nothing else.

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``, or both,
comma-separated; ``none`` or unset: off; ``OTEL_SDK_DISABLED=true`` wins). Off means off:
the SDK is not imported, no middleware is installed, and each call here returns at its
first test, so a deployment without tracing pays nothing for it. Everything else is the
SDK's own reading of the environment: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (the resource), ``OTEL_TRACES_SAMPLER`` and
``OTEL_TRACES_SAMPLER_ARG`` (default ``parentbased_always_on``), and the OTLP exporter's
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``_HEADERS`` (HTTP/protobuf, port 4318).

A request that brings no trace context and that a trace-id-ratio sampler drops (99 in
100 at 1%, ``traceidratio`` or ``parentbased_traceidratio``) gets its span from
:func:`start_root_span` without the SDK's round trip: that sampler's decision for a span
with no parent is a comparison of the trace id with a bound, made here with the
sampler's own bound on a trace id drawn as the SDK's id generator draws it, and the span
it would give back is a non-recording one (trace id, span id, sampled flag off). Most of
those spans are never asked for their ids (no log line, no job), so the span's context
and its span id are made only when something asks (:func:`_dropped_span_class`). A
trace id the sampler keeps is handed to the SDK (the provider's id generator gives it
out next), so the SDK samples the very same id and records the span as it always did.

Through the outbox: the API stores the W3C ``traceparent`` of the request's span on
the job row it writes (:func:`current_traceparent`, in the same transaction), and the
worker's span for the job (:func:`job_span`) is that span's child on the job's first
attempt. A retry or a re-delivery starts a trace of its own with a *link* to the
request's span instead: a child would stretch the request's trace over minutes of
backoff and make one request look like it ran the job several times.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from random import getrandbits
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from shared import logging as shared_logging

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import Span, SpanKind, Tracer
    from opentelemetry.util.types import Attributes

EXPORTERS: Final = ("otlp", "console")
_tracer: Tracer | None = None
_ids: _Ids | None = None
# For a span with no parent: the ratio sampler's bound on the trace id's low 64 bits, and
# the flags of a span it drops; None when the sampler is of another kind.
_root_bound: int | None = None
_dropped_span: Callable[[int], Span] | None = None  # trace id -> the span the SDK would make
_no_parent: Context | None = None
_TRACE_ID_LIMIT: Final = (1 << 64) - 1  # the bits TraceIdRatioBased compares


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    return any(n != "none" for n in names)


def enabled() -> bool:
    return _tracer is not None


def configure_tracing(default_service_name: str) -> bool:
    """Set up the SDK from the environment if it asks for traces; idempotent. True if on.

    ``default_service_name`` is used when ``OTEL_SERVICE_NAME`` is unset, so the API's and
    the worker's spans are told apart without configuration.
    """
    global _tracer
    if _tracer is not None:
        return True
    if not tracing_requested():
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    attributes: dict[str, Any] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = default_service_name
    ids = _preset_ids()
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=ids)  # sampler: OTEL_TRACES_SAMPLER
    for name in {n.strip().lower() for n in os.environ["OTEL_TRACES_EXPORTER"].split(",")}:
        if name == "console":
            # One span per line (the SDK's default indents each over many lines), written
            # as the span ends: a developer's view, and easy for a tool to read back.
            console = ConsoleSpanExporter(out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n")
            provider.add_span_processor(SimpleSpanProcessor(console))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name not in ("", "none"):
            raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of {', '.join(EXPORTERS)} or none")
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("wadah")
    _know_the_root_sampler(provider.sampler, cast("_Ids", ids))
    shared_logging.trace_ids = _current_ids
    return True


class _Ids(Protocol):
    """What :func:`start_root_span` asks of the provider's id generator (:func:`_preset_ids`)."""

    def generate_span_id(self) -> int: ...
    def is_trace_id_random(self) -> bool: ...
    def preset(self, trace_id: int) -> None: ...


def _preset_ids() -> IdGenerator:
    """The SDK's random ids, except that a trace id set with ``preset`` is the next one given out.

    :func:`start_root_span` presets an id and starts the span in one synchronous call, on
    the thread that starts spans (the event loop's), so no other span takes it.

    Defined here, not at the top, so that the SDK is imported only when tracing is on.
    """
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class PresetIds(RandomIdGenerator):
        def __init__(self) -> None:
            self._next: int | None = None

        def preset(self, trace_id: int) -> None:
            self._next = trace_id

        def generate_trace_id(self) -> int:
            preset, self._next = self._next, None
            return preset if preset is not None else super().generate_trace_id()

    return PresetIds()


def _know_the_root_sampler(sampler: object, ids: _Ids) -> None:
    """Note the bound of a trace-id-ratio sampler (alone or as a parent-based one's root)."""
    global _ids, _root_bound, _dropped_span, _no_parent
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, TraceIdRatioBased
    from opentelemetry.trace import TraceFlags

    _ids, _no_parent = ids, Context()
    # ParentBased keeps its root sampler in ``_root`` (there is no public accessor): were a
    # later SDK to move it, no bound is found here and every span takes the SDK's path.
    root = getattr(sampler, "_root", None) if type(sampler) is ParentBasedTraceIdRatio else sampler
    if type(root) is not TraceIdRatioBased:  # any other sampler decides every span itself
        return
    # As the SDK's Tracer.start_span makes a span its sampler drops: not sampled, no trace state.
    flags = TraceFlags(TraceFlags.DEFAULT | (TraceFlags.RANDOM_TRACE_ID if ids.is_trace_id_random() else 0))
    _root_bound, _dropped_span = root.bound, _dropped_span_class(flags, ids.generate_span_id)


def _dropped_span_class(flags: int, span_ids: Callable[[], int]) -> Callable[[int], Span]:
    """The non-recording span of a dropped root, whose context is made when first asked for.

    The SDK would build a ``SpanContext`` and draw a span id for every dropped span; that
    is most of what a dropped request costs, and nearly all of them are never asked (only
    a log line or a job of the request asks). Defined here so the API is imported only
    when tracing is on.
    """
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    trace_flags = TraceFlags(flags)

    class DroppedSpan(NonRecordingSpan):
        __slots__ = ("_made", "_trace_id")

        def __init__(self, trace_id: int) -> None:
            self._trace_id = trace_id
            self._made: SpanContext | None = None

        def get_span_context(self) -> SpanContext:
            made = self._made
            if made is None:
                made = self._made = SpanContext(self._trace_id, span_ids(), is_remote=False, trace_flags=trace_flags)
            return made

        def __repr__(self) -> str:
            return f"NonRecordingSpan({self.get_span_context()!r})"

    return DroppedSpan


def _new_trace_id() -> int:
    """A trace id as the SDK's ``RandomIdGenerator`` draws it (128 random bits, never 0)."""
    trace_id = getrandbits(128)
    while not trace_id:
        trace_id = getrandbits(128)
    return trace_id


def start_root_span(name: str, kind: SpanKind, attributes: Attributes) -> Span:
    """A span with no parent, as ``tracer().start_span`` starts it; a dropped one without the SDK's work."""
    assert _tracer is not None and _ids is not None, "configure_tracing() first"
    if _root_bound is None or _dropped_span is None:
        return _tracer.start_span(name, context=_no_parent, kind=kind, attributes=attributes)
    trace_id = _new_trace_id()
    if trace_id & _TRACE_ID_LIMIT < _root_bound:  # kept: the SDK samples this same id, and records it
        _ids.preset(trace_id)
        return _tracer.start_span(name, context=_no_parent, kind=kind, attributes=attributes)
    return _dropped_span(trace_id)


def shutdown_tracing() -> None:
    """Export what is still buffered (at process exit)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


def tracer() -> Tracer:
    assert _tracer is not None, "configure_tracing() first"
    return _tracer


def _current_ids() -> tuple[str, str] | None:
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, for a job row; None when tracing is off."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def job_span(kind: str, job_id: str, traceparent: str | None, attempt: int) -> Iterator[Span | None]:
    """The worker's span for one attempt of a job (None when tracing is off).

    Attempt 1 is a child of the request that wrote the row; later attempts (retries,
    re-deliveries after a crash or shutdown) start their own trace linked to it.
    """
    if _tracer is None:
        yield None
        return
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    origin = TraceContextTextMapPropagator().extract({"traceparent": traceparent}) if traceparent else None
    origin_span = trace.get_current_span(origin).get_span_context() if origin is not None else None
    attributes: dict[str, str | int] = {"wadah.job.id": job_id, "wadah.job.kind": kind, "wadah.job.attempt": attempt}
    if origin_span is not None and origin_span.is_valid and attempt <= 1:
        parent, links = origin, []
    else:
        parent = otel_context.Context()  # a new root: no span of this process is its parent
        links = [Link(origin_span)] if origin_span is not None and origin_span.is_valid else []
    with _tracer.start_as_current_span(
        kind, context=parent, kind=SpanKind.CONSUMER, attributes=attributes, links=links
    ) as span:
        yield span
