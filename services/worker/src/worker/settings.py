"""arq's WorkerSettings for wadah: which jobs run, and how they are retried, timed and stopped.

Tuning (measured by scripts/bench_jobs.py; docs/jobs.md):

* ``poll_delay`` 10 ms (``WORKER_POLL_DELAY_SECONDS``): the longest an idle worker waits
  between polls. Enqueues and aborts wake it at once (worker.arq_worker), so this only
  bounds how late it finds what no message announces (a retry's deferred run, a cron
  run). A poll is one Lua script (read, start, abort check).
* ``max_jobs`` 50 (``WORKER_MAX_JOBS``): jobs in flight; mostly waiting on MariaDB, so
  more than the pool's connections would only queue on the pool.
* ``keep_result = 0``: the job row holds the result; arq's result keys would be a
  second, volatile copy (see shared.job_queue on what this means for arq's dedupe).
* arq's per-job INFO lines are turned off (``arq.worker`` at WARNING); the wrapper
  writes one line per job with the job and request ids.
* ``job_completion_wait`` (``JOB_SHUTDOWN_GRACE_SECONDS``, 25 s): on SIGTERM the worker
  stops taking jobs and gives running ones this long; the rest are cancelled, their
  rows go back to ``queued`` and arq keeps them queued for the next worker. Compose's
  ``stop_grace_period`` must be longer.
* ``allow_abort_jobs``: ``POST /jobs/{id}/cancel`` aborts a running job through arq.
* Redis: arq's pool and the outbox's each hold at most ``WORKER_REDIS_CONNECTIONS`` (16)
  connections (``shared.job_queue.redis_client``); ``python -m worker`` hands arq its pool.
* A full garbage collection every ``WORKER_GC_INTERVAL_SECONDS`` (10 s) besides
  shared.runtime's tuning, which otherwise almost never lets one run; its docstring says
  why the free lists need it.

Observability (docs/operations.md): ``/metrics`` on ``WORKER_METRICS_PORT`` (worker.metrics)
unless ``METRICS_ENABLED=false``; a span per job attempt when the ``OTEL_*`` environment
asks for traces (shared.tracing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from datetime import UTC
from typing import Any, ClassVar

from arq.connections import RedisSettings

from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind, deserialize, serialize
from shared.logging import configure_logging
from shared.runtime import collect_fully_every, tune_garbage_collector
from shared.settings import get_settings
from shared.tracing import configure_tracing
from worker.context import CTX_KEY, WorkerContext
from worker.dispatcher import Dispatcher
from worker.jobs.blog_stats import compute_blog_stats
from worker.jobs.book_import import import_books
from worker.jobs.cleanup import cleanup
from worker.jobs.export import export
from worker.jobs.welcome_email import welcome_email
from worker.metrics import serve as serve_metrics
from worker.recorder import JobRecorder
from worker.registry import cron_function, job_function
from worker.schedule import parse_schedule

_settings = get_settings()


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(_settings.log_level, _settings.log_format)
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    configure_tracing("wadah-worker")
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
    db = Database(_settings)
    queue = JobQueue(redis_client(_settings, _settings.worker_redis_connections), db)
    dispatcher = Dispatcher(db, queue, _settings, worker_id)
    if _settings.metrics_enabled:
        serve_metrics(_settings.worker_metrics_port, _settings.queue_metrics_interval_seconds).attach(
            db, asyncio.get_running_loop()
        )
    await dispatcher.heartbeat()  # alive before the first claim, so no one takes our jobs over
    stop = asyncio.Event()
    ctx[CTX_KEY] = WorkerContext(
        settings=_settings,
        db=db,
        queue=queue,
        worker_id=worker_id,
        recorder=JobRecorder(db, worker_id),
        dispatcher_stop=stop,
        dispatcher=asyncio.create_task(dispatcher.run(stop)),
        collector=(
            asyncio.create_task(collect_fully_every(_settings.worker_gc_interval_seconds))
            if _settings.worker_gc_interval_seconds > 0
            else None
        ),
    )
    logging.getLogger("worker").info("worker %s ready", worker_id)
    tune_garbage_collector()


async def shutdown(ctx: dict[str, Any]) -> None:
    if _settings.metrics_enabled:
        serve_metrics(_settings.worker_metrics_port, _settings.queue_metrics_interval_seconds).detach()
    context = WorkerContext.of(ctx)
    context.dispatcher_stop.set()
    await context.dispatcher
    if context.collector is not None:
        context.collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await context.collector
    await context.recorder.wait()
    await context.queue.drain()
    await context.queue.redis.aclose()
    await context.db.close()


class WorkerSettings:
    functions: ClassVar = [
        job_function(JobKind.COMPUTE_BLOG_STATS, compute_blog_stats, timeout_s=60),
        job_function(JobKind.WELCOME_EMAIL, welcome_email, timeout_s=60),
        job_function(JobKind.IMPORT_BOOKS, import_books, timeout_s=3600),
        job_function(JobKind.EXPORT, export, timeout_s=3600),
    ]
    cron_jobs: ClassVar = [
        cron_function(JobKind.CLEANUP, cleanup, timeout_s=3600, schedule=parse_schedule(_settings.cleanup_schedule)),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(_settings.redis_url)
    queue_name = _settings.queue_name
    health_check_key = f"{_settings.queue_name}:health-check"
    health_check_interval = 10
    job_serializer = staticmethod(serialize)
    job_deserializer = staticmethod(deserialize)
    keep_result = 0
    max_jobs = _settings.worker_max_jobs
    poll_delay = _settings.worker_poll_delay_seconds
    job_completion_wait = _settings.job_shutdown_grace_seconds
    allow_abort_jobs = True
    timezone = UTC
    log_results = False
