"""Group commit for small writes: callers await their own item, one statement serves many.

A job's record is written at its start and its end. One statement (and one commit, that
is one fsync) per write would cost more than the job itself on a busy worker, so
writes that arrive while the previous batch is in flight wait and go together, and a
batch may ``linger`` a moment (a millisecond or two) for company before it is flushed:
arq starts jobs one after another, each after a Redis round trip, so without it their
claims would mostly go one by one.

The linger is only paid while busy, that is when the previous batch had company: a
lone write on an idle process goes at once, so waiting for company never adds to the
latency of a job that had none to wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """``await submit(item)`` returns ``flush([...])[i]`` for the batch the item went in."""

    def __init__(
        self, flush: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_size: int = 500, linger: float = 0.0
    ) -> None:
        self._flush = flush
        self._max_size = max_size
        self._linger = linger
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # the last batch had more than one item

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        # The batch runs in its own task: if the caller is cancelled, its write still lands.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        try:
            while self._pending:
                if self._busy and self._linger and len(self._pending) < self._max_size:
                    await asyncio.sleep(self._linger)
                batch, self._pending = self._pending[: self._max_size], self._pending[self._max_size :]
                self._busy = len(batch) > 1
                try:
                    results = await self._flush([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
        finally:
            self._task = None

    async def wait(self) -> None:
        """Until every submitted item has been flushed (at shutdown)."""
        while self._task is not None:
            await asyncio.shield(self._task)
