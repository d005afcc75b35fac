"""POST /books/import on a real API process (uvicorn): the upload goes into the database as it arrives.

What only a real server shows: the process's memory while a large upload streams in,
a client that goes away half-way, and slow clients that must not hold the database's
connections while they dawdle.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shared.db import Database
from tests.factories import AUser, Factory
from tests.processes import eventually
from tests.servers import ApiProcess, serving
from tests.worker.test_book_import import stored_chunks

MB = 1 << 20
POOL = 4  # the served API's database pool, far below the number of slow uploads
MAX_BYTES = 56 * MB  # the served API's IMPORT_MAX_BYTES: room for the 50 MB upload, not much more


@pytest.fixture(scope="module")
def served(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    env = {
        **worker_env,
        "DB_POOL_SIZE": str(POOL),
        "IMPORT_MAX_BYTES": str(MAX_BYTES),
        "QUOTA_ACTIVE_IMPORTS": "100",  # twenty uploads of one user at once; the quotas have tests of their own
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
    }
    with serving(env, tmp_path_factory.mktemp("import-served") / "api.log") as server:
        yield server


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """The highest RSS of a process, sampled every few milliseconds while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def csv_body(rows: int, tag: str) -> Iterator[bytes]:
    yield b"title,author,genre,year\n"
    line = 0
    while line < rows:
        block = "".join(
            f"{tag}-{n},Someone Somewhere Else Entirely,Novel,{1900 + n % 100}\n" for n in range(line, line + 10_000)
        )
        line += 10_000
        yield block.encode()


async def upload(api: ApiProcess, user: AUser, body: Iterator[bytes]) -> httpx.Response:
    async def stream() -> AsyncIterator[bytes]:
        for piece in body:
            yield piece

    async with httpx.AsyncClient(base_url=api.url, timeout=120) as client:
        return await client.post("/books/import", content=stream(), headers={**user.auth, "Content-Type": "text/csv"})


@pytest.mark.process
async def test_a_50_mb_upload_grows_the_api_process_by_less_than_20_mb(served: ApiProcess, factory: Factory) -> None:
    user = await factory.user()
    warm = await upload(served, user, csv_body(20_000, "warm"))  # every code path loaded once
    assert warm.status_code == 202, warm.text
    body = list(csv_body(1_000_000, "big"))  # built before measuring: the client is this process
    size = sum(map(len, body))
    assert size >= 50 * MB
    before = rss_bytes(served.proc.pid)
    with PeakRss(served.proc.pid) as rss:
        response = await upload(served, user, iter(body))
    assert response.status_code == 202, response.text
    await cancel_imports(served, user)
    growth = rss.peak - before
    print(f"\nAPI RSS growth during a {size / MB:.1f} MB upload: {growth / MB:.1f} MB")
    assert growth < 20 * MB


@pytest.mark.process
async def test_an_upload_past_the_size_limit_is_413_and_its_stored_chunks_are_deleted(
    served: ApiProcess, factory: Factory, db: Database
) -> None:
    user = await factory.user()
    before = await stored_chunks(db)  # other tests' uploads still arriving, if any

    def too_big() -> Iterator[bytes]:
        yield b"title,author,genre,year\n"
        for _ in range(MAX_BYTES // (64 * 1024) + 1):  # 56 chunks are stored before the limit is passed
            yield b"x" * (64 * 1024)

    response = await upload(served, user, too_big())
    assert response.status_code == 413
    assert response.json()["message"] == f"the upload is larger than {MAX_BYTES} bytes"
    assert await stored_chunks(db) == before
    assert await user_jobs(served, user) == 0


async def raw_upload_start(
    api: ApiProcess, user: AUser, length: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that has sent the request head of an upload of ``length`` bytes, and no body yet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    head = (
        f"POST /books/import HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {user.token}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {length}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


async def user_jobs(api: ApiProcess, user: AUser) -> int:
    async with httpx.AsyncClient(base_url=api.url) as client:
        response = await client.get("/jobs", params={"kind": "import_books"}, headers=user.auth)
    assert response.status_code == 200, response.text
    return int(response.json()["meta"]["total"])


async def cancel_imports(api: ApiProcess, user: AUser) -> None:
    """Cancel the user's imports: uploaded to be measured, not run. Left queued, they
    would be the first thing a later test's worker runs (about 1.8 million rows from
    the tests below), holding the embedded SQLite's one write lock batch after batch
    while that test's own writes wait ("database is locked")."""
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
        listed = await client.get("/jobs", params={"kind": "import_books", "limit": 100}, headers=user.auth)
        assert listed.status_code == 200, listed.text
        for job in listed.json()["data"]:
            cancelled = await client.post(f"/jobs/{job['id']}/cancel", headers=user.auth)
            assert cancelled.status_code == 200, cancelled.text


@pytest.mark.process
async def test_a_client_that_disconnects_mid_upload_leaves_no_job_and_no_chunks(
    served: ApiProcess, factory: Factory, db: Database
) -> None:
    user = await factory.user()
    body = b"".join(csv_body(200_000, "gone"))  # ~8 MB: several chunks are stored before the cut
    before = await stored_chunks(db)  # other tests' uploads still arriving, if any
    _, writer = await raw_upload_start(served, user, len(body))
    writer.write(body[: 5 * MB])
    await writer.drain()

    async def some_chunks_stored() -> bool | None:
        return (await stored_chunks(db)) >= before + 2 or None

    await eventually(some_chunks_stored, limit=30, what="the first chunks of the upload")
    writer.close()  # the client goes away half-way

    async def nothing_left() -> bool | None:
        return (await stored_chunks(db)) == before or None

    await eventually(nothing_left, limit=30, what="the broken upload's chunks to be deleted")
    assert await user_jobs(served, user) == 0


@pytest.mark.process
async def test_twenty_slow_uploads_do_not_hold_the_database_pool(
    served: ApiProcess, factory: Factory, db: Database
) -> None:
    user = await factory.user()
    body = b"".join(csv_body(40_000, "slow"))  # ~1.6 MB: one chunk stored while the client waits
    assert len(body) > MB
    connections = [await raw_upload_start(served, user, len(body)) for _ in range(20)]
    for _, writer in connections:
        writer.write(body[: MB + 1000])
        await writer.drain()
    # Twenty uploads are open and waiting for the rest of their bodies, five times the pool.
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        for _ in range(5):
            started = time.monotonic()
            response = await client.get("/books", headers=user.auth)
            assert response.status_code == 200, response.text
            assert time.monotonic() - started < 5, "a request waited for a connection held by a slow upload"
    for _, writer in connections:
        writer.write(body[MB + 1000 :])
        await writer.drain()
    statuses = []
    for reader, writer in connections:
        status_line = await asyncio.wait_for(reader.readline(), 60)
        statuses.append(int(status_line.split()[1]))
        writer.close()
    assert statuses == [202] * 20
    await cancel_imports(served, user)
    assert await user_jobs(served, user) == 20
