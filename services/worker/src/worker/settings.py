"""arq's WorkerSettings for wadah: which jobs run, and how they are retried and timed out."""

from __future__ import annotations

from typing import Any, ClassVar

from arq.connections import RedisSettings

from shared.db import Database
from shared.jobs import deserialize, serialize
from shared.logging import configure_logging
from shared.settings import get_settings
from worker.jobs.blog_stats import compute_blog_stats

_settings = get_settings()


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(_settings.log_level)
    ctx["db"] = Database(_settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["db"].close()


class WorkerSettings:
    functions: ClassVar = [compute_blog_stats]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(_settings.redis_url)
    queue_name = _settings.queue_name
    health_check_key = f"{_settings.queue_name}:health-check"
    health_check_interval = 10
    job_serializer = staticmethod(serialize)
    job_deserializer = staticmethod(deserialize)
    job_timeout = 60  # seconds; no wadah job should take longer than this
    max_tries = 5
    keep_result = 60
    max_jobs = 20
    poll_delay = 0.05
