"""A gate that lets at most ``width`` tasks through at once, the rest in order of arrival.

``asyncio.Semaphore`` can do the same, but on Python 3.11 every wait scans all the
waiters (``locked()``), removes its future from the middle of a deque and scans again
to wake the next. In front of a pool smaller than the number of requests in flight
some always wait, and that cost showed in the API's profile and throughput
(docs/performance.md). Here a freed place is handed straight to the oldest waiter:
each wait is one future, appended and later popped, and no newcomer overtakes it.
"""

from __future__ import annotations

import asyncio
from collections import deque


class FifoGate:
    """``async with gate:`` holds one of ``width`` places until the block ends."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, width: int) -> None:
        self._free = width
        # Live waiters exist only while no place is free; cancelled ones stay until a release skips them.
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self._free > 0:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a place, cancelled before using it: the next waiter gets it
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    @property
    def free(self) -> int:
        """Places nobody holds or has been handed."""
        return self._free
