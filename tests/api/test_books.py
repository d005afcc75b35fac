"""/books: anyone reads, a token holder writes; deletes are soft and lists count live rows exactly."""

from __future__ import annotations

from typing import Any

from tests.api.expect import Client, error, ids, ok, page, total
from tests.factories import AUser, Factory, book_body

BOOK_FIELDS = {"id", "title", "author", "genre", "year", "created_at", "updated_at"}


async def create(client: Client, user: AUser, **fields: Any) -> Any:
    return ok(await client.post("/books", json=book_body(**fields), headers=user.auth), 201, "success creating book")


async def test_list_books_is_public_and_pages_with_meta(client: Client, factory: Factory) -> None:
    await factory.book()
    body = await page(client, "/books")
    assert body["message"] == "success getting books"
    assert {k: v for k, v in body["meta"].items() if k != "next_cursor"} == {
        "total": body["meta"]["total"],
        "limit": 20,
        "offset": 0,
    }
    assert body["meta"]["total"] >= 1
    assert all(set(row) == BOOK_FIELDS for row in body["data"])


async def test_list_limit_defaults_to_20(client: Client, factory: Factory) -> None:
    for _ in range(21):
        await factory.book()
    body = await page(client, "/books")
    assert len(body["data"]) == 20
    assert body["meta"]["total"] > 20


async def test_list_limit_accepts_up_to_100_and_refuses_more(client: Client) -> None:
    assert (await page(client, "/books", limit=100))["meta"]["limit"] == 100
    assert "limit" in {e["field"] for e in error(await client.get("/books", params={"limit": 101}), 400)["errors"]}


async def test_list_limit_and_offset_select_a_window_in_id_order(client: Client, factory: Factory) -> None:
    before = await total(client, "/books")
    made = [await factory.book() for _ in range(3)]
    body = await page(client, "/books", limit=2, offset=before + 1)
    assert [row["id"] for row in body["data"]] == [made[1].id, made[2].id]
    assert body["meta"] == {"total": before + 3, "limit": 2, "offset": before + 1}


async def test_offset_past_the_end_is_an_empty_page_with_the_true_total(client: Client) -> None:
    before = await total(client, "/books")
    body = await page(client, "/books", offset=before + 10)
    assert body["data"] == []
    assert body["meta"]["total"] == before


async def test_total_stays_exact_through_creates_and_soft_deletes(client: Client, factory: Factory) -> None:
    user = await factory.user()
    before = await total(client, "/books")
    first = await create(client, user)
    await create(client, user)
    ok(await client.delete(f"/books/{first['id']}", headers=user.auth), 200, "success deleting book")
    assert await total(client, "/books") == before + 1


async def test_get_book_is_public_and_returns_every_field(client: Client, factory: Factory) -> None:
    book = await factory.book(title="Laskar Pelangi", year=2005)
    data = ok(await client.get(f"/books/{book.id}"), 200, "success getting book")
    assert set(data) == BOOK_FIELDS
    assert data["created_at"].endswith("Z") and data["updated_at"].endswith("Z")  # UTC, said so on the wire
    assert (data["id"], data["title"], data["author"], data["genre"], data["year"]) == (
        book.id,
        "Laskar Pelangi",
        book.author,
        book.genre,
        2005,
    )


async def test_get_unknown_book_is_404(client: Client) -> None:
    error(await client.get(f"/books/{2**63 - 1}"), 404, "record not found")


async def test_create_book_answers_201_with_the_stored_row(client: Client, factory: Factory) -> None:
    user = await factory.user()
    data = await create(client, user, title="Bumi Manusia", genre="", year=-500)
    assert (data["title"], data["genre"], data["year"]) == ("Bumi Manusia", "", -500)
    assert ok(await client.get(f"/books/{data['id']}"), 200, "success getting book") == data


async def test_create_book_needs_a_token(client: Client) -> None:
    before = await total(client, "/books")
    error(await client.post("/books", json=book_body()), 401, "missing or malformed jwt")
    assert await total(client, "/books") == before


async def test_update_book_changes_only_the_fields_sent(client: Client, factory: Factory) -> None:
    user, book = await factory.user(), await factory.book(author="Pramoedya")
    response = await client.put(f"/books/{book.id}", json={"year": 1980}, headers=user.auth)
    data = ok(response, 200, "success updating book")
    assert (data["year"], data["title"], data["author"]) == (1980, book.title, "Pramoedya")
    assert ok(await client.get(f"/books/{book.id}"), 200, "success getting book") == data


async def test_update_book_needs_a_token(client: Client, factory: Factory) -> None:
    book = await factory.book()
    error(await client.put(f"/books/{book.id}", json={"year": 1}), 401, "missing or malformed jwt")
    assert ok(await client.get(f"/books/{book.id}"), 200, "success getting book")["year"] == book.year


async def test_update_unknown_or_deleted_book_is_404(client: Client, factory: Factory) -> None:
    user, book = await factory.user(), await factory.book()
    await client.delete(f"/books/{book.id}", headers=user.auth)
    error(await client.put(f"/books/{book.id}", json={"year": 1}, headers=user.auth), 404, "record not found")
    error(await client.put(f"/books/{2**63 - 1}", json={"year": 1}, headers=user.auth), 404, "record not found")


async def test_delete_book_answers_only_a_message(client: Client, factory: Factory) -> None:
    user, book = await factory.user(), await factory.book()
    response = await client.delete(f"/books/{book.id}", headers=user.auth)
    assert response.status_code == 200
    assert response.json() == {"message": "success deleting book"}


async def test_deleted_book_vanishes_from_list_and_get(client: Client, factory: Factory) -> None:
    user, book = await factory.user(), await factory.book()
    await client.delete(f"/books/{book.id}", headers=user.auth)
    error(await client.get(f"/books/{book.id}"), 404, "record not found")
    assert book.id not in await ids(client, "/books")


async def test_delete_book_twice_is_404(client: Client, factory: Factory) -> None:
    user, book = await factory.user(), await factory.book()
    await client.delete(f"/books/{book.id}", headers=user.auth)
    error(await client.delete(f"/books/{book.id}", headers=user.auth), 404, "record not found")


async def test_delete_book_needs_a_token(client: Client, factory: Factory) -> None:
    book = await factory.book()
    error(await client.delete(f"/books/{book.id}"), 401, "missing or malformed jwt")
    ok(await client.get(f"/books/{book.id}"), 200, "success getting book")
