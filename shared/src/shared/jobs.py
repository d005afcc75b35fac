"""Job contracts: what the API may ask of the worker, and how the request travels.

The API and the worker agree here, and only here, on each job's name and arguments and
on the wire format. Payloads are msgpack (msgspec), never arq's default pickle: a
Redis that someone else can write to must not be a way to run code in the worker.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from shared.settings import Settings

log = logging.getLogger(__name__)

COMPUTE_BLOG_STATS = "compute_blog_stats"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def serialize(obj: Any) -> bytes:
    return _encoder.encode(obj)


def deserialize(data: bytes) -> Any:
    return _decoder.decode(data)


def redis_client(settings: Settings) -> ArqRedis:
    """An arq-aware Redis client that connects lazily, so a process starts while Redis is down."""
    pool = ConnectionPool.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    return ArqRedis(
        pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_name,
    )


class JobQueue:
    """The enqueue side of every job, used by the API."""

    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis

    async def compute_blog_stats(self, blog_id: int) -> bool:
        """Ask for a blog's word count and reading time; False (and a log line) if Redis is away.

        The blog itself is already committed when this runs: a missed enqueue leaves the
        stats empty, it never fails the write.
        """
        return await self._enqueue(COMPUTE_BLOG_STATS, blog_id)

    async def _enqueue(self, function: str, *args: Any) -> bool:
        try:
            await self.redis.enqueue_job(function, *args)
        except (RedisError, OSError) as exc:
            log.warning("could not enqueue %s%r: %s", function, args, exc)
            return False
        return True
