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

Each run also gets the share of the machine's CPU time that the hypervisor gave to
someone else while it ran (``steal`` in ``/proc/stat``, ``st`` in the table), and its
socket errors (wrk's timeouts, ``err``) when there were any. On a shared virtual
machine one server's 8 s can fall in a spell the next one's escapes; those two columns
say which rounds that was, instead of leaving the reader to guess from the ratios.

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


def cpu_times(stat: str | None = None) -> tuple[int, int]:
    """(steal, total) clock ticks of all CPUs since boot; (0, 0) where ``/proc/stat`` is missing."""
    if stat is None:
        try:
            stat = Path("/proc/stat").read_text()
        except OSError:
            return 0, 0
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(f) for f in fields[1:]]
            # user nice system idle iowait irq softirq steal [guest guest_nice]: the guests are
            # already inside user and nice, so they are not added again.
            steal = ticks[7] if len(ticks) > 7 else 0
            return steal, sum(ticks[:8])
    return 0, 0


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of CPU time stolen between two ``cpu_times`` readings; None if no time passed."""
    elapsed = after[1] - before[1]
    if elapsed <= 0:
        return None
    return (after[0] - before[0]) / elapsed


def run_cells(name: str, run: dict[str, Any]) -> str:
    """One target's run in a round's line: requests/s, p99, and steal and errors when known."""
    cell = f"{name} {run['rps']:7.0f}/s p99 {run['p99']:6.1f} ms"
    if run.get("steal") is not None:
        cell += f" st {100 * run['steal']:2.0f}%"
    if run.get("errors"):
        cell += f" err {run['errors']}"
    return cell


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
        before = cpu_times()
        result: dict[str, Any] = wrk(port, scenario, token, seconds, conns)
        result["steal"] = steal_share(before, cpu_times())
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
            cells = "  ".join(run_cells(n, r) for n, r in row.items())
            print(f"{scenario:<12} round {i}  {cells}" + (f"  wadah/{CEILING} {ratio:.2f}x" if ratio else ""))
    medians = json.loads(OUT.with_suffix(".medians.json").read_text())
    OUT.with_suffix(".medians.json").unlink()
    OUT.write_text(json.dumps({"medians": medians, "rounds": rounds}, indent=1))
    print(f"written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
