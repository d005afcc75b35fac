"""worker.cancellation: a cancellation that asyncio.wait_for swallowed on Python 3.11 is still raised."""

from __future__ import annotations

import asyncio
import sys

import pytest

from worker.cancellation import raise_if_cancelled


async def swallow_own_cancel() -> bool:
    """Cancel the running task just as an awaited result arrives inside ``wait_for``; whether it was lost."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[None] = loop.create_future()
    loop.call_soon(arrived.set_result, None)
    loop.call_soon(asyncio.current_task().cancel)  # type: ignore[union-attr]
    await asyncio.wait_for(arrived, 60)
    return True


async def test_a_swallowed_cancellation_is_raised_at_the_next_check() -> None:
    reached: list[str] = []

    async def loop_that_checks() -> None:
        reached.append("swallowed" if await swallow_own_cancel() else "")
        raise_if_cancelled()
        reached.append("after the check")

    task = asyncio.create_task(loop_that_checks())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "after the check" not in reached
    assert reached == (["swallowed"] if sys.version_info < (3, 12) else [])


async def test_a_task_nobody_cancelled_goes_on() -> None:
    async def checks() -> str:
        raise_if_cancelled()
        return "went on"

    assert await asyncio.create_task(checks()) == "went on"
