"""arq's Worker with its per-job Redis round trips shared between jobs.

arq starts each job with a WATCH/EXISTS/ZSCORE/MULTI exchange of its own (four round
trips, one job after another inside the poll loop) and ends it with a MULTI/EXEC of
its own. On a busy worker those round trips, not the jobs, were most of the worker's
CPU (docs/performance.md, "Jobs: where a job's time went"), and starting jobs one by
one also kept their claims from sharing a database statement. This subclass keeps arq's Redis layout and rules
and only changes how many jobs one exchange serves:

* **poll**: one Lua script does what arq's poll does in three exchanges: read the due
  ids, mark those not already in progress as in progress (up to the free slots), and
  read the abort set. The checks are arq's (no in-progress key, a due score), made
  atomically by Redis instead of under WATCH, so two workers still never both start
  one job; the in-progress keys are read with one MGET, since most ids a busy worker
  reads are its own running jobs (they stay queued until they end). The jobs start
  together, so their claims reach :class:`worker.recorder.JobRecorder` together and
  share one statement.
* **end**: the ends of jobs that finish while the previous end is being written go in
  one MULTI/EXEC (:class:`shared.batching.Batcher`), each job's keys changed exactly
  as arq's ``finish_job`` would.
* **waiting**: between polls the worker waits on the queue's wake channel
  (:func:`shared.job_queue.wake_channel`, published by every enqueue and abort of
  :class:`shared.job_queue.JobQueue`) instead of sleeping, so a job starts as soon as
  it is enqueued; arq's ``poll_delay`` is how long it waits at most, which still finds
  what no message announces (a retry's deferred run, a cron run, an enqueue by plain
  arq). A full worker waits for one of its jobs to end instead, and a read that filled
  ``queue_read_limit`` is followed by another at once.
* **stopping**: arq stops by cancelling the task that polls, and on Python 3.11 a
  library can swallow that cancellation (:mod:`worker.cancellation`); the poll loop and
  the wake listener check for it every round.

Everything else (``run_job``: the job's GET and try counter, timeouts, retries and
aborts; cron, the health check, shutdown) is arq's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arq.constants import (
    abort_job_max_age,
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.utils import timestamp_ms, to_ms
from arq.worker import Worker
from redis.exceptions import RedisError

from shared.batching import Batcher
from shared.job_queue import wake_channel
from worker.cancellation import raise_if_cancelled

log = logging.getLogger(__name__)

# One poll: arq's read of due jobs, its in-progress marking and its look at the abort
# set, in one step. KEYS: the queue, the abort set; ARGV: now (ms), the in-progress
# key's lifetime (ms), how many jobs may start, how many due ids to read, the
# in-progress key prefix, and the abort set's cut-off score ('' when aborts are off).
# (The in-progress keys are named in the script, not in KEYS: arq supports no Redis
# Cluster anyway.) Returns whether the read was full, id, score, id, score, ... of the
# jobs this worker now holds, and the ids asked to abort.
_POLL = """
local now, room = ARGV[1], tonumber(ARGV[3])
local full, taken, aborted = 0, {}, {}
if room > 0 then
  local due = redis.call('zrangebyscore', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, ARGV[4])
  if #due >= 2 * tonumber(ARGV[4]) then full = 1 end
  local keys = {}
  for i = 1, #due, 2 do keys[#keys + 1] = ARGV[5] .. due[i] end
  if #keys > 0 then
    local running = redis.call('mget', unpack(keys))
    for j = 1, #keys do
      if room <= 0 then break end
      if not running[j] then
        redis.call('psetex', keys[j], ARGV[2], '1')
        taken[#taken + 1] = due[2 * j - 1]
        taken[#taken + 1] = due[2 * j]
        room = room - 1
      end
    end
  end
end
if ARGV[6] ~= '' then
  aborted = redis.call('zrange', KEYS[2], 0, -1)
  redis.call('zremrangebyscore', KEYS[2], ARGV[6], '+inf')
end
return {full, taken, aborted}
"""

# The longest one read of the wake channel waits before it looks again (``_listen``).
_LISTEN_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class _Finish:
    """The arguments of arq's ``finish_job`` for one job."""

    job_id: str
    finish: bool
    result_data: bytes | None
    result_timeout_s: float | None
    keep_result_forever: bool
    incr_score: int | None
    keep_in_progress: float | None


class BatchedWorker(Worker):
    """arq's Worker, starting and ending jobs in shared Redis exchanges (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._finishes: Batcher[_Finish, None] = Batcher(self._finish_batch)
        self._poll_script: Any = None
        # arq's poll loop sleeps poll_delay minus the iteration's time; the wait is ours.
        self._longest_wait, self.poll_delay_s = self.poll_delay_s, 0.0
        self._woken = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def _poll_iteration(self) -> None:
        """arq's ``_poll_iteration`` with its three exchanges made one, then the wait."""
        if self._listener is None:
            self._listener = self.loop.create_task(self._listen())
        if self._poll_script is None:
            self._poll_script = self.pool.register_script(_POLL)
        self._woken.clear()  # before the read: a message that comes during it is not lost
        count = self.queue_read_limit
        if self.burst and self.max_burst_jobs >= 0:
            remaining = self.max_burst_jobs - self._jobs_started()
            if remaining < 1:
                return
            count = min(remaining, count)
        now = timestamp_ms()
        room = self.max_jobs - self.job_counter if self.allow_pick_jobs else 0
        full, taken, aborted = await self._poll_script(
            keys=[self.queue_name, abort_jobs_ss],
            args=[
                now,
                int(self.in_progress_timeout_s * 1000),
                room,
                count,
                in_progress_key_prefix,
                now + abort_job_max_age if self.allow_abort_jobs else "",
            ],
        )
        for job_id_b, score in zip(taken[::2], taken[1::2], strict=True):
            await self.sem.acquire()  # never waits: at most `room` jobs were taken
            self.job_counter += 1
            job_id = job_id_b.decode()
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task
        if aborted:
            await self._abort([job_id.decode() for job_id in aborted])
        for job_id, t in list(self.tasks.items()):
            if t.done():
                del self.tasks[job_id]
                t.result()  # as arq: an error in run_job itself surfaces here
        await self.heart_beat()
        raise_if_cancelled()  # after the round's last Redis command, before any wait
        if full and self.job_counter < self.max_jobs:
            return  # the read may have left due jobs behind: read again at once
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._longest_wait):
                await self._woken.wait()

    async def _abort(self, job_ids: list[str]) -> None:
        """The rest of arq's ``_cancel_aborted_jobs``: cancel the ones running here."""
        aborted = {job_id for job_id in job_ids if job_id in self.job_tasks}
        for job_id in aborted:
            self.job_tasks[job_id].cancel()
        if aborted:
            self.aborting_tasks.update(aborted)
            await self.pool.zrem(abort_jobs_ss, *aborted)

    async def _listen(self) -> None:
        """Set ``_woken`` on every message of the wake channel; on failure, polling goes on alone.

        Each read waits at most ``_LISTEN_SECONDS``: a quiet channel is not a failure, so
        the pool's socket timeout (a limit for commands) must not apply to it, and every
        round checks the connection's health (a PING once the health-check interval has
        passed) and whether the listener was asked to stop.
        """
        pubsub = self.pool.pubsub()
        try:
            await pubsub.subscribe(wake_channel(self.queue_name))
            while True:
                raise_if_cancelled()
                if await pubsub.get_message(ignore_subscribe_messages=True, timeout=_LISTEN_SECONDS) is not None:
                    self._woken.set()
        except (RedisError, OSError) as exc:
            log.warning(
                "not listening for new jobs (%s: %s); polling every %.3fs", type(exc).__name__, exc, self._longest_wait
            )
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _release_sem_dec_counter_on_complete(self) -> None:
        if self.job_counter >= self.max_jobs:
            self._woken.set()  # a slot is free: read the queue again
        super()._release_sem_dec_counter_on_complete()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await super().close()

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        await self._finishes.submit(
            _Finish(job_id, finish, result_data, result_timeout_s, keep_result_forever, incr_score, keep_in_progress)
        )

    async def _finish_batch(self, finishes: list[_Finish]) -> Sequence[None]:
        """arq's ``finish_job`` for each, in one MULTI/EXEC."""
        deleted: list[str] = []
        finished: list[str] = []
        async with self.pool.pipeline(transaction=True) as tr:
            for f in finishes:
                if f.keep_in_progress is None:
                    deleted.append(in_progress_key_prefix + f.job_id)
                else:
                    tr.pexpire(in_progress_key_prefix + f.job_id, to_ms(f.keep_in_progress))
                if f.finish:
                    if f.result_data:
                        expire = None if f.keep_result_forever else f.result_timeout_s
                        tr.set(result_key_prefix + f.job_id, f.result_data, px=to_ms(expire))
                    deleted += [retry_key_prefix + f.job_id, job_key_prefix + f.job_id]
                    finished.append(f.job_id)
                elif f.incr_score:
                    tr.zincrby(self.queue_name, f.incr_score, f.job_id)
            if finished:
                tr.zrem(abort_jobs_ss, *finished)
                tr.zrem(self.queue_name, *finished)
            if deleted:
                tr.delete(*deleted)
            await tr.execute()
        return [None] * len(finishes)
