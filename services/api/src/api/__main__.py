"""``python -m api``: serve the API with uvicorn (uvloop, httptools), as in production.

``PORT`` sets the port (8000), ``WEB_CONCURRENCY`` the number of worker processes (1).

``X-Forwarded-For`` is read only from ``TRUSTED_PROXIES`` (empty by default: never).
uvicorn's own default trusts it from loopback, which lets any client on the same host
choose the address the login throttle counts; wadah turns that off unless told which
proxies to believe.

SIGTERM shuts down gracefully (uvicorn stops accepting, lets in-flight requests finish
for up to 20 s, runs the lifespan's shutdown) and the process then exits 0: uvicorn
re-raises the signal once it is done, which would make it look killed (-15 / 143).
"""

from __future__ import annotations

import os
import signal
from types import FrameType

import uvicorn

from shared.settings import get_settings


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """Runs when uvicorn re-raises SIGTERM after its graceful shutdown (or if it arrives before uvicorn starts)."""
    raise SystemExit(0)


def main() -> None:
    settings = get_settings()
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
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
