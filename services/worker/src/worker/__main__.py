"""``python -m worker``: run the arq worker (with uvloop where available)."""

from __future__ import annotations

import asyncio

from arq.worker import run_worker

from worker.settings import WorkerSettings


def main() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop has no Windows build
        pass
    run_worker(WorkerSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
