"""POST /books/import end to end: upload, a real worker validates and inserts, the job reports.

Includes the acceptance test: a worker SIGKILLed half-way through an import, and a new
worker started, leaves every good row in the table exactly once.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import exists, func, select

from api.app import create_app
from shared import job_files
from shared.db import Database
from shared.jobs import decode_json
from shared.models import Book, Job, JobFileChunk
from shared.settings import Settings
from tests.factories import AUser, Factory
from tests.processes import WorkerProcess, eventually, workers

pytestmark = pytest.mark.process

CSV = {"Content-Type": "text/csv"}
JSONL = {"Content-Type": "application/x-ndjson"}


def books_csv(tag: str, rows: int, *, bad_every: int = 0) -> tuple[bytes, int]:
    """A CSV of ``rows`` books titled ``<tag>-<n>``; every ``bad_every``-th has a year that is not one."""
    lines = ["Title,Author,Genre,Year"]
    bad = 0
    for n in range(rows):
        if bad_every and n % bad_every == bad_every - 1:
            lines.append(f"{tag}-{n},Someone,Novel,MMV")
            bad += 1
        else:
            lines.append(f"{tag}-{n},Someone,Novel,{1900 + n % 100}")
    return ("\n".join(lines) + "\n").encode(), bad


async def books_titled(db: Database, tag: str) -> tuple[int, int]:
    """(rows, distinct titles) of books whose title starts with ``tag``."""
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(func.count(), func.count(func.distinct(Book.title))).where(Book.title.like(f"{tag}-%"))
            )
        ).one()
    return row[0], row[1]


async def stored_chunks(db: Database) -> int:
    """Chunks of job files that no job owns: what a refused or broken upload would leave."""
    async with db.sessions() as session:
        orphans = ~exists().where(Job.id == JobFileChunk.job_id)
        return int(await session.scalar(select(func.count()).select_from(JobFileChunk).where(orphans)) or 0)


async def job_of(client: AsyncTestClient[Litestar], user: AUser, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await client.get(f"/jobs/{job_id}", headers=user.auth)).json()["data"]
    return data


async def finished(client: AsyncTestClient[Litestar], user: AUser, job_id: str) -> dict[str, Any] | None:
    job = await job_of(client, user, job_id)
    return job if job["status"] not in ("queued", "running") else None


async def test_an_upload_is_accepted_and_its_good_rows_imported_with_each_rejection_explained(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user, other = await factory.user(), await factory.user()
    tag = "imp-" + secrets.token_hex(3)
    body = (
        "title,author,genre,year\n"
        f"{tag}-1,Andrea Hirata,Novel,2005\n"
        f",Nobody,Novel,2000\n"  # line 3: empty title
        f"{tag}-2,Pramoedya,History,1980\n"
        "\n"  # blank lines are skipped
        f"{tag}-3,Too,Many,1999,fields\n"  # line 6
        f"{tag}-4,Ayu Utami,Novel,10000\n"  # line 7: year out of range
        f'"{tag}-5, with a comma",Dee,"Sci-Fi",2001\n'
    ).encode()
    response = await client.post("/books/import", content=body, headers={**user.auth, **CSV})
    assert response.status_code == 202, response.text
    job = response.json()["data"]
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert (job["kind"], job["status"]) == ("import_books", "queued")

    with workers(worker_env, tmp_path):
        done = await eventually(lambda: finished(client, user, job["id"]))
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert (result["rows"], result["inserted"], result["rejected"]) == (6, 3, 3)
    assert [r["line"] for r in result["rejections"]] == [3, 6, 7]
    reasons = {r["line"]: r["reason"] for r in result["rejections"]}
    assert reasons[3].startswith("title:") and "length >= 1" in reasons[3]
    assert reasons[6] == "expected 4 fields, found 5"
    assert reasons[7].startswith("year:") and "<= 9999" in reasons[7]
    assert (done["progress_done"], done["progress_total"]) == (6, 6)
    assert await books_titled(db, tag) == (3, 3)
    assert (await client.get(f"/jobs/{job['id']}", headers=other.auth)).status_code == 404


async def test_json_lines_are_checked_like_post_books(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    tag = "jl-" + secrets.token_hex(3)
    lines = [
        {"title": f"{tag}-1", "author": "A", "genre": "", "year": 1},
        {"title": f"{tag}-2", "author": "A", "genre": "x", "year": "2001"},  # a string is not a year in JSON
        {"title": f"{tag}-3", "author": "A", "genre": "x", "year": 3, "isbn": "1"},  # unknown field
    ]
    body = b"\n".join(msgspec.json.encode(x) for x in lines) + b"\n{not json\n"
    response = await client.post("/books/import", content=body, headers={**user.auth, **JSONL})
    assert response.status_code == 202
    with workers(worker_env, tmp_path):
        done = await eventually(lambda: finished(client, user, response.json()["data"]["id"]))
    reasons = {r["line"]: r["reason"] for r in done["result"]["rejections"]}
    assert set(reasons) == {2, 3, 4}
    assert "year" in reasons[2] and "Expected `int`, got `str`" in reasons[2]
    assert "isbn" in reasons[3]
    assert "JSON" in reasons[4] or "malformed" in reasons[4].lower()
    assert await books_titled(db, tag) == (1, 1)


async def test_a_file_without_the_book_header_fails_at_once_with_the_reason(
    client: AsyncTestClient[Litestar], factory: Factory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    response = await client.post("/books/import", content=b"name,writer\nx,y\n", headers={**user.auth, **CSV})
    with workers(worker_env, tmp_path):
        done = await eventually(lambda: finished(client, user, response.json()["data"]["id"]))
    assert (done["status"], done["attempts"]) == ("failed", 1)
    assert "header must name title, author, genre, year" in done["error"]
    assert "missing" in done["error"] and "'name'" in done["error"]


@pytest.fixture
async def small_limits(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(settings.model_copy(update={"import_max_rows": 3, "import_max_bytes": 200}))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def test_uploads_that_cannot_be_imported_are_refused_up_front(
    client: AsyncTestClient[Litestar], small_limits: AsyncTestClient[Litestar], factory: Factory, db: Database
) -> None:
    user = await factory.user()
    before = await stored_chunks(db)  # other tests' uploads still arriving, if any
    wrong_type = await client.post(
        "/books/import", content=b"{}", headers={**user.auth, "Content-Type": "application/json"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["message"] == (
        "send text/csv, application/x-ndjson or application/octet-stream, not 'application/json'"
    )
    empty = await client.post("/books/import", content=b"", headers={**user.auth, **CSV})
    assert empty.status_code == 400 and empty.json()["message"] == "the upload is empty"
    too_many = await small_limits.post("/books/import", content=books_csv("x", 4)[0], headers={**user.auth, **CSV})
    assert too_many.status_code == 413 and too_many.json()["message"] == "the upload has more than 3 rows"
    too_big = await small_limits.post("/books/import", content=b"t,a,g,y\n" + b"x" * 300, headers={**user.auth, **CSV})
    assert too_big.status_code == 413 and too_big.json()["message"] == "the upload is larger than 200 bytes"
    assert (await client.post("/books/import", content=b"x", headers=CSV)).status_code == 401
    assert await stored_chunks(db) == before  # a refused upload leaves nothing behind


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b"title,author,genre,year\nA,B,C,2001\n", "csv"),
        (b'\xef\xbb\xbf{"title": "A", "author": "B", "genre": "C", "year": 2001}\n', "jsonl"),
        (b'\r\n  {"title": "A", "author": "B", "genre": "C", "year": 2001}\n', "jsonl"),
        (b"\xef\xbb\xbftitle,author,genre,year\n", "csv"),
    ],
    ids=["csv", "jsonl-with-bom", "jsonl-after-blank-lines", "csv-with-bom"],
)
async def test_a_file_sent_as_octet_stream_is_read_in_the_format_its_first_byte_shows(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, body: bytes, fmt: str
) -> None:
    """What a generated client sends for a file: ``{`` first means JSON lines, anything else CSV."""
    user = await factory.user()
    headers = {**user.auth, "Content-Type": "application/octet-stream"}
    response = await client.post("/books/import", content=body, headers=headers)
    assert response.status_code == 202, response.text
    async with db.sessions() as session:
        job = await session.get(Job, response.json()["data"]["id"])
    assert job is not None and decode_json(job.params)["format"] == fmt


async def test_a_worker_killed_mid_import_is_replaced_and_every_good_row_lands_once(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    tag = "kill-" + secrets.token_hex(3)
    rows = 150_000
    body, bad = books_csv(tag, rows, bad_every=1000)
    response = await client.post("/books/import", content=body, headers={**user.auth, **CSV})
    job_id = response.json()["data"]["id"]

    first = WorkerProcess(worker_env, tmp_path / "first.log")
    first.wait_ready()

    async def some_batches_committed() -> dict[str, Any] | None:
        job = await job_of(client, user, job_id)
        return job if job["progress_done"] > 0 else None

    progress = await eventually(some_batches_committed)
    first.kill()  # SIGKILL: no shutdown, no final write; the row stays "running" on a dead worker
    at_kill = await job_of(client, user, job_id)
    assert at_kill["status"] == "running", "the import finished before the kill; make the file larger"
    assert 0 < progress["progress_done"] < rows

    with workers(worker_env, tmp_path) as [second]:
        done = await eventually(lambda: finished(client, user, job_id), limit=180)
        assert "taking it over" in second.output()
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    result = done["result"]
    assert (result["rows"], result["inserted"], result["rejected"]) == (rows, rows - bad, bad)
    assert len({r["line"] for r in result["rejections"]}) == bad
    assert await books_titled(db, tag) == (rows - bad, rows - bad)  # each good row exactly once


async def test_cancelling_a_running_import_stops_it(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    tag = "cancel-" + secrets.token_hex(3)
    body, _ = books_csv(tag, 150_000)
    job_id = (await client.post("/books/import", content=body, headers={**user.auth, **CSV})).json()["data"]["id"]
    with workers(worker_env, tmp_path) as [worker]:
        await eventually(lambda: _progressed(client, user, job_id))
        cancelled = await client.post(f"/jobs/{job_id}/cancel", headers=user.auth)
        assert cancelled.status_code == 200, cancelled.text
        try:
            await eventually(lambda: _stopped(worker))
        except AssertionError:
            raise AssertionError(worker.output()[-3000:]) from None
        at_cancel = await books_titled(db, tag)
    job = await job_of(client, user, job_id)
    assert job["status"] == "cancelled"
    assert at_cancel[0] < 150_000 and job["progress_done"] == at_cancel[0]  # stopped at a batch boundary
    assert await books_titled(db, tag) == at_cancel


async def finished_job(client: AsyncTestClient[Litestar], user: AUser, job_id: str) -> dict[str, Any]:
    return await eventually(lambda: finished(client, user, job_id))


async def _progressed(client: AsyncTestClient[Litestar], user: AUser, job_id: str) -> bool:
    return (await job_of(client, user, job_id))["progress_done"] > 0


async def _stopped(worker: WorkerProcess) -> bool:
    """Aborted through arq, or stopped at its next checkpoint."""
    output = worker.output()
    return "interrupted" in output or "cancelled or taken over" in output


async def test_an_over_long_cell_is_a_rejected_row_and_the_import_goes_on(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    tag = "long-" + secrets.token_hex(3)
    csv_body = (
        "title,author,genre,year\n"
        f"{tag}-1,A,Novel,2001\n"
        f"{tag}-2,{'x' * 200_000},Novel,2002\n"  # line 3: past csv's field limit
        f"{tag}-3,{'y' * 1000},Novel,2003\n"  # line 4: within it, but no author is that long
        f"{tag}-4,A,Novel,2004\n"
    ).encode()
    jsonl_body = b"\n".join(
        [
            msgspec.json.encode({"title": f"{tag}-j1", "author": "A", "genre": "x", "year": 1}),
            msgspec.json.encode({"title": "z" * 200_000, "author": "A", "genre": "x", "year": 2}),  # line 2
            msgspec.json.encode({"title": f"{tag}-j3", "author": "A", "genre": "x", "year": 3}),
        ]
    )
    ids = [
        (await client.post("/books/import", content=body, headers={**user.auth, **kind})).json()["data"]["id"]
        for body, kind in ((csv_body, CSV), (jsonl_body, JSONL))
    ]
    with workers(worker_env, tmp_path):
        done = [await eventually(lambda job_id=job_id: finished(client, user, job_id)) for job_id in ids]
    assert [job["status"] for job in done] == ["succeeded", "succeeded"], done
    csv_reasons = {r["line"]: r["reason"] for r in done[0]["result"]["rejections"]}
    assert csv_reasons == {3: "a cell is longer than 65536 characters", 4: csv_reasons[4]}
    assert csv_reasons[4].startswith("author:")
    assert [(r["line"], r["reason"]) for r in done[1]["result"]["rejections"]] == [
        (2, "the line is longer than 65536 bytes")
    ]
    assert await books_titled(db, tag) == (4, 4)  # -1, -4, -j1, -j3


async def test_an_exported_file_imports_back_with_the_same_text_round_after_round(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """Exports put one ' before a formula-like cell; the importer takes exactly that one off."""
    user = await factory.user()
    tag = "rt-" + secrets.token_hex(3)
    titles = [f'=HYPERLINK("http://x.example","{tag}")', f"'=already quoted {tag}", f"+{tag}", f"plain {tag}"]
    for title in titles:
        await factory.book(title=title, author="@someone", genre="-x")
    with workers(worker_env, tmp_path):
        for _ in range(2):  # export, import the file; twice
            export_id = (await client.post("/exports", json={"resource": "books"}, headers=user.auth)).json()["data"][
                "id"
            ]
            await finished_job(client, user, export_id)
            exported = (await client.get(f"/exports/{export_id}/download", headers=user.auth)).content
            mine = [line for line in exported.decode().splitlines() if tag in line]
            lines = [exported.decode().splitlines()[0], *mine[: len(titles)]]  # this round's source rows
            imported = await client.post(
                "/books/import", content="\n".join(lines).encode(), headers={**user.auth, **CSV}
            )
            done = await finished_job(client, user, imported.json()["data"]["id"])
            assert done["result"]["rejected"] == 0, done
    async with db.sessions() as session:
        stored = (
            await session.execute(select(Book.title, Book.author, Book.genre).where(Book.title.contains(tag)))
        ).all()
    assert sorted(stored) == sorted((t, "@someone", "-x") for t in titles * 3)  # the originals and two imports


async def test_a_failed_import_leaves_no_file(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    response = await client.post("/books/import", content=b"name,writer\nx,y\n", headers={**user.auth, **CSV})
    job_id = response.json()["data"]["id"]
    assert await job_files.size(db.engine, job_id) is not None  # the whole file is there before the job runs
    with workers(worker_env, tmp_path):
        done = await eventually(lambda: finished(client, user, job_id))
    assert done["status"] == "failed"
    assert await job_files.size(db.engine, job_id) is None


async def test_a_cancelled_import_leaves_no_file(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database
) -> None:
    user = await factory.user()
    response = await client.post("/books/import", content=books_csv("c", 10)[0], headers={**user.auth, **CSV})
    job_id = response.json()["data"]["id"]
    assert (await client.post(f"/jobs/{job_id}/cancel", headers=user.auth)).status_code == 200
    assert await job_files.size(db.engine, job_id) is None
