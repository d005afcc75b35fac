"""import_books: an uploaded CSV or JSON-lines file of books, validated row by row, inserted in batches.

Rules: every row must be a body ``POST /books`` would accept (:class:`shared.rules.BookRecord`).
A CSV needs a header naming exactly ``title, author, genre, year`` (any order, any case);
JSON lines are one object per line. Blank lines are skipped. A bad row is rejected with
its line number and the reason, and the rest go on; a file that cannot be read as a
whole (no such header, an unknown column) fails the job at once.

Exactly once, even when killed: each batch of up to ``BATCH`` rows is inserted in one
transaction together with its rejections and the job's checkpoint (``progress_done``:
rows consumed so far). The checkpoint is written compare-and-set
(``WHERE progress_done = <what this run last wrote> AND status = 'running'``), so a
batch either commits with its checkpoint or not at all, and a run that was cancelled
(or taken over by another worker) stops at its next batch without writing anything.
A retried import skips the rows before the checkpoint and carries on.

Speed (scripts/bench_import.py measures it): parsing and validation run in a thread,
one batch ahead of the database (the next batch is read while this one is written, and
the event loop keeps serving other jobs); each batch is one multi-row INSERT on the
driver (asyncmy rewrites an ``executemany`` into ``INSERT ... VALUES (...), (...)``),
and on MySQL the per-row count trigger stands aside for it while the batch adds its
count to ``row_counts`` in the same transaction (migration 0005).

The upload is read from the database (``shared.job_files``), chunk by chunk in order
with the next chunk read ahead, by a parser in a thread. It stays there after a success
until the cleanup removes the job (``JOB_RETENTION_DAYS``): deleting it at the end would
turn a retry after a crash between the last batch and the job's final record into a
failure. A failed or cancelled import's upload is deleted when the job ends
(``worker.jobs._runner``), since nothing can use it again.

Round trip with exports: an export writes a text cell that would start a spreadsheet
formula with one ``'`` in front (``worker.jobs.export``); the importer takes exactly one
leading ``'`` off a CSV cell that has that shape (quotes, then one of ``= + - @``, tab,
CR), so importing an exported file gives back the stored text, however many rounds.
The export's own columns (``id``, ``created_at``, ``updated_at``) are ignored: imported
books are new books.

An over-long cell (more than ``MAX_CELL`` characters, far beyond any valid field) is a
rejected row with its line number; reading goes on at the next line.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import msgspec
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import job_files, job_records
from shared.models import Book, ImportRejection, RowCount, utcnow
from shared.rules import BOOK_FIELDS, BookRecord
from worker.context import RunningJob
from worker.failures import PermanentError

log = logging.getLogger("worker.jobs.book_import")

BATCH = 5000
MAX_INLINE_REJECTIONS = 10_000  # in the job's result; all of them stay in import_rejections
MAX_REASON = 500
MAX_CELL = 64 * 1024  # characters; csv's field_size_limit, set for this process below
IGNORED_COLUMNS = ("id", "created_at", "updated_at")  # an export's columns that an import does not take

# The csv module's limit is process-wide; the worker reads no other CSV.
csv.field_size_limit(MAX_CELL)

# A cell an export neutralised: one ' added in front of (quotes and) a formula trigger.
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")

Record = tuple[int, Any]  # (line number, raw row)


class Superseded(PermanentError):
    """The job was cancelled, or another worker took it over: this run must stop."""


def _reason(exc: msgspec.ValidationError | msgspec.DecodeError) -> str:
    text = str(exc)
    message, sep, where = text.rpartition(" - at `$.")
    if sep:
        return f"{where.rstrip('`')}: {message}"[:MAX_REASON]
    return text.replace(" - at `$`", "")[:MAX_REASON]


def unquote_formula(cell: str) -> str:
    """Undo an export's neutralisation: one leading ``'`` off a cell of that shape."""
    return cell[1:] if _NEUTRALISED.match(cell) else cell


def csv_records(f: IO[str]) -> Iterator[Record]:
    """(line, dict) per CSV record after the header; undecodable bytes survive as surrogates."""
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip().lower() for h in header]
    unknown = sorted(set(names) - set(BOOK_FIELDS) - set(IGNORED_COLUMNS))
    missing = [n for n in BOOK_FIELDS if n not in names]
    if unknown or missing or len(names) != len(set(names)):
        raise PermanentError(
            f"the CSV header must name {', '.join(BOOK_FIELDS)} once each; "
            f"unknown: {unknown or 'none'}, missing: {missing or 'none'}"
        )
    line = reader.line_num
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield start, f"a cell is longer than {MAX_CELL} characters" if "field limit" in str(exc) else str(exc)
            continue
        line = reader.line_num
        if not row:
            continue
        if len(row) != len(names):
            yield start, f"expected {len(names)} fields, found {len(row)}"
        else:
            yield start, {n: unquote_formula(v) for n, v in zip(names, row, strict=True) if n in BOOK_FIELDS}


def jsonl_records(f: IO[bytes]) -> Iterator[Record]:
    """(line, bytes) per non-blank line; a line longer than MAX_CELL bytes is refused unread."""
    number = 0
    while raw := f.readline(MAX_CELL + 1):
        number += 1
        if len(raw) > MAX_CELL and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line, a piece at a time
                raw = f.readline(MAX_CELL)
            yield number, f"the line is longer than {MAX_CELL} bytes"
        elif raw.strip():
            yield number, raw


_decode_jsonl = msgspec.json.Decoder(BookRecord)


def validate(fmt: str, raw: Any) -> BookRecord | str:
    """The book, or why the row is refused."""
    if isinstance(raw, str):
        return raw  # already refused while reading (wrong number of fields)
    try:
        if fmt == "jsonl":
            return _decode_jsonl.decode(raw)
        if any("\udc80" <= ch <= "\udcff" for value in raw.values() for ch in value):
            return "not valid UTF-8"
        return msgspec.convert(raw, BookRecord, strict=False)  # CSV cells are text: "2005" is a year
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _reason(exc)


BookRow = tuple[str, str, str, int, datetime, datetime]
BOOK_COLUMNS = ("title", "author", "genre", "year", "created_at", "updated_at")
INSERT_BOOKS = f"INSERT INTO books ({', '.join(BOOK_COLUMNS)}) VALUES ({', '.join(['%s'] * len(BOOK_COLUMNS))})"  # noqa: S608 - constants


@dataclass
class Batch:
    consumed: int = 0
    books: list[BookRow] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)


def next_batch(records: Iterator[Record], fmt: str, job_id: str) -> Batch:
    """Read and validate up to BATCH rows (runs in a thread)."""
    batch = Batch()
    now = utcnow()
    for line, raw in itertools.islice(records, BATCH):
        batch.consumed += 1
        checked = validate(fmt, raw)
        if isinstance(checked, str):
            batch.rejections.append({"job_id": job_id, "line": line, "reason": checked})
        else:
            batch.books.append((checked.title, checked.author, checked.genre, checked.year, now, now))
    return batch


async def insert_books(conn: AsyncConnection, rows: list[BookRow]) -> None:
    """One multi-row INSERT in ``conn``'s transaction, keeping ``row_counts`` exact."""
    if conn.dialect.name != "mysql":
        await conn.execute(insert(Book), [dict(zip(BOOK_COLUMNS, row, strict=True)) for row in rows])
        return
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    async with driver.cursor() as cur:
        await cur.execute("SET @wadah_bulk_insert = 1")
        try:
            await cur.executemany(INSERT_BOOKS, rows)
        finally:
            await cur.execute("SET @wadah_bulk_insert = NULL")
    # Any one slot will do: only the sum is a count (migration 0010).
    await conn.execute(
        update(RowCount).where(RowCount.name == "books", RowCount.slot == 0).values(n=RowCount.n + len(rows))
    )


def open_upload(raw: io.RawIOBase, fmt: str) -> Iterator[Record]:
    buffered = io.BufferedReader(raw, buffer_size=job_files.CHUNK_BYTES)
    if fmt == "jsonl":
        return jsonl_records(buffered)
    return csv_records(io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline=""))


async def import_books(job: RunningJob, format: str, lines: int | None = None, **_: Any) -> dict[str, Any]:
    """``lines``: newlines the API counted in the upload (the progress total)."""
    engine = job.db.engine
    if await job_files.size(engine, job.id) is None:
        raise PermanentError("the uploaded file is no longer there")
    raw = job_files.ChunkReader(engine, job.id, asyncio.get_running_loop())
    records = open_upload(raw, format)
    total = max((lines or 0) - (1 if format == "csv" else 0), 0)
    done = job.progress_done
    ahead: asyncio.Future[Any] | None = None
    try:
        if done:
            log.info("resuming import at row %d", done + 1)
            await asyncio.to_thread(lambda: next(itertools.islice(records, done, done), None))
        ahead = asyncio.ensure_future(asyncio.to_thread(next_batch, records, format, job.id))
        while (batch := await ahead).consumed:
            ahead = asyncio.ensure_future(asyncio.to_thread(next_batch, records, format, job.id))
            await _commit(job, batch, done, total)
            done += batch.consumed
    finally:
        if ahead is not None:
            await asyncio.gather(ahead, return_exceptions=True)  # the reading thread finishes either way
        await raw.aclose()
    return await _summary(job, done)


async def _commit(job: RunningJob, batch: Batch, done: int, total: int) -> None:
    """The batch's rows, its rejections and the checkpoint: all or nothing."""
    async with job.db.engine.begin() as conn:
        if batch.books:
            await insert_books(conn, batch.books)
        if batch.rejections:
            await conn.execute(insert(ImportRejection), batch.rejections)
        moved = await job_records.checkpoint(
            conn, job.id, job.worker, done, done + batch.consumed, max(total, done + batch.consumed)
        )
        if not moved:
            raise Superseded("the import was cancelled or taken over; this run stopped")


async def _summary(job: RunningJob, done: int) -> dict[str, Any]:
    async with job.db.engine.begin() as conn:
        rejected = (
            await conn.scalar(select(func.count()).select_from(ImportRejection).where(ImportRejection.job_id == job.id))
            or 0
        )
        shown = (
            await conn.execute(
                select(ImportRejection.line, ImportRejection.reason)
                .where(ImportRejection.job_id == job.id)
                .order_by(ImportRejection.line)
                .limit(MAX_INLINE_REJECTIONS)
            )
        ).all()
        await job_records.set_total(conn, job.id, done)
    log.info("import finished: %d rows, %d inserted, %d rejected", done, done - rejected, rejected)
    return {
        "rows": done,
        "inserted": done - rejected,
        "rejected": rejected,
        "rejections": [{"line": line, "reason": reason} for line, reason in shown],
        "rejections_truncated": rejected > len(shown),
    }
