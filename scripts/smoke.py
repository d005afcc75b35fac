#!/usr/bin/env python3
"""``make smoke``: wadah's images and compose files, proven on a real engine from nothing.

Builds both images (scripts/stack.sh build: sizes printed, budget enforced), pushes them
to a registry on loopback (``REGISTRY`` from the environment, else the one
``../shared/containers/offline-engine.sh registry`` starts) with ``scripts/stack.sh push``,
removes them locally and pulls them back by the names that push printed: everything
below runs on the pulled images. Then:

0. the API image alone (``docker run``, embedded SQLite, no Redis) serves the API:
   register, log in, create and list books;

then starts MySQL (compose.mysql.yml) and the stack (compose.yml) as throwaway compose
projects, and drives the API over HTTP like a client:

1. register, log in, create a book and a blog; wait until GET /blogs/{id} shows the stats
   the worker computed (API -> Redis -> worker -> MySQL, across containers);
2. take both projects down (volumes kept) and up again: the user can still log in, the
   book and the blog (with its stats) are still there;
3. scale to three workers, create a batch of blogs, and count in MySQL's general query
   log how often each blog's stats were written: exactly once each;
4. with the three workers, import through the API container a CSV of IMPORT_ROWS books
   saved as a spreadsheet saves it (UTF-8 BOM, CRLF) with a few bad lines: every good
   row lands exactly once (counted in MySQL) and each bad line is reported with its
   number; the file crossed from the API container to a worker through MySQL;
5. export books, download the file through the API and compare it row by row with
   every page of ``GET /books``;
6. tear everything down, volumes included, on success and on failure alike.

Any failure prints the relevant containers' logs and exits 1. The projects are named
``wadah-smoke`` and ``wadah-smoke-mysql`` and the API is published on 127.0.0.1:18080
(SMOKE_PORT), so a running ``make up`` stack (and port 8000) is never touched. It honours
DOCKER_HOST: with a tcp:// or ssh:// engine the API is called on that host. Standard
library only, so it runs with any python3 >= 3.9.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_PROJECT = "wadah-smoke"
MYSQL_PROJECT = "wadah-smoke-mysql"
PORT = int(os.environ.get("SMOKE_PORT", "18080"))
WORKERS = 3
IMPORT_ROWS = 5000
BAD_LINES = {17: "MMV", 1001: "", 2500: "extra", 4999: "99999"}  # line number -> what is wrong there
JOB_TIMEOUT = 300.0
IMAGE_PREFIX = "wadah-smoke"
ALONE_PORT = int(os.environ.get("SMOKE_ALONE_PORT", "18081"))
BATCH = 12  # blogs created while three workers compete for their jobs
READY_TIMEOUT = 240.0
STATS_TIMEOUT = 120.0
HEALTHY_TIMEOUT = 180.0

# Names compose.yml takes from the environment (shared/settings.py's, and the compose knobs).
WADAH_VARIABLE = re.compile(
    r"^(ENV|JWT_.*|DATABASE_URL|DB_.*|MYSQL_.*|REDIS_.*|JOB_.*|WORKER_.*|SMTP_.*|CORS_ORIGINS|RETENTION_DAYS|"
    r"CLEANUP_SCHEDULE|LOG_LEVEL|API_PUBLISH|"
    r"WEB_CONCURRENCY|WADAH_TAG|WADAH_API_IMAGE|WADAH_WORKER_IMAGE|JOB_FILE_ABANDON_SECONDS|IMPORT_MAX_.*)$"
)

# What compute_blog_stats writes, one statement per run of the job (as the server logs it).
STATS_UPDATE = re.compile(r"UPDATE\s+`?blogs`?\s+SET\s+.*\bword_count\b.*\bWHERE\b.*\bid`?\s*=\s*'?(\d+)", re.I | re.S)


class SmokeFailure(Exception):
    pass


def step(message: str) -> None:
    print(f"\n==> [{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def api_host() -> tuple[str, str]:
    """(host the API is called on, address it is published on), following DOCKER_HOST."""
    docker_host = os.environ.get("DOCKER_HOST", "")
    parsed = urllib.parse.urlsplit(docker_host)
    if parsed.scheme in ("tcp", "ssh", "http", "https") and parsed.hostname:
        return parsed.hostname, "0.0.0.0"  # noqa: S104 - a remote engine: reachable from here
    return "127.0.0.1", "127.0.0.1"


HOST, PUBLISH_ADDRESS = api_host()
BASE_URL = f"http://{HOST}:{PORT}"


def smoke_settings() -> dict[str, str]:
    return {
        "ENV": "production",
        "JWT_SECRET": secrets.token_hex(32),
        "DATABASE_URL": "",
        "DB_HOST": "db",
        "DB_PORT": "3306",
        "DB_USER": "wadah",
        "DB_PASS": secrets.token_hex(12),
        "DB_NAME": "wadah",
        "MYSQL_ROOT_PASSWORD": secrets.token_hex(12),
        "MYSQL_NETWORK": f"{MYSQL_PROJECT}_default",
        "REDIS_URL": "redis://redis:6379/0",
        "REDIS_NAMESPACE": "wadah",
        "LOG_LEVEL": "INFO",
        "API_PUBLISH": f"{PUBLISH_ADDRESS}:{PORT}",
        "WEB_CONCURRENCY": "2",
        "WADAH_TAG": "smoke",
    }


class Stack:
    """The two throwaway compose projects, configured by a temporary env file."""

    def __init__(self, settings: dict[str, str], env_file: Path) -> None:
        self.settings = settings
        self.env_file = env_file
        env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        # The settings cover every variable the compose files require, and wadah's settings
        # in the caller's shell are dropped: neither it nor the repository's .env leaks into
        # the throwaway stack.
        inherited = {k: v for k, v in os.environ.items() if not WADAH_VARIABLE.match(k)}
        self.env = inherited | settings

    def run(
        self,
        *args: str,
        check: bool = True,
        capture: bool = False,
        quiet: bool = False,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if not quiet:
            print("   $", " ".join(shlex.quote(a) for a in args), flush=True)
        result = subprocess.run(
            args, cwd=ROOT, env=self.env | (env or {}), text=True, capture_output=capture, check=False
        )
        if check and result.returncode != 0:
            detail = f"\n{result.stdout}{result.stderr}" if capture else ""
            raise SmokeFailure(f"exit {result.returncode}: {' '.join(args)}{detail}")
        return result

    def compose(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run(
            "docker", "compose", "-p", APP_PROJECT, "-f", "compose.yml", "--env-file", str(self.env_file),
            *args, **kw,
        )  # fmt: skip

    def mysql_compose(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run(
            "docker", "compose", "-p", MYSQL_PROJECT, "-f", "compose.mysql.yml", "--env-file", str(self.env_file),
            *args, **kw,
        )  # fmt: skip

    def sql(self, statement: str) -> list[list[str]]:
        """Rows of a statement run as root in the db container (mysql client, tab-separated).

        The password is the container's own MYSQL_ROOT_PASSWORD, so it never shows in
        a command line or in this script's output.
        """
        result = self.mysql_compose(
            "exec", "-T", "db", "sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot --batch -N -e "$0"',
            statement, capture=True,
        )  # fmt: skip
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def up(self, workers: int = 1) -> None:
        self.mysql_compose("up", "-d", "--wait")
        self.compose("up", "-d", "--no-build", "--scale", f"worker={workers}")
        wait_until_ready()

    def down(self, volumes: bool = False) -> None:
        extra = ("--volumes", "--remove-orphans") if volumes else ()
        self.compose("down", *extra, check=False)
        self.mysql_compose("down", *extra, check=False)

    def show_logs(self) -> None:
        print("\n==> container state and logs", flush=True)
        self.compose("ps", "-a", check=False)
        self.compose("logs", "--no-color", "--tail", "150", check=False)
        self.mysql_compose("logs", "--no-color", "--tail", "60", check=False)

    def healthy_workers(self) -> int:
        ids = self.compose("ps", "-q", "worker", capture=True, quiet=True).stdout.split()
        if not ids:
            return 0
        inspect = ("docker", "inspect", "-f", "{{.State.Health.Status}}", *ids)
        states = self.run(*inspect, capture=True, quiet=True).stdout.split()
        return states.count("healthy")


# --- HTTP -------------------------------------------------------------------------------


def call(
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    *,
    raw_body: bytes | None = None,
    content_type: str = "application/json",
    base_url: str | None = None,
) -> tuple[int, Any]:
    data = raw_body if raw_body is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request((base_url or BASE_URL) + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def expect(status: int, payload: Any, wanted: range | int, what: str) -> Any:
    ok = status in wanted if isinstance(wanted, range) else status == wanted
    if not ok:
        raise SmokeFailure(f"{what}: HTTP {status} {payload}")
    return payload


def wait_until_ready() -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, payload = call("GET", "/readyz")
            if status == 200:
                print(f"   {BASE_URL}/readyz: 200 {payload}", flush=True)
                return
            last = (status, payload)
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise SmokeFailure(f"/readyz did not answer 200 within {READY_TIMEOUT:.0f}s (last: {last})")


def login(email: str, password: str) -> str:
    status, payload = call("POST", "/login", {"email": email, "password": password})
    return str(expect(status, payload, 200, "POST /login")["token"])


def create_blog(token: str, title: str, words: int) -> int:
    content = " ".join(f"word{i}" for i in range(words))
    status, payload = call("POST", "/blogs", {"title": title, "content": content}, token)
    return int(expect(status, payload, range(200, 300), "POST /blogs")["data"]["id"])


def wait_for_stats(blog_ids: dict[int, int]) -> None:
    """Until every blog shows the word count the worker must have computed."""
    deadline = time.monotonic() + STATS_TIMEOUT
    pending = dict(blog_ids)
    while pending and time.monotonic() < deadline:
        for blog_id, words in list(pending.items()):
            status, payload = call("GET", f"/blogs/{blog_id}")
            data = expect(status, payload, 200, f"GET /blogs/{blog_id}")["data"]
            if data["word_count"] is not None:
                if data["word_count"] != words or data["reading_minutes"] != -(-words // 200):
                    raise SmokeFailure(f"blog {blog_id}: wrong stats {data} for {words} words")
                del pending[blog_id]
        if pending:
            time.sleep(0.5)
    if pending:
        raise SmokeFailure(f"no stats after {STATS_TIMEOUT:.0f}s for blogs {sorted(pending)}")


# --- the run ----------------------------------------------------------------------------


def first_run(stack: Stack) -> dict[str, Any]:
    step("MySQL (compose.mysql.yml) and the stack (compose.yml)")
    stack.up()
    stack.compose("ps")

    step("register, log in, create a book and a blog")
    email, password = f"smoke-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
    status, payload = call("POST", "/users", {"name": "Smoke Test", "email": email, "password": password})
    user = expect(status, payload, range(200, 300), "POST /users")["data"]
    token = login(email, password)
    book_body = {"title": "Laskar Pelangi", "author": "Andrea Hirata", "genre": "novel", "year": 2005}
    status, payload = call("POST", "/books", book_body, token)
    book = expect(status, payload, range(200, 300), "POST /books")["data"]
    blog_id = create_blog(token, "Packaging wadah", 450)
    print(f"   user {user['id']}, book {book['id']}, blog {blog_id}", flush=True)

    step("wait for the worker's stats on the blog (API -> Redis -> worker -> MySQL)")
    wait_for_stats({blog_id: 450})
    status, payload = call("GET", f"/blogs/{blog_id}")
    blog = expect(status, payload, 200, "GET /blogs/{id}")["data"]
    print(f"   blog {blog_id}: word_count={blog['word_count']} reading_minutes={blog['reading_minutes']}", flush=True)
    return {"email": email, "password": password, "book": book, "blog": blog}


def restart(stack: Stack, before: dict[str, Any]) -> str:
    step("take both projects down (volumes kept) and up again")
    stack.down()
    stack.up()

    step("the data survived")
    token = login(before["email"], before["password"])
    book_id, blog_id = before["book"]["id"], before["blog"]["id"]
    status, payload = call("GET", f"/books/{book_id}")
    if expect(status, payload, 200, "GET /books/{id} after restart")["data"] != before["book"]:
        raise SmokeFailure(f"book changed across the restart: {payload['data']} != {before['book']}")
    status, payload = call("GET", f"/blogs/{blog_id}")
    if expect(status, payload, 200, "GET /blogs/{id} after restart")["data"] != before["blog"]:
        raise SmokeFailure(f"blog changed across the restart: {payload['data']} != {before['blog']}")
    print(f"   login ok; book {book_id} and blog {blog_id} (word_count {before['blog']['word_count']}) unchanged")
    return token


def scaled_workers(stack: Stack, token: str) -> None:
    step(f"scale to {WORKERS} workers; record every statement in MySQL's general log")
    stack.sql("SET GLOBAL log_output = 'TABLE'; TRUNCATE TABLE mysql.general_log; SET GLOBAL general_log = 'ON';")
    stack.compose("up", "-d", "--no-build", "--scale", f"worker={WORKERS}")
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while (healthy := stack.healthy_workers()) < WORKERS:
        if time.monotonic() > deadline:
            raise SmokeFailure(f"only {healthy} of {WORKERS} workers became healthy in {HEALTHY_TIMEOUT:.0f}s")
        time.sleep(2)
    print(f"   {WORKERS} workers healthy (arq health key)", flush=True)

    step(f"{BATCH} blogs with {WORKERS} workers competing for their jobs")
    blogs: dict[int, int] = {}  # id -> words
    for i in range(BATCH):
        words = 10 + 37 * i
        blogs[create_blog(token, f"Batch {i}", words)] = words
    wait_for_stats(blogs)
    time.sleep(3)  # a duplicate run would come right behind the first one: give it the chance
    rows = stack.sql(
        "SELECT user_host, CONVERT(argument USING utf8mb4) FROM mysql.general_log "
        "WHERE command_type IN ('Query', 'Execute') AND argument LIKE '%UPDATE%blogs%word_count%'"
    )
    stack.sql("SET GLOBAL general_log = 'OFF';")
    runs: Counter[int] = Counter()
    clients: Counter[str] = Counter()
    for row in rows:
        match = STATS_UPDATE.search(row[-1].replace("\\n", " "))
        if match and int(match.group(1)) in blogs:
            runs[int(match.group(1))] += 1
            clients[re.sub(r"^.*@\s*", "", row[0]).strip()] += 1
    per_blog = {blog_id: runs[blog_id] for blog_id in blogs}
    print(f"   stats writes per blog: {per_blog}", flush=True)
    print(f"   writes per worker container (client address): {dict(clients)}", flush=True)
    wrong = {blog_id: n for blog_id, n in per_blog.items() if n != 1}
    if wrong:
        raise SmokeFailure(f"stats must be written exactly once per blog; got {wrong}")


# --- registry, pulled images, the API image alone ---------------------------------------


def ensure_registry(stack: Stack) -> str:
    """REGISTRY from the environment, else the offline engine's registry on loopback."""
    registry = os.environ.get("REGISTRY", "")
    if registry and registry != "docker.io":
        print(f"   registry from the environment: {registry}", flush=True)
        return registry
    script = ROOT.parent / "shared" / "containers" / "offline-engine.sh"
    if not script.exists():
        raise SmokeFailure(f"no REGISTRY given and no {script} to start one; set REGISTRY=host:port")
    out = stack.run(str(script), "registry", capture=True).stdout
    match = re.search(r"REGISTRY=(\S+)", out)
    if not match:
        raise SmokeFailure(f"the engine script printed no REGISTRY: {out!r}")
    return match.group(1)


def push_and_pull_back(stack: Stack, registry: str) -> dict[str, str]:
    """Push both images (make push), remove them here, pull them back by the printed names."""
    result = stack.run(
        str(ROOT / "scripts" / "stack.sh"), "push", capture=True,
        env={"REGISTRY": registry, "IMAGE_PREFIX": IMAGE_PREFIX},
    )  # fmt: skip
    print(result.stdout[-2000:], flush=True)
    pushed = dict(re.findall(r"^pushed wadah-(\w+): (\S+)$", result.stdout, re.M))
    if set(pushed) != {"api", "worker"}:
        raise SmokeFailure(f"push did not print both images: {pushed}")
    tag = stack.settings["WADAH_TAG"]
    for svc, name in pushed.items():
        stack.run("docker", "rmi", "-f", name, f"wadah-{svc}:{tag}")
        if stack.run("docker", "image", "inspect", name, check=False, capture=True, quiet=True).returncode == 0:
            raise SmokeFailure(f"{name} is still here after docker rmi")
    for name in pushed.values():
        stack.run("docker", "pull", name)
    stack.env |= {"WADAH_API_IMAGE": pushed["api"], "WADAH_WORKER_IMAGE": pushed["worker"]}
    print(f"   running the pulled images: {pushed}", flush=True)
    return pushed


def api_image_alone(stack: Stack, image: str) -> None:
    """docker run of the API image with nothing else: embedded SQLite, no Redis, never a 500."""
    name = "wadah-smoke-api-alone"
    stack.run("docker", "rm", "-f", name, check=False, capture=True, quiet=True)
    stack.run("docker", "run", "-d", "--name", name, "-p", f"{PUBLISH_ADDRESS}:{ALONE_PORT}:8000", image)
    base = f"http://{HOST}:{ALONE_PORT}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                if call("GET", "/healthz", base_url=base)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SmokeFailure("the API image alone never answered /healthz")
            time.sleep(1)
        status, payload = call("GET", "/books", base_url=base)
        expect(status, payload, 200, "GET /books on the API image alone")
        email, password = f"alone-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
        status, payload = call("POST", "/users", {"name": "Alone", "email": email, "password": password}, base_url=base)
        expect(status, payload, 201, "POST /users on the API image alone")
        status, payload = call("POST", "/login", {"email": email, "password": password}, base_url=base)
        token = str(expect(status, payload, 200, "POST /login on the API image alone")["token"])
        book = {"title": "Sendiri", "author": "Someone", "genre": "Novel", "year": 2020}
        status, payload = call("POST", "/books", book, token, base_url=base)
        expect(status, payload, 201, "POST /books on the API image alone")
        status, payload = call("GET", "/books", base_url=base)
        if expect(status, payload, 200, "GET /books")["meta"]["total"] != 1:
            raise SmokeFailure(f"the API image alone lists {payload['meta']} after one book")
        print("   the API image alone: /books, register, login, create book: all answered", flush=True)
    except Exception:
        stack.run("docker", "logs", "--tail", "80", name, check=False)
        raise
    finally:
        stack.run("docker", "rm", "-f", name, check=False, capture=True, quiet=True)


# --- jobs across containers -------------------------------------------------------------


def wait_for_job(token: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        status, payload = call("GET", f"/jobs/{job_id}", token=token)
        job = expect(status, payload, 200, f"GET /jobs/{job_id}")["data"]
        if job["status"] not in ("queued", "running"):
            return dict(job)
        time.sleep(1)
    raise SmokeFailure(f"job {job_id} did not finish within {JOB_TIMEOUT:.0f}s")


def spreadsheet_csv(tag: str) -> tuple[bytes, set[int]]:
    """IMPORT_ROWS books as a spreadsheet saves them (BOM, CRLF), BAD_LINES broken; the bad line numbers."""
    lines = ["Title,Author,Genre,Year"]
    for n in range(IMPORT_ROWS):
        line = n + 2  # line 1 is the header
        year: str = str(1900 + n % 120)
        title = f"{tag}-{n}"
        wrong = BAD_LINES.get(line)
        if wrong == "":
            title = ""
        elif wrong == "extra":
            year += ",one field too many"
        elif wrong is not None:
            year = wrong
        lines.append(f'"{title}",Author {n % 97},"Genre, {n % 7}",{year}')
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode(), set(BAD_LINES)


def import_across_containers(stack: Stack, token: str) -> None:
    step(f"import a {IMPORT_ROWS}-row spreadsheet CSV (BOM, CRLF, {len(BAD_LINES)} bad lines) with {WORKERS} workers")
    tag = f"smoke-{secrets.token_hex(3)}"
    body, bad = spreadsheet_csv(tag)
    status, payload = call("POST", "/books/import", raw_body=body, content_type="text/csv", token=token)
    job_id = expect(status, payload, 202, "POST /books/import")["data"]["id"]
    job = wait_for_job(token, job_id)
    if job["status"] != "succeeded":
        raise SmokeFailure(f"the import ended {job['status']}: {job.get('error')}")
    result = job["result"]
    reported = {r["line"]: r["reason"] for r in result["rejections"]}
    print(f"   import: {result['rows']} rows, {result['inserted']} inserted, rejected lines {reported}", flush=True)
    if set(reported) != bad or result["rows"] != IMPORT_ROWS or result["inserted"] != IMPORT_ROWS - len(bad):
        raise SmokeFailure(f"expected lines {sorted(bad)} rejected of {IMPORT_ROWS}; got {result}")
    count = "SELECT COUNT(*), COUNT(DISTINCT title) FROM wadah.books WHERE deleted_at IS NULL AND title LIKE "
    [[rows, distinct]] = stack.sql(count + f"'{tag}-%'")  # the tag is this script's own hex
    if (int(rows), int(distinct)) != (IMPORT_ROWS - len(bad), IMPORT_ROWS - len(bad)):
        raise SmokeFailure(f"books in MySQL: {rows} rows, {distinct} titles; want {IMPORT_ROWS - len(bad)} once each")
    print(f"   MySQL holds each of the {rows} good rows exactly once", flush=True)


def all_books(token: str) -> list[dict[str, Any]]:
    books: list[dict[str, Any]] = []
    while True:
        status, payload = call("GET", f"/books?limit=100&offset={len(books)}", token=token)
        page = expect(status, payload, 200, "GET /books")
        books.extend(page["data"])
        if len(books) >= page["meta"]["total"] or not page["data"]:
            return books


def unquote_formula(cell: str) -> str:
    """The importer's rule: an export puts one ' before a formula-like cell."""
    return cell[1:] if re.match(r"'+[=+\-@\t\r]", cell) else cell


def export_across_containers(stack: Stack, token: str) -> None:
    step("export books, download through the API, compare row by row with GET /books")
    status, payload = call("POST", "/books", {"title": "=1+1", "author": "@x", "genre": "-", "year": 1}, token)
    expect(status, payload, 201, "POST /books (a formula-like title)")
    status, payload = call("POST", "/exports", {"resource": "books"}, token)
    job_id = expect(status, payload, 202, "POST /exports")["data"]["id"]
    job = wait_for_job(token, job_id)
    if job["status"] != "succeeded":
        raise SmokeFailure(f"the export ended {job['status']}: {job.get('error')}")
    request = urllib.request.Request(f"{BASE_URL}/exports/{job_id}/download")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        headers, raw = response.headers, response.read()
    if int(headers["Content-Length"]) != len(raw) or not headers["Content-Type"].startswith("text/csv"):
        raise SmokeFailure(f"download headers {dict(headers)} for {len(raw)} bytes")
    exported = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    pages = all_books(token)
    if len(exported) != len(pages):
        raise SmokeFailure(f"the export has {len(exported)} rows, GET /books {len(pages)}")
    for row, book in zip(exported, pages, strict=True):
        got = (int(row["id"]), *(unquote_formula(row[k]) for k in ("title", "author", "genre")), int(row["year"]))
        want = (book["id"], book["title"], book["author"], book["genre"], book["year"])
        if got != want:
            raise SmokeFailure(f"export row {got} != API {want}")
    formula = next(r for r in exported if r["title"].endswith("=1+1"))
    if formula["title"] != "'=1+1":
        raise SmokeFailure(f"a formula-like title was exported as {formula['title']!r}")
    print(f"   {len(exported)} exported rows ({len(raw)} bytes) equal the API's {len(pages)}", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="wadah-smoke-") as tmp:
        stack = Stack(smoke_settings(), Path(tmp) / "smoke.env")
        print(f"smoke: projects {APP_PROJECT} + {MYSQL_PROJECT}, API at {BASE_URL}", flush=True)
        print(f"smoke: engine DOCKER_HOST={os.environ.get('DOCKER_HOST', '(default)')}", flush=True)
        try:
            step("clear leftovers of an earlier smoke run")
            stack.down(volumes=True)
            step("build both images from the Dockerfiles (sizes, budget)")
            stack.run(str(ROOT / "scripts" / "stack.sh"), "build")
            step("push both images to a registry on loopback, remove them here, pull them back")
            images = push_and_pull_back(stack, ensure_registry(stack))
            step("the API image alone (docker run): embedded SQLite, no Redis")
            api_image_alone(stack, images["api"])
            before = first_run(stack)
            token = restart(stack, before)
            scaled_workers(stack, token)
            import_across_containers(stack, token)
            export_across_containers(stack, token)
        except Exception as exc:  # any failure: show the containers' side, then tear down
            stack.show_logs()
            print(f"\nSMOKE FAILED after {time.monotonic() - STARTED:.0f}s: {type(exc).__name__}: {exc}", flush=True)
            return 1
        finally:
            step("tear down both projects, volumes included")
            stack.down(volumes=True)
    print(f"\nSMOKE PASSED in {time.monotonic() - STARTED:.0f}s", flush=True)
    return 0


STARTED = time.monotonic()

if __name__ == "__main__":
    sys.exit(main())
