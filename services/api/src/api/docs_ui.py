"""The browsable API docs at /schema: Swagger UI from a locked package, served by the API itself.

Litestar's own UI pages load Scalar and Swagger UI from a CDN, unpinned and without
integrity hashes: whoever serves those files runs script in the page, next to the
token a reader pastes into "Authorize", and the page is blank offline. Here the files
come from the ``swagger-ui-py`` wheel, whose version (and so Swagger UI's) ``uv.lock``
pins with a hash, and the API serves them under ``/schema/assets/``. The page has no
inline script or style, so it works under the Content-Security-Policy of
:mod:`api.request_context`, which allows nothing but this origin.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path
from typing import Annotated, Any, Final

from litestar import Request, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import Parameter
from litestar.response import File


def _package_dir(name: str) -> Path:
    """Where an installed package's files are, without importing it (swagger_ui's code is not used)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name} is not installed (uv sync)")
    return Path(next(iter(spec.submodule_search_locations)))


SWAGGER_UI_DIR: Final = _package_dir("swagger_ui") / "static"
ASSETS_PATH: Final = "/assets"
# Starts Swagger UI on the document, from a file because the policy forbids inline script.
# No validator badge: it would send the document's address to a third party.
INIT_SCRIPT: Final = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""
# name -> (file, media type); nothing else under the assets path is served.
_ASSETS: Final = {
    "swagger-ui.css": (SWAGGER_UI_DIR / "swagger-ui.css", "text/css"),
    "swagger-ui-bundle.js": (SWAGGER_UI_DIR / "swagger-ui-bundle.js", "text/javascript"),
    "index.css": (SWAGGER_UI_DIR / "index.css", "text/css"),
    "favicon-32x32.png": (SWAGGER_UI_DIR / "favicon-32x32.png", "image/png"),
}
_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="stylesheet" href="{assets}/index.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body data-openapi="{openapi}">
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/init.js"></script>
</body>
</html>
"""


@get(f"{ASSETS_PATH}/init.js", media_type="text/javascript", sync_to_thread=False, cache=True)
def _init_script() -> str:
    return INIT_SCRIPT


@get(f"{ASSETS_PATH}/{{name:str}}", sync_to_thread=False)
def _asset(name: Annotated[str, Parameter(description="an asset's file name")]) -> File:
    found = _ASSETS.get(name)
    if found is None:
        raise NotFoundException()
    path, media_type = found
    # The files change only with the locked package, so a day's caching is safe.
    return File(
        path, media_type=media_type, content_disposition_type="inline", headers={"Cache-Control": "max-age=86400"}
    )


class SwaggerUIPlugin(OpenAPIRenderPlugin):
    """Swagger UI at /schema and /schema/swagger, its files at /schema/assets/."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        openapi = self.get_openapi_json_route(request)  # /schema/openapi.json
        title = str(openapi_schema.get("info", {}).get("title", "API"))
        assets = openapi.rsplit("/", 1)[0] + ASSETS_PATH
        return _PAGE.format(title=html.escape(title), assets=assets, openapi=html.escape(openapi)).encode()

    def receive_router(self, router: Router) -> None:
        router.register(_init_script)
        router.register(_asset)
