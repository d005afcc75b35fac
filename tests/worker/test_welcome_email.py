"""The welcome email: registered through the API, sent by a real worker to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.embedded import free_port
from tests.factories import DEFAULT_PASSWORD, user_body
from tests.processes import eventually, workers

pytestmark = pytest.mark.process


class Inbox:
    """An aiosmtpd handler that keeps what it receives, or refuses every recipient with a 550."""

    def __init__(self, refuse: bool = False) -> None:
        self.messages: list[Message] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(inbox: Inbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def smtp_env(worker_env: dict[str, str], port: int, **extra: str) -> dict[str, str]:
    return {**worker_env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "false", **extra}


async def register(client: AsyncTestClient[Litestar], **overrides: str) -> tuple[dict[str, Any], dict[str, str]]:
    body = user_body(**overrides)
    created = await client.post("/users", json=body)
    assert created.status_code == 201, created.text
    login = await client.post("/login", json={"email": body["email"], "password": DEFAULT_PASSWORD})
    return created.json()["data"], {"Authorization": f"Bearer {login.json()['token']}"}


async def welcome_job(client: AsyncTestClient[Litestar], auth: dict[str, str], status: str) -> dict[str, Any] | None:
    jobs = (await client.get("/jobs", params={"kind": "welcome_email"}, headers=auth)).json()["data"]
    return jobs[0] if jobs and jobs[0]["status"] == status else None


async def test_the_welcome_email_arrives_at_the_smtp_server(
    client: AsyncTestClient[Litestar], worker_env: dict[str, str], tmp_path: Path
) -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        user, auth = await register(client, name="Ayu Lestari")
        with workers(smtp_env(worker_env, port), tmp_path):
            job = await eventually(lambda: welcome_job(client, auth, "succeeded"), what="the email job")
    [message] = inbox.messages
    assert message["To"] == user["email"]
    assert message["Subject"] == "Welcome to wadah"
    assert message["Message-ID"] == f"<welcome-{job['id']}@wadah>"
    assert "Hello Ayu Lestari," in message.get_payload()
    assert job["result"] == {"sent": True, "to": user["email"]}


async def test_without_smtp_host_the_email_is_written_to_the_log(
    client: AsyncTestClient[Litestar], worker_env: dict[str, str], tmp_path: Path
) -> None:
    user, auth = await register(client)
    env = {k: v for k, v in worker_env.items() if not k.startswith("SMTP_")}
    with workers(env, tmp_path) as [worker]:
        job = await eventually(lambda: welcome_job(client, auth, "succeeded"))
        log = worker.output()
    assert job["result"] == {"sent": False, "logged": True, "to": user["email"]}
    assert f"To: {user['email']}" in log and "Subject: Welcome to wadah" in log


async def test_an_unreachable_smtp_server_is_retried_then_the_job_fails_with_the_error(
    client: AsyncTestClient[Litestar], worker_env: dict[str, str], tmp_path: Path
) -> None:
    _, auth = await register(client)
    env = smtp_env(worker_env, free_port(), JOB_MAX_TRIES="3", JOB_RETRY_BASE_SECONDS="0.2")
    with workers(env, tmp_path) as [worker]:
        job = await eventually(lambda: welcome_job(client, auth, "failed"), what="the retries to run out")
        log = worker.output()
    assert job["attempts"] == 3
    assert "unreachable" in job["error"]
    assert log.count("job welcome_email attempt") == 2  # two retries logged, the third attempt failed


async def test_a_refused_recipient_fails_at_once(
    client: AsyncTestClient[Litestar], worker_env: dict[str, str], tmp_path: Path
) -> None:
    with smtp_server(Inbox(refuse=True)) as port:
        _, auth = await register(client)
        with workers(smtp_env(worker_env, port), tmp_path):
            job = await eventually(lambda: welcome_job(client, auth, "failed"))
    assert job["attempts"] == 1
    assert "refused the recipient" in job["error"] and "550" in job["error"]


async def test_a_name_with_line_breaks_cannot_forge_a_line_in_the_logged_email(
    client: AsyncTestClient[Litestar], worker_env: dict[str, str], tmp_path: Path
) -> None:
    forged = "2026-12-02 00:00:00,000 ERROR worker.jobs: job export failed"
    _, auth = await register(client, name=f"Mallory\n{forged}\r\n{forged}")
    env = {k: v for k, v in worker_env.items() if not k.startswith("SMTP_")}
    with workers(env, tmp_path) as [worker]:
        await eventually(lambda: welcome_job(client, auth, "succeeded"))
        log = worker.output()
    [line] = [line for line in log.splitlines() if "the welcome email is logged instead" in line]
    assert f"Hello Mallory\\n{forged}\\n{forged}," in line  # the email's own line breaks, escaped
    assert not any(line.startswith(forged) for line in log.splitlines())
