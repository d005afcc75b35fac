"""SIGTERM on a loaded API: what is in flight completes, new connections are refused, the exit code is 0.

A request is provably in flight when SIGTERM arrives: it is sent with ``Expect:
100-continue`` and its body is held back until uvicorn says ``100 Continue``, which it
does only once the application is reading the body (past authentication, inside the
handler). Meanwhile other clients keep sending requests on fresh connections.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import book_body
from tests.servers import ApiProcess, serving

pytestmark = pytest.mark.process

LIMIT_SECONDS = 60  # deadlines for a hung test, not claims about speed
LOAD_CLIENTS = 4


@pytest.fixture
def api(worker_env: dict[str, str], tmp_path: Path) -> Iterator[ApiProcess]:
    with serving({**worker_env, "LOG_LEVEL": "INFO"}, tmp_path / "api.log") as server:
        yield server


@dataclass
class Load:
    """Clients sending GET /books on a new connection each, until told to stop."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                response = httpx.get(f"{self.url}/books", headers={"Connection": "close"}, timeout=30)
            except httpx.TransportError as exc:  # refused, or reset before an answer began
                self.failures.append(type(exc).__name__)
                time.sleep(0.01)
            else:
                self.statuses.append(response.status_code)


def held_request(api: ApiProcess, token: str) -> tuple[socket.socket, bytes]:
    """POST /books with its headers sent and its body held back until the app asks for it."""
    body = json.dumps(book_body(title="in flight at SIGTERM")).encode()
    head = (
        f"POST /books HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    conn = socket.create_connection(("127.0.0.1", api.port), timeout=LIMIT_SECONDS)
    conn.sendall(head)
    assert conn.recv(64).startswith(b"HTTP/1.1 100 Continue")  # the handler is waiting for the body
    return conn, body


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def read_response(conn: socket.socket) -> tuple[int, dict[str, Any]]:
    raw = b""
    while chunk := conn.recv(65536):
        raw += chunk
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def signed_up(api: ApiProcess) -> str:
    """A token for a user registered through the API itself."""
    credentials = {"email": f"sigterm-{secrets.token_hex(4)}@example.com", "password": "correct horse battery"}
    with httpx.Client(base_url=api.url, timeout=LIMIT_SECONDS) as http:
        assert http.post("/users", json={"name": "Sigterm", **credentials}).status_code == 201
        token: str = http.post("/login", json=credentials).json()["token"]
    return token


def test_sigterm_finishes_what_is_in_flight_refuses_new_connections_and_exits_0(api: ApiProcess) -> None:
    token = signed_up(api)
    load = Load(api.url)
    clients = [threading.Thread(target=load.run) for _ in range(LOAD_CLIENTS)]
    for client in clients:
        client.start()
    try:
        while len(load.statuses) < 20:  # the load is on
            assert not load.failures, load.failures
            time.sleep(0.05)
        conn, body = held_request(api, token)
        answered_before = len(load.statuses)
        api.terminate()

        deadline = time.monotonic() + LIMIT_SECONDS
        while not refuses_connections(api.port):
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        assert api.proc.poll() is None  # still running: it waits for the held request

        conn.sendall(body)
        status, answer = read_response(conn)
        conn.close()
        assert status == 201, answer
        assert answer["data"]["title"] == "in flight at SIGTERM"
    finally:
        load.stop.set()
        for client in clients:
            client.join()

    assert api.wait(timeout=LIMIT_SECONDS) == 0
    assert answered_before >= 20
    assert set(load.statuses) == {200}, load.statuses  # every request that was answered was answered fully
    assert set(load.failures) <= {"ConnectError", "RemoteProtocolError", "ReadError"}
    log = api.output()
    assert "Finished server process" in log and "Traceback" not in log
