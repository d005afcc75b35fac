"""Tracing is configured by the OTEL_* environment only, and costs nothing when it is off."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from shared.tracing import tracing_requested


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": ""}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_SERVICE_NAME": "wadah-api", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
    ],
)
def test_only_an_exporter_turns_tracing_on(environ: dict[str, str], on: bool) -> None:
    assert tracing_requested(environ) is on


PROBE = """
import sys
from api.app import create_app
from shared.job_queue import JobQueue
from shared.tracing import current_traceparent
app = create_app()
loaded = ("opentelemetry.sdk", "opentelemetry.trace", "opentelemetry.exporter", "api.tracing")
print(current_traceparent(), sorted(m for m in sys.modules if m.startswith(loaded)))
"""


@pytest.mark.process
def test_with_tracing_off_the_sdk_is_never_imported() -> None:
    """Litestar itself imports the bare ``opentelemetry`` package to see if it is there; nothing more loads."""
    env = {"PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": "wadah-api"}
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "None []", probe.stdout + probe.stderr


@pytest.mark.process
def test_an_unknown_exporter_is_refused_at_start() -> None:
    env = {"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "jaeger"}
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "OTEL_TRACES_EXPORTER: 'jaeger'" in probe.stderr


ROOT_SPANS = """
import random
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanKind
from shared import tracing
assert tracing.configure_tracing("probe")
kept = 0
for seed in range(4000):
    # What the SDK itself makes of the same random draws, and what start_root_span makes of them.
    random.seed(seed)
    sdk = tracing.tracer().start_span("GET", context=tracing._no_parent, kind=SpanKind.SERVER)
    random.seed(seed)
    ours = tracing.start_root_span("GET", SpanKind.SERVER, {"url.path": "/users/1"})
    a, b = sdk.get_span_context(), ours.get_span_context()
    assert (a.trace_id, a.trace_flags, a.trace_state, a.is_remote) == (b.trace_id, b.trace_flags, b.trace_state, b.is_remote)
    assert b.is_valid and b.span_id == ours.get_span_context().span_id  # drawn once, when first asked
    assert sdk.is_recording() == ours.is_recording(), (sdk, ours)
    if not ours.is_recording():
        assert isinstance(ours, NonRecordingSpan) and type(sdk) is NonRecordingSpan, (sdk, ours)
    kept += ours.is_recording()
print(kept)
"""


@pytest.mark.process
@pytest.mark.parametrize(("sampler", "arg"), [("parentbased_traceidratio", "0.05"), ("traceidratio", "0.3")])
def test_a_root_span_is_what_the_sdks_sampler_makes_of_the_same_trace_id(sampler: str, arg: str) -> None:
    """The short way for dropped spans (shared.tracing.start_root_span) decides and flags as the SDK does."""
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_TRACES_EXPORTER": "console",  # writes nothing: no span here is ended
        "OTEL_TRACES_SAMPLER": sampler,
        "OTEL_TRACES_SAMPLER_ARG": arg,
    }
    probe = subprocess.run([sys.executable, "-c", ROOT_SPANS], env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    kept = int(probe.stdout)
    assert 0 < kept < 4000 * float(arg) * 2  # both decisions occur: the comparison is not vacuous


DROPPED = """
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind
from shared import tracing
assert tracing.configure_tracing("probe")
span = tracing.start_root_span("GET", SpanKind.SERVER, {"url.path": "/users/1"})
token = context.attach(trace.set_span_in_context(span))
print(tracing.current_traceparent(), tracing.current_traceparent(), repr(span))
context.detach(token)
"""


@pytest.mark.process
def test_a_dropped_request_still_hands_its_trace_to_the_job_it_asks_for() -> None:
    """A dropped span's ids are drawn when first asked for, once: the job row gets them, not sampled."""
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
    }
    probe = subprocess.run([sys.executable, "-c", DROPPED], env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    first, again, described = probe.stdout.split(" ", 2)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", first) and again == first, probe.stdout
    _, trace_id, span_id, flags = first.split("-")
    assert int(trace_id, 16) and int(span_id, 16) and not int(flags, 16) & 1  # valid ids, not sampled
    assert described.startswith("NonRecordingSpan(SpanContext(")
