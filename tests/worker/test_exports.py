"""POST /exports and GET /exports/{id}/download, with a real worker writing the CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared import job_files
from shared.db import Database
from tests.factories import AUser, Factory
from tests.processes import eventually, workers

pytestmark = pytest.mark.process


async def finished(client: AsyncTestClient[Litestar], user: AUser, job_id: str) -> dict[str, Any] | None:
    job: dict[str, Any] = (await client.get(f"/jobs/{job_id}", headers=user.auth)).json()["data"]
    return job if job["status"] not in ("queued", "running") else None


async def test_an_export_of_books_downloads_as_csv_for_its_requester_only(
    client: AsyncTestClient[Litestar], factory: Factory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user, other = await factory.user(), await factory.user()
    book = await factory.book(title='Laskar "Pelangi", the first')
    gone = await factory.book()
    await client.delete(f"/books/{gone.id}", headers=user.auth)

    response = await client.post("/exports", json={"resource": "books"}, headers=user.auth)
    assert response.status_code == 202, response.text
    job = response.json()["data"]
    assert response.headers["location"] == f"/jobs/{job['id']}"
    early = await client.get(f"/exports/{job['id']}/download", headers=user.auth)
    assert early.status_code == 409 and "queued" in early.json()["message"]

    with workers(worker_env, tmp_path):
        done = await eventually(lambda: finished(client, user, job["id"]))
    assert done["status"] == "succeeded", done

    download = await client.get(f"/exports/{job['id']}/download", headers=user.auth)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="books-\d{8}T\d{6}Z\.csv"', download.headers["content-disposition"])
    assert int(download.headers["content-length"]) == len(download.content) == done["result"]["bytes"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert list(rows[0]) == ["id", "title", "author", "genre", "year", "created_at", "updated_at"]
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[book.id]["title"] == 'Laskar "Pelangi", the first'
    assert by_id[book.id]["created_at"].endswith("Z")
    assert gone.id not in by_id  # deleted rows are not exported
    assert done["result"]["rows"] == len(rows)

    for accept, content_type in [
        ("application/octet-stream", "application/octet-stream"),
        ("text/csv;q=0.5, application/octet-stream;q=0.9", "application/octet-stream"),
        ("*/*", "text/csv; charset=utf-8"),
        ("application/json", "text/csv; charset=utf-8"),  # neither named: the CSV, as without Accept
    ]:
        same = await client.get(f"/exports/{job['id']}/download", headers={**user.auth, "Accept": accept})
        assert (same.status_code, same.headers["content-type"]) == (200, content_type), accept
        assert same.content == download.content

    assert (await client.get(f"/exports/{job['id']}/download", headers=other.auth)).status_code == 404


async def test_blogs_export_and_the_errors_of_download(
    client: AsyncTestClient[Litestar], factory: Factory, db: Database, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    blog = await factory.blog(user, content="line one\nline two, with a comma")
    bad = await client.post("/exports", json={"resource": "users"}, headers=user.auth)
    assert bad.status_code == 400
    job_id = (await client.post("/exports", json={"resource": "blogs"}, headers=user.auth)).json()["data"]["id"]
    with workers(worker_env, tmp_path):
        await eventually(lambda: finished(client, user, job_id))
    download = await client.get(f"/exports/{job_id}/download", headers=user.auth)
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(download.text))}
    assert rows[blog.id]["content"] == "line one\nline two, with a comma"
    assert rows[blog.id]["user_id"] == str(user.id)

    await job_files.delete(db.engine, job_id)  # as the cleanup does with the job
    assert (await client.get(f"/exports/{job_id}/download", headers=user.auth)).status_code == 410
    welcome = (await client.get("/jobs", headers=user.auth)).json()["data"]
    not_an_export = next((j["id"] for j in welcome if j["kind"] != "export"), None)
    if not_an_export is not None:
        assert (await client.get(f"/exports/{not_an_export}/download", headers=user.auth)).status_code == 404


async def test_formula_cells_are_neutralised_in_the_file_and_stored_unchanged(
    client: AsyncTestClient[Litestar], factory: Factory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    user = await factory.user()
    cells = ['=HYPERLINK("http://x.example","click")', "+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "'=quoted", "a=b"]
    books = [await factory.book(title=cell) for cell in cells]
    job_id = (await client.post("/exports", json={"resource": "books"}, headers=user.auth)).json()["data"]["id"]
    with workers(worker_env, tmp_path):
        await eventually(lambda: finished(client, user, job_id))
    download = await client.get(f"/exports/{job_id}/download", headers=user.auth)
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(download.text, newline=""))}
    exported = [rows[book.id]["title"] for book in books]
    assert exported == [*("'" + cell for cell in cells[:-1]), "a=b"]  # ' before each formula; a=b is no formula
    for book, cell in zip(books, cells, strict=True):
        assert (await client.get(f"/books/{book.id}")).json()["data"]["title"] == cell  # what was sent, unchanged
