"""The docs UI at /schema: Swagger UI from the locked package, served by the API, working offline under its CSP."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from api.request_context import CONTENT_SECURITY_POLICY
from tests.api.expect import Client
from tests.servers import ApiProcess, serving

BROWSER_LIMIT_SECONDS = 120  # a deadline for a hung browser, not a speed


def referenced(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_the_page_loads_nothing_from_another_origin(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    urls = referenced(response.text)
    assert urls and all(url.startswith("/schema/assets/") for url in urls), urls
    assert "<script>" not in response.text and "<style" not in response.text  # nothing inline for the CSP to block


async def test_every_file_the_page_names_is_served_with_its_type(client: Client) -> None:
    page = (await client.get("/schema")).text
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in referenced(page):
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(types[url[url.rindex(".") :]]), url
        assert response.content


@pytest.mark.parametrize("name", ["swagger-ui.js.map", "LICENSE", "..%2F__init__.py", "oauth2-redirect.html"])
async def test_only_the_named_assets_are_served(client: Client, name: str) -> None:
    assert (await client.get(f"/schema/assets/{name}")).status_code == 404


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        raise AssertionError("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def served(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with serving(worker_env, tmp_path_factory.mktemp("docs-ui") / "api.log") as server:
        yield server


def test_a_browser_renders_every_operation_under_the_policy_without_the_network(
    served: ApiProcess, tmp_path: pytest.TempPathFactory
) -> None:
    """Headless Chromium with every host but the API's unreachable: the page must need none."""
    dom = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline, but for the API
            "--virtual-time-budget=20000",  # let the page fetch the document and render it
            "--dump-dom",
            f"{served.url}/schema",
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_LIMIT_SECONDS,
    ).stdout
    rendered = set(re.findall(r'class="opblock opblock-(\w+)[^"]*" id="operations-[^"]*"', dom))
    paths = set(re.findall(r'data-path="([^"]+)"', dom))
    assert {"get", "post", "put", "delete"} <= rendered, dom[-2000:]
    assert {"/users", "/users/{user_id}", "/login", "/books/import"} <= paths, sorted(paths)
