"""The outbox dispatcher and crash recovery, run as a background task in every worker.

Why in the worker: it needs the database and Redis, exactly what a worker has, and a
deployment always runs workers; with several, each runs it, and duplicates are
harmless (arq refuses an id already queued; a finished row is never run again).

Every ``DISPATCH_INTERVAL_SECONDS`` it:

* refreshes this worker's liveness key in Redis (``<namespace>:worker:<id>``);
* sends job rows the API wrote but could not enqueue (``dispatched_at IS NULL``, older
  than ``DISPATCH_GRACE_SECONDS`` so that the API's own immediate enqueue goes first);
* every ``SWEEP_EVERY`` rounds, recovers jobs Redis lost or a dead worker held:
  ``running`` rows whose worker's liveness key has expired (SIGKILL, a lost machine)
  get arq's in-progress marker removed and are enqueued again, so another worker takes
  them over at once instead of after arq's in-progress timeout; ``queued`` rows sent a
  while ago whose arq job no longer exists (Redis restarted without persistence, or
  evicted a key) are sent again. Those are checked a page (``BATCH`` rows, one pipelined
  round trip) per sweep, each sweep going on from where the last one stopped and
  starting over at the end, and further pages at once only while pages still have
  lost jobs. A backlog of 100,000 queued jobs was otherwise read whole every sweep and
  checked with 100,000 concurrent EXISTS calls, which held ~250 MB in the worker
  (docs/performance.md); after a Redis restart every page is missing its jobs, so the
  whole backlog is still sent again in one sweep, a page at a time;
* every ``FILE_SWEEP_EVERY`` rounds, removes job files whose upload was abandoned (no
  job, no chunk added for ``JOB_FILE_ABANDON_SECONDS``): the API deletes a refused or
  broken upload itself, so this only finds those of an API process that died mid-upload.

While Redis (or the database) is unreachable it backs off exponentially up to
``MAX_BACKOFF_SECONDS`` and logs once per failure streak.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from arq.constants import in_progress_key_prefix, job_key_prefix
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared import job_files, job_records
from shared.db import Database
from shared.db_errors import DatabaseUnavailable
from shared.job_queue import JobQueue
from shared.jobs import liveness_key
from shared.models import utcnow
from shared.settings import Settings
from worker.cancellation import raise_if_cancelled

log = logging.getLogger("worker.dispatcher")

BATCH = 500
SWEEP_EVERY = 5  # rounds
FILE_SWEEP_EVERY = 60  # rounds: about a minute at the default interval
LIVENESS_TTL_SECONDS = 15
TAKEOVER_AFTER_SECONDS = 5  # a claim younger than this may not have its worker's key yet
LOST_AFTER_SECONDS = 60
MAX_BACKOFF_SECONDS = 10.0


class Dispatcher:
    def __init__(self, db: Database, queue: JobQueue, settings: Settings, worker_id: str) -> None:
        self.db = db
        self.queue = queue
        self.settings = settings
        self.worker_id = worker_id
        self._checked_up_to = job_records.FIRST_SENT  # where the next sweep's check of queued rows starts

    async def heartbeat(self) -> None:
        await self.queue.redis.set(liveness_key(self.settings, self.worker_id), b"1", ex=LIVENESS_TTL_SECONDS)

    async def send_pending(self) -> int:
        """Send up to BATCH undispatched rows; the number sent."""
        cutoff = utcnow() - timedelta(seconds=self.settings.dispatch_grace_seconds)
        rows = await job_records.undispatched(self.db, cutoff, BATCH)
        if not rows:
            return 0
        sent = await self.queue.send(rows)
        if len(sent) < len(rows):
            raise RedisError(f"{len(rows) - len(sent)} of {len(rows)} pending jobs could not be enqueued")
        log.info("dispatched %d pending job(s)", len(sent))
        return len(sent)

    async def recover(self) -> int:
        """Re-enqueue jobs of dead workers and jobs Redis lost; the number recovered."""
        now = utcnow()
        recovered = await self._take_over_orphans(now - timedelta(seconds=TAKEOVER_AFTER_SECONDS))
        return recovered + await self._send_lost(now - timedelta(seconds=LOST_AFTER_SECONDS))

    async def _take_over_orphans(self, claimed_before: datetime) -> int:
        running = await job_records.running_since(self.db, claimed_before)
        redis = self.queue.redis
        workers = sorted({worker for _, _, worker in running if worker})
        found = await asyncio.gather(*(redis.exists(liveness_key(self.settings, w)) for w in workers))
        alive = dict(zip(workers, found, strict=True))
        orphans = [(job_id, kind, worker) for job_id, kind, worker in running if not alive.get(worker or "")]
        for job_id, kind, worker in orphans:
            log.warning("job %s (%s) was running on %s, which is gone: taking it over", job_id, kind, worker)
            await redis.delete(in_progress_key_prefix + job_id)
        if orphans:
            await self.queue.send([(job_id, kind) for job_id, kind, _ in orphans])
        return len(orphans)

    async def _send_lost(self, sent_before: datetime) -> int:
        """Send again the queued rows Redis no longer has, a page at a time (module docstring)."""
        recovered = 0
        while True:
            page = await job_records.queued_sent_before(self.db, sent_before, after=self._checked_up_to, limit=BATCH)
            self._checked_up_to = (page[-1][2], page[-1][0]) if len(page) == BATCH else job_records.FIRST_SENT
            lost = await self._not_in_redis([(job_id, kind) for job_id, kind, _ in page])
            for job_id, kind in lost:
                log.warning("job %s (%s) is queued but Redis no longer has it: sending it again", job_id, kind)
            if lost:
                await self.queue.send(lost)
            recovered += len(lost)
            if not lost or len(page) < BATCH:
                return recovered

    async def _not_in_redis(self, jobs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if not jobs:
            return []
        async with self.queue.redis.pipeline(transaction=False) as pipe:
            for job_id, _ in jobs:
                pipe.exists(job_key_prefix + job_id)
            found = await pipe.execute()
        return [job for job, exists in zip(jobs, found, strict=True) if not exists]

    async def sweep_files(self) -> int:
        cutoff = utcnow() - timedelta(seconds=self.settings.job_file_abandon_seconds)
        removed = await job_files.sweep_abandoned(self.db.engine, cutoff)
        if removed:
            log.info("removed %d chunk(s) of abandoned uploads", removed)
        return removed

    async def run(self, stop: asyncio.Event) -> None:
        delay = self.settings.dispatch_interval_seconds
        failing = False
        rounds = 0
        while not stop.is_set():
            raise_if_cancelled()
            try:
                await self.heartbeat()
                sent = await self.send_pending()
                if rounds % SWEEP_EVERY == 0:
                    await self.recover()
                if rounds % FILE_SWEEP_EVERY == 0:
                    await self.sweep_files()
                rounds += 1
                if failing:
                    log.info("dispatcher: Redis and the database answer again")
                failing, delay = False, self.settings.dispatch_interval_seconds
                if sent == BATCH:
                    continue  # more are waiting
            except (RedisError, OSError, SQLAlchemyError, DatabaseUnavailable) as exc:
                if not failing:
                    log.warning("dispatcher: %s: %s; backing off", type(exc).__name__, exc)
                failing, delay = True, min(delay * 2, MAX_BACKOFF_SECONDS)
            raise_if_cancelled()  # after the round's last command, before the wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
