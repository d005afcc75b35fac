"""The embedded Redis starts through the moment its server has a socket file but does not yet accept."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import redis

from shared.embedded import EmbeddedRedis, wait_until_answering


def bound_not_listening(path: Path) -> socket.socket:
    """A Unix socket as redis-server leaves it between ``bind()`` and ``listen()``."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    return server


def answer_one_ping(server: socket.socket) -> threading.Thread:
    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(b"+PONG\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def client_of(path: Path) -> redis.Redis:
    # No CLIENT SETINFO on connect: the stand-in server answers one PING and nothing else.
    return redis.Redis(unix_socket_path=str(path), lib_name=None, lib_version=None)


def test_a_refused_ping_is_tried_again_until_the_server_listens(tmp_path: Path) -> None:
    path = tmp_path / "redis.socket"
    server = bound_not_listening(path)
    client = client_of(path)
    refusals: list[Exception] = []

    def ping() -> object:
        try:
            return client.ping()
        except redis.ConnectionError as exc:
            if not refusals:  # the server gets to listen() only after the first refusal
                server.listen()
                answer_one_ping(server)
            refusals.append(exc)
            raise

    try:
        wait_until_answering(ping, timeout=30)
    finally:
        client.close()
        server.close()
    assert len(refusals) == 1
    assert "refused" in str(refusals[0]).lower()


def test_a_server_that_never_listens_fails_the_start_with_its_refusal(tmp_path: Path) -> None:
    path = tmp_path / "redis.socket"
    server = bound_not_listening(path)
    client = client_of(path)
    try:
        with pytest.raises(redis.ConnectionError, match="refused"):
            wait_until_answering(client.ping, timeout=0)
    finally:
        client.close()
        server.close()


@pytest.mark.process
def test_the_embedded_redis_answers_on_its_port(tmp_path: Path) -> None:
    embedded = EmbeddedRedis(tmp_path / "redis")
    try:
        client = redis.Redis.from_url(embedded.url)
        try:
            assert client.ping() is True
        finally:
            client.close()
    finally:
        embedded.close()
