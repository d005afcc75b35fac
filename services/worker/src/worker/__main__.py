"""``python -m worker``: run the arq worker (with uvloop where available).

arq's worker stops when its Redis connection fails. Losing Redis for a while is
expected (a restart, a failover), so the worker is started again, with a backoff,
until it stops on a signal: jobs wait in their rows meanwhile, and nothing needs an
outside supervisor to bring the worker back. The heartbeat (``worker.heartbeat``) is
stamped by the running loop and between attempts, and removed when the worker stops.

SIGTERM and SIGINT stop it in every phase: arq handles them while its loop runs; between
runs (the backoff, setting up the next run) this module does, so a worker waiting for
Redis stops at once and cleanly instead of dying by the signal or missing it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType

from arq.worker import get_kwargs
from redis.exceptions import RedisError

from shared.job_queue import redis_client
from shared.logging import configure_logging
from shared.settings import Settings, get_settings
from shared.tracing import shutdown_tracing
from worker.heartbeat import Heartbeat
from worker.heartbeat_worker import HeartbeatWorker
from worker.settings import WorkerSettings

log = logging.getLogger("worker")

MAX_BACKOFF_SECONDS = 10.0


def main() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop has no Windows build
        pass
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    heartbeat = Heartbeat(settings.worker_heartbeat_file)
    heartbeat.clear()  # a previous container's stamp (same emptyDir) must not vouch for this one
    try:
        _serve(settings, heartbeat)
    finally:
        heartbeat.clear()


def _serve(settings: Settings, heartbeat: Heartbeat) -> None:
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    def handle_signals() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)

    handle_signals()
    backoff = 1.0
    while True:
        # A fresh loop per run: whatever a failed run left behind is cancelled with its loop.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            worker = HeartbeatWorker(
                **get_kwargs(WorkerSettings),  # type: ignore[arg-type]
                redis_pool=redis_client(settings, settings.worker_redis_connections),
                heartbeat=heartbeat,
            )
            # From here arq's handlers take the signals; one that came before is honoured now.
            if stopping.is_set():
                return
            worker.run()
            shutdown_tracing()  # export the spans still buffered
            return  # stopped by a signal
        except (RedisError, OSError) as exc:
            log.warning("worker lost Redis (%s: %s); starting again in %.0fs", type(exc).__name__, exc, backoff)
        finally:
            _close(loop)
            handle_signals()  # the closed loop's handlers must not swallow the next signal
        heartbeat.beat()
        if stopping.wait(backoff):
            log.warning("worker stopped while waiting for Redis")
            return
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def _close(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.close()


if __name__ == "__main__":
    main()
