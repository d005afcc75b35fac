"""GET /queue/health: the operators' view of the job queue (the console's Queue health panel).

Operators only; anyone else gets 403. Answers from a per-process snapshot at most
``HEALTH_CACHE_SECONDS`` old (:mod:`shared.queue_health`), so polling consoles cost
the database a fixed amount however many are open.
"""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, get
from litestar.status_codes import HTTP_403_FORBIDDEN
from msgspec import Struct

from api.auth import SECURITY
from api.errors import ApiError, error_response
from api.routes.common import AUTH, UNAVAILABLE
from api.schemas import Envelope, utc
from api.state import AuthedRequest, app_state

ONLY_OPERATORS = "only operators may see the queue's health"


class QueueHealthOut(Struct):
    by_status: dict[str, int]
    oldest_queued_seconds: float | None
    workers_alive: int
    undispatched: int
    finished_per_minute: list[int]  # the last 60 minutes, oldest first
    taken_at: datetime


class QueueController(Controller):
    path = "/queue"
    tags = ["jobs"]

    @get(
        "/health",
        security=SECURITY,
        operation_id="getQueueHealth",
        summary="The job queue's health (operators)",
        description="Jobs by status, the oldest queued job's age, live workers, rows the outbox has not "
        "dispatched, and jobs finished per minute over the last hour. Operators only: anyone else gets 403.",
        responses={**AUTH, **error_response(403, "operators only", ONLY_OPERATORS), **UNAVAILABLE},
    )
    async def queue_health(self, request: AuthedRequest) -> Envelope[QueueHealthOut]:
        """Jobs by status, the oldest queued job's age, live workers, the outbox, jobs finished per minute."""
        state = app_state(request)
        if not await state.live_users.is_operator(state.db, request.user):
            raise ApiError(HTTP_403_FORBIDDEN, ONLY_OPERATORS)
        h = await state.health.get(state.db, state.jobs.redis, state.settings)
        return Envelope(
            "success getting queue health",
            QueueHealthOut(
                h.by_status,
                h.oldest_queued_seconds,
                h.workers_alive,
                h.undispatched,
                h.finished_per_minute,
                utc(h.taken_at),
            ),
        )
