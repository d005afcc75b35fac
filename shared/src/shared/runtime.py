"""Process-level tuning shared by the API and the worker."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move everything allocated at start-up out of the garbage collector's sight.

    Importing Litestar, SQLAlchemy and the models leaves a great many long-lived
    objects; every full (generation 2) collection walked them all, a stop long enough to
    show in the API's tail latency under load (docs/performance.md has the figures).
    They live as long as the process, so
    ``gc.freeze()`` after start-up puts them in the permanent generation and later
    collections only scan what requests allocate. Call it once the process is ready.
    """
    gc.collect()
    gc.freeze()
