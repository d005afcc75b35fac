"""``python -m api``: serve the API with uvicorn (uvloop, httptools), as in production.

``PORT`` sets the port (8000), ``WEB_CONCURRENCY`` the number of worker processes (1).

On the embedded SQLite database (no ``DATABASE_URL`` or ``DB_HOST``) the database is
migrated to head first, once, before any worker process starts: the image run alone
(``docker run``) has no separate migration step, and an unmigrated file would answer
every request with a 500. A MySQL database is migrated by its own step
(``python -m shared.migrate``, compose's ``migrate`` service), never by API processes
racing each other.

SIGTERM shuts down gracefully (uvicorn stops accepting, lets in-flight requests finish
for up to 20 s, runs the lifespan's shutdown) and the process then exits 0: uvicorn
re-raises the signal once it is done, which would make it look killed (-15 / 143).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType

import uvicorn
from sqlalchemy.engine import make_url

from shared.migrate import upgrade
from shared.settings import get_settings


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """Runs when uvicorn re-raises SIGTERM after its graceful shutdown (or if it arrives before uvicorn starts)."""
    raise SystemExit(0)


def main() -> None:
    settings = get_settings()
    if settings.database_is_embedded:
        database = make_url(settings.resolved_database_url).database
        if database:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        upgrade(settings.resolved_database_url)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - a container must listen on all interfaces
        port=settings.port,
        workers=int(os.environ.get("WEB_CONCURRENCY", "1")),
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
