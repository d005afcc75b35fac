"""export: every live book or blog as a CSV file stored in the database, for GET /exports/{id}/download.

The file is one consistent snapshot (all pages are read in one transaction) and is
written chunk by chunk (``shared.job_files``, each chunk in its own short transaction
on another connection), so memory stays at about one page and one chunk whatever the
table's size. The job is marked succeeded only after the last chunk is stored, and the
download route serves only succeeded exports, so a download never sees half a file. A
retried export deletes what an earlier attempt stored and writes the file again:
idempotent. Times are UTC ISO 8601 with a ``Z``, as in the API's JSON. The file goes
with its job when the cleanup removes it.

Spreadsheet-safe (OWASP "CSV injection"): a text cell that would start a formula, one
that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, possibly after
leading ``'``, gets one ``'`` in front. What the API stores and returns is unchanged;
the importer takes that one ``'`` off again (``worker.jobs.book_import``), so an export
imported back gives the same text however many rounds it makes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shared import job_files
from shared.models import Blog, Book
from worker.context import RunningJob
from worker.failures import PermanentError

PAGE = 10_000

RESOURCES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "books": (Book, ("id", "title", "author", "genre", "year", "created_at", "updated_at")),
    "blogs": (
        Blog,
        ("id", "user_id", "title", "content", "word_count", "reading_minutes", "created_at", "updated_at"),
    ),
}

# Quotes, then a character that makes a spreadsheet read the cell as a formula.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


_RISKY_FIRST = frozenset("=+-@\t\r'")


def neutralise(text: str) -> str:
    """One ``'`` in front of a text cell a spreadsheet would run as a formula."""
    return "'" + text if text and text[0] in _RISKY_FIRST and _FORMULA.match(text) else text


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, datetime):  # naive UTC, as stored
        return value.isoformat() + "Z"
    return value


def encode_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8", errors="surrogateescape")


async def export(job: RunningJob, resource: str) -> dict[str, Any]:
    if resource not in RESOURCES:
        raise PermanentError(f"cannot export {resource!r}")
    model, names = RESOURCES[resource]
    columns = [getattr(model, n) for n in names]
    engine = job.db.engine
    await job_files.delete(engine, job.id)  # a retry starts the file again
    writer = job_files.ChunkWriter(engine, job.id)
    await writer.write(encode_rows([names]))
    rows = 0
    async with engine.connect() as conn, conn.begin():

        async def page_after(last: int) -> Sequence[Any]:
            query = select(*columns).where(model.deleted_at.is_(None), model.id > last).order_by(model.id).limit(PAGE)
            return (await conn.execute(query)).all()

        # The next page is read (the server's work, on its own core) while this one is
        # encoded and stored on another connection.
        page = await page_after(0)
        while page:
            ahead = asyncio.ensure_future(page_after(page[-1][0]))
            try:
                await writer.write(await asyncio.to_thread(encode_rows, page))
            except BaseException:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
                raise
            rows += len(page)
            page = await ahead
    size = await writer.close()
    return {"resource": resource, "rows": rows, "bytes": size}
