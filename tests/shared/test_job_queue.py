"""shared.job_queue.redis_client: a bounded pool makes callers wait instead of opening more connections."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from shared.job_queue import redis_client
from shared.settings import Settings
from tests.processes import eventually


async def connections_named(settings: Settings, name: str, command: str | None = None) -> int:
    """Redis's own count of the connections called ``name`` (running ``command``, if given)."""
    observer = redis_client(settings)
    try:
        return sum(
            1
            for client in await observer.client_list()
            if client.get("name") == name and command in (None, client.get("cmd"))
        )
    finally:
        await observer.aclose()


@pytest.mark.parametrize(("bound", "expected"), [(2, 2), (None, 20)], ids=["bounded", "unbounded"])
async def test_twenty_callers_at_once_open_no_more_connections_than_the_bound(
    settings: Settings, bound: int | None, expected: int
) -> None:
    name = f"bound-{secrets.token_hex(3)}"
    named = settings.model_copy(update={"redis_url": f"{settings.redis_url}?client_name={name}"})
    redis = redis_client(named, bound, command_timeout_s=60)
    try:
        # A BLPOP on an empty list holds its caller's connection until something is pushed,
        # so the callers overlap however slowly they start: as many as the pool lets in
        # block, and the rest wait for a connection until the list is filled.
        empty = f"{settings.redis_namespace}:{name}"
        callers = [asyncio.create_task(redis.blpop([empty], timeout=30)) for _ in range(20)]

        async def all_let_in_are_blocked() -> bool:
            return await connections_named(settings, name, "blpop") >= expected

        await eventually(all_let_in_are_blocked, what=f"{expected} callers blocked in BLPOP")
        pusher = redis_client(settings)  # not through the bounded pool, which is all taken
        await pusher.rpush(empty, *range(20))
        await pusher.aclose()
        replies = await asyncio.gather(*callers)
        assert sorted(int(value) for _, value in replies) == list(range(20))
        assert await connections_named(settings, name) == expected
    finally:
        await redis.aclose()
