"""``python -m worker.healthcheck``: exit 0 if this container's worker loop is alive, else 1.

The worker image's HEALTHCHECK and its Kubernetes liveness and startup probes. It reads
the heartbeat this process's own poll loop stamps every few seconds
(``worker.heartbeat``; ``WORKER_HEARTBEAT_FILE``) and fails once the stamp is older than
``WORKER_HEARTBEAT_MAX_AGE_SECONDS`` or missing. Not arq's health key: that belongs to
the queue, so another replica keeps it fresh for a wedged one, and a SIGKILLed worker's
key outlives it. No network call, so a slow Redis cannot make the probe itself time out.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from shared.settings import get_settings
from worker.heartbeat import heartbeat_age


def check(path: Path, max_age: float, now: float) -> tuple[bool, str]:
    """Whether the heartbeat at ``path`` is fresh at ``now``, and the line to print."""
    age = heartbeat_age(path, now)
    if age is None:
        return False, f"unhealthy: no heartbeat at {path}: the worker has not started polling, or has stopped"
    if age > max_age:
        return False, (
            f"unhealthy: the worker's loop last stamped {path} {age:.0f}s ago (limit {max_age:.0f}s): "
            "it is stuck or dead"
        )
    return True, f"healthy: heartbeat {max(age, 0):.1f}s old"


def main() -> int:
    settings = get_settings()
    ok, line = check(settings.worker_heartbeat_file, settings.worker_heartbeat_max_age_seconds, time.time())
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
