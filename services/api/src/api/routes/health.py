"""Liveness and readiness, for orchestrators and load balancers."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from api.auth import PUBLIC
from api.schemas import Health
from api.state import AppState, app_state
from shared import job_records

CHECK_TIMEOUT_SECONDS = 2.0


@get(
    "/healthz",
    opt=PUBLIC,
    tags=["health"],
    operation_id="healthz",
    summary="Liveness",
    description="200 while the process can answer; it checks nothing else.",
)
async def healthz() -> Health:
    """200 while the process can answer; it checks nothing else, so a restart is never caused by MySQL."""
    return Health("ok")


async def _check(name: str, probe: asyncio.Future[object] | object) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as exc:
        return name, f"unavailable: {type(exc).__name__}"
    return name, "ok"


@get(
    "/readyz",
    opt=PUBLIC,
    tags=["health"],
    operation_id="readyz",
    summary="Readiness",
    description="200 when the database and Redis both answer, else 503 naming the one that did not; "
    "`pending_jobs` counts jobs waiting for Redis.",
    responses={503: ResponseSpec(Health, description="a dependency is down", generate_examples=False)},
)
async def readyz(request: Request[Any, Any, Any]) -> Response[Health]:
    """200 when the database and Redis both answer, else 503 naming the one that did not."""
    state = app_state(request)
    *checks, pending = await asyncio.gather(
        _check("mysql" if state.db.is_mysql else "database", state.db.ping()),
        _check("redis", state.jobs.redis.ping()),
        _pending_jobs(state),
    )
    results = dict(checks)
    down = [name for name, status in results.items() if status != "ok"]
    if down:
        return Response(
            Health(f"not ready: {', '.join(down)} unavailable", results, pending),
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    return Response(Health("ready", results, pending), status_code=HTTP_200_OK)


async def _pending_jobs(state: AppState) -> int | None:
    """The outbox's length: jobs that wait for Redis (None if the database does not answer)."""
    try:
        return await asyncio.wait_for(job_records.count_undispatched(state.db), CHECK_TIMEOUT_SECONDS)
    except Exception:
        return None
