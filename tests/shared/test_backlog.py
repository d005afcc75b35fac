"""``shared.jobs.BACKLOG_SQL``, the autoscaler's count: every job not yet finished, read through the index."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert

from shared.db import create_engine
from shared.jobs import BACKLOG_SQL, JobStatus
from shared.models import Job, utcnow
from shared.settings import Settings
from tests.shared.databases import migrate, query_rows

pytestmark = pytest.mark.process  # the migration runs as a process

PER_STATUS = {
    JobStatus.QUEUED: 3,  # waiting, or waiting for a retry
    JobStatus.RUNNING: 2,
    JobStatus.SUCCEEDED: 5,
    JobStatus.FAILED: 1,
    JobStatus.CANCELLED: 1,
}


async def _fill(url: str) -> None:
    engine = create_engine(url, Settings(_env_file=None))  # type: ignore[call-arg]
    now = utcnow()
    rows = [
        {
            "id": str(uuid.uuid4()),
            "kind": "compute_blog_stats",
            "params": "{}",
            "status": status.value,
            "created_at": now,
            # Undispatched outbox rows are backlog too.
            "dispatched_at": now if n % 2 else None,
        }
        for status, count in PER_STATUS.items()
        for n in range(count)
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Job), rows)
    finally:
        await engine.dispose()


def test_the_backlog_is_the_queued_and_running_jobs(empty_database: str, tmp_path: Path) -> None:
    assert migrate(empty_database, tmp_path).returncode == 0
    asyncio.run(_fill(empty_database))

    (row,) = asyncio.run(query_rows(empty_database, BACKLOG_SQL))

    assert list(row.values()) == [PER_STATUS[JobStatus.QUEUED] + PER_STATUS[JobStatus.RUNNING]]


def test_the_count_reads_only_an_index_on_status(empty_database: str, tmp_path: Path) -> None:
    """A range over an index that starts with status, covering: the count never reads the table's rows.

    Two indexes qualify (ix_jobs_status_dispatched, ix_jobs_status_created); either
    serves. The plan on 1,000,000 rows is in docs/performance.md.
    """
    assert migrate(empty_database, tmp_path).returncode == 0
    asyncio.run(_fill(empty_database))
    if empty_database.startswith("sqlite"):
        plan = asyncio.run(query_rows(empty_database, f"EXPLAIN QUERY PLAN {BACKLOG_SQL}"))
        assert "USING COVERING INDEX ix_jobs_status_" in str(plan)
        return

    (plan,) = asyncio.run(query_rows(empty_database, f"EXPLAIN {BACKLOG_SQL}"))

    assert plan["type"] == "range"
    assert plan["key"].startswith("ix_jobs_status_")
    assert "Using index" in plan["Extra"]
