"""The HTTP layer of ``python -m api`` (api.protocol) on the wire: head size, head and body time, its own answers.

Raw sockets, because a well-behaved client cannot send a head that never ends or a body
that stalls. The process runs with half-second time limits, so a test waits for the
server's timer, never for a sleep of its own. The timers' finer rules are then checked
on the protocol alone, against a clock the test moves.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from api.protocol import BoundedHttpToolsProtocol
from shared.settings import Settings
from tests.servers import ApiProcess, serving

HEAD_LIMIT = 64 * 1024
TIMEOUT = 0.5  # the server's head and body time limits in this module
PATIENCE = 15.0  # how long a test waits for an answer that must come; a deadline, not a speed


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def served(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    env = {**worker_env, "HTTP_HEAD_TIMEOUT_SECONDS": str(TIMEOUT), "HTTP_BODY_IDLE_TIMEOUT_SECONDS": str(TIMEOUT)}
    with serving(env, tmp_path_factory.mktemp("protocol") / "api.log") as server:
        yield server


def connect(server: ApiProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def parse(raw: bytes) -> list[Answer]:
    """The responses in ``raw``, in order (bodies with a Content-Length or chunked)."""
    answers = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        if "content-length" in headers:
            length = int(headers["content-length"])
            body, raw = raw[:length], raw[length:]
        else:  # chunked
            body = b""
            while True:
                size_line, _, raw = raw.partition(b"\r\n")
                size = int(size_line, 16)
                body, raw = body + raw[:size], raw[size + 2 :]
                if size == 0:
                    break
        answers.append(Answer(int(status_line.split()[1]), headers, body))
    return answers


def assert_like_the_application(answer: Answer) -> None:
    """JSON with the headers every answer of the API carries."""
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    assert answer.headers["connection"] == "close"


def test_a_head_over_64_kib_is_refused_with_431_and_nothing_more_is_read(served: ApiProcess) -> None:
    with connect(served) as sock:
        # A head that has not ended at the limit: the server must answer now, not wait for the rest.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * HEAD_LIMIT)
        answers = parse(read_all(sock))
    assert [a.status for a in answers] == [431]
    assert answers[0].json() == {"message": f"the request head is larger than {HEAD_LIMIT} bytes"}
    assert_like_the_application(answers[0])


def test_a_head_just_under_the_limit_is_served(served: ApiProcess) -> None:
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
    with connect(served) as sock:
        sock.sendall(start + b"a" * (HEAD_LIMIT - len(start) - 4) + b"\r\n\r\n")
        answers = parse(read_all(sock))
    assert [a.status for a in answers] == [200]


def test_pipelined_requests_on_one_connection_are_each_answered(served: ApiProcess) -> None:
    """The head count starts again for each request, also when several arrive in one read."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1000 + b"\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with connect(served) as sock:
        sock.sendall(request * 30 + last)  # 30 KiB of heads in one write, each far below the limit
        answers = parse(read_all(sock))
    assert [a.status for a in answers] == [200] * 31


def test_a_head_that_does_not_arrive_in_time_is_a_408(served: ApiProcess) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        answers = parse(read_all(sock))
        waited = time.monotonic() - started
    assert [a.status for a in answers] == [408]
    assert answers[0].json() == {"message": f"the request head did not arrive within {TIMEOUT:g} s"}
    assert_like_the_application(answers[0])
    assert waited >= TIMEOUT * 0.9


def test_fifty_slow_heads_are_all_closed_and_the_api_keeps_answering(served: ApiProcess) -> None:
    clients = [connect(served) for _ in range(50)]
    try:
        for sock in clients:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        with connect(served) as probe:
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert [a.status for a in parse(read_all(probe))] == [200]
        statuses = [[a.status for a in parse(read_all(sock))] for sock in clients]
    finally:
        for sock in clients:
            sock.close()
    assert statuses == [[408]] * 50


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(served: ApiProcess) -> None:
    with connect(served) as sock:
        assert read_all(sock) == b""


def test_a_body_that_stalls_is_a_408(served: ApiProcess) -> None:
    with connect(served) as sock:
        sock.sendall(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"email": "a'
        )
        answers = parse(read_all(sock))
    assert [a.status for a in answers] == [408]
    assert answers[0].json() == {"message": f"the request body stalled for {TIMEOUT:g} s"}
    assert_like_the_application(answers[0])


def test_a_request_the_parser_refuses_is_a_json_400_with_the_security_headers(served: ApiProcess) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\x00: y\r\n\r\n")
        answers = parse(read_all(sock))
    assert [a.status for a in answers] == [400]
    assert answers[0].json() == {"message": "the request is not valid HTTP/1.1"}
    assert_like_the_application(answers[0])


# -- The timers against a clock the test moves (no server, no waiting) ---------------------


class Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Task:
    """Stands for the application's task, which these tests never run."""

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        pass


class Clock:
    """The little of an event loop the protocol uses: the time, timers, and tasks (never run)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def create_task(self, coroutine: Coroutine[Any, Any, None], **_: Any) -> Task:
        coroutine.close()
        return Task()

    def advance(self, seconds: float) -> None:
        """Move the clock on and run every timer that is due by then."""
        self.now += seconds
        due = [t for t in self.timers if t.when <= self.now and not t.cancelled]
        self.timers = [t for t in self.timers if t.when > self.now and not t.cancelled]
        for timer in due:
            timer.callback()


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def _app(scope: Any, receive: Any, send: Any) -> None:
    """Never runs (the clock's tasks are closed unstarted)."""


@pytest.fixture
def wire(settings: Settings) -> Iterator[tuple[BoundedHttpToolsProtocol, Transport, Clock]]:
    config = Config(app=_app, lifespan="off", log_level="warning")
    config.load()
    clock = Clock()
    limits = settings.model_copy(update={"http_head_timeout_seconds": 10.0, "http_body_idle_timeout_seconds": 30.0})
    protocol = BoundedHttpToolsProtocol(config, ServerState(), {}, clock, settings=limits)  # type: ignore[arg-type]
    transport = Transport()
    protocol.connection_made(transport)
    yield protocol, transport, clock
    protocol.connection_lost(None)


POST_HEAD = b"POST /books/import HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n"


def test_time_the_server_holds_a_body_back_does_not_count_against_the_client(
    wire: tuple[BoundedHttpToolsProtocol, Transport, Clock],
) -> None:
    protocol, transport, clock = wire
    protocol.data_received(POST_HEAD + b"x" * 70_000)  # past uvicorn's buffer: it stops reading
    assert not transport.reading
    clock.advance(100)  # the application has not read yet: the client is not stalling
    assert not transport.closed
    protocol.flow.resume_reading()  # the application reads; now the client must go on
    clock.advance(29)
    assert not transport.closed
    clock.advance(31)
    assert transport.closed and transport.written.startswith(b"HTTP/1.1 408 ")
    assert b'"the request body stalled for 30 s"' in transport.written


def test_a_body_that_keeps_coming_is_not_cut_off_however_long_it_takes(
    wire: tuple[BoundedHttpToolsProtocol, Transport, Clock],
) -> None:
    protocol, transport, clock = wire
    protocol.data_received(POST_HEAD)
    for _ in range(20):  # 20 x 25 s = 500 s in all, never 30 s without a byte
        clock.advance(25)
        protocol.data_received(b"x" * 100)
    assert not transport.closed


def test_the_head_limit_is_for_the_whole_head_not_between_its_bytes(
    wire: tuple[BoundedHttpToolsProtocol, Transport, Clock],
) -> None:
    protocol, transport, clock = wire
    protocol.data_received(b"GET /healthz HTTP/1.1\r\n")
    for _ in range(9):
        clock.advance(1)
        protocol.data_received(b"X-A: b\r\n")
    assert not transport.closed
    clock.advance(1.5)
    assert transport.closed and transport.written.startswith(b"HTTP/1.1 408 ")


def test_a_connection_between_requests_is_left_to_the_keep_alive_timer(
    wire: tuple[BoundedHttpToolsProtocol, Transport, Clock],
) -> None:
    protocol, transport, clock = wire
    protocol.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # a whole request; the answer is the app's
    clock.advance(3600)
    assert not transport.closed and transport.written == b""
