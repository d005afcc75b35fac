"""What the API keeps for the life of the process, and the request type handlers see."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from api.auth import LiveUsers
from api.quotas import Quotas
from api.throttle import LoginThrottle
from shared.db import Database
from shared.job_queue import JobQueue
from shared.queue_health import HealthCache
from shared.settings import Settings


class AppState(State):
    """Typed view of ``app.state``; filled in by the app's lifespan."""

    settings: Settings
    db: Database
    jobs: JobQueue
    live_users: LiveUsers
    login_throttle: LoginThrottle
    quotas: Quotas
    health: HealthCache


# ``request.user`` is the authenticated user's id on routes that require a token.
AuthedRequest = Request[int, str, Any]
