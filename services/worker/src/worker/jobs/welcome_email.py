"""welcome_email: the message a new user gets, over SMTP (or into the log without SMTP_HOST).

Settings: ``SMTP_HOST``, ``SMTP_PORT`` (587), ``SMTP_USER``/``SMTP_PASSWORD`` (login when
set), ``SMTP_FROM``, ``SMTP_STARTTLS`` (true: upgrade the connection before logging in).

Delivery is at least once, the one effect here that leaves the system: if the worker
dies between the server's "250 OK" and the job's record, the retry sends again. The
Message-ID is derived from the job id, so a retried message is recognisably the same
one to mail systems and clients that deduplicate. A user deleted before the job ran
gets nothing. Errors: the server unreachable, or a 4xx answer, are transient (retried
with backoff); a 5xx answer (address refused, message rejected) is permanent.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from sqlalchemy import select

from shared.models import User
from shared.settings import Settings
from worker.context import RunningJob
from worker.failures import PermanentError, TransientError

log = logging.getLogger("worker.jobs.welcome_email")

SUBJECT = "Welcome to wadah"


def compose(settings: Settings, job_id: str, name: str, email: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email
    message["Subject"] = SUBJECT
    message["Message-ID"] = f"<welcome-{job_id}@wadah>"
    message.set_content(
        f"Hello {name},\n\n"
        "your wadah account is ready. Log in with this email address and the password you chose.\n\n"
        "-- wadah\n"
    )
    return message


def deliver(settings: Settings, message: EmailMessage) -> None:
    """Blocking SMTP conversation; run in a thread."""
    assert settings.smtp_host is not None
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        reason = f"SMTP server answered {exc.smtp_code}: {exc.smtp_error!r}"
        raise (TransientError(reason) if 400 <= exc.smtp_code < 500 else PermanentError(reason)) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError(f"SMTP server refused the recipient: {exc.recipients}") from exc
    except (smtplib.SMTPException, OSError) as exc:  # unreachable, dropped, TLS failed
        raise TransientError(f"SMTP server {settings.smtp_host}:{settings.smtp_port} unreachable: {exc}") from exc


async def welcome_email(job: RunningJob, user_id: int) -> dict[str, object]:
    async with job.db.engine.connect() as conn:
        user = (
            await conn.execute(select(User.name, User.email).where(User.id == user_id, User.deleted_at.is_(None)))
        ).first()
    if user is None:
        return {"sent": False, "reason": "the user no longer exists"}
    message = compose(job.settings, job.id, user.name, user.email)
    if job.settings.smtp_host is None:
        log.info("SMTP_HOST is not set; the welcome email is logged instead:\n%s", message.as_string())
        return {"sent": False, "logged": True, "to": user.email}
    await asyncio.to_thread(deliver, job.settings, message)
    log.info("welcome email sent to user %d", user_id)
    return {"sent": True, "to": user.email}
