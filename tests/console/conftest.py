"""The console in a real browser: Debian's Chromium driven by Playwright, against a real
API process and a real worker process on this run's database and Redis.

Nothing is downloaded at run time: the browser is the machine's ``chromium`` package
(``CHROMIUM``, default ``/usr/bin/chromium``) and the accessibility engine is
``axe-core`` from ``tests/console/package-lock.json`` (``npm ci`` in that folder).
``CONSOLE_SCREENSHOTS=DIR`` makes the tests save PNGs of the main views there
(``make screenshots``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from tests.processes import workers
from tests.servers import ApiProcess, serving

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Stack:
    api: ApiProcess
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.api.url


@pytest.fixture(scope="module")
def stack(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API and a worker sharing this run's database, Redis and upload/export folders.

    The dispatcher's grace is long, so a row the test writes without enqueueing stays
    ``queued`` (the API enqueues its own jobs at once, as always).
    """
    directory = tmp_path_factory.mktemp("console")
    env = {
        **worker_env,
        "DISPATCH_GRACE_SECONDS": "3600",
    }
    with workers(env, directory), serving(env, directory / "api.log") as api:
        yield Stack(api, env)


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once per module, before any loop work
        pytest.fail(f"no browser at {CHROMIUM}: apt-get install -y chromium")
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def page(browser: BrowserContext) -> AsyncIterator[Page]:
    """A fresh tab with axe-core preloaded; fails the test if the page broke its own CSP or threw.

    axe comes in as an init script (the DevTools protocol's, which the page's CSP does
    not govern), so the console's policy stays as strict in the test as in production.
    """
    tab = await browser.new_page()
    await tab.add_init_script(script=axe_source())
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    tab.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    tab.on("dialog", lambda dialog: problems.append(f"a dialog opened: {dialog.message}"))
    yield tab
    await tab.close()
    assert not problems, problems


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in {HERE}")
    return AXE.read_text()


def screenshot_dir() -> Path | None:
    configured = os.environ.get("CONSOLE_SCREENSHOTS")
    if not configured:
        return None
    path = Path(configured)
    path.mkdir(parents=True, exist_ok=True)
    return path
