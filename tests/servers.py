"""Servers a test starts itself: the API as a real uvicorn process, and a MariaDB of its own.

A test that stops a database stops this MariaDB (its own datadir, port and socket under
the test's temporary directory), never the machine's shared one. Redis servers a test
may stop come from :mod:`tests.processes`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from shared.embedded import free_port
from tests.processes import LoggedProcess

START_LIMIT_SECONDS = 90


class ApiProcess(LoggedProcess):
    """``python -m api`` (uvicorn, as in production) on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.port = free_port()
        env = {**env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        super().__init__([sys.executable, "-m", "api"], env, log_path, cwd)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        """Until /healthz answers (the process serves; /readyz may still say a dependency is down)."""
        deadline = time.monotonic() + START_LIMIT_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the API exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the API did not start:\n{self.output()[-4000:]}")
            time.sleep(0.1)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()


@contextmanager
def serving(env: dict[str, str], log_path: Path, cwd: Path | None = None) -> Iterator[ApiProcess]:
    """An API process that answers, for the length of the block; stopped (SIGTERM) after it."""
    server = ApiProcess(env, log_path, cwd)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class MariaDBServer:
    """A throwaway MariaDB: ``mariadb-install-db`` into a temporary datadir, ``mariadbd`` on a free port."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.datadir = directory / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def server_url(self) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/mysql"

    @staticmethod
    def binary(name: str) -> str:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if found is None:
            raise AssertionError(f"{name} is not installed (apt-get install mariadb-server)")
        return found

    def install(self) -> None:
        subprocess.run(
            [
                self.binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        log = (self.dir / "mariadbd.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary("mariadbd"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                f"--socket={self.dir / 'mariadbd.sock'}",
                f"--pid-file={self.dir / 'mariadbd.pid'}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--user=root",
                "--character-set-server=utf8mb4",
                "--innodb-buffer-pool-size=32M",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_LIMIT_SECONDS
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.dir / "mariadbd.log").read_text(errors="replace")
                raise AssertionError(f"mariadbd did not start:\n{log_text[-4000:]}")
            time.sleep(0.2)

    def answers(self) -> bool:
        ping = [self.binary("mariadb-admin"), "--protocol=tcp", "-h127.0.0.1", f"-P{self.port}", "-uroot", "ping"]
        return subprocess.run(ping, capture_output=True).returncode == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
