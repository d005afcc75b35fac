"""shared.runtime: the collector leaves live objects alone, still collects real garbage,
and the worker's scheduled full collections empty CPython's free lists."""

from __future__ import annotations

import asyncio
import gc
import re
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from shared.runtime import YOUNG_GENERATION_THRESHOLD, collect_fully_every, tune_garbage_collector


@pytest.fixture
def tuned() -> Iterator[list[int]]:
    """The collector as a ready process has it; yields the generations of the collections that ran."""
    threshold = gc.get_threshold()
    collections: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    tune_garbage_collector()
    gc.callbacks.append(record)
    try:
        yield collections
    finally:
        gc.callbacks.remove(record)
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_objects_alive_at_start_up_are_out_of_the_collectors_sight(tuned: list[int]) -> None:
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD


def test_a_few_thousand_live_objects_cause_no_collection(tuned: list[int]) -> None:
    # What 32 requests in flight hold at once: under CPython's default of 700 this many
    # live containers triggered several collections that found nothing to free.
    live = [{"request": i} for i in range(YOUNG_GENERATION_THRESHOLD // 2)]
    assert tuned == []
    assert len(live) == YOUNG_GENERATION_THRESHOLD // 2


def test_reference_cycles_are_still_collected(tuned: list[int]) -> None:
    class Node:
        other: Node

    freed: list[int] = []
    for i in range(2 * YOUNG_GENERATION_THRESHOLD):
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        weakref.finalize(a, freed.append, i)
    del a, b
    assert tuned, "no collection ran"
    assert len(freed) >= YOUNG_GENERATION_THRESHOLD // 2


OLDEST_GENERATION = 2  # a full collection


class Clock:
    """Stands in for ``asyncio.sleep``: each wait passes at once, and the ``stop_after``-th ends the loop."""

    def __init__(self, stop_after: int) -> None:
        self.waits: list[float] = []
        self.stop_after = stop_after

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == self.stop_after:
            raise asyncio.CancelledError


def spare_tuples(length: int, capfd: pytest.CaptureFixture[str]) -> int:
    """How many freed tuples of ``length`` CPython keeps for reuse (its free list)."""
    capfd.readouterr()
    sys._debugmallocstats()
    match = re.search(rf"^\s*([\d,]+) free {length}-sized PyTupleObjects", capfd.readouterr().err, re.M)
    assert match, "CPython's allocator statistics name no such free list"
    return int(match.group(1).replace(",", ""))


def test_a_full_collection_runs_once_per_interval_until_cancelled(tuned: list[int]) -> None:
    clock = Clock(stop_after=4)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(collect_fully_every(10.0, clock.sleep))
    assert clock.waits == [10.0] * 4
    assert tuned.count(OLDEST_GENERATION) == 3  # one after each of the first three waits


def test_the_scheduled_collection_empties_the_free_lists(tuned: list[int], capfd: pytest.CaptureFixture[str]) -> None:
    # A burst of 19-tuples alive at once, then freed: CPython keeps their memory as spares
    # for the next 19-tuples, and only a full collection gives it back to the allocator.
    burst = [tuple(range(i, i + 19)) for i in range(1_500)]
    del burst
    assert spare_tuples(19, capfd) >= 1_000
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(collect_fully_every(10.0, Clock(stop_after=2).sleep))
    assert spare_tuples(19, capfd) < 100
