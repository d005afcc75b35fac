"""The API as production serves it (``python -m api``, uvicorn): headers, body cap and log lines on the wire.

This process gets a Redis address where nothing listens, so that a login writes a
warning (the throttle fails open) and the test can find the request's id in that line.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from api.app import MAX_BODY_BYTES
from shared.embedded import free_port
from tests.factories import Factory
from tests.servers import ApiProcess, serving

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def served(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    env = {**worker_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "LOG_LEVEL": "INFO"}
    with serving(env, tmp_path_factory.mktemp("served") / "api.log") as server:
        yield server


def test_no_server_banner_and_the_security_headers_on_the_wire(served: ApiProcess) -> None:
    for response in (httpx.get(f"{served.url}/healthz"), httpx.get(f"{served.url}/nowhere")):
        assert "server" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_a_requests_id_is_in_the_api_log_lines_written_for_it(served: ApiProcess, factory: Factory) -> None:
    user = await factory.user()
    request_id = f"served-{secrets.token_hex(6)}"
    async with httpx.AsyncClient(base_url=served.url) as api:
        response = await api.post(
            "/login", json={"email": user.email, "password": user.password}, headers={"X-Request-ID": request_id}
        )
    assert response.status_code == 200 and response.headers["x-request-id"] == request_id
    lines = [line for line in served.output().splitlines() if f"request_id={request_id}" in line]
    assert any("login throttle unavailable" in line for line in lines), served.output()[-3000:]


async def test_a_streamed_body_over_the_cap_is_413_without_a_content_length(
    served: ApiProcess, factory: Factory
) -> None:
    """No Content-Length to refuse up front: the cap counts the bytes as they arrive."""
    user = await factory.user()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "x", "author": "y", "genre": "z", "year": 2005, "pad": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    headers = {"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as api:
        response = await api.post("/books", content=chunks(), headers=headers)
    assert response.status_code == 413, response.text
    assert response.json() == {"message": f"request body is larger than {MAX_BODY_BYTES} bytes"}
