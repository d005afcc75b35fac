"""The one wrapper every job runs in: its durable record, retries, and cancellation.

For each delivery of a job the wrapper

1. claims the row (:func:`shared.job_records.claim`): ``queued`` (or ``running`` after a
   crash) becomes ``running`` with ``attempts + 1``. A row that is finished, cancelled
   or missing is not claimed and the job does nothing: that check, not Redis, is what
   makes a second delivery harmless.
2. runs the handler with the row's parameters, under its own timeout.
3. records the end: ``succeeded`` with the result; on a transient error
   (:func:`worker.failures.is_transient`) back to ``queued`` with the error and
   ``arq.Retry`` after an exponential backoff; on any other error, or once
   ``JOB_MAX_TRIES`` attempts are used, ``failed`` with the error.

Attempts are counted on the row, not by arq (whose own limit is set out of reach), so a
job whose worker was killed mid-way is not silently dropped by arq's retry counter.

Cancellation: ``CancelledError`` reaches the handler both when the client cancels the job
(arq's abort; the API has already set the row ``cancelled``) and when the worker shuts
down after its grace period. Either way the wrapper writes ``running -> queued`` with
the attempt given back, which leaves a cancelled row as it is and returns a shut-down
job to the queue, where arq keeps it for the next worker.

Each claimed attempt is counted and timed (worker.metrics) and, with tracing on, runs in
a span joined to the request that asked for the job (shared.tracing.job_span).

A job that ends failed or cancelled loses its file (``shared.job_files``) at once: an
import's upload or a partial export that nothing can use again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq.worker import Retry

from shared import job_files
from shared.job_records import Claim, End
from shared.jobs import JobStatus, encode_json
from shared.logging import job_id_var, request_id_var
from shared.tracing import job_span
from worker.context import RunningJob, WorkerContext
from worker.failures import backoff_seconds, describe, is_transient
from worker.metrics import JOB_DURATION, JOBS_FINISHED, JOBS_RUNNING, JOBS_STARTED, Outcome
from worker.recorder import JobRecorder

log = logging.getLogger("worker.jobs")

Handler = Callable[..., Awaitable[Any]]


async def run(kind: str, handler: Handler, timeout_s: float, context: WorkerContext, job_id: str) -> None:
    """Run one delivery of job ``job_id`` (see the module's docstring)."""
    claim = await context.recorder.claim(job_id)
    if claim is None:
        log.info("job %s (%s) skipped: not queued (finished, cancelled or unknown)", job_id, kind)
        return
    job_token, request_token = job_id_var.set(job_id), request_id_var.set(claim.request_id)
    try:
        with job_span(kind, job_id, claim.traceparent, claim.attempts):
            await _attempt(kind, handler, timeout_s, context, job_id, claim)
    finally:
        job_id_var.reset(job_token)
        request_id_var.reset(request_token)


async def _attempt(
    kind: str, handler: Handler, timeout_s: float, context: WorkerContext, job_id: str, claim: Claim
) -> None:
    recorder, settings = context.recorder, context.settings
    if claim.attempts > settings.job_max_tries:
        error = f"gave up after {claim.attempts - 1} attempts; last error: {claim.last_error or 'worker stopped'}"
        log.error("job %s failed: %s", kind, error)
        await recorder.end(End(job_id, JobStatus.FAILED, error=error))
        await job_files.delete_if_unsuccessful(context.db.engine, job_id)
        JOBS_FINISHED.labels(kind, Outcome.FAILED).inc()
        return
    job = RunningJob(
        job_id,
        kind,
        claim.attempts,
        claim.progress_done,
        claim.requested_by,
        context.db,
        settings,
        context.worker_id,
    )
    JOBS_STARTED.labels(kind).inc()
    running = JOBS_RUNNING.labels(kind)
    running.inc()
    started = time.perf_counter()
    deadline = asyncio.timeout(timeout_s)
    # Counted with the duration, after the row is written: a scrape sees both or neither.
    outcome: str | None = None
    try:
        try:
            async with deadline:
                result = await handler(job, **claim.params)
        except asyncio.CancelledError:
            outcome = Outcome.CANCELLED
            await _interrupted(recorder, job, kind)
            raise
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling() and not deadline.expired():
                # A driver turned the cancellation into its own error (asyncmy raises
                # InterfaceError "Cancelled during execution"): still an interruption.
                outcome = Outcome.CANCELLED
                await _interrupted(recorder, job, kind)
                raise asyncio.CancelledError from exc
            error = f"timed out after {timeout_s:.0f}s" if deadline.expired() else describe(exc)
            if is_transient(exc) and claim.attempts < settings.job_max_tries:
                delay = backoff_seconds(settings, claim.attempts)
                log.warning("job %s attempt %d failed (%s); retrying in %.1fs", kind, claim.attempts, error, delay)
                outcome = Outcome.RETRIED
                await recorder.end(End(job_id, JobStatus.QUEUED, error=error))
                raise Retry(defer=delay) from exc
            log.error("job %s failed after %d attempt(s): %s", kind, claim.attempts, error)
            outcome = Outcome.FAILED
            await recorder.end(End(job_id, JobStatus.FAILED, error=error))
            await job_files.delete_if_unsuccessful(context.db.engine, job_id)
            return
        outcome = Outcome.SUCCEEDED
        await recorder.end(End(job_id, JobStatus.SUCCEEDED, result=encode_json(result)))
        log.info("job %s succeeded in %.3fs", kind, time.perf_counter() - started)
    finally:
        running.dec()
        if outcome is not None:
            JOBS_FINISHED.labels(kind, outcome).inc()
        JOB_DURATION.labels(kind).observe(time.perf_counter() - started)


async def _interrupted(recorder: JobRecorder, job: RunningJob, kind: str) -> None:
    """Back to ``queued`` with the attempt given back; a cancelled row stays cancelled, and its file goes."""
    await asyncio.shield(recorder.end(End(job.id, JobStatus.QUEUED, give_back_attempt=True)))
    await asyncio.shield(job_files.delete_if_unsuccessful(job.db.engine, job.id))
    log.info("job %s interrupted (cancelled or shutting down)", kind)
