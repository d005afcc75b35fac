"""A Python client generated from the live document does a consumer's whole round alone.

``openapi-python-client`` reads /schema/openapi.json from a running ``python -m api``,
with no config: a consumer's first try. It must generate every operation without a
warning; the client is installed into a temporary directory, never the checkout, and
then registers, logs in, creates and lists books, imports a CSV file, follows the job a
real worker runs, and exports and downloads the books, with no other HTTP than its own.
Its synchronous functions are used: the asynchronous ones cannot send a file (httpx's
AsyncClient refuses the file object the generated code passes on).
"""

from __future__ import annotations

import csv
import importlib
import io
import subprocess
import sys
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.factories import DEFAULT_PASSWORD, unique
from tests.processes import eventually, workers
from tests.servers import ApiProcess, serving

pytestmark = pytest.mark.process  # every test here starts a real process

PACKAGE = "wadah_client"
# The operationIds are the generated client's function names: part of the interface.
OPERATIONS = {
    "auth": {"login"},
    "users": {"register", "list_users", "get_user", "update_user", "delete_user"},
    "books": {"list_books", "get_book", "create_book", "update_book", "delete_book", "import_books"},
    "blogs": {"list_blogs", "get_blog", "create_blog", "update_blog", "delete_blog"},
    "jobs": {"list_jobs", "get_job", "cancel_job", "retry_job", "get_queue_health"},
    "exports": {"create_export", "download_export"},
    "health": {"healthz", "readyz"},
}


@pytest.fixture(scope="module")
def api(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """The API and one worker on a Redis namespace of their own, logs in a temporary directory."""
    directory = tmp_path_factory.mktemp("client")
    env = {**worker_env, "REDIS_NAMESPACE": worker_env["REDIS_NAMESPACE"] + "-client"}
    with workers(env, directory), serving(env, directory / "api.log") as server:
        yield server


@pytest.fixture(scope="module")
def generation(api: ApiProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the directory the client is installed in, the generator's output)."""
    site = tmp_path_factory.mktemp("site")
    command = [
        str(Path(sys.executable).with_name("openapi-python-client")),
        "generate",
        f"--url={api.url}/schema/openapi.json",
        "--meta=none",  # the package alone: installed by putting it on the path, with no build step
        f"--output-path={site / PACKAGE}",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    return site, output


@pytest.fixture(scope="module")
def client_package(generation: tuple[Path, str]) -> Iterator[ModuleType]:
    site, _ = generation
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def operation(tag: str, name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


def test_the_generator_warns_about_nothing(generation: tuple[Path, str]) -> None:
    _, output = generation
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output


def test_every_operation_is_generated_under_its_name(generation: tuple[Path, str]) -> None:
    site, _ = generation
    generated = {
        tag.name: {module.stem for module in tag.glob("*.py") if module.stem != "__init__"}
        for tag in (site / PACKAGE / "api").iterdir()
        if tag.is_dir()
    }
    assert generated == OPERATIONS


async def test_a_consumer_round_through_the_generated_client_alone(api: ApiProcess, client_package: ModuleType) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    anonymous = client_package.Client(base_url=api.url, raise_on_unexpected_status=True)
    email = f"{unique('client')}@example.com"

    registered = operation("users", "register").sync(
        client=anonymous, body=models.UserCreate(name="Ayu", email=email, password=DEFAULT_PASSWORD)
    )
    assert isinstance(registered, models.UserEnvelope), registered
    assert registered.data.email == email
    login = operation("auth", "login").sync(
        client=anonymous, body=models.Credentials(email=email, password=DEFAULT_PASSWORD)
    )
    assert isinstance(login, models.Token), login
    signed_in = client_package.AuthenticatedClient(base_url=api.url, token=login.token, raise_on_unexpected_status=True)

    created = operation("books", "create_book").sync(
        client=signed_in,
        body=models.BookCreate(title="Laskar Pelangi", author="Andrea Hirata", genre="novel", year=2005),
    )
    assert isinstance(created, models.BookEnvelope), created
    listed = operation("books", "list_books").sync(client=anonymous, limit=100, offset=0)
    assert isinstance(listed, models.BookPage), listed
    assert listed.meta.total >= 1
    assert created.data.id in {book.id for book in listed.data} or listed.meta.total > 100

    upload = b"title,author,genre,year\nBumi Manusia,Pramoedya Ananta Toer,novel,1980\nRonggeng,Ahmad Tohari,,1982\n"
    started = operation("books", "import_books").sync(
        client=signed_in, body=types.File(payload=io.BytesIO(upload), file_name="books.csv")
    )
    assert isinstance(started, models.JobEnvelope), started
    assert started.data.kind == models.JobKind.IMPORT_BOOKS
    imported = await until_finished(signed_in, models, started.data.id)
    assert imported.status == models.JobStatus.SUCCEEDED, imported
    assert isinstance(imported.result, models.BookImportResult), imported.result
    assert (imported.result.rows, imported.result.inserted, imported.result.rejected) == (2, 2, 0)

    export = operation("exports", "create_export").sync(
        client=signed_in, body=models.ExportRequest(resource=models.ExportRequestResource.BOOKS)
    )
    assert isinstance(export, models.JobEnvelope), export
    exported = await until_finished(signed_in, models, export.data.id)
    assert exported.status == models.JobStatus.SUCCEEDED, exported
    assert isinstance(exported.result, models.ExportResult), exported.result

    download = operation("exports", "download_export").sync_detailed(client=signed_in, job_id=export.data.id)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    assert isinstance(download.parsed, types.File)
    content = download.parsed.payload.read()
    assert int(download.headers["content-length"]) == len(content)  # as documented: an integer
    assert parsedate_to_datetime(download.headers["last-modified"]).tzinfo is not None  # an HTTP-date
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert {"Bumi Manusia", "Ronggeng", "Laskar Pelangi"} <= {row["title"] for row in rows}
    assert len(rows) == exported.result.rows


async def until_finished(client: Any, models: ModuleType, job_id: Any) -> Any:
    """getJob until the worker has finished the job (the limit is a deadline, not a speed test)."""

    async def probe() -> Any:
        answer = operation("jobs", "get_job").sync(client=client, job_id=job_id)
        assert isinstance(answer, models.JobEnvelope), answer
        live = {models.JobStatus.QUEUED, models.JobStatus.RUNNING}
        return None if answer.data.status in live else answer.data

    return await eventually(probe, what=f"job {job_id} to finish")
