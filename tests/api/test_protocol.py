"""The HTTP layer of ``python -m api`` (api.protocol) on the wire: head size, head and body time, its own answers.

Raw sockets, because a well-behaved client cannot send a head that never ends or a body
that stalls. The process runs with half-second time limits, so a test waits for the
server's timer, never for a sleep of its own.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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
