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
from sqlalchemy import func, select

from api.app import create_app
from shared.db import Database
from shared.models import Book
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
    client: AsyncTestClient[Litestar], small_limits: AsyncTestClient[Litestar], factory: Factory, settings: Settings
) -> None:
    user = await factory.user()
    wrong_type = await client.post(
        "/books/import", content=b"{}", headers={**user.auth, "Content-Type": "application/json"}
    )
    assert wrong_type.status_code == 415 and "text/csv" in wrong_type.json()["message"]
    empty = await client.post("/books/import", content=b"", headers={**user.auth, **CSV})
    assert empty.status_code == 400 and empty.json()["message"] == "the upload is empty"
    too_many = await small_limits.post("/books/import", content=books_csv("x", 4)[0], headers={**user.auth, **CSV})
    assert too_many.status_code == 413 and "more than 4 rows" in too_many.json()["message"]
    too_big = await small_limits.post("/books/import", content=b"t,a,g,y\n" + b"x" * 300, headers={**user.auth, **CSV})
    assert too_big.status_code == 413
    assert (await client.post("/books/import", content=b"x", headers=CSV)).status_code == 401
    leftovers = [p for p in settings.import_dir.glob(".*.part")]
    assert leftovers == []  # a refused upload leaves no file behind


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


async def _progressed(client: AsyncTestClient[Litestar], user: AUser, job_id: str) -> bool:
    return (await job_of(client, user, job_id))["progress_done"] > 0


async def _stopped(worker: WorkerProcess) -> bool:
    """Aborted through arq, or stopped at its next checkpoint."""
    output = worker.output()
    return "interrupted" in output or "cancelled or taken over" in output
