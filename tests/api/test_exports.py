"""GET /exports/{id}/download on a real API process: a large file streams out in bounded memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from shared import job_files
from shared.db import Database
from tests.api.test_book_import import MB, PeakRss, rss_bytes
from tests.factories import Factory
from tests.servers import ApiProcess, serving


@pytest.fixture(scope="module")
def served(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    env = {**worker_env, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"}
    with serving(env, tmp_path_factory.mktemp("export-served") / "api.log") as server:
        yield server


@pytest.mark.process
async def test_a_40_mb_export_downloads_whole_while_the_api_grows_by_less_than_20_mb(
    served: ApiProcess, factory: Factory, db: Database
) -> None:
    user = await factory.user()
    job_id = await factory.finished_export(user)
    writer = job_files.ChunkWriter(db.engine, job_id)
    digest = hashlib.sha256()
    for n in range(40):
        piece = f"{n:03d}\n".encode() * (MB // 4)
        digest.update(piece)
        await writer.write(piece)
    size = await writer.close()
    assert size >= 40 * MB

    received = hashlib.sha256()
    got = 0
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
        warm = await client.get(f"/exports/{job_id}/download", headers=user.auth)  # every code path loaded once
        assert warm.status_code == 200
        before = rss_bytes(served.proc.pid)
        with PeakRss(served.proc.pid) as rss:
            async with client.stream("GET", f"/exports/{job_id}/download", headers=user.auth) as response:
                assert response.status_code == 200
                assert int(response.headers["content-length"]) == size
                async for piece in response.aiter_raw():
                    received.update(piece)
                    got += len(piece)
    assert (got, received.hexdigest()) == (size, digest.hexdigest())
    growth = rss.peak - before
    print(f"\nAPI RSS growth during a {size / MB:.0f} MB download: {growth / MB:.1f} MB")
    assert growth < 20 * MB
