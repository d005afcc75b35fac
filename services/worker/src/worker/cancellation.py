"""Stopping a loop whose cancellation a library swallowed.

The worker stops its long-running tasks (arq's poll loop, the wake listener, the outbox
dispatcher) by cancelling them. On Python 3.11 ``asyncio.wait_for`` can swallow a
cancellation: when it arrives just as the awaited result does, ``wait_for`` returns the
result instead of raising (fixed in 3.12). redis-py sends every command through
``wait_for`` once its pool has a socket timeout, as wadah's pools have, so a SIGTERM, or
the restart after Redis was lost, could leave a loop running and the process stuck
until its supervisor killed it. The request stays counted on the task
(``Task.cancelling``), so a loop that checks it every round still stops.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise the cancellation this task was asked for, if it has not been raised yet."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
