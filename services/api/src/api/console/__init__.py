"""The jobs console at ``/console``: one server-rendered page and its own script and styles.

The page holds no data and no secret: the script signs in with ``POST /login`` and
keeps the token in memory only, sending it as a bearer header to the same JSON API any
client uses. Nothing is ever authenticated by a cookie, so a form another site posts
to wadah carries no credential (no CSRF to defend against); the price is that a reload
signs out (docs/console.md). Every value from the database reaches the page through
``textContent``, never as markup, and the Content-Security-Policy allows this origin's
script and styles only: no inline script, no framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import Router, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.auth import PUBLIC

HERE = Path(__file__).parent
POLL_SECONDS: Final = 2  # the table's refresh; each tick is one request (one statement)
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

template_config = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)


@get("/console", opt=PUBLIC, include_in_schema=False, media_type="text/html")
async def console_page() -> Template:
    """The console's page; the same for everyone (the script fetches the data)."""
    return Template("console.html", context={"poll_seconds": POLL_SECONDS}, headers=HEADERS)


console_router = Router(
    path="/",
    route_handlers=[
        console_page,
        create_static_files_router(
            path="/console/static", directories=[HERE / "static"], opt=PUBLIC, name="console-static"
        ),
    ],
)
