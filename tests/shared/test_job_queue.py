"""shared.job_queue.redis_client: a bounded pool makes callers wait instead of opening more connections."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from shared.job_queue import redis_client
from shared.settings import Settings


async def connections_named(settings: Settings, name: str) -> int:
    observer = redis_client(settings)
    try:
        return sum(1 for client in await observer.client_list() if client.get("name") == name)
    finally:
        await observer.aclose()


@pytest.mark.parametrize(("bound", "expected"), [(2, 2), (None, 20)], ids=["bounded", "unbounded"])
async def test_twenty_callers_at_once_open_no_more_connections_than_the_bound(
    settings: Settings, bound: int | None, expected: int
) -> None:
    name = f"bound-{secrets.token_hex(3)}"
    named = settings.model_copy(update={"redis_url": f"{settings.redis_url}?client_name={name}"})
    redis = redis_client(named, bound)
    try:
        # A BLPOP on an empty list holds its caller's connection for its timeout, so all twenty overlap.
        empty = f"{settings.redis_namespace}:{name}"
        replies = await asyncio.gather(*(redis.blpop([empty], timeout=0.05) for _ in range(20)))
        assert replies == [None] * 20
        assert await connections_named(settings, name) == expected
    finally:
        await redis.aclose()
