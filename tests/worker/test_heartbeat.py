"""The worker's heartbeat: stamped by arq's running loop on real Redis, silent when the loop is wedged.

The worker runs in a thread of this process with a clock the test moves, so "20 seconds
later" is a number, not a wait; what the test does wait for is the loop reacting.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import func

from shared.settings import Settings
from worker.healthcheck import check
from worker.heartbeat import INTERVAL_SECONDS, Heartbeat, heartbeat_age
from worker.heartbeat_worker import HeartbeatWorker

MAX_AGE = 20.0
LIMIT_SECONDS = 30.0  # a deadline for a hung test, not a speed requirement


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def test_a_beat_stamps_the_file_with_the_clock_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = Clock()
    heartbeat = Heartbeat(tmp_path / "run" / "heartbeat", clock)
    assert heartbeat_age(heartbeat.path, clock()) is None
    heartbeat.beat()
    assert heartbeat_age(heartbeat.path, clock()) == 0
    clock.advance(INTERVAL_SECONDS - 1)
    heartbeat.beat()
    assert heartbeat_age(heartbeat.path, clock()) == INTERVAL_SECONDS - 1
    clock.advance(1)
    heartbeat.beat()
    assert heartbeat_age(heartbeat.path, clock()) == 0
    heartbeat.clear()
    assert not heartbeat.path.exists()


def test_the_check_fails_without_a_stamp_and_once_the_stamp_is_older_than_the_limit(tmp_path: Path) -> None:
    clock = Clock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", clock)
    ok, line = check(heartbeat.path, MAX_AGE, clock())
    assert not ok and "no heartbeat" in line
    heartbeat.beat()
    clock.advance(MAX_AGE)
    assert check(heartbeat.path, MAX_AGE, clock())[0]
    clock.advance(1)
    ok, line = check(heartbeat.path, MAX_AGE, clock())
    assert not ok and "stuck or dead" in line


class ThreadedWorker:
    """A HeartbeatWorker on a real Redis queue of its own, in a thread with its own event loop."""

    def __init__(self, redis_url: str, queue: str, heartbeat: Heartbeat, functions: list[Any]) -> None:
        self.redis_url, self.queue, self.heartbeat, self.functions = redis_url, queue, heartbeat, functions
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.failure: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by stop()
            self.failure = exc

    async def _serve(self) -> None:
        worker = HeartbeatWorker(
            functions=self.functions,
            redis_settings=RedisSettings.from_dsn(self.redis_url),
            queue_name=self.queue,
            health_check_key=f"{self.queue}:health-check",
            health_check_interval=10,
            poll_delay=0.01,
            handle_signals=False,
            keep_result=0,
            heartbeat=self.heartbeat,
        )
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        try:
            await worker.main()
        except asyncio.CancelledError:
            pass
        finally:
            await worker.close()

    def stop(self) -> None:
        if self.loop is not None and self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(LIMIT_SECONDS)
        assert not self.thread.is_alive(), "the worker thread did not stop"
        if self.failure is not None and not isinstance(self.failure, asyncio.CancelledError):
            raise self.failure


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Released at the end in any case, so a failing test never leaves a wedged thread behind."""
    event = threading.Event()
    yield event
    event.set()


def test_a_worker_wedged_by_a_blocking_job_stops_stamping_and_fails_the_check(
    settings: Settings, tmp_path: Path, gate: threading.Event
) -> None:
    clock = Clock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", clock)
    queue = f"{settings.redis_namespace}-wedge-{secrets.token_hex(2)}:queue"
    wedged = threading.Event()

    async def blocking(ctx: dict[str, Any]) -> None:
        # A synchronous call that never returns (a driver without a timeout, a deadlock):
        # the event loop, and with it arq's main loop, stands still.
        wedged.set()
        gate.wait()

    worker = ThreadedWorker(settings.redis_url, queue, heartbeat, [func(blocking, name="blocking")])
    worker.thread.start()
    try:
        until(lambda: heartbeat_age(heartbeat.path, clock()) == 0, "the first beat")
        # The running loop follows the clock: five seconds on, a fresh stamp.
        clock.advance(INTERVAL_SECONDS)
        until(lambda: heartbeat_age(heartbeat.path, clock()) == 0, "a beat after the interval")
        assert check(heartbeat.path, MAX_AGE, clock())[0]

        async def enqueue() -> None:
            redis = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=queue)
            try:
                await redis.enqueue_job("blocking")
            finally:
                await redis.aclose()

        asyncio.run(enqueue())
        assert wedged.wait(LIMIT_SECONDS), "the blocking job never started"
        stamped = heartbeat.path.stat().st_mtime
        clock.advance(MAX_AGE + 1)
        ok, line = check(heartbeat.path, MAX_AGE, clock())
        assert not ok, line
        assert "stuck or dead" in line
        assert heartbeat.path.stat().st_mtime == stamped
        # Unwedged, the loop stamps again and the check passes.
        gate.set()
        until(lambda: heartbeat_age(heartbeat.path, clock()) == 0, "a beat after the job returned")
        assert check(heartbeat.path, MAX_AGE, clock())[0]
    finally:
        gate.set()
        worker.stop()
