"""What the API keeps for the life of the process, and the request type handlers see."""

from __future__ import annotations

from typing import Any, cast

from litestar import Request
from litestar.datastructures import State

from api.auth import LiveUsers
from api.quotas import Quotas
from api.throttle import LoginThrottle, RegistrationThrottle
from shared.db import Database
from shared.job_queue import JobQueue
from shared.passwords import PasswordWork
from shared.queue_health import HealthCache
from shared.settings import Settings


class AppState(State):
    """Typed view of ``app.state``; filled in by the app's lifespan."""

    settings: Settings
    db: Database
    jobs: JobQueue
    live_users: LiveUsers
    login_throttle: LoginThrottle
    registration_throttle: RegistrationThrottle
    passwords: PasswordWork
    quotas: Quotas
    health: HealthCache


# ``request.user`` is the authenticated user's id on routes that require a token.
AuthedRequest = Request[int, str, Any]


def app_state(request: Request[Any, Any, Any]) -> AppState:
    """The process's resources, for a handler.

    Handlers read them from their request instead of asking for a ``state: AppState``
    parameter: Litestar converts such a parameter on every request (through its generic
    type decoders, into a new ``State`` with a lock of its own), which was the costliest
    thing a hot handler asked of the framework (docs/performance.md).
    """
    return cast("AppState", request.app.state)
