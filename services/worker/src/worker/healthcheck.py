"""``python -m worker.healthcheck``: exit 0 if a worker on this queue is alive, else 1.

The worker image's HEALTHCHECK. A running arq worker rewrites its health key
(``WorkerSettings.health_check_key``) every ``health_check_interval`` seconds with a
time-to-live just above that interval, so the key exists exactly while some worker keeps
polling the queue; a hung event loop or a worker cut off from Redis lets it expire.
The key belongs to the queue, not to one process: with several replicas it proves that
the queue is being served and that this container reaches Redis, which is what an
orchestrator can act on. A replica whose process dies exits, and its restart policy
brings it back.
"""

from __future__ import annotations

import asyncio
import sys

from shared.job_queue import redis_client
from shared.settings import get_settings
from worker.settings import WorkerSettings

TIMEOUT_SECONDS = 4.0


async def health_info() -> bytes | None:
    """arq's last health record (jobs done, failed, ongoing, queued), or None if it expired."""
    redis = redis_client(get_settings())
    try:
        info: bytes | None = await asyncio.wait_for(redis.get(WorkerSettings.health_check_key), TIMEOUT_SECONDS)
        return info
    finally:
        await redis.aclose()


def main() -> int:
    try:
        info = asyncio.run(health_info())
    except Exception as exc:  # any failure to read the key means unhealthy, with the reason
        print(f"unhealthy: cannot read {WorkerSettings.health_check_key}: {type(exc).__name__}: {exc}")
        return 1
    if info is None:
        print(f"unhealthy: no worker has refreshed {WorkerSettings.health_check_key} recently")
        return 1
    print(f"healthy: {info.decode(errors='replace')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
