"""A first end-to-end check that the test wiring reaches the real database and Redis."""

from litestar.testing import AsyncTestClient

from tests.factories import Factory, book_body


async def test_readyz_sees_database_and_redis(client: AsyncTestClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert set(response.json()["checks"].values()) == {"ok"}


async def test_created_book_is_listed_with_its_total(client: AsyncTestClient, factory: Factory) -> None:
    user = await factory.user()
    before = (await client.get("/books")).json()["meta"]["total"]
    created = await client.post("/books", json=book_body(), headers=user.auth)
    assert created.status_code == 201
    listing = (await client.get("/books", params={"limit": 100})).json()
    assert listing["meta"]["total"] == before + 1
