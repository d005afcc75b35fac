"""What one hostile client costs ``python -m api``: an endless request head, and many slow heads.

    uv run --frozen python scripts/bench_head_attack.py [--header-mb 120] [--slow 50] [--trickle 1.0]

Starts ``python -m api`` on a free port (the embedded defaults: /healthz needs no
database), then:

  huge head  one connection sends ``--header-mb`` MB of one header line without end while
             another polls /healthz; reports the server's CPU seconds (utime + stime from
             /proc) and RSS before and after, the bytes the server took before it closed,
             its answer, and the /healthz latency median and max during the attack.
  slow heads ``--slow`` connections each send a head one byte every ``--trickle`` seconds;
             reports when the server closed them (the head time limit) and how many were
             still open at the end.

Figures belong in docs/security.md, from a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from shared.embedded import free_port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def huge_head(port: int, pid: int, megabytes: int) -> None:
    url = f"http://127.0.0.1:{port}/healthz"
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=120) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get(url)
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)

    cpu0, rss0 = cpu_seconds(pid), rss_mb(pid)
    prober = threading.Thread(target=probe)
    prober.start()
    sent, answer = 0, b""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        block = b"a" * (1 << 20)
        try:
            for _ in range(megabytes):
                sock.sendall(block)
                sent += len(block)
        except OSError:
            pass  # the server closed the connection
        try:
            answer = sock.recv(200)
        except OSError as exc:
            answer = f"({type(exc).__name__}: the answer was lost to the reset)".encode()
    elapsed = time.perf_counter() - started
    time.sleep(0.5)
    done.set()
    prober.join()
    print(f"huge head: sent {sent / 1e6:.1f} MB of {megabytes} MB in {elapsed:.2f} s before the server closed")
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    print(f"  answer: {status_line}")
    print(f"  server CPU: {cpu_seconds(pid) - cpu0:.2f} s; RSS {rss0:.0f} MB -> {rss_mb(pid):.0f} MB")
    print(
        f"  /healthz during it: {len(latencies)} probes, median {statistics.median(latencies) * 1000:.1f} ms,"
        f" max {max(latencies) * 1000:.1f} ms"
    )


def slow_heads(port: int, count: int, trickle: float, limit: float) -> None:
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    closed_at: dict[int, float] = {}
    started = time.monotonic()
    for sock in clients:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    while len(closed_at) < count and time.monotonic() - started < limit:
        for i, sock in enumerate(clients):
            if i in closed_at:
                continue
            try:
                sock.sendall(b"X")
                sock.setblocking(False)
                try:
                    if sock.recv(4096) is not None:
                        closed_at[i] = time.monotonic() - started
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
            except OSError:
                closed_at[i] = time.monotonic() - started
        time.sleep(trickle)
    for sock in clients:
        sock.close()
    times = sorted(closed_at.values())
    print(f"slow heads: {count} connections, one byte every {trickle:g} s")
    if times:
        print(f"  closed by the server: {len(times)}, first after {times[0]:.1f} s, last after {times[-1]:.1f} s")
    print(f"  still open after {time.monotonic() - started:.1f} s: {count - len(times)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--header-mb", type=int, default=120)
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--trickle", type=float, default=1.0)
    parser.add_argument("--slow-limit", type=float, default=70.0, help="give up on the slow heads after this long")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
            "LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen([sys.executable, "-m", "api"], env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            huge_head(port, server.pid, args.header_mb)
            slow_heads(port, args.slow, args.trickle, args.slow_limit)
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
