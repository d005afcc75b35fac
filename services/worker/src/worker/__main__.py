"""``python -m worker``: run the arq worker (with uvloop where available).

arq's worker stops when its Redis connection fails. Losing Redis for a while is
expected (a restart, a failover), so the worker is started again, with a backoff,
until it stops on a signal: jobs wait in their rows meanwhile, and nothing needs an
outside supervisor to bring the worker back. The heartbeat (``worker.heartbeat``) is
stamped by the running loop and between attempts, and removed when the worker stops.
"""

from __future__ import annotations

import asyncio
import logging
import time

from arq.worker import get_kwargs
from redis.exceptions import RedisError

from shared.settings import get_settings
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
    heartbeat = Heartbeat(get_settings().worker_heartbeat_file)
    heartbeat.clear()  # a previous container's stamp (same emptyDir) must not vouch for this one
    try:
        _serve(heartbeat)
    finally:
        heartbeat.clear()


def _serve(heartbeat: Heartbeat) -> None:
    backoff = 1.0
    while True:
        # A fresh loop per run: whatever a failed run left behind is cancelled with its loop.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            HeartbeatWorker(**get_kwargs(WorkerSettings), heartbeat=heartbeat).run()  # type: ignore[arg-type]
            return  # stopped by a signal
        except (RedisError, OSError) as exc:
            log.warning("worker lost Redis (%s: %s); starting again in %.0fs", type(exc).__name__, exc, backoff)
        finally:
            _close(loop)
        heartbeat.beat()
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def _close(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.close()


if __name__ == "__main__":
    main()
