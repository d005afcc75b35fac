"""Log set-up shared by the API and the worker: one format, levels from settings.

Every line written while handling one HTTP request names its request id, and every
line written while running one job names the job and the request that asked for it:
the ids live in context variables (set by the API's request middleware and by the
worker's job wrapper) and the formatter appends them, so one grep finds a request's
whole story across both processes.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ContextFormatter(logging.Formatter):
    """The standard format plus ``request_id=...`` / ``job=...`` when they are set."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id, job_id = request_id_var.get(), job_id_var.get()
        if job_id is not None:
            line += f" job={job_id}"
        if request_id is not None:
            line += f" request_id={request_id}"
        return line


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for handler in logging.getLogger().handlers:
        if type(handler.formatter) is logging.Formatter:
            handler.setFormatter(ContextFormatter(FORMAT))
