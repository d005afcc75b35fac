"""Prometheus metrics of the HTTP API, and ``GET /metrics`` (docs/operations.md lists them).

Label sets are bounded by construction, whatever clients send: the route is the
*template* Litestar matched (``/books/{book_id}``; ``unmatched`` for 404s and 405s,
never the raw path), the method one of the standard ones or ``OTHER``, the status an
HTTP status. So the number of series is fixed by the code, not by traffic.

Several processes (``WEB_CONCURRENCY`` > 1): prometheus_client's multiprocess mode.
``python -m api`` points ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory before
uvicorn starts its processes; each writes its figures to memory-mapped files there, and
whichever process answers a scrape sums them all (:func:`registry`).

A pure-ASGI wrapper inside :mod:`api.request_context` (whose wrapper of ``send`` tells it
the response's status), to see Litestar's own 404s and 405s too. Children of each
metric are cached per label set, so a request costs a dictionary look-up, a counter and
a histogram update; in one process the in-progress gauge reads a plain count at each
scrape instead of taking a lock twice per request (several processes must write theirs
to the shared files).
"""

from __future__ import annotations

import os
import time
from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, HTTPScope, Receive, Scope, Send
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from api.request_context import response_status

METRICS_PATH: Final = "/metrics"
UNMATCHED: Final = "unmatched"
OTHER_METHOD: Final = "OTHER"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The API answers most requests in a millisecond or two: finer buckets at the low end.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "wadah_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "wadah_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template, method and status.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
IN_PROGRESS = Gauge(
    "wadah_http_requests_in_progress",
    "HTTP requests being handled now (all API processes).",
    multiprocess_mode="livesum",
)


def multiprocess() -> bool:
    """Whether this process's figures go to files that a scrape sums with its siblings'."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode, else this process."""
    if multiprocess():
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return REGISTRY


def process_exited() -> None:
    """Drop this process's live gauges from the merged figures (its counters stay counted)."""
    if multiprocess():
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The body and content type of a scrape: OpenMetrics if ``accept`` asks for it, else text 0.0.4."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry()), content_type


class HttpMetrics:
    """ASGI middleware: counts and times every request; answers ``GET /metrics`` if ``serve``."""

    __slots__ = ("_children", "_in_progress", "_shared", "app", "serve")

    def __init__(self, app: ASGIApp, *, serve: bool) -> None:
        self.app = app
        self.serve = serve
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._in_progress = 0
        self._shared = multiprocess()
        if not self._shared:
            IN_PROGRESS.set_function(lambda: self._in_progress)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        if self.serve and scope["path"] == METRICS_PATH:
            await self._scrape(scope, send)
            return
        started = time.perf_counter()
        if self._shared:
            IN_PROGRESS.inc()
        else:
            self._in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            if self._shared:
                IN_PROGRESS.dec()
            else:
                self._in_progress -= 1
            status = response_status(scope)
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            key = (scope.get("path_template") or UNMATCHED, method, status)
            children = self._children.get(key)
            if children is None:
                labels = (key[0], key[1], str(status))
                children = self._children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
            children[0].inc()
            children[1].observe(time.perf_counter() - started)

    async def _scrape(self, scope: HTTPScope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(
                send, 405, b'{"message":"Method Not Allowed"}', "application/json", [(b"allow", b"GET, HEAD")]
            )
            return
        accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), None)
        body, content_type = exposition(accept)
        await _respond(send, 200, b"" if scope["method"] == "HEAD" else body, content_type, [])


async def _respond(send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]]) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)
