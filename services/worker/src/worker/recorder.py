"""A worker's start and end writes of job rows, batched.

Each job's claim and end is one row change (:mod:`shared.job_records`); a busy worker
has many at once, so they pass through :class:`shared.batching.Batcher`: one statement
and one commit for every claim (or end) submitted while the previous batch was being
written. A lone job's writes go at once (the batcher lingers only while busy).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared import job_records
from shared.batching import Batcher
from shared.db import Database
from shared.job_records import Claim, End

LINGER_SECONDS = 0.002  # how long a start or end write waits for others to share its statement


class JobRecorder:
    """Batched claim and end writes for one worker process."""

    def __init__(self, db: Database, worker_id: str) -> None:
        self.db = db
        self.worker_id = worker_id
        self._claims: Batcher[str, Claim | None] = Batcher(self._claim_batch, linger=LINGER_SECONDS)
        self._ends: Batcher[End, None] = Batcher(self._end_batch, linger=LINGER_SECONDS)

    async def claim(self, job_id: str) -> Claim | None:
        return await self._claims.submit(job_id)

    async def end(self, end: End) -> None:
        await self._ends.submit(end)

    async def wait(self) -> None:
        await self._claims.wait()
        await self._ends.wait()

    async def _claim_batch(self, ids: list[str]) -> Sequence[Claim | None]:
        return await job_records.claim(self.db, ids, self.worker_id)

    async def _end_batch(self, ends: list[End]) -> Sequence[None]:
        await job_records.end(self.db, ends, self.worker_id)
        return [None] * len(ends)
