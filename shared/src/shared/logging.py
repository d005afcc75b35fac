"""Log set-up shared by the API and the worker: one format, levels from settings.

Every line written while handling one HTTP request names its request id, and every
line written while running one job names the job and the request that asked for it:
the ids live in context variables (set by the API's request middleware and by the
worker's job wrapper) and the formatter appends them, so one grep finds a request's
whole story across both processes. With tracing on (:mod:`shared.tracing`) the line
names the trace and span too, which joins the logs to the traces.

Two formats (``LOG_FORMAT``): ``text`` (the default, for a developer's terminal) and
``json`` (one object per line, for a log pipeline).

One record is one line, whatever it contains. Messages carry values that users chose
(a name, an email, a file name); a newline in one must not start what reads as a new
record, so the text format escapes control characters in the message and indents
every continuation line of a traceback, and the JSON format escapes them by its nature.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Set by shared.tracing when tracing is on: the current (trace id, span id) as hex, or
# None outside a recorded span. Left None, logging costs nothing extra for tracing.
trace_ids: Callable[[], tuple[str, str] | None] | None = None

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def one_line(text: str) -> str:
    """``text`` with every control character written as an escape: it cannot end the line."""
    return _CONTROL.sub(_escape, text)


class ContextFormatter(logging.Formatter):
    """The text format: a one-line message, then ``job=``, ``request_id=``, ``trace_id=`` when set.

    A traceback follows on lines of its own, each indented, so none reads as a record.
    """

    def format(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        job_id, request_id = job_id_var.get(), request_id_var.get()
        if job_id is not None:
            line += f" job={job_id}"
        if request_id is not None:
            line += f" request_id={request_id}"
        ids = trace_ids() if trace_ids is not None else None
        if ids is not None:
            line += f" trace_id={ids[0]} span_id={ids[1]}"
        extra = _exception_text(self, record)
        if extra:
            line += "\n" + "\n".join("    " + one_line(part) for part in extra.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """``LOG_FORMAT=json``: one JSON object per line.

    Keys: ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``message``,
    ``request_id`` and ``job_id`` (null outside a request or job), ``trace_id`` and
    ``span_id`` while a span is recorded, ``exception`` with the traceback when there is one.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "job_id": job_id_var.get(),
        }
        ids = trace_ids() if trace_ids is not None else None
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        extra = _exception_text(self, record)
        if extra:
            entry["exception"] = extra
        # ASCII only: a raw U+2028 or NEL would be a line break to some readers.
        return json.dumps(entry, default=str)


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    parts = []
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return "\n".join(parts)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else ContextFormatter(FORMAT)


class _WadahHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler wadah installs, so configuring twice replaces it rather than adding another."""


def configure_logging(level: str, log_format: str = "text") -> None:
    """Root logging to stderr in the chosen format; handlers someone else installed keep theirs,
    except plain ones (uvicorn's or ``basicConfig``'s), which get wadah's format."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    formatter = formatter_for(log_format)
    ours: list[logging.Handler] = [h for h in root.handlers if isinstance(h, _WadahHandler)]
    if not root.handlers:
        added = _WadahHandler(sys.stderr)
        root.addHandler(added)
        ours = [added]
    for handler in root.handlers:
        if handler in ours or type(handler.formatter) in (logging.Formatter, ContextFormatter, JsonFormatter):
            handler.setFormatter(formatter)
