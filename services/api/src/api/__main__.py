"""``python -m api``: serve the API with uvicorn (uvloop, httptools), as in production.

The HTTP protocol is uvicorn's httptools one with the limits of :mod:`api.protocol`.

``PORT`` sets the port (8000), ``WEB_CONCURRENCY`` the number of worker processes (1).

SIGTERM shuts down gracefully (uvicorn stops accepting, lets in-flight requests finish
for up to 20 s, runs the lifespan's shutdown) and the process then exits 0: uvicorn
re-raises the signal once it is done, which would make it look killed (-15 / 143).

Metrics with several processes: unless ``PROMETHEUS_MULTIPROC_DIR`` names a directory
already, a fresh one is made before uvicorn starts its processes (which inherit it), so
every process's figures are summed at each scrape (:mod:`api.metrics`). A directory
given by the operator is emptied first: files of a previous run would be counted again.
With ``METRICS_PORT`` set, this parent process serves ``/metrics`` on that port.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import FrameType

import uvicorn

from api.protocol import BoundedHttpToolsProtocol
from shared.logging import configure_logging
from shared.settings import Settings, get_settings


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """Runs when uvicorn re-raises SIGTERM after its graceful shutdown (or if it arrives before uvicorn starts)."""
    raise SystemExit(0)


def prepare_metrics(settings: Settings, workers: int, host: str) -> None:
    """Multiprocess mode when there will be several processes; the metrics port if one is set."""
    if not settings.metrics_enabled:
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    elif workers > 1:
        made = tempfile.mkdtemp(prefix="wadah-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
        atexit.register(shutil.rmtree, made, ignore_errors=True)
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        from api.metrics import registry

        start_http_server(settings.metrics_port, addr=host, registry=registry())


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 - a container must listen on all interfaces
    workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
    prepare_metrics(settings, workers, host)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=settings.port,
        workers=workers,
        loop="uvloop",
        http=BoundedHttpToolsProtocol,  # httptools with head size and time limits
        ws="none",  # no WebSocket routes: an Upgrade request stays plain HTTP
        access_log=False,
        log_config=None,  # uvicorn's lines go through shared.logging's format (LOG_FORMAT) too
        server_header=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
