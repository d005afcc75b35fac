"""MariaDB stopped under a running API: 503s that say so, /readyz names MySQL, and service resumes by itself.

The MariaDB here is the test's own (``mariadb-install-db`` into a temporary datadir,
``mariadbd`` on a free port), so the machine's shared server keeps running; the API is a
real ``python -m api`` process on a database migrated there first.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.mysql import throwaway_database
from tests.servers import ApiProcess, MariaDBServer, serving

pytestmark = pytest.mark.process

UNAVAILABLE = {"message": "the database is unavailable, try again shortly"}
RECOVERY_LIMIT_SECONDS = 90  # a deadline for a hung test, not a claim about speed


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    server = MariaDBServer(tmp_path_factory.mktemp("mariadb"))
    server.install()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(
    mariadb: MariaDBServer, worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    with throwaway_database(mariadb.server_url, "faults", migrated=True) as url:
        env = {**worker_env, "DATABASE_URL": url, "REDIS_NAMESPACE": f"{worker_env['REDIS_NAMESPACE']}-mariadb-down"}
        with serving(env, tmp_path_factory.mktemp("api") / "api.log") as server:
            yield server


def until_status(http: httpx.Client, method: str, path: str, status: int, **kwargs: object) -> httpx.Response:
    deadline = time.monotonic() + RECOVERY_LIMIT_SECONDS
    while True:
        response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_requests_get_503_while_mariadb_is_down_and_succeed_again_once_it_is_back(
    mariadb: MariaDBServer, api: ApiProcess
) -> None:
    credentials = {"email": f"down-{secrets.token_hex(4)}@example.com", "password": "correct horse battery"}
    with httpx.Client(base_url=api.url, timeout=30) as http:
        assert http.post("/users", json={"name": "Down", **credentials}).status_code == 201
        token = http.post("/login", json=credentials).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        book = {"title": "Laskar Pelangi", "author": "Andrea Hirata", "genre": "Novel", "year": 2005}
        book_id = http.post("/books", json=book, headers=auth).json()["data"]["id"]
        assert http.get("/readyz").json()["checks"] == {"mysql": "ok", "redis": "ok"}

        mariadb.stop()
        request_id = f"mariadb-down-{secrets.token_hex(4)}"
        answers = [
            http.get(f"/books/{book_id}", headers={"X-Request-ID": request_id}),
            http.get("/books"),
            http.post("/books", json=book, headers=auth),
            http.put(f"/books/{book_id}", json={"year": 2006}, headers=auth),
            http.get("/users", headers=auth),
            http.post("/login", json=credentials),
            http.post(
                "/users",
                json={
                    "name": "Late",
                    "email": f"late-{secrets.token_hex(4)}@example.com",
                    "password": "correct horse battery",
                },
            ),
        ]
        for response in answers:
            assert response.status_code == 503, (response.request.method, response.request.url, response.text)
            assert response.json() == UNAVAILABLE
            assert response.headers["retry-after"].isdigit()
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["mysql"].startswith("unavailable") and ready.json()["checks"]["redis"] == "ok"
        logged = [line for line in api.output().splitlines() if f"request_id={request_id}" in line]
        assert any("database unavailable" in line for line in logged), api.output()[-3000:]

        mariadb.start()
        back = until_status(http, "GET", f"/books/{book_id}", 200)
        assert back.status_code == 200, back.text
        assert back.json()["data"]["year"] == 2005  # the refused update changed nothing
        assert until_status(http, "POST", "/books", 201, json=book, headers=auth).status_code == 201
        assert http.get("/readyz").status_code == 200
    assert api.proc.poll() is None  # the same process, never restarted
    assert "Traceback" not in api.output()
