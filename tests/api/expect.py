"""Assertions on the API's answers, so each test states only the status and message it expects.

Every error check also holds the error to the contract's shape: JSON, a ``message``, and
nothing but an optional ``errors`` list beside it.
"""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


def ok(response: httpx.Response, status: int, message: str) -> Any:
    """The body's ``data`` after checking the status and message (the whole body if it has no data)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"] == message, body
    return body.get("data", body)


def error(response: httpx.Response, status: int, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    assert set(body) <= {"message", "errors"}, body
    if message is not None:
        assert body["message"] == message, body
    return body


def bad_fields(response: httpx.Response) -> set[str]:
    """The fields a 400 for an invalid body names (each one once)."""
    body = error(response, 400)
    fields = [e["field"] for e in body["errors"]]
    assert all(e["message"] for e in body["errors"]), body
    assert len(fields) == len(set(fields)), body
    return set(fields)


async def total(client: Client, path: str, headers: dict[str, str] | None = None) -> int:
    count: int = (await client.get(path, headers=headers)).json()["meta"]["total"]
    return count


async def page(client: Client, path: str, headers: dict[str, str] | None = None, **params: int) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ids(client: Client, path: str, headers: dict[str, str] | None = None) -> set[int]:
    """Every id a list shows, walking all its pages."""
    seen: set[int] = set()
    offset = 0
    while True:
        body = await page(client, path, headers, limit=100, offset=offset)
        seen.update(row["id"] for row in body["data"])
        offset += 100
        if offset >= body["meta"]["total"]:
            return seen
