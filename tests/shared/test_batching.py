"""shared.batching.Batcher: many callers' writes share one flush, and an idle one waits for nobody."""

from __future__ import annotations

import asyncio

import pytest

from shared.batching import Batcher


class Recorder:
    """A flush that remembers its batches and answers each item with its double."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)
        if self.fail:
            raise self.fail
        return [i * 2 for i in items]


async def test_items_submitted_together_share_one_flush_and_each_gets_its_own_answer() -> None:
    flush = Recorder()
    batcher = Batcher(flush)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert flush.batches == [[0, 1, 2, 3, 4]]


async def test_a_lone_item_on_an_idle_batcher_is_flushed_without_waiting_for_company() -> None:
    flush = Recorder()
    batcher = Batcher(flush, linger=3600)  # were the linger paid, this would hang
    assert await asyncio.wait_for(batcher.submit(7), 10) == 14
    assert await asyncio.wait_for(batcher.submit(8), 10) == 16
    assert flush.batches == [[7], [8]]


async def test_once_busy_a_batch_lingers_for_the_items_that_follow() -> None:
    flush = Recorder()
    batcher = Batcher(flush, linger=1.0)
    await asyncio.gather(batcher.submit(1), batcher.submit(2))  # a batch with company: busy
    first = asyncio.create_task(batcher.submit(3))
    for _ in range(3):
        await asyncio.sleep(0)
    second = asyncio.create_task(batcher.submit(4))  # arrives during the linger
    assert await asyncio.gather(first, second) == [6, 8]
    assert flush.batches == [[1, 2], [3, 4]]


async def test_batches_never_exceed_max_size() -> None:
    flush = Recorder()
    batcher = Batcher(flush, max_size=2)
    await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert flush.batches == [[0, 1], [2, 3], [4]]


async def test_a_failed_flush_raises_in_every_caller_of_that_batch() -> None:
    batcher = Batcher(Recorder(fail=RuntimeError("database away")))
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert [str(r) for r in results] == ["database away", "database away"]


async def test_a_cancelled_caller_does_not_cancel_its_write() -> None:
    flush = Recorder()
    batcher = Batcher(flush)
    caller = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await batcher.wait()
    assert flush.batches == [[1]]
