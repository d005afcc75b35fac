"""cleanup (cron, ``CLEANUP_SCHEDULE``, nightly by default): forget what has been gone long enough.

* blogs, books and users soft-deleted more than ``RETENTION_DAYS`` (30) ago are deleted
  for good. Blogs go first, because a blog's foreign key names its author; a deleted
  user who still has blogs (the API does not cascade deletes) is kept until those are
  gone too, rather than deleting content its author did not delete.
* finished jobs (succeeded, failed, cancelled) older than ``JOB_RETENTION_DAYS`` (30),
  with their import rejections and export files.

Rows go in chunks of ``CHUNK`` per transaction, so no lock is held for long. It is
idempotent: a second run finds nothing left to delete. With several workers each
enqueues the same scheduled run under one id, and its job row (an id derived from the
schedule time) is claimed once: one run per schedule, whatever the number of workers.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.sql import ColumnElement

from shared import job_records
from shared.jobs import JobKind
from shared.models import Blog, Book, User, utcnow
from worker.context import RunningJob

log = logging.getLogger("worker.jobs.cleanup")

CHUNK = 1000


async def _purge(job: RunningJob, model: Any, *where: ColumnElement[bool]) -> int:
    deleted = 0
    while True:
        async with job.db.engine.begin() as conn:
            ids = (await conn.execute(select(model.id).where(*where).limit(CHUNK))).scalars().all()
            if not ids:
                return deleted
            await conn.execute(delete(model).where(model.id.in_(ids)))
        deleted += len(ids)


def job_files(job: RunningJob, job_id: str, kind: str) -> list[Path]:
    if kind == JobKind.EXPORT:
        return [job.settings.export_dir / f"{job_id}.csv"]
    if kind == JobKind.IMPORT_BOOKS:
        return list(job.settings.import_dir.glob(f"{job_id}.*"))
    return []


async def _purge_jobs(job: RunningJob, cutoff: Any) -> tuple[int, int]:
    rows = files = 0
    while True:
        async with job.db.engine.begin() as conn:
            old = await job_records.delete_finished(conn, cutoff, CHUNK)
        if not old:
            return rows, files
        for job_id, kind in old:
            for path in job_files(job, job_id, kind):
                if path.exists():
                    path.unlink(missing_ok=True)
                    files += 1
        rows += len(old)


async def cleanup(job: RunningJob) -> dict[str, int]:
    now = utcnow()
    cutoff = now - timedelta(days=job.settings.retention_days)
    counts = {
        "blogs": await _purge(job, Blog, Blog.deleted_at < cutoff),
        "books": await _purge(job, Book, Book.deleted_at < cutoff),
        "users": await _purge(job, User, User.deleted_at < cutoff, ~exists().where(Blog.user_id == User.id)),
    }
    counts["jobs"], counts["files"] = await _purge_jobs(job, now - timedelta(days=job.settings.job_retention_days))
    log.info("cleanup deleted %s", counts)
    return counts
