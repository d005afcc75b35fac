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
