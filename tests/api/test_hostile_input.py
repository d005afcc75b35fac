"""Hostile input: every limit is a 4xx naming what is wrong, and text is data, never SQL.

Lengths count characters (MySQL's VARCHAR(255) in utf8mb4 does too), so the limits are
tried with four-byte characters as well as ASCII.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.expect import Client, bad_fields, error, ok
from tests.factories import AUser, Factory, blog_body, book_body, unique, user_body

WIDE = "\U0001f4da"  # a book emoji: one character, four bytes of UTF-8

# Text that means something to SQL, to LIKE, to a shell or to a C string, and must mean
# nothing here: each is stored and returned exactly as sent.
SQL_AND_FRIENDS = [
    "'; DROP TABLE books; --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    '" OR ""="',
    "%",
    "_",
    "%_%",
    "\\",
    "\\'",
    "\\0 \\n \\x00",
    "`backticks` $(echo hi) ${HOME}",
    "a\x00b",
    "ünïcödé 漢字 \U0001f680 \u202eRTL",
    "/* comment */ UNION SELECT password FROM users",
]


async def created(client: Client, path: str, body: dict[str, Any], user: AUser | None = None) -> dict[str, Any]:
    headers = user.auth if user else None
    data: dict[str, Any] = ok(
        await client.post(path, json=body, headers=headers), 201, f"success creating {path[1:-1]}"
    )
    return data


@pytest.mark.parametrize("text", SQL_AND_FRIENDS)
async def test_sql_metacharacters_in_every_text_field_are_stored_and_returned_verbatim(
    client: Client, factory: Factory, text: str
) -> None:
    user = await factory.user()
    book = await created(client, "/books", book_body(title=text, author=text, genre=text), user)
    blog = await created(client, "/blogs", blog_body(title=text, content=text), user)
    person = await created(client, "/users", user_body(name=text))
    read_book = ok(await client.get(f"/books/{book['id']}"), 200, "success getting book")
    read_blog = ok(await client.get(f"/blogs/{blog['id']}"), 200, "success getting blog")
    read_user = ok(await client.get(f"/users/{person['id']}", headers=user.auth), 200, "success getting user")
    assert (read_book["title"], read_book["author"], read_book["genre"]) == (text, text, text)
    assert (read_blog["title"], read_blog["content"]) == (text, text)
    assert read_user["name"] == text
    assert {book["title"], blog["title"], person["name"]} == {text}
    listed = await client.get("/books", params={"limit": 100, "offset": 0})
    assert listed.status_code == 200 and listed.json()["meta"]["total"] >= 1  # the table is still there


async def test_an_email_full_of_metacharacters_registers_and_logs_in(client: Client) -> None:
    email = f'o\'hara+%_\\"{unique("x")}"@example.com'
    person = await created(client, "/users", user_body(email=email))
    assert person["email"] == email.lower()
    ok(await client.post("/login", json={"email": email, "password": user_body()["password"]}), 200, "success login")


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE books; --",
        "1 OR 1=1",
        "1;",
        "%",
        "_",
        "\\",
        "1'",
        "0x10",
        "\uff11",  # a full-width one
    ],
)
async def test_sql_metacharacters_in_query_and_path_parameters_are_400(
    client: Client, factory: Factory, text: str
) -> None:
    user = await factory.user()
    for path in ("/books", "/blogs", "/users"):
        for param in ("limit", "offset"):
            response = await client.get(path, params={param: text}, headers=user.auth)
            assert bad_fields(response) == {param}
        error(await client.get(f"{path}/{text}", headers=user.auth), 400, "provided id was invalid")
    ok(await client.get("/books"), 200, "success getting books")


# (path, field, longest accepted): the input rules' limits (docs/api.md), one row per text field.
LENGTHS = [
    ("/users", "name", 255),
    ("/books", "title", 255),
    ("/books", "author", 255),
    ("/books", "genre", 255),
    ("/blogs", "title", 255),
    ("/blogs", "content", 100_000),
]
BODIES = {"/users": user_body, "/books": book_body, "/blogs": blog_body}


@pytest.mark.parametrize(("path", "field", "longest"), LENGTHS)
@pytest.mark.parametrize("char", ["x", WIDE], ids=["ascii", "four-byte"])
async def test_text_up_to_its_limit_is_kept_whole_and_one_more_character_is_400(
    client: Client, factory: Factory, path: str, field: str, longest: int, char: str
) -> None:
    user = await factory.user()
    body = BODIES[path]
    kept = await created(client, path, body(**{field: char * longest}), user)
    assert kept[field] == char * longest
    assert bad_fields(await client.post(path, json=body(**{field: char * (longest + 1)}), headers=user.auth)) == {field}


async def test_an_email_up_to_255_characters_is_accepted_and_256_is_400(client: Client) -> None:
    domain = f"@{unique('d')}.example.com"
    longest = "a" * (255 - len(domain)) + domain
    assert (await created(client, "/users", user_body(email=longest)))["email"] == longest
    assert bad_fields(await client.post("/users", json=user_body(email="a" + longest))) == {"email"}


async def test_an_email_that_grows_past_255_when_lower_cased_is_400_not_a_500(client: Client) -> None:
    """'İ' lower-cases to two characters; stored lower-cased, 255 of them would not fit."""
    email = "\u0130" * 240 + f"@{unique('d')}.co"[:15]
    assert len(email) <= 255 < len(email.lower())
    assert bad_fields(await client.post("/users", json=user_body(email=email))) == {"email"}


@pytest.mark.parametrize(
    "email",
    [
        "plainaddress",
        "a@b",
        "@example.com",
        "a@.com",
        "a@example.",
        "a b@example.com",
        "a@exa mple.com",
        "a@@example.com",
        "a\x00@example.com",
        "a\t@example.com",
        "a@example.com\n",
        "ab",
    ],
)
async def test_an_email_that_is_not_local_at_domain_dot_tld_is_400(client: Client, email: str) -> None:
    assert bad_fields(await client.post("/users", json=user_body(email=email))) == {"email"}


@pytest.mark.parametrize("year", [-9999, 0, 2005, 9999])
async def test_a_year_from_minus_9999_to_9999_is_kept(client: Client, factory: Factory, year: int) -> None:
    user = await factory.user()
    assert (await created(client, "/books", book_body(year=year), user))["year"] == year


@pytest.mark.parametrize("year", [-10_000, 10_000, 2**31, 2**63, -(2**63) - 1, 10**30])
async def test_a_year_outside_minus_9999_to_9999_is_400(client: Client, factory: Factory, year: int) -> None:
    user = await factory.user()
    assert bad_fields(await client.post("/books", json=book_body(year=year), headers=user.auth)) == {"year"}


@pytest.mark.parametrize("ident", [str(2**63), str(2**64), str(2**64 + 1), "9" * 30, "0", "-1", "00000000000000000001"])
async def test_an_id_beyond_64_bits_or_not_positive_is_400_on_every_id_route(
    client: Client, factory: Factory, ident: str
) -> None:
    user = await factory.user()
    for path in ("/books", "/blogs", "/users"):
        for method, body in (("GET", None), ("PUT", {}), ("DELETE", None)):
            response = await client.request(method, f"{path}/{ident}", json=body, headers=user.auth)
            error(response, 400, "provided id was invalid")


async def test_the_largest_64_bit_id_is_a_404_not_an_error(client: Client) -> None:
    error(await client.get(f"/books/{2**63 - 1}"), 404, "record not found")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", 10**30),
        ("limit", 2**63),
        ("limit", 101),
        ("limit", 0),
        ("offset", 10**30),
        ("offset", 2**63),
        ("offset", 1_000_000_001),
        ("offset", -1),
    ],
)
async def test_a_huge_or_negative_limit_or_offset_is_400_naming_it(
    client: Client, factory: Factory, param: str, value: int
) -> None:
    user = await factory.user()
    for path in ("/books", "/blogs", "/users"):
        assert bad_fields(await client.get(path, params={param: value}, headers=user.auth)) == {param}


async def test_the_largest_limit_and_offset_answer_an_empty_page(client: Client) -> None:
    page = await client.get("/books", params={"limit": 100, "offset": 1_000_000_000})
    assert ok(page, 200, "success getting books") == []
