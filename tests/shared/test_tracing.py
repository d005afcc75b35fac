"""Tracing is configured by the OTEL_* environment only, and costs nothing when it is off."""

from __future__ import annotations

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
from opentelemetry.trace import SpanKind
from shared import tracing
assert tracing.configure_tracing("probe")
provider = trace.get_tracer_provider()
random.seed(7)
kept = 0
for trace_id in [random.getrandbits(128) | 1 for _ in range(4000)]:
    # What the SDK itself makes of this trace id, and what start_root_span makes of it.
    tracing._ids.preset(trace_id)
    sdk = tracing.tracer().start_span("GET", context=tracing._no_parent, kind=SpanKind.SERVER)
    tracing._ids.preset(trace_id)
    ours = tracing.start_root_span("GET", SpanKind.SERVER, {"url.path": "/users/1"})
    a, b = sdk.get_span_context(), ours.get_span_context()
    assert (a.trace_id, a.trace_flags, a.trace_state, a.is_remote) == (b.trace_id, b.trace_flags, b.trace_state, b.is_remote)
    assert sdk.is_recording() == ours.is_recording() and type(sdk) is type(ours), (sdk, ours)
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
