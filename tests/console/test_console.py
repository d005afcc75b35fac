"""The console in Chromium, against real API and worker processes (see conftest.py).

Each test drives the page by the accessible names the console promises (Email,
Password, Sign in, Sign out, the Jobs table, Cancel, Retry, Download, File, Import,
Export books, Export blogs, progress bars, the Queue health region), so they double as
the specification of that interface.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from playwright.async_api import Locator, Page, expect

from shared.db import Database
from shared.job_queue import JobQueue, redis_client
from shared.jobs import JobKind, encode_json
from shared.models import Job
from shared.settings import Settings
from tests.console.conftest import Stack, screenshot_dir
from tests.factories import AUser, Factory

pytestmark = pytest.mark.process

SLOW = 300_000  # ms: a deadline for a hung test (a loaded machine imports 20,000 rows slowly), not a speed claim
HOSTILE_ERROR_KEY = "<img src=x onerror=alert(1)>"
HOSTILE_TITLE = "<script>alert(2)</script>"


async def sign_in(page: Page, stack: Stack, user: AUser) -> None:
    await page.goto(stack.url + "/console")
    await page.get_by_label("Email", exact=True).fill(user.email)
    await page.get_by_label("Password", exact=True).fill(user.password)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("table", name="Jobs")).to_be_visible()


def row(page: Page, job_id: str) -> Locator:
    return page.locator(f'#job-rows tr[data-id="{job_id}"]')


def cell(page: Page, job_id: str, column: int) -> Locator:
    """0 kind, 1 status, 2 attempts, 3 progress, 4-6 times, 7 error, 8 result, 9 actions."""
    return row(page, job_id).locator("td").nth(column)


async def no_serious_violations(page: Page) -> None:
    result: dict[str, Any] = await page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious


async def shot(page: Page, name: str) -> None:
    directory = screenshot_dir()
    if directory is not None:
        await page.screenshot(path=str(directory / f"console-{name}.png"), full_page=True)


async def stored(db: Database, job_id: str) -> Job:
    async with db.sessions() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def failing_job(db: Database, settings: Settings, user: AUser, params: dict[str, Any]) -> str:
    """A job the real worker fails at once: parameters its handler does not take."""
    queue = JobQueue(redis_client(settings), db)
    async with db.transaction() as tx:
        job = await queue.request(tx, JobKind.COMPUTE_BLOG_STATS, params, requested_by=user.id)
    await queue.send([(job.id, job.kind)])
    await queue.drain()
    await queue.redis.aclose()
    return job.id


async def test_sign_in_and_out_with_the_existing_login(page: Page, stack: Stack, factory: Factory) -> None:
    user = await factory.user()
    await page.goto(stack.url + "/console")
    await no_serious_violations(page)
    await shot(page, "sign-in")
    await page.get_by_label("Email", exact=True).fill(user.email)
    await page.get_by_label("Password", exact=True).fill("wrong password")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text("invalid credentials")

    await sign_in(page, stack, user)
    await expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    await expect(page.get_by_role("region", name="Queue health")).to_have_count(0)
    await no_serious_violations(page)
    assert await page.context.cookies() == []  # the session is the script's memory, nothing else

    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    await expect(page.get_by_role("table", name="Jobs")).to_be_hidden()


async def test_an_import_of_20000_rows_shows_its_progress_counts_and_rejected_lines(
    page: Page, stack: Stack, factory: Factory, tmp_path: Path
) -> None:
    user = await factory.user()
    upload = tmp_path / "books.csv"
    lines = ["title,author,genre,year"]
    for i in range(1, 20_001):
        year = "not-a-year" if i % 1000 == 0 else str(1900 + i % 120)
        lines.append(f"Book {i},Author {i % 50},Novel,{year}")
    upload.write_text("\n".join(lines) + "\n")

    await sign_in(page, stack, user)
    await page.get_by_label("File", exact=True).set_input_files(upload)
    await page.get_by_role("button", name="Import", exact=True).click()

    upload_bar = page.get_by_role("progressbar", name="Upload")
    job_bar = page.get_by_role("progressbar", name="Import job")
    await expect(upload_bar).to_have_attribute("aria-valuenow", "100", timeout=SLOW)
    await expect(job_bar).to_have_attribute("aria-valuenow", "100", timeout=SLOW)
    await expect(page.locator("#import-counts")).to_have_text(
        "Import finished: rows 20000, inserted 19980, rejected 20", timeout=SLOW
    )
    rejected = page.locator("#import-rejections li")
    await expect(rejected).to_have_count(20)
    await expect(rejected.first).to_have_text(re.compile(r"^line 1001: .*year"))
    first = page.locator("#job-rows tr").first
    await expect(first.locator("td").nth(1)).to_have_text("succeeded")
    await expect(first.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    await no_serious_violations(page)
    await shot(page, "import")


async def test_a_failing_job_shows_its_error_and_retry_runs_it_again(
    page: Page, stack: Stack, factory: Factory, db: Database, settings: Settings
) -> None:
    user = await factory.user()
    job_id = await failing_job(db, settings, user, {"blog": 7})
    await sign_in(page, stack, user)
    await expect(cell(page, job_id, 1)).to_have_text("failed", timeout=SLOW)
    await expect(cell(page, job_id, 7)).to_contain_text("unexpected keyword argument 'blog'")

    await row(page, job_id).get_by_role("button", name="Retry", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("success retrying job")
    async with db.sessions() as session:
        from sqlalchemy import select

        retry_id = (await session.execute(select(Job.id).where(Job.retry_of == job_id))).scalar_one()
    await expect(cell(page, retry_id, 1)).to_have_text("failed", timeout=SLOW)
    await expect(cell(page, retry_id, 2)).to_have_text("1")  # it ran: one attempt of its own
    await expect(cell(page, retry_id, 7)).to_contain_text("unexpected keyword argument 'blog'")
    await expect(cell(page, job_id, 1)).to_have_text("failed")  # the earlier run stays, with its error
    await expect(cell(page, job_id, 7)).to_contain_text("unexpected keyword argument 'blog'")
    assert (await stored(db, retry_id)).started_at is not None


async def test_cancel_stops_a_queued_job(page: Page, stack: Stack, factory: Factory, db: Database) -> None:
    user = await factory.user()
    job = await factory.job(user, "queued")  # written, never enqueued: it waits for the dispatcher's long grace
    await sign_in(page, stack, user)
    await expect(cell(page, job.id, 1)).to_have_text("queued")
    await row(page, job.id).get_by_role("button", name="Cancel", exact=True).click()
    await expect(cell(page, job.id, 1)).to_have_text("cancelled")
    await expect(row(page, job.id).get_by_role("button", name="Retry", exact=True)).to_be_visible()
    after = await stored(db, job.id)
    assert (after.status, after.attempts, after.started_at) == ("cancelled", 0, None)


async def test_exports_start_from_their_buttons_and_download_when_done(
    page: Page, stack: Stack, factory: Factory
) -> None:
    user = await factory.user()
    await factory.book(title="Laskar Pelangi")
    await sign_in(page, stack, user)
    await page.get_by_role("button", name="Export blogs", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("success exporting blogs")
    await page.get_by_role("button", name="Export books", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("success exporting books")
    books = page.locator("#job-rows tr").first
    link = books.get_by_role("link", name="Download", exact=True)
    await expect(link).to_be_visible(timeout=SLOW)
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert re.fullmatch(r"books-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    content = await anyio.Path(await download.path()).read_text()
    assert content.splitlines()[0].startswith("id,") and "Laskar Pelangi" in content
    await expect(page.get_by_role("link", name="Download", exact=True)).to_have_count(2, timeout=SLOW)


async def test_an_operator_sees_every_users_jobs_and_queue_health_a_user_neither(
    page: Page, stack: Stack, factory: Factory
) -> None:
    owner, user, operator = await factory.user(), await factory.user(), await factory.user(operator=True)
    theirs = await factory.job(owner, "queued")

    await sign_in(page, stack, user)
    await expect(page.locator("#page-info")).to_contain_text("Page 1")
    await expect(row(page, theirs.id)).to_have_count(0)
    await expect(page.get_by_role("region", name="Queue health")).to_have_count(0)
    await page.get_by_role("button", name="Sign out", exact=True).click()

    await sign_in(page, stack, operator)
    health = page.get_by_role("region", name="Queue health")
    await expect(health).to_be_visible()
    await expect(row(page, theirs.id)).to_be_visible()
    await expect(health.locator("dt", has_text="Workers alive").locator("+ dd")).to_have_text(re.compile(r"^[1-9]"))
    await expect(health.locator("dt", has_text="Jobs queued").locator("+ dd")).to_have_text(re.compile(r"^[1-9]"))
    await expect(health.get_by_role("img", name="Jobs finished per minute, last hour")).to_be_visible()
    await row(page, theirs.id).get_by_role("button", name="Cancel", exact=True).click()
    await expect(cell(page, theirs.id, 1)).to_have_text("cancelled")
    await no_serious_violations(page)
    await shot(page, "operator")


async def test_hostile_titles_and_errors_are_shown_as_text(
    page: Page, stack: Stack, factory: Factory, db: Database, settings: Settings
) -> None:
    user = await factory.user()
    failed_id = await failing_job(db, settings, user, {HOSTILE_ERROR_KEY: 1})
    done = await factory.job(user, "succeeded", result=encode_json({"title": HOSTILE_TITLE}))
    await sign_in(page, stack, user)
    await expect(cell(page, failed_id, 7)).to_contain_text(HOSTILE_ERROR_KEY, timeout=SLOW)
    await expect(cell(page, done.id, 8)).to_contain_text(HOSTILE_TITLE)
    assert await page.locator("#job-rows img, #job-rows script").count() == 0
    # The page fixture fails the test if alert() opened a dialog or a script broke the CSP.


async def test_a_cross_site_form_post_cannot_act_as_the_signed_in_user(
    page: Page, stack: Stack, factory: Factory, db: Database
) -> None:
    user = await factory.user()
    job = await factory.job(user, "queued")
    await sign_in(page, stack, user)
    attacker = await page.context.new_page()
    form = (
        f'<form id="f" method="post" action="{stack.url}/jobs/{job.id}/cancel" enctype="text/plain">'
        '<input name="x" value="y"></form><script>document.getElementById("f").submit()</script>'
    )
    await attacker.route("http://evil.example/**", lambda route: route.fulfill(body=form, content_type="text/html"))
    async with attacker.expect_navigation(url=re.compile(re.escape(stack.url))):
        await attacker.goto("http://evil.example/")
    assert "missing or malformed jwt" in await attacker.content()
    await attacker.close()
    assert (await stored(db, job.id)).status == "queued"
    await expect(cell(page, job.id, 1)).to_have_text("queued")


async def test_the_page_cannot_be_framed_and_holds_no_secret(page: Page, stack: Stack, settings: Settings) -> None:
    response = await page.goto(stack.url + "/console")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = await response.text()
    assert settings.jwt_secret not in html and "Bearer ey" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # every script is a file of this origin


async def test_filters_by_status_and_kind_and_pages_of_twenty(page: Page, stack: Stack, factory: Factory) -> None:
    user = await factory.user()
    queued = [await factory.job(user, "queued") for _ in range(21)]
    failed = await factory.job(user, "failed")
    await sign_in(page, stack, user)
    await expect(page.locator("#page-info")).to_have_text("Page 1 of 2 (22 jobs)")
    await expect(page.locator("#job-rows tr")).to_have_count(20)
    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator("#page-info")).to_have_text("Page 2 of 2 (22 jobs)")
    await expect(page.locator("#job-rows tr")).to_have_count(2)
    await expect(row(page, queued[0].id)).to_be_visible()  # the oldest is last

    await page.get_by_label("Status", exact=True).select_option("failed")
    await expect(page.locator("#page-info")).to_have_text("Page 1 of 1 (1 jobs)")
    await expect(row(page, failed.id)).to_be_visible()
    await page.get_by_label("Kind", exact=True).select_option("export")
    await expect(page.locator("#page-info")).to_have_text("Page 1 of 1 (0 jobs)")
    await page.get_by_label("Kind", exact=True).select_option("compute_blog_stats")
    await page.get_by_label("Status", exact=True).select_option("queued")
    await expect(page.locator("#page-info")).to_have_text("Page 1 of 2 (21 jobs)")
