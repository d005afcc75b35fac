"""Following one request into its job: real API and worker processes, console traces, JSON logs.

One run per module: ``python -m api`` and ``python -m worker`` with ``LOG_FORMAT=json``
and ``OTEL_TRACES_EXPORTER=console``; a user registers (a welcome email to an SMTP
server that is not there: retried, then failed), logs in and writes a blog (its stats
job succeeds on the first attempt). Each test then reads what the two processes wrote.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.embedded import free_port
from tests.factories import blog_body, user_body
from tests.processes import workers
from tests.servers import serving

pytestmark = pytest.mark.process

LIMIT_SECONDS = 90  # a deadline for a hung test, not an assertion about speed
SMTP_PASSWORD = "smtp-secret-" + "q" * 20
BLOG_REQUEST = "req-observability-blog"


@dataclass
class Run:
    api_output: str
    worker_output: str
    password: str
    token: str
    jwt_secret: str
    blog_job: dict[str, Any]
    email_job: dict[str, Any]

    def records(self, output: str) -> list[dict[str, Any]]:
        """Every line, as JSON: spans (they have a ``context``) and log records (a ``level``)."""
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    def spans(self, output: str) -> list[dict[str, Any]]:
        return [r for r in self.records(output) if "context" in r]

    def logs(self, output: str) -> list[dict[str, Any]]:
        return [r for r in self.records(output) if "level" in r]


def wait_for_job(api: str, auth: dict[str, str], kind: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + LIMIT_SECONDS
    while True:
        jobs = httpx.get(f"{api}/jobs", params={"kind": kind}, headers=auth).json()["data"]
        if jobs and jobs[0]["status"] == status:
            return dict(jobs[0])
        if time.monotonic() > deadline:
            raise AssertionError(f"{kind} never reached {status}: {jobs}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def run(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    directory = tmp_path_factory.mktemp("request-to-job")
    env = {k: v for k, v in worker_env.items() if not k.startswith(("OTEL_", "SMTP_"))}
    env |= {
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",  # the most a deployment could write
        "OTEL_TRACES_EXPORTER": "console",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),  # nothing listens: a transient error, retried
        "SMTP_STARTTLS": "false",
        "SMTP_USER": "wadah",
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "JOB_MAX_TRIES": "2",
        "JOB_RETRY_BASE_SECONDS": "0.1",
        "WORKER_METRICS_PORT": str(free_port()),
    }
    with serving(env, directory / "api.log") as api, workers(env, directory) as [worker]:
        body = user_body()
        assert httpx.post(f"{api.url}/users", json=body).status_code == 201
        login = httpx.post(f"{api.url}/login", json={"email": body["email"], "password": body["password"]})
        token = login.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        blog = httpx.post(f"{api.url}/blogs", json=blog_body(), headers={**auth, "X-Request-ID": BLOG_REQUEST})
        assert blog.status_code == 201
        assert httpx.post(f"{api.url}/login", json={"email": body["email"], "password": "wrong-" + body["password"]})
        blog_job = wait_for_job(api.url, auth, "compute_blog_stats", "succeeded")
        email_job = wait_for_job(api.url, auth, "welcome_email", "failed")
    yield Run(api.output(), worker.output(), body["password"], token, env["JWT_SECRET"], blog_job, email_job)


def server_span(run: Run, name: str) -> dict[str, Any]:
    [span] = [s for s in run.spans(run.api_output) if s["name"] == name]
    return span


def job_spans(run: Run, job_id: str) -> list[dict[str, Any]]:
    spans = [s for s in run.spans(run.worker_output) if s["attributes"].get("wadah.job.id") == job_id]
    return sorted(spans, key=lambda s: s["attributes"]["wadah.job.attempt"])


def test_the_jobs_span_is_a_child_of_the_request_that_asked_for_it(run: Run) -> None:
    request = server_span(run, "POST /blogs")
    [job] = job_spans(run, run.blog_job["id"])
    assert job["name"] == "compute_blog_stats"
    assert job["context"]["trace_id"] == request["context"]["trace_id"]
    assert job["parent_id"] == request["context"]["span_id"]
    assert request["attributes"]["http.route"] == "/blogs"
    assert job["resource"]["attributes"]["service.name"] == "wadah-worker"
    assert request["resource"]["attributes"]["service.name"] == "wadah-api"


def test_a_retried_jobs_later_attempt_starts_its_own_trace_linked_to_the_request(run: Run) -> None:
    request = server_span(run, "POST /users")
    first, second = job_spans(run, run.email_job["id"])
    assert first["parent_id"] == request["context"]["span_id"]
    assert first["context"]["trace_id"] == request["context"]["trace_id"]
    assert second["parent_id"] is None
    assert second["context"]["trace_id"] != request["context"]["trace_id"]
    [link] = second["links"]
    assert (link["context"]["trace_id"], link["context"]["span_id"]) == (
        request["context"]["trace_id"],
        request["context"]["span_id"],
    )


def test_every_line_of_both_services_is_one_json_object(run: Run) -> None:
    for output in (run.api_output, run.worker_output):
        records = run.records(output)  # raises on a line that is not JSON
        assert records and all(isinstance(r, dict) for r in records)
        for record in run.logs(output):
            assert {"time", "level", "logger", "message", "request_id", "job_id"} <= record.keys()
            assert record["time"].endswith("Z")


def test_log_records_join_the_request_its_job_and_their_traces(run: Run) -> None:
    request = server_span(run, "POST /blogs")
    job_id = run.blog_job["id"]
    [done] = [r for r in run.logs(run.worker_output) if r["job_id"] == job_id and "succeeded" in r["message"]]
    assert done["request_id"] == BLOG_REQUEST
    assert done["trace_id"] == request["context"]["trace_id"].removeprefix("0x")
    assert done["span_id"] == job_spans(run, job_id)[0]["context"]["span_id"].removeprefix("0x")


def test_no_password_token_or_secret_in_any_line(run: Run) -> None:
    for output in (run.api_output, run.worker_output):
        for secret in (run.password, run.token, run.jwt_secret, SMTP_PASSWORD):
            assert secret not in output
