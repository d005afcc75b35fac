"""``make side-by-side``: wadah beside the FastAPI peer and the bare-ASGI ceiling, round by round.

    make side-by-side [ROUNDS=3]
    uv run --frozen python scripts/side_by_side.py --rounds 3 [api_bench.py's other arguments]

It runs ``../shared/bench/api_bench.py`` (beside the repository, not part of it;
``BENCH_DIR`` says where else) with wadah, the FastAPI peer and the raw ceiling as its
targets, as docs/performance.md describes. That harness prints medians only; this
wrapper also records every wrk run it makes and prints each round's requests/s, p99 and
the ratio to the ceiling, since one noisy round can move a median. The harness runs
its targets in turn within a round (A B C A B C), so a round's ratio compares runs
seconds apart. Everything goes to ``bench-results/side_by_side.json``.

The harness runs from its own virtual environment (``../shared/bench/setup.sh`` builds
it and installs wrk); this script re-executes itself under that interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench")).resolve()
OUT = ROOT / "bench-results" / "side_by_side.json"
CEILING = "raw"
TARGET = re.compile(r"(?P<name>\w+)=(?P<port>\d+):")


def default_targets() -> list[str]:
    peers = BENCH / "peers"
    return [
        "wadah=18100:bench_wadah:make migrate:make serve",
        "fastapi=18101:bench_fastapi:peer:uvicorn fastapi_peer:app --port $PORT --log-level warning",
        f"{CEILING}=18102:bench_raw:peer:uvicorn raw_peer:app --port $PORT --log-level warning",
        f"--dir=wadah={ROOT}",
        f"--dir=fastapi={peers}",
        f"--dir={CEILING}={peers}",
    ]


def target_ports(args: list[str]) -> dict[int, str]:
    """Port -> name of each ``NAME=PORT:DB:SETUP:START`` target among the harness's arguments."""
    found = (TARGET.match(a) for a in args)
    return {int(m["port"]): m["name"] for m in found if m}


def in_bench_venv() -> None:
    """Re-run under the harness's interpreter (its wrk and client packages) unless already there."""
    if os.environ.get("WADAH_SIDE_BY_SIDE_VENV"):
        return
    venv = subprocess.run([str(BENCH / "setup.sh")], check=True, capture_output=True, text=True).stdout
    python = Path(venv.strip().splitlines()[-1]) / "bin" / "python"
    env = {
        **os.environ,
        "WADAH_SIDE_BY_SIDE_VENV": "1",
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": "",  # `make serve` must use the project's own environment, not the harness's
    }
    sys.exit(subprocess.run([python, __file__, *sys.argv[1:]], env=env, check=False).returncode)


def main() -> None:
    in_bench_venv()
    spec = importlib.util.spec_from_file_location("api_bench", BENCH / "api_bench.py")
    assert spec and spec.loader
    harness: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)

    args = sys.argv[1:]
    names = target_ports(args)
    if not names:
        args += default_targets()
        names = target_ports(args)

    calls: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    wrk = harness.wrk

    def recording_wrk(port: int, scenario: str, token: str, seconds: int, conns: int) -> dict[str, Any]:
        result: dict[str, Any] = wrk(port, scenario, token, seconds, conns)
        calls[(scenario, names[port])].append(result)
        return result

    harness.wrk = recording_wrk
    sys.argv = [str(BENCH / "api_bench.py"), *args, "--json", str(OUT.with_suffix(".medians.json"))]
    OUT.parent.mkdir(exist_ok=True)
    harness.main()

    rounds: dict[str, list[dict[str, Any]]] = {}
    print(f"\nround by round (the first run of each scenario and target was the warm-up); ratio = wadah / {CEILING}")
    for scenario in dict.fromkeys(s for s, _ in calls):
        by_name = {name: runs[1:] for (s, name), runs in calls.items() if s == scenario}
        for i, runs in enumerate(zip(*by_name.values(), strict=True), start=1):
            row = dict(zip(by_name, runs, strict=True))
            ratio = row["wadah"]["rps"] / row[CEILING]["rps"] if CEILING in row and row[CEILING]["rps"] else None
            rounds.setdefault(scenario, []).append({"round": i, "ratio": ratio, **row})
            cells = "  ".join(f"{n} {r['rps']:7.0f}/s p99 {r['p99']:6.1f} ms" for n, r in row.items())
            print(f"{scenario:<12} round {i}  {cells}" + (f"  wadah/{CEILING} {ratio:.2f}x" if ratio else ""))
    medians = json.loads(OUT.with_suffix(".medians.json").read_text())
    OUT.with_suffix(".medians.json").unlink()
    OUT.write_text(json.dumps({"medians": medians, "rounds": rounds}, indent=1))
    print(f"written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
