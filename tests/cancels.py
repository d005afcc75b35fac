"""A cancellation lost the way Python 3.11's ``asyncio.wait_for`` loses it, for tests of worker.cancellation."""

from __future__ import annotations

import asyncio


async def swallow_own_cancel() -> None:
    """Cancel the running task just as an awaited result arrives inside ``wait_for``.

    Before Python 3.12 ``wait_for`` then returns the result and this returns normally,
    with the request still counted on the task; from 3.12 the cancellation is raised.
    """
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[None] = loop.create_future()
    loop.call_soon(arrived.set_result, None)
    loop.call_soon(asyncio.current_task().cancel)  # type: ignore[union-attr]
    await asyncio.wait_for(arrived, 60)
