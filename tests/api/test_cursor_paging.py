"""Cursor (keyset) paging on every list: ``meta.next_cursor`` passed back as ``?cursor=``.

A walk by cursor sees each row that stays live exactly once, in the list's order,
whatever is inserted or deleted while it walks; the last page has no ``next_cursor``;
a cursor this API did not give out, or one sent with an offset, is a 400 naming it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.expect import Client, bad_fields, error, page
from tests.factories import Factory, book_body


async def json_of(response_coro: Any, status: int = 200) -> Any:
    response = await response_coro
    assert response.status_code == status, response.text
    return response.json()


async def walk(client: Client, path: str, limit: int, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every row of a list, following ``next_cursor`` from the first page to the last."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        body = await json_of(client.get(path, params=params, headers=headers))
        rows.extend(body["data"])
        cursor = body["meta"].get("next_cursor")
        if cursor is None:
            assert len(body["data"]) <= limit
            return rows
        assert len(body["data"]) == limit, "a page with a next page is full"
        params = {"limit": limit, "cursor": cursor}


async def walk_by_offset(client: Client, path: str, limit: int, headers: dict[str, str] | None = None) -> list[Any]:
    rows: list[Any] = []
    while True:
        body = await page(client, path, headers, limit=limit, offset=len(rows))
        rows.extend(body["data"])
        if len(body["data"]) < limit:
            return rows


@pytest.mark.parametrize("path", ["/books", "/users", "/blogs"])
async def test_a_cursor_walk_sees_the_same_rows_as_an_offset_walk(client: Client, factory: Factory, path: str) -> None:
    user = await factory.user()
    for _ in range(5):
        await factory.book()
        await factory.blog(user)
    by_cursor = await walk(client, path, 7, user.auth)
    assert [r["id"] for r in by_cursor] == [r["id"] for r in await walk_by_offset(client, path, 7, user.auth)]
    assert [r["id"] for r in by_cursor] == sorted(r["id"] for r in by_cursor)


async def test_the_last_page_has_no_next_cursor_and_a_full_one_has(client: Client, factory: Factory) -> None:
    await factory.book()
    await factory.book()
    total = (await page(client, "/books", limit=1))["meta"]["total"]
    assert "next_cursor" not in (await page(client, "/books", limit=1, offset=total - 1))["meta"]
    assert (await page(client, "/books", limit=1, offset=total - 2))["meta"]["next_cursor"]


async def test_rows_inserted_and_deleted_during_a_walk_never_make_it_skip_or_repeat_a_live_row(
    client: Client, factory: Factory
) -> None:
    user = await factory.user()

    async def create() -> int:
        return int((await json_of(client.post("/books", json=book_body(), headers=user.auth), 201))["data"]["id"])

    # Rows that stay live, interleaved by id with rows that are deleted while the walk goes on.
    kept, doomed = [], []
    for _ in range(30):
        kept.append(await create())
        doomed.append(await create())
    start = min(kept) - 1

    async def churn() -> None:
        for victim in doomed:
            await create()
            assert (await client.delete(f"/books/{victim}", headers=user.auth)).status_code == 200
            await asyncio.sleep(0)

    seen: list[int] = []
    params: dict[str, Any] = {"limit": 4, "cursor": _cursor_after(start)}
    churning = asyncio.create_task(churn())
    try:
        while True:
            body = await json_of(client.get("/books", params=params))
            seen.extend(row["id"] for row in body["data"])
            if "next_cursor" not in body["meta"]:
                break
            params["cursor"] = body["meta"]["next_cursor"]
            await asyncio.sleep(0)  # let the churn write between pages
    finally:
        await churning
    assert len(seen) == len(set(seen)), "no row twice"
    assert seen == sorted(seen)
    assert set(kept) <= set(seen), "every row live throughout the walk is seen"


def _cursor_after(book_id: int) -> str:
    """The cursor of the page that starts after ``book_id`` (as the API makes them)."""
    from api.routes.common import encode_cursor

    return encode_cursor(book_id)


async def test_jobs_are_walked_newest_first_by_cursor(client: Client, factory: Factory) -> None:
    user = await factory.user()
    made = []
    for _ in range(5):
        made.append(
            (await json_of(client.post("/exports", json={"resource": "books"}, headers=user.auth), 202))["data"]["id"]
        )
        # Cancelled, or the next identical export would be answered with this job (api.quotas).
        await json_of(client.post(f"/jobs/{made[-1]}/cancel", headers=user.auth), 200)
    by_cursor = [job["id"] for job in await walk(client, "/jobs", 2, user.auth)]
    assert by_cursor == [job["id"] for job in await walk_by_offset(client, "/jobs", 2, user.auth)]
    assert by_cursor[:5] == made[::-1]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "", "W10", "WyJ4Il0", "e30"])
async def test_a_cursor_the_api_did_not_give_is_a_400_naming_it(client: Client, factory: Factory, cursor: str) -> None:
    user = await factory.user()
    for path in ("/books", "/jobs"):
        response = await client.get(path, params={"cursor": cursor}, headers=user.auth)
        assert "cursor" in bad_fields(response), response.text


async def test_a_cursor_with_an_offset_is_a_400(client: Client, factory: Factory) -> None:
    await factory.book()
    await factory.book()
    cursor = (await page(client, "/books", limit=1))["meta"]["next_cursor"]
    body = error(await client.get("/books", params={"cursor": cursor, "offset": 1}), 400)
    assert [e["field"] for e in body["errors"]] == ["cursor"]
