"""shared.runtime: the collector leaves live objects alone, and still collects real garbage."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from shared.runtime import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector


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
