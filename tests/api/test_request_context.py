"""Every response, whatever answered it, carries X-Request-ID and nosniff, and no server banner."""

from __future__ import annotations

import re

import httpx
import pytest

from api import console
from api.request_context import CONTENT_SECURITY_POLICY
from tests.api.expect import Client
from tests.factories import Factory, book_body

HEX_ID = re.compile(r"[0-9a-f]{32}")


def stamped(response: httpx.Response) -> str:
    """The response's request id, after checking the headers every response must have."""
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers
    assert len(response.headers.get_list("x-request-id")) == 1
    request_id: str = response.headers["x-request-id"]
    return request_id


async def test_every_kind_of_answer_is_stamped(client: Client, factory: Factory) -> None:
    user = await factory.user()
    answers = [
        await client.get("/healthz"),  # 200
        await client.post("/books", json=book_body(), headers=user.auth),  # 201
        await client.get("/books/abc"),  # 400 from a handler
        await client.get("/books", params={"limit": "x"}),  # 400 from validation
        await client.get("/users"),  # 401 from the auth middleware
        await client.get("/no/such/route"),  # 404 from the router
        await client.patch("/books"),  # 405 from the router
        await client.options("/books"),  # Litestar's own OPTIONS answer
        await client.get("/schema/openapi.json"),  # the document
    ]
    assert [r.status_code for r in answers] == [200, 201, 400, 400, 401, 404, 405, 204, 200]
    ids = [stamped(r) for r in answers]
    assert all(HEX_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "sent", ["abc-123", "0f9c2d2e-6a4b-4e3b-9a8e-1d2c3b4a5f60", "req_42:worker.7/a+b=c@d", "x" * 128]
)
async def test_a_sane_request_id_from_the_client_comes_back(client: Client, sent: str) -> None:
    assert stamped(await client.get("/healthz", headers={"X-Request-ID": sent})) == sent


@pytest.mark.parametrize(
    "sent",
    ["", "x" * 129, "has space", 'quote"d', "semi;colon", "<script>", "new\\nline", "caf\u00e9"],
)
async def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(client: Client, sent: str) -> None:
    """Ids end up in log lines and headers: nothing that could forge a line or a header is echoed."""
    response = await client.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")})
    assert HEX_ID.fullmatch(stamped(response))


async def test_every_answer_has_the_strict_content_security_policy(client: Client) -> None:
    for path in ("/healthz", "/nowhere", "/schema"):
        assert (await client.get(path)).headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]


async def test_a_page_with_a_policy_of_its_own_keeps_only_that_one(client: Client) -> None:
    response = await client.get("/console")
    assert response.status_code == 200
    assert response.headers.get_list("content-security-policy") == [console.CONTENT_SECURITY_POLICY]
