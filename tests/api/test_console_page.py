"""/console over HTTP: public, the same page for everyone, strict headers, and only its own files."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.console import CONTENT_SECURITY_POLICY

Client = AsyncTestClient[Litestar]


async def test_the_page_is_public_and_strictly_fenced(client: Client) -> None:
    response = await client.get("/console")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "'unsafe-" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    assert '<script src="/console/static/console.js" defer></script>' in response.text


async def test_its_script_and_styles_are_served_and_nothing_else(client: Client) -> None:
    script = await client.get("/console/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script.text, sink  # values reach the page as text only
    for store in ("document.cookie", "localStorage", "sessionStorage"):
        assert store not in script.text, store  # the token stays in memory
    assert (await client.get("/console/static/console.css")).status_code == 200
    for path in ("/console/static/missing.js", "/console/static/../__init__.py", "/console/static/%2e%2e/__init__.py"):
        assert (await client.get(path)).status_code == 404, path


async def test_posting_to_the_page_does_nothing(client: Client) -> None:
    """The forms post nowhere without the script: the page takes GET only."""
    assert (await client.post("/console", data={"email": "a@b.c", "password": "x"})).status_code == 405
