"""What a worker process holds and what a job handler is given.

arq passes every job a ``ctx`` dict; wadah keeps one typed :class:`WorkerContext` in it
(under :data:`CTX_KEY`), built at start-up, so no code reads loose string keys.
Handlers get a :class:`RunningJob`: their job's identity and the process's resources.

Database style for job code, one for every handler: SQLAlchemy Core on the engine,
``async with job.db.engine.begin() as conn:`` around each unit of work that must commit
together (``engine.connect()`` for a read), since jobs need multi-statement transactions
and bulk ``executemany``; never ORM sessions. The jobs table itself is written only
through :mod:`shared.job_records`, which the API, the dispatcher and the recorder share.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shared import job_records
from shared.db import Database
from shared.job_queue import JobQueue
from shared.settings import Settings
from worker.recorder import JobRecorder

CTX_KEY = "wadah"


@dataclass(slots=True)
class WorkerContext:
    """One worker process's resources, shared by every job it runs."""

    settings: Settings
    db: Database
    queue: JobQueue
    worker_id: str
    recorder: JobRecorder
    dispatcher_stop: asyncio.Event
    dispatcher: asyncio.Task[None]
    collector: asyncio.Task[None] | None  # shared.runtime.collect_fully_every, unless switched off

    @staticmethod
    def of(ctx: dict[str, Any]) -> WorkerContext:
        context: WorkerContext = ctx[CTX_KEY]
        return context


@dataclass(slots=True)
class RunningJob:
    """What a handler gets: its job's identity and the process's resources."""

    id: str
    kind: str
    attempt: int
    progress_done: int  # as last committed: where a resumable job picks up
    requested_by: int | None
    db: Database
    settings: Settings
    worker: str  # this worker's id, as the row names its holder

    async def progress(self, done: int, total: int | None = None) -> None:
        """Record progress (only while the job is still running here)."""
        await job_records.progress(self.db, self.id, done, total)
