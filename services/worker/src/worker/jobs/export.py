"""export: every live book or blog as a CSV file in EXPORT_DIR, for GET /exports/{id}/download.

The file is one consistent snapshot (all pages are read in one transaction), written
to a temporary name and renamed into place, so a download never sees half a file and a
retried export simply writes it again: idempotent. Times are UTC ISO 8601 with a ``Z``,
as in the API's JSON. Files are removed with their job by the cleanup.
"""

from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from shared.models import Blog, Book
from worker.context import RunningJob
from worker.failures import PermanentError

PAGE = 5000

RESOURCES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "books": (Book, ("id", "title", "author", "genre", "year", "created_at", "updated_at")),
    "blogs": (
        Blog,
        ("id", "user_id", "title", "content", "word_count", "reading_minutes", "created_at", "updated_at"),
    ),
}


def export_path(directory: Path, job_id: str) -> Path:
    return directory / f"{job_id}.csv"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return value


def _write(out: TextIO, rows: Sequence[Any]) -> None:
    csv.writer(out).writerows([_cell(v) for v in row] for row in rows)


async def export(job: RunningJob, resource: str) -> dict[str, Any]:
    if resource not in RESOURCES:
        raise PermanentError(f"cannot export {resource!r}")
    model, names = RESOURCES[resource]
    columns = [getattr(model, n) for n in names]
    directory = job.settings.export_dir
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    target = export_path(directory, job.id)
    part = directory / f".{job.id}.csv.part"
    rows = 0
    out = await asyncio.to_thread(part.open, "w", newline="", encoding="utf-8")
    try:
        await asyncio.to_thread(csv.writer(out).writerow, names)
        async with job.db.engine.connect() as conn, conn.begin():
            last = 0
            while True:
                page = (
                    await conn.execute(
                        select(*columns)
                        .where(model.deleted_at.is_(None), model.id > last)
                        .order_by(model.id)
                        .limit(PAGE)
                    )
                ).all()
                if not page:
                    break
                await asyncio.to_thread(_write, out, page)
                rows += len(page)
                last = page[-1][0]
    finally:
        await asyncio.to_thread(out.close)
    await asyncio.to_thread(os.replace, part, target)
    size = (await asyncio.to_thread(target.stat)).st_size
    return {"resource": resource, "rows": rows, "bytes": size}
