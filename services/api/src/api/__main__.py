"""``python -m api``: serve the API with uvicorn (uvloop, httptools), as in production.

``PORT`` sets the port (8000), ``WEB_CONCURRENCY`` the number of worker processes (1).
"""

from __future__ import annotations

import os

import uvicorn

from shared.settings import get_settings


def main() -> None:
    settings = get_settings()
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
