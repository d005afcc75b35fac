"""The batched arq worker (worker.arq_worker) on a real Redis: arq's rules, fewer exchanges.

Each test runs BatchedWorkers in this test's event loop on a queue of its own, with a
fallback poll of a minute: a job that starts within the test's deadline was started by
the enqueue's wake message or by a job's end, never by the poll.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.worker import func

from shared.job_queue import COMMAND_TIMEOUT_SECONDS, JobQueue, redis_client
from shared.jobs import deserialize, serialize
from shared.settings import Settings
from tests.cancels import swallow_own_cancel
from tests.processes import eventually
from worker.arq_worker import BatchedWorker

POLL_SECONDS = 60.0  # longer than any test's deadline


class Jobs:
    """A job kind whose runs wait for the test to release them, and what they saw."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []  # (worker, job id)
        self.running: dict[str, int] = {}
        self.most_running: dict[str, int] = {}
        self.cancelled: list[str] = []
        self.release = asyncio.Event()

    def function(self, worker: str) -> Any:
        async def hold(ctx: dict[str, Any]) -> None:
            self.started.append((worker, ctx["job_id"]))
            self.running[worker] = self.running.get(worker, 0) + 1
            self.most_running[worker] = max(self.most_running.get(worker, 0), self.running[worker])
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.append(ctx["job_id"])
                raise
            finally:
                self.running[worker] -= 1

        return func(hold, name="hold")


def batched_worker(
    settings: Settings,
    jobs: Jobs,
    name: str,
    queue_name: str,
    max_jobs: int,
    pool: ArqRedis | None = None,
    cls: type[BatchedWorker] = BatchedWorker,
) -> BatchedWorker:
    """A worker serving ``jobs`` on ``queue_name``; arq opens its own pool unless given ``pool``."""
    return cls(
        functions=[jobs.function(name)],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        redis_pool=pool,
        queue_name=queue_name,
        health_check_key=f"{queue_name}:health-check",
        poll_delay=POLL_SECONDS,
        max_jobs=max_jobs,
        keep_result=0,
        allow_abort_jobs=True,
        handle_signals=False,
        job_serializer=serialize,
        job_deserializer=deserialize,
    )


def own_queue(settings: Settings) -> str:
    return f"{settings.queue_name}:batched-{secrets.token_hex(3)}"


@asynccontextmanager
async def serving(
    settings: Settings,
    jobs: Jobs,
    names: list[str],
    max_jobs: int,
    connections: int | None = None,
    command_timeout_s: float = COMMAND_TIMEOUT_SECONDS,
) -> AsyncIterator[JobQueue]:
    """BatchedWorkers named ``names`` on a queue of this test's own, and a JobQueue that feeds it.

    With ``connections``, each worker gets a Redis pool of that many, as ``python -m worker`` does.
    """
    queue_name = own_queue(settings)
    workers = [
        batched_worker(
            settings,
            jobs,
            name,
            queue_name,
            max_jobs,
            None if connections is None else redis_client(settings, connections, command_timeout_s=command_timeout_s),
        )
        for name in names
    ]
    tasks = [asyncio.create_task(w.main()) for w in workers]
    redis = redis_client(settings)
    redis.default_queue_name = queue_name
    queue = JobQueue(redis)
    try:
        await eventually(lambda: _listening(redis, queue_name, len(workers)), limit=30, what="the workers listening")
        yield queue
    finally:
        jobs.release.set()  # every job ends and is recorded before the workers stop
        await eventually(
            _when(lambda: all(t.done() for w in workers for t in w.tasks.values())), limit=20, what="the jobs' ends"
        )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in workers:
            await w.close()
        await redis.aclose()


async def _listening(redis: ArqRedis, queue_name: str, count: int) -> bool:
    subscribers = await redis.pubsub_numsub(f"{queue_name}:wake")
    return bool(subscribers) and subscribers[0][1] >= count


def _ids(n: int) -> list[str]:
    return [f"batched-{secrets.token_hex(6)}" for _ in range(n)]


def _when(check: Callable[[], bool]) -> Callable[[], Any]:
    async def probe() -> bool:
        return check()

    return probe


async def test_an_enqueued_job_starts_on_the_wake_message_not_the_poll(settings: Settings) -> None:
    jobs = Jobs()
    async with serving(settings, jobs, ["w"], max_jobs=5) as queue:
        [job_id] = _ids(1)
        assert await queue.send([(job_id, "hold")]) == [job_id]
        await eventually(_when(lambda: len(jobs.started) == 1), limit=20, what="the job to start")
        assert jobs.started == [("w", job_id)]


async def test_two_workers_start_each_job_once_and_never_more_than_their_slots(settings: Settings) -> None:
    jobs = Jobs()
    ids = _ids(12)
    async with serving(settings, jobs, ["a", "b"], max_jobs=3) as queue:
        assert await queue.send([(job_id, "hold") for job_id in ids]) == ids
        await eventually(_when(lambda: len(jobs.started) == 6), limit=20, what="both workers full")
        assert max(jobs.most_running.values()) == 3
        jobs.release.set()  # every end frees a slot, which starts the next job without a poll
        await eventually(_when(lambda: len(jobs.started) == 12), limit=20, what="every job")
        redis = queue.redis
        await eventually(lambda: _cleared(redis, ids), limit=20, what="arq's keys removed")
    assert sorted(job_id for _, job_id in jobs.started) == sorted(ids)
    assert {worker for worker, _ in jobs.started} == {"a", "b"}


async def _cleared(redis: ArqRedis, ids: list[str]) -> bool:
    keys = [in_progress_key_prefix + i for i in ids] + [job_key_prefix + i for i in ids]
    return await redis.exists(*keys) == 0 and await redis.zcard(redis.default_queue_name) == 0


async def test_an_abort_reaches_the_running_job_without_a_poll(settings: Settings) -> None:
    jobs = Jobs()
    async with serving(settings, jobs, ["w"], max_jobs=5) as queue:
        [job_id] = _ids(1)
        await queue.send([(job_id, "hold")])
        await eventually(_when(lambda: len(jobs.started) == 1), limit=20, what="the job to start")
        await queue.abort(job_id)
        await eventually(_when(lambda: jobs.cancelled == [job_id]), limit=20, what="the job cancelled")
        redis = queue.redis
        await eventually(lambda: _cleared(redis, [job_id]), limit=20, what="the aborted job's keys removed")


async def test_an_id_redis_still_holds_is_not_enqueued_twice(settings: Settings) -> None:
    jobs = Jobs()
    async with serving(settings, jobs, ["w"], max_jobs=5) as queue:
        [job_id] = _ids(1)
        await queue.send([(job_id, "hold")])
        await queue.send([(job_id, "hold"), (job_id, "hold")])
        await eventually(_when(lambda: len(jobs.started) == 1), limit=20, what="the job to start")
        assert await queue.redis.zcard(queue.redis.default_queue_name) == 1


async def test_a_worker_with_two_redis_connections_runs_ten_jobs_at_once(settings: Settings) -> None:
    # One connection is held by the wake-up subscription; every job shares the other.
    jobs = Jobs()
    ids = _ids(10)
    async with serving(settings, jobs, ["w"], max_jobs=10, connections=2) as queue:
        assert await queue.send([(job_id, "hold") for job_id in ids]) == ids
        await eventually(_when(lambda: len(jobs.started) == 10), limit=20, what="all ten running")
        assert jobs.most_running == {"w": 10}
        jobs.release.set()
        redis = queue.redis
        await eventually(lambda: _cleared(redis, ids), limit=20, what="every job ended and its keys removed")


async def test_a_quiet_wake_channel_outlasts_the_pools_command_timeout(settings: Settings) -> None:
    # The pool's socket timeout limits commands; the subscription waits for messages as long as it takes.
    name = f"quiet-{secrets.token_hex(3)}"
    named = settings.model_copy(update={"redis_url": f"{settings.redis_url}?client_name={name}"})
    jobs = Jobs()
    async with serving(named, jobs, ["w"], max_jobs=5, connections=4, command_timeout_s=0.05) as queue:
        await eventually(
            lambda: _subscription_idle(queue.redis, name, seconds=1),
            limit=20,
            what="the subscription quiet for a second, twenty command timeouts",
        )
        [job_id] = _ids(1)
        await queue.send([(job_id, "hold")])
        await eventually(_when(lambda: len(jobs.started) == 1), limit=20, what="the job to start on the wake message")


async def _subscription_idle(redis: ArqRedis, name: str, seconds: int) -> bool:
    """Whether a connection named ``name`` is subscribed and has been quiet ``seconds``, as Redis counts."""
    return any(
        c.get("name") == name and int(c["sub"]) > 0 and int(c["idle"]) >= seconds for c in await redis.client_list()
    )


class SwallowingWorker(BatchedWorker):
    """Its first heart beat meets a stop as redis-py's send can on Python 3.11 (worker.cancellation)."""

    swallowed = False

    async def heart_beat(self) -> None:
        await super().heart_beat()
        if not self.swallowed:
            await swallow_own_cancel()
            self.swallowed = True


async def test_a_stop_that_a_library_swallowed_still_stops_the_worker(settings: Settings) -> None:
    worker = batched_worker(settings, Jobs(), "w", own_queue(settings), max_jobs=5, cls=SwallowingWorker)
    polling = asyncio.create_task(worker.main())
    try:
        done, _ = await asyncio.wait([polling], timeout=20)  # its wait for work would be a minute
        assert done == {polling}
        assert polling.cancelled()
        assert worker.swallowed == (sys.version_info < (3, 12))  # the stop was lost where 3.11 loses it
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await worker.close()
