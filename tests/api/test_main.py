"""``python -m api`` alone, as ``docker run`` of the API image starts it: embedded SQLite, no Redis."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from shared.embedded import free_port
from tests.factories import user_body
from tests.servers import serving

WADAH_VARIABLE_PREFIXES = ("DATABASE_URL", "DB_", "REDIS_", "JWT_", "ENV", "IMPORT_", "EXPORT_")


@pytest.mark.process
def test_the_api_alone_migrates_its_embedded_database_and_serves_the_whole_api(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(WADAH_VARIABLE_PREFIXES)}
    env |= {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "WEB_CONCURRENCY": "2"}  # nothing listens there
    with serving(env, tmp_path / "api.log", cwd=tmp_path) as api, httpx.Client(base_url=api.url, timeout=10) as http:
        assert http.get("/books").status_code == 200
        body = user_body()
        assert http.post("/users", json=body).status_code == 201
        login = http.post("/login", json={"email": body["email"], "password": body["password"]})
        token = {"Authorization": f"Bearer {login.json()['token']}"}
        book = {"title": "Laskar Pelangi", "author": "Andrea Hirata", "genre": "Novel", "year": 2005}
        created = http.post("/books", json=book, headers=token)
        assert created.status_code == 201, created.text
        assert http.get("/books").json()["meta"]["total"] == 1
        upload = http.post(
            "/books/import",
            content=b"title,author,genre,year\nx,y,z,1\n",
            headers={**token, "Content-Type": "text/csv"},
        )
        assert upload.status_code == 202, upload.text  # queued; a worker would take it once Redis is there
        for path in ("/blogs", "/jobs", "/users"):
            assert http.get(path, headers=token).status_code == 200, path
    assert (tmp_path / "var" / "wadah.db").exists()  # the embedded database, where the image keeps it
