"""Prometheus metrics of the HTTP API, and ``GET /metrics`` (docs/operations.md lists them).

Label sets are bounded by construction, whatever clients send: the route is the
*template* Litestar matched (``/books/{book_id}``; ``unmatched`` for 404s and 405s,
never the raw path), the method one of the standard ones or ``OTHER``, the status an
HTTP status. So the number of series is fixed by the code, not by traffic.

Several processes (``WEB_CONCURRENCY`` > 1): prometheus_client's multiprocess mode.
``python -m api`` points ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory before
uvicorn starts its processes; each writes its figures to memory-mapped files there, and
whichever process answers a scrape sums them all (:func:`registry`).

Counted by :class:`api.request_context.RequestContext`, the pure-ASGI wrapper around the
whole application, so Litestar's own 404s and 405s are counted too, and a request pays
for no layer of its own here.

What a request costs is kept small, since every request pays it. In one process (the
default) the figures are plain numbers that only the event loop writes: a dictionary
look-up and a few additions per request, no locks, and a scrape turns them into the
same counter and histogram prometheus_client would expose (:class:`LocalFigures`); the
in-progress gauge reads a plain count. Several processes need the figures in the shared
files, so there the request updates prometheus_client's own metrics (their children
cached per label set).
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Final

from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, HTTPScope, Send
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

METRICS_PATH: Final = "/metrics"
UNMATCHED: Final = "unmatched"
OTHER_METHOD: Final = "OTHER"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The API answers most requests in a millisecond or two: finer buckets at the low end.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LABELS: Final = ("route", "method", "status")
REQUESTS_NAME: Final = "wadah_http_requests"
REQUESTS_HELP: Final = "HTTP requests answered, by route template, method and status."
LATENCY_NAME: Final = "wadah_http_request_duration_seconds"
LATENCY_HELP: Final = (
    "Time from the request's arrival to the end of its response, by route template, method and status."
)
_LE: Final = (*(floatToGoString(b) for b in LATENCY_BUCKETS), "+Inf")  # type: ignore[no-untyped-call]

# Several processes: prometheus_client's own, whose values live in the shared files (a
# scrape reads those, not a registry, so they are registered in none).
REQUESTS = Counter(REQUESTS_NAME, REQUESTS_HELP, LABELS, registry=None)
LATENCY = Histogram(LATENCY_NAME, LATENCY_HELP, LABELS, buckets=LATENCY_BUCKETS, registry=None)


class _Series:
    """One label set's latencies: a count per bucket (the last above every bound) and their sum."""

    __slots__ = ("buckets", "created", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * len(_LE)
        self.sum = 0.0
        self.created = time.time()


class LocalFigures(Collector):
    """The request counter and latency histogram of one process, as plain numbers.

    Only the event loop writes them. A scrape may read them from another thread (the
    ``METRICS_PORT`` server's): it copies the dictionary of series first, and a request
    counted while it reads is in this scrape or the next, as with prometheus_client's own locked
    values. The samples are the ones prometheus_client's Counter and Histogram give.
    """

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, int], _Series] = {}

    def observe(self, key: tuple[str, str, int], seconds: float) -> None:
        """One request of label set ``key`` (route, method, status), answered in ``seconds``."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series()
        series.sum += seconds
        series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def collect(self) -> Iterator[Metric]:
        # prometheus_client's switch for the ``_created`` samples (PROMETHEUS_DISABLE_CREATED_SERIES).
        created = getattr(prometheus_metrics, "_use_created", True)
        requests = CounterMetricFamily(REQUESTS_NAME, REQUESTS_HELP, labels=LABELS)
        latency = Metric(LATENCY_NAME, LATENCY_HELP, "histogram")
        for (route, method, status), series in self.series.copy().items():  # one step for the GIL
            labels = {"route": route, "method": method, "status": str(status)}
            count = 0.0
            for le, n in zip(_LE, series.buckets, strict=True):
                count += n
                latency.add_sample(LATENCY_NAME + "_bucket", {**labels, "le": le}, count)
            latency.add_sample(LATENCY_NAME + "_count", labels, count)
            latency.add_sample(LATENCY_NAME + "_sum", labels, series.sum)
            if created:
                latency.add_sample(LATENCY_NAME + "_created", labels, series.created)
            requests.add_metric(list(labels.values()), count, created=series.created if created else None)
        yield requests
        yield latency


LOCAL = LocalFigures()
REGISTRY.register(LOCAL)
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
    """What :class:`api.request_context.RequestContext` calls to count and time every request,
    and ``GET /metrics`` if ``serve``."""

    __slots__ = ("_children", "_in_progress", "_shared", "serve")

    def __init__(self, *, serve: bool) -> None:
        self.serve = serve
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._in_progress = 0
        self._shared = multiprocess()
        if not self._shared:
            IN_PROGRESS.set_function(lambda: self._in_progress)

    def serves(self, scope: HTTPScope) -> bool:
        """Whether this request is a scrape, answered here rather than by the application."""
        return self.serve and scope["path"] == METRICS_PATH

    def begin(self) -> float:
        """A request starts: it is in progress, and its clock starts (the value to pass to :meth:`end`)."""
        if self._shared:
            IN_PROGRESS.inc()
        else:
            self._in_progress += 1
        return time.perf_counter()

    def end(self, scope: HTTPScope, status: int, started: float) -> None:
        """The request's response has gone (or the application failed before starting one: 500)."""
        elapsed = time.perf_counter() - started
        method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
        key = (scope.get("path_template") or UNMATCHED, method, status)
        if self._shared:
            IN_PROGRESS.dec()
            self._count_shared(key, elapsed)
        else:
            self._in_progress -= 1
            LOCAL.observe(key, elapsed)

    def _count_shared(self, key: tuple[str, str, int], elapsed: float) -> None:
        children = self._children.get(key)
        if children is None:
            labels = (key[0], key[1], str(key[2]))
            children = self._children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
        children[0].inc()
        children[1].observe(elapsed)

    async def scrape(self, scope: HTTPScope, send: Send) -> None:
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
