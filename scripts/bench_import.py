"""Book import speed: a real worker imports an N-row CSV into MariaDB; prints rows/s.

    uv run --frozen python scripts/bench_import.py [--rows 1000000] [--rounds 1]

Each round: a fresh database ``bench_wadah_import`` (migrated), a CSV of N books (1% with
a year that is not one, so the rejection path is measured too) stored in the database
as the API stores an upload (``shared.job_files``), one import job written and enqueued
as the API does, and ``python -m worker`` started against it. rows/s = N / (finished_at - started_at) of the job row: the
worker's own time, parsing, validating, inserting in batches and checkpointing, with
triggers keeping the row count. The database and the Redis keys are removed afterwards.
"""

from __future__ import annotations

import sys

from bench_one_job import fresh, main, run_worker
from sqlalchemy import func, select

from shared import job_files
from shared.db import Database
from shared.jobs import JobKind, new_job_id
from shared.models import Book


async def store_csv(db: Database, job_id: str, rows: int) -> tuple[int, int]:
    """Write the CSV into the job's file as an upload is written; (bad rows, lines)."""
    writer = job_files.ChunkWriter(db.engine, job_id)
    await writer.write(b"title,author,genre,year\n")
    bad = 0
    lines: list[str] = []
    for n in range(rows):
        if n % 100 == 99:
            lines.append(f"Book {n},Author {n % 977},Genre {n % 13},MMV\n")
            bad += 1
        else:
            lines.append(f"Book {n},Author {n % 977},Genre {n % 13},{1900 + n % 120}\n")
        if len(lines) == 10_000:
            await writer.write("".join(lines).encode())
            lines.clear()
    await writer.write("".join(lines).encode())
    await writer.close()
    return bad, rows + 1


async def one_round(server: str, redis_url: str, rows: int) -> float:
    async with fresh(server, redis_url, "import") as bench:
        job_id = new_job_id()
        bad, lines = await store_csv(bench.db, job_id, rows)
        async with bench.db.transaction() as tx:
            job = await bench.queue.request(
                tx, JobKind.IMPORT_BOOKS, {"format": "csv", "lines": lines}, requested_by=None, job_id=job_id
            )
        await bench.queue.send([(job.id, job.kind)])
        seconds = await run_worker(bench, job.id)
        async with bench.db.sessions() as session:
            inserted = await session.scalar(select(func.count()).select_from(Book))
        assert inserted == rows - bad, (inserted, rows - bad)
    return seconds


if __name__ == "__main__":
    sys.exit(main(__doc__ or "", "import", one_round))
