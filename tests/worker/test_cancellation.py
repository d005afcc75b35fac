"""worker.cancellation: a cancellation that asyncio.wait_for swallowed on Python 3.11 is still raised."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.cancels import swallow_own_cancel
from worker.cancellation import raise_if_cancelled


async def test_a_swallowed_cancellation_is_raised_at_the_next_check() -> None:
    reached: list[str] = []

    async def loop_that_checks() -> None:
        await swallow_own_cancel()
        reached.append("swallowed")
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
