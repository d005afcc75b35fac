"""``shared.job_records``' batched writes: a batch of any size, served by a few statement widths."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared import job_records
from shared.db import Database
from shared.job_records import End
from shared.jobs import JobStatus
from shared.models import Job
from tests.factories import Factory


def test_every_batch_size_up_to_the_batchers_limit_is_served_by_ten_widths() -> None:
    """A statement is kept per width for the life of the process: their number must not grow with the sizes seen."""
    widths = {n: job_records._width(n) for n in range(1, 501)}

    assert sorted(set(widths.values())) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert all(n <= width < 2 * n for n, width in widths.items())


@pytest.mark.parametrize("size", [1, 3, 5, 17])
async def test_a_batch_claims_dispatches_and_ends_each_of_its_rows_once(
    db: Database, factory: Factory, size: int
) -> None:
    """The spare placeholders repeat the last id: that row is still changed once (one attempt, not several)."""
    ids = [(await factory.job(None, dispatched_at=None)).id for _ in range(size)]

    await job_records.mark_dispatched(db, ids)
    claims = await job_records.claim(db, ids, "worker-a")
    await job_records.end(db, [End(job_id, JobStatus.SUCCEEDED, result="{}") for job_id in ids], "worker-a")

    assert [claim.attempts if claim else None for claim in claims] == [1] * size
    async with db.sessions() as session:
        rows = (await session.execute(select(Job.status, Job.attempts, Job.dispatched_at).where(Job.id.in_(ids)))).all()
    assert len(rows) == size
    assert all(status == "succeeded" and attempts == 1 and sent is not None for status, attempts, sent in rows)
