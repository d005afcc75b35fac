"""Process-level tuning shared by the API and the worker."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Final

# Allocations (net of deallocations) of container objects between two collections of
# the youngest generation; CPython's default is 700.
YOUNG_GENERATION_THRESHOLD: Final = 10_000


def tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the request path; call it once the process is ready.

    Two costs, both measured under load (docs/performance.md has the figures):

    * Importing Litestar, SQLAlchemy and the models leaves a great many long-lived
      objects, and every full (generation 2) collection walked them all, a stop long
      enough to show in the API's tail latency. They live as long as the process, so
      ``gc.freeze()`` puts them in the permanent generation, where collections no longer
      scan them.
    * The youngest generation is collected whenever allocations outrun deallocations by
      the threshold. With 32 requests in flight, each holding its frames, scope and
      response objects, the count crosses CPython's 700 every few dozen requests even
      though the requests leave no cyclic garbage behind: each of those collections
      walks the in-flight objects and frees nothing. A higher threshold leaves
      collections to real garbage (an exception's traceback cycle, say), which is
      still collected, just in larger and rarer batches.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)


async def collect_fully_every(interval_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Run a full collection every ``interval_s`` seconds, until cancelled; the worker runs this.

    With start-up's objects frozen and the young threshold raised, CPython's own schedule
    hardly ever reaches a full collection: a worker draining a backlog went minutes
    without one. A full collection is also the only time CPython empties its free lists
    (up to 2,000 spare tuples of each length, and spare lists, dicts and floats), so
    without one they only fill: every burst of more tuples of one length than any burst
    before leaves its spares behind, and a worker's resident memory crept for its first
    tens of thousands of jobs before levelling off (docs/performance.md, "Memory under
    load"). On the frozen heap a full collection takes a few milliseconds: harmless
    between jobs, but a stall the API's request path does not need, so only the worker
    runs it.
    """
    while True:
        await sleep(interval_s)
        gc.collect()
