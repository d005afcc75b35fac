"""One record is one line, in both formats, whatever the message holds; the JSON format's fields."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from shared import logging as shared_logging
from shared.logging import FORMAT, ContextFormatter, JsonFormatter, job_id_var, request_id_var

FORGED = "Mallory\n2026-12-02 00:00:00,000 ERROR worker.jobs: job export failed\r\x1b[2Kx\u2028y"


@pytest.fixture(params=["text", "json"])
def log(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, io.StringIO, str]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if request.param == "json" else ContextFormatter(FORMAT))
    logger = logging.getLogger(f"tests.logging.{request.param}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield logger, stream, request.param
    finally:
        logger.removeHandler(handler)


def test_a_user_value_with_line_breaks_stays_on_its_records_line(log: tuple[logging.Logger, io.StringIO, str]) -> None:
    logger, stream, fmt = log
    logger.info("welcome email for %s logged", FORGED)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "\x1b" not in lines[0] and "\u2028" not in lines[0]
    if fmt == "json":
        assert json.loads(lines[0])["message"] == f"welcome email for {FORGED} logged"
    else:
        assert "Mallory\\n2026-12-02 00:00:00,000 ERROR worker.jobs" in lines[0]


def test_an_exception_whose_text_has_line_breaks_cannot_start_a_record(
    log: tuple[logging.Logger, io.StringIO, str],
) -> None:
    logger, stream, fmt = log
    try:
        raise ValueError(FORGED)
    except ValueError:
        logger.exception("job failed")
    text = stream.getvalue()
    if fmt == "json":
        [line] = text.splitlines()
        entry = json.loads(line)
        assert entry["message"] == "job failed" and "ValueError: Mallory" in entry["exception"]
    else:
        first, *rest = text.splitlines()
        assert first.endswith("job failed")
        assert rest and all(line.startswith("    ") for line in rest), rest


def test_json_records_carry_utc_time_level_logger_and_the_request_and_job_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logging.ids")
    logger.propagate = False
    logger.addHandler(handler)
    request_token, job_token = request_id_var.set("req-1"), job_id_var.set("job-1")
    try:
        logger.warning("inside a job")
    finally:
        request_id_var.reset(request_token)
        job_id_var.reset(job_token)
        logger.removeHandler(handler)
    logger.addHandler(handler)
    logger.warning("outside")
    logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", inside["time"])
    assert inside | {"time": None} == {
        "time": None,
        "level": "WARNING",
        "logger": "tests.logging.ids",
        "message": "inside a job",
        "request_id": "req-1",
        "job_id": "job-1",
    }
    assert outside["request_id"] is None and outside["job_id"] is None
    assert "trace_id" not in inside  # tracing is off in this process


def test_with_tracing_on_records_name_the_trace_and_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_logging, "trace_ids", lambda: ("a" * 32, "b" * 16))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "in a span", None, None)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["trace_id"], entry["span_id"]) == ("a" * 32, "b" * 16)
    assert ContextFormatter(FORMAT).format(record).endswith(f"trace_id={'a' * 32} span_id={'b' * 16}")
