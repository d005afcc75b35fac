"""How job handlers become arq functions: every kind runs through :func:`worker.lifecycle.run`."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron
from arq.worker import Function

from shared import job_records
from shared.jobs import JobKind, cron_job_id
from worker.context import WorkerContext
from worker.lifecycle import Handler, run

ARQ_MAX_TRIES = 1_000_000  # arq never gives up on its own; the row's attempts decide
TIMEOUT_MARGIN_SECONDS = 30  # arq's timeout sits above the wrapper's, which records the end first


def job_function(kind: JobKind, handler: Handler, *, timeout_s: float) -> Function:
    """Register ``handler`` with arq under ``kind``; the arq job id is the row's id."""

    async def arq_job(ctx: dict[str, Any]) -> None:
        await run(kind, handler, timeout_s, WorkerContext.of(ctx), ctx["job_id"])

    return Function(
        name=kind,
        coroutine=arq_job,
        timeout_s=timeout_s + TIMEOUT_MARGIN_SECONDS,
        keep_result_s=0,
        keep_result_forever=False,
        max_tries=ARQ_MAX_TRIES,
    )


def cron_function(kind: JobKind, handler: Handler, *, timeout_s: float, schedule: dict[str, Any]) -> CronJob:
    """A scheduled job: every worker enqueues each run under one arq id (``unique``), and the
    run's row id is derived from that id, so however many workers deliver a run, one claims it.
    """

    async def arq_cron(ctx: dict[str, Any]) -> None:
        context = WorkerContext.of(ctx)
        row_id = cron_job_id(ctx["job_id"])
        await job_records.insert_scheduled_run(context.db, row_id, kind)
        await run(kind, handler, timeout_s, context, row_id)

    arq_cron.__qualname__ = kind
    return cron(
        arq_cron,
        name=f"cron:{kind}",
        unique=True,
        timeout=timeout_s + TIMEOUT_MARGIN_SECONDS,
        keep_result=0,
        max_tries=ARQ_MAX_TRIES,
        microsecond=0,
        **schedule,
    )
