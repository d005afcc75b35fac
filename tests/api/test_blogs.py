"""/blogs: anyone reads; a token holder writes, the author comes from the token, only the author edits."""

from __future__ import annotations

from typing import Any

from tests.api.expect import Client, bad_fields, error, ids, ok, page, total
from tests.factories import AUser, Factory, bearer, blog_body

BLOG_FIELDS = {"id", "user_id", "title", "content", "word_count", "reading_minutes", "created_at", "updated_at"}


async def create(client: Client, user: AUser, **fields: Any) -> Any:
    return ok(await client.post("/blogs", json=blog_body(**fields), headers=user.auth), 201, "success creating blog")


async def test_list_blogs_is_public_and_pages_with_meta(client: Client, factory: Factory) -> None:
    await factory.blog(await factory.user())
    body = await page(client, "/blogs")
    assert body["message"] == "success getting blogs"
    assert {k: v for k, v in body["meta"].items() if k != "next_cursor"} == {
        "total": body["meta"]["total"],
        "limit": 20,
        "offset": 0,
    }
    assert body["meta"]["total"] >= 1
    assert all(set(row) == BLOG_FIELDS for row in body["data"])


async def test_list_limit_defaults_to_20_and_refuses_more_than_100(client: Client, factory: Factory) -> None:
    author = await factory.user()
    for _ in range(21):
        await factory.blog(author)
    assert len((await page(client, "/blogs"))["data"]) == 20
    assert len((await page(client, "/blogs", limit=100))["data"]) == min(100, await total(client, "/blogs"))
    error(await client.get("/blogs", params={"limit": 101}), 400)


async def test_list_limit_and_offset_select_a_window_in_id_order(client: Client, factory: Factory) -> None:
    author = await factory.user()
    before = await total(client, "/blogs")
    made = [await factory.blog(author) for _ in range(3)]
    body = await page(client, "/blogs", limit=2, offset=before)
    assert [row["id"] for row in body["data"]] == [made[0].id, made[1].id]
    assert {k: v for k, v in body["meta"].items() if k != "next_cursor"} == {
        "total": before + 3,
        "limit": 2,
        "offset": before,
    }


async def test_total_stays_exact_through_creates_and_soft_deletes(client: Client, factory: Factory) -> None:
    user = await factory.user()
    before = await total(client, "/blogs")
    first = await create(client, user)
    await create(client, user)
    ok(await client.delete(f"/blogs/{first['id']}", headers=user.auth), 200, "success deleting blog")
    assert await total(client, "/blogs") == before + 1


async def test_get_blog_is_public_and_returns_every_field(client: Client, factory: Factory) -> None:
    author = await factory.user()
    blog = await factory.blog(author, title="Belajar Docker")
    data = ok(await client.get(f"/blogs/{blog.id}"), 200, "success getting blog")
    assert set(data) == BLOG_FIELDS
    assert (data["id"], data["user_id"], data["title"], data["content"]) == (
        blog.id,
        author.id,
        "Belajar Docker",
        blog.content,
    )


async def test_get_unknown_blog_is_404(client: Client) -> None:
    error(await client.get(f"/blogs/{2**63 - 1}"), 404, "record not found")


async def test_create_blog_answers_201_and_the_author_is_the_token_holder(client: Client, factory: Factory) -> None:
    user = await factory.user()
    data = await create(client, user, title="Catatan", content="satu dua tiga")
    assert (data["user_id"], data["title"], data["content"]) == (user.id, "Catatan", "satu dua tiga")
    stored = ok(await client.get(f"/blogs/{data['id']}"), 200, "success getting blog")
    assert {k: stored[k] for k in ("id", "user_id", "title", "content", "created_at")} == {
        k: data[k] for k in ("id", "user_id", "title", "content", "created_at")
    }


async def test_create_blog_cannot_name_another_author(client: Client, factory: Factory) -> None:
    user, other = await factory.user(), await factory.user()
    before = await total(client, "/blogs")
    response = await client.post("/blogs", json=blog_body(user_id=other.id), headers=user.auth)
    assert bad_fields(response) == {"user_id"}
    assert await total(client, "/blogs") == before


async def test_create_blog_needs_a_token(client: Client) -> None:
    before = await total(client, "/blogs")
    error(await client.post("/blogs", json=blog_body()), 401, "missing or malformed jwt")
    assert await total(client, "/blogs") == before


async def test_create_blog_with_a_token_for_no_user_is_401_not_500(client: Client, factory: Factory) -> None:
    ghost = factory.token_for(2**62)
    response = await client.post("/blogs", json=blog_body(), headers=bearer(ghost))
    error(response, 401, "invalid or expired jwt")


async def test_author_updates_only_the_fields_sent(client: Client, factory: Factory) -> None:
    author = await factory.user()
    blog = await factory.blog(author, content="tetap sama")
    response = await client.put(f"/blogs/{blog.id}", json={"title": "Judul Baru"}, headers=author.auth)
    data = ok(response, 200, "success updating blog")
    assert (data["title"], data["content"], data["user_id"]) == ("Judul Baru", "tetap sama", author.id)
    assert ok(await client.get(f"/blogs/{blog.id}"), 200, "success getting blog")["title"] == "Judul Baru"


async def test_another_user_cannot_update_a_blog(client: Client, factory: Factory) -> None:
    author, other = await factory.user(), await factory.user()
    blog = await factory.blog(author)
    error(await client.put(f"/blogs/{blog.id}", json={"title": "hijacked"}, headers=other.auth), 403)
    assert ok(await client.get(f"/blogs/{blog.id}"), 200, "success getting blog")["title"] == blog.title


async def test_another_user_cannot_delete_a_blog(client: Client, factory: Factory) -> None:
    author, other = await factory.user(), await factory.user()
    blog = await factory.blog(author)
    error(await client.delete(f"/blogs/{blog.id}", headers=other.auth), 403)
    ok(await client.get(f"/blogs/{blog.id}"), 200, "success getting blog")


async def test_update_blog_needs_a_token(client: Client, factory: Factory) -> None:
    blog = await factory.blog(await factory.user())
    error(await client.put(f"/blogs/{blog.id}", json={"title": "x"}), 401, "missing or malformed jwt")


async def test_update_or_delete_unknown_blog_is_404(client: Client, factory: Factory) -> None:
    user = await factory.user()
    error(await client.put(f"/blogs/{2**63 - 1}", json={"title": "x"}, headers=user.auth), 404, "record not found")
    error(await client.delete(f"/blogs/{2**63 - 1}", headers=user.auth), 404, "record not found")


async def test_delete_blog_answers_only_a_message(client: Client, factory: Factory) -> None:
    author = await factory.user()
    blog = await factory.blog(author)
    response = await client.delete(f"/blogs/{blog.id}", headers=author.auth)
    assert response.status_code == 200
    assert response.json() == {"message": "success deleting blog"}


async def test_deleted_blog_vanishes_from_list_and_get_and_cannot_be_edited(client: Client, factory: Factory) -> None:
    author = await factory.user()
    blog = await factory.blog(author)
    await client.delete(f"/blogs/{blog.id}", headers=author.auth)
    error(await client.get(f"/blogs/{blog.id}"), 404, "record not found")
    assert blog.id not in await ids(client, "/blogs")
    error(await client.put(f"/blogs/{blog.id}", json={"title": "x"}, headers=author.auth), 404, "record not found")
    error(await client.delete(f"/blogs/{blog.id}", headers=author.auth), 404, "record not found")


async def test_delete_blog_needs_a_token(client: Client, factory: Factory) -> None:
    blog = await factory.blog(await factory.user())
    error(await client.delete(f"/blogs/{blog.id}"), 401, "missing or malformed jwt")
    ok(await client.get(f"/blogs/{blog.id}"), 200, "success getting blog")
