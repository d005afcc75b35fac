"""This worker process's own proof of life: a file its poll loop touches every few seconds.

arq's health key cannot tell one replica from another: it belongs to the queue, so any
live worker keeps it fresh for a wedged or dead neighbour, and arq's default interval is
an hour. A liveness probe must judge the process it would restart, so each process
stamps a file of its own (an ``emptyDir`` in Kubernetes, the container's ``var/`` in
compose) from arq's main loop, right after each poll, and the health check reads the
stamp's age. A loop stuck on a blocking call or a hung Redis command stops stamping, as
does a dead process. The stamp is the file's modification time, written from a clock
the caller may replace, so tests move time instead of waiting for it. (arq's Worker
stamping it is ``worker.heartbeat_worker``: kept apart, so that the health check, run
every few seconds as a probe, does not import arq.)

While Redis is unreachable the loop in ``worker.__main__`` stamps between its attempts:
a worker waiting for Redis is doing the right thing, and restarting it would not bring
Redis back.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

INTERVAL_SECONDS = 5.0

Clock = Callable[[], float]


class Heartbeat:
    def __init__(self, path: Path, clock: Clock = time.time, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.clock = clock
        self.interval = interval
        self._last: float | None = None

    def beat(self) -> None:
        """Stamp the file with the clock's time, at most once per interval (the loop calls it every poll)."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        os.utime(self.path, (now, now))
        self._last = now

    def clear(self) -> None:
        """Remove the stamp: a process that has stopped, or not yet started polling, is not alive."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._last = None


def heartbeat_age(path: Path, now: float) -> float | None:
    """Seconds since the last stamp, or None when there is none."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return None
