"""Process-level tuning shared by the API and the worker."""

from __future__ import annotations

import gc
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
