"""Property-based fuzzing of the running API against its own OpenAPI document (schemathesis).

A real ``python -m api`` process is attacked over HTTP at every operation of
/schema/openapi.json by two ``schemathesis run`` processes at once: one sends a bearer
token (``fuzz_hooks.py`` registers a user of its own, and a new one if a generated
request deletes it), the other none. Each runs schemathesis's four phases: the
document's examples, boundary values (coverage), random valid and invalid requests
(fuzzing), and chains of calls that create something and then read, update and delete
it (stateful, with links inferred from the document). Its checks fail the test on any
5xx, on a status code, content type, header or body the document does not describe, on
invalid input that is accepted or valid input that is refused, and on a protected
operation that answers without a valid token.

Bounded for the suite: ``FUZZ_MAX_EXAMPLES`` (5) per operation and phase and a fixed
``FUZZ_SEED``; ``make fuzz`` runs it with 200. The number of generated cases is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ApiProcess, serving

pytestmark = pytest.mark.process

FUZZ_MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261128"))
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
# Litestar 2 answers a plain OPTIONS with the methods of one handler per path only
# (litestar-org/litestar#4169, fixed in 3.x): a framework bug in an answer no client uses.
EXCLUDED_CHECKS = "allow_header_conformance"
RUN_LIMIT_SECONDS = 3600  # a hung run fails; this is no assertion about speed


@pytest.fixture(scope="module")
def api(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """The API on this run's database, with a Redis namespace of its own (its login failures stay its own)."""
    directory = tmp_path_factory.mktemp("fuzz")
    env = {
        **worker_env,
        "REDIS_NAMESPACE": worker_env["REDIS_NAMESPACE"] + "-fuzz",
        "LOG_LEVEL": "WARNING",
    }
    with serving(env, directory / "api.log") as server:
        yield server


def start_schemathesis(api: ApiProcess, report: Path, *, authenticated: bool) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "WADAH_FUZZ_URL": api.url,
        "WADAH_FUZZ_TOKEN": "1" if authenticated else "0",
    }
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{api.url}/schema/openapi.json",
        f"--max-examples={FUZZ_MAX_EXAMPLES}",
        f"--seed={FUZZ_SEED}",
        "--checks=all",
        f"--exclude-checks={EXCLUDED_CHECKS}",
        "--report=json",
        f"--report-json-path={report}",
        "--no-color",
    ]
    # In the report's directory: schemathesis keeps its example database in the working directory.
    return subprocess.Popen(
        command, env=env, cwd=report.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_no_generated_request_breaks_the_api_or_its_document(
    api: ApiProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both runs at once (they share nothing but the API), each held to every check."""
    runs = {}
    for mode in ("with a token", "without a token"):
        report_path = tmp_path / f"{mode.replace(' ', '-')}.json"
        runs[mode] = report_path, start_schemathesis(api, report_path, authenticated=mode == "with a token")
    for mode, (report_path, run) in runs.items():
        output, _ = run.communicate(timeout=RUN_LIMIT_SECONDS)
        assert report_path.exists(), output
        report: dict[str, Any] = json.loads(report_path.read_text())
        operations = report["operations"]
        with capsys.disabled():
            print(
                f"\nfuzz {mode}: {report['test_cases']['generated']} generated cases, {operations['tested']} operations"
            )
        assert report["exit_code"] == 0, output
        assert (report["failures"], report["errors"]) == ([], []), output
        assert operations["tested"] == operations["selected"] == operations["total"] > 0, output
        assert all(phase["status"] == "success" for phase in report["phases"].values()), report["phases"]
        if mode == "with a token":  # the token worked: only another user's record refuses it (403)
            assert set(report["warnings"]["missing_auth"]) <= {"PUT /users/{user_id}", "DELETE /users/{user_id}"}
    assert "Traceback" not in api.output(), api.output()[-4000:]
