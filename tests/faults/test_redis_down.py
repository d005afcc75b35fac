"""Redis stopped under a running API: reads and writes go on, /readyz says Redis, and it clears once Redis is back.

The Redis here is the test's own (tests.processes.RedisServer), never the shared one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.processes import RedisServer, redis_server
from tests.servers import ApiProcess, serving

pytestmark = pytest.mark.process

RECOVERY_LIMIT_SECONDS = 60  # a deadline for a hung test, not a claim about speed


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def api(
    own_redis: RedisServer, worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    env = {**worker_env, "REDIS_URL": own_redis.url}
    with serving(env, tmp_path_factory.mktemp("api") / "api.log") as server:
        yield server


def test_crud_keeps_working_while_redis_is_down_and_readyz_reports_it(own_redis: RedisServer, api: ApiProcess) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        assert http.get("/readyz").status_code == 200
        own_redis.stop()

        credentials = {"email": f"no-redis-{secrets.token_hex(4)}@example.com", "password": "correct horse battery"}
        user = http.post("/users", json={"name": "No Redis", **credentials})
        assert user.status_code == 201, user.text
        assert http.post("/login", json={**credentials, "password": "wrong password"}).status_code == 401
        login = http.post("/login", json=credentials)
        assert login.status_code == 200, login.text  # the throttle fails open
        auth = {"Authorization": f"Bearer {login.json()['token']}"}

        book = http.post("/books", json={"title": "T", "author": "A", "genre": "G", "year": 2005}, headers=auth)
        assert book.status_code == 201, book.text
        book_id = book.json()["data"]["id"]
        assert http.put(f"/books/{book_id}", json={"year": 2006}, headers=auth).json()["data"]["year"] == 2006
        assert http.get(f"/books/{book_id}").status_code == 200
        assert http.delete(f"/books/{book_id}", headers=auth).status_code == 200

        blog = http.post("/blogs", json={"title": "Offline", "content": "written without Redis"}, headers=auth)
        assert blog.status_code == 201, blog.text  # its stats job waits in the outbox
        blog_id = blog.json()["data"]["id"]
        assert http.put(f"/blogs/{blog_id}", json={"content": "edited"}, headers=auth).status_code == 200
        assert http.get("/blogs").status_code == 200
        assert http.delete(f"/blogs/{blog_id}", headers=auth).status_code == 200
        assert (
            http.put(f"/users/{user.json()['data']['id']}", json={"name": "Renamed"}, headers=auth).status_code == 200
        )

        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        assert set(ready.json()["checks"].values()) - {ready.json()["checks"]["redis"]} == {"ok"}

        own_redis.start()
        deadline = time.monotonic() + RECOVERY_LIMIT_SECONDS
        while (ready := http.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.status_code == 200, ready.text
    assert api.proc.poll() is None
    assert "Traceback" not in api.output()
