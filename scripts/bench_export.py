"""Export speed: a real worker exports N books from MariaDB into the database as CSV; prints rows/s.

    uv run --frozen python scripts/bench_export.py [--rows 1000000] [--rounds 1]

Each round: a fresh database ``bench_wadah_export`` (migrated) filled with N books, one
export job written and enqueued as the API does, and ``python -m worker`` started
against it. rows/s = N / (finished_at - started_at) of the job row: the worker's own
time, reading one snapshot page by page, writing CSV (formula cells neutralised) and
storing it in 1 MiB chunks (``shared.job_files``). The file is then read back and its
rows counted, so a short or broken file fails the round. The database and the Redis
keys are removed afterwards.
"""

from __future__ import annotations

import sys

from bench_one_job import fresh, main, run_worker
from sqlalchemy import insert

from shared import job_files
from shared.db import Database
from shared.jobs import JobKind
from shared.models import Book, utcnow


async def fill(db: Database, rows: int) -> None:
    now = utcnow()
    async with db.engine.begin() as conn:
        for start in range(0, rows, 10_000):
            batch = [
                {"title": f"Book {n}", "author": f"Author {n % 977}", "genre": f"Genre {n % 13}", "year": 1900 + n % 120,
                 "created_at": now, "updated_at": now}
                for n in range(start, min(start + 10_000, rows))
            ]  # fmt: skip
            await conn.execute(insert(Book), batch)


async def one_round(server: str, redis_url: str, rows: int) -> float:
    async with fresh(server, redis_url, "export") as bench:
        await fill(bench.db, rows)
        async with bench.db.transaction() as tx:
            job = await bench.queue.request(tx, JobKind.EXPORT, {"resource": "books"}, requested_by=None)
        await bench.queue.send([(job.id, job.kind)])
        seconds = await run_worker(bench, job.id)
        lines = 0
        async for chunk in job_files.chunks(bench.db.engine, job.id):
            lines += chunk.count(b"\n")
        assert lines == rows + 1, (lines, rows + 1)
    return seconds


if __name__ == "__main__":
    sys.exit(main(__doc__ or "", "export", one_round))
