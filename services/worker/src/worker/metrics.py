"""The worker's Prometheus metrics: its own jobs as they run, and the queue's health from the rows.

Served on ``WORKER_METRICS_PORT`` (9101) at ``/metrics`` by prometheus_client's HTTP
server, in a thread of its own, so a scrape is answered even while the event loop is
busy (docs/operations.md lists every metric).

Two kinds of figure:

* Counters and a histogram of what *this process* did (``wadah_jobs_*``), updated by the
  job wrapper (``worker.lifecycle``) as each job starts and ends. Sum them over workers.
* The queue as the durable rows tell it (``wadah_queue_*``): jobs by status, the age of
  the oldest queued job, rows the outbox has not handed to Redis. The same for every
  worker (take ``max``, not ``sum``). They come from three index-range statements
  (docs/performance.md, "Queue-health query"), read at most once per
  ``QUEUE_METRICS_INTERVAL_SECONDS`` however many scrapers ask, on the worker's own event
  loop (the statements use its database pool); a scrape in between gets the last figures,
  with the oldest job's age brought up to the moment. ``succeeded`` is not counted from
  the rows: it is most of the table, the one count no index keeps cheap; the
  ``wadah_jobs_finished_total`` counter says how many succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Final

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from shared.db import Database
from shared.models import utcnow
from shared.queue_health import QueueSnapshot, read_queue

log = logging.getLogger(__name__)

# Jobs run from milliseconds (blog stats) to an hour (an import of a million rows).
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
READ_TIMEOUT_SECONDS: Final = 5.0


class Outcome:
    """The ``outcome`` label of ``wadah_jobs_finished_total``."""

    SUCCEEDED: Final = "succeeded"
    FAILED: Final = "failed"  # for good: a permanent error, or the last attempt
    RETRIED: Final = "retried"  # a transient error; the job is queued again after a backoff
    CANCELLED: Final = "cancelled"  # cancelled by a client, or interrupted by the worker's shutdown


JOBS_STARTED = Counter("wadah_jobs_started", "Job attempts this worker started, by kind.", ["kind"])
JOBS_FINISHED = Counter(
    "wadah_jobs_finished",
    "Job attempts this worker ended, by kind and outcome (succeeded, failed, retried, cancelled).",
    ["kind", "outcome"],
)
JOB_DURATION = Histogram(
    "wadah_job_duration_seconds",
    "How long one attempt of a job ran in this worker, by kind (every outcome).",
    ["kind"],
    buckets=DURATION_BUCKETS,
)
JOBS_RUNNING = Gauge("wadah_jobs_running", "Jobs this worker is running now, by kind.", ["kind"])


class QueueHealth(Collector):
    """A collector that reads the queue's rows at most once per interval, on the worker's loop."""

    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self._lock = threading.Lock()
        self._source: tuple[Database, asyncio.AbstractEventLoop] | None = None
        self._snapshot: QueueSnapshot | None = None
        self._read_at = -float("inf")
        self._ok = False

    def attach(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._source = (db, loop)
            self._read_at = -float("inf")

    def detach(self) -> None:
        with self._lock:
            self._source = None

    def _refresh(self) -> None:
        if self._source is None or time.monotonic() - self._read_at < self.interval:
            return
        db, loop = self._source
        try:
            self._snapshot = asyncio.run_coroutine_threadsafe(read_queue(db), loop).result(READ_TIMEOUT_SECONDS)
            self._ok = True
        except Exception as exc:  # a scrape must still answer; the _up gauge says the read failed
            self._ok = False
            log.warning("queue metrics: could not read the jobs table: %s: %s", type(exc).__name__, exc)
        self._read_at = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            self._refresh()
            snapshot, ok = self._snapshot, self._ok
        yield GaugeMetricFamily(
            "wadah_queue_read_up", "1 if the last read of the jobs table for these metrics worked, else 0.", int(ok)
        )
        if snapshot is None:
            return
        by_status = GaugeMetricFamily(
            "wadah_queue_jobs",
            "Job rows by status (queued, running, failed, cancelled), from the table.",
            labels=["status"],
        )
        for status, n in snapshot.by_status.items():
            by_status.add_metric([status], n)
        yield by_status
        age = 0.0
        if snapshot.oldest_queued is not None:
            age = max(0.0, (utcnow() - snapshot.oldest_queued).total_seconds())
        yield GaugeMetricFamily(
            "wadah_queue_oldest_queued_age_seconds",
            "Age of the oldest queued job (0 when none is queued); retries waiting their backoff count.",
            age,
        )
        yield GaugeMetricFamily(
            "wadah_queue_undispatched_jobs",
            "Queued rows the outbox has not handed to Redis yet (the dispatcher sends them).",
            snapshot.undispatched,
        )
        yield GaugeMetricFamily(
            "wadah_queue_read_duration_seconds", "How long the last read of the jobs table took.", snapshot.read_seconds
        )


_server_started = False


def serve(port: int, interval_seconds: float) -> QueueHealth:
    """Start the metrics HTTP server (once per process) with the queue-health collector.

    A port already taken (a second worker on one host with the same setting) costs the
    metrics, not the jobs: the worker logs an error and runs on.
    """
    global _server_started, queue_health
    if not _server_started:
        from prometheus_client import start_http_server

        queue_health = QueueHealth(interval_seconds)
        REGISTRY.register(queue_health)
        try:
            start_http_server(port)
        except OSError as exc:
            log.error("metrics not served: cannot listen on WORKER_METRICS_PORT %d: %s", port, exc)
        _server_started = True
    return queue_health


queue_health: QueueHealth = QueueHealth(0)
