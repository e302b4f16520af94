"""Throughput with 1 and 2 worker processes, nginxpy next to nginx, loaded by wrk (not a test).

    python bench/workers.py [--duration 8] [--connections 64] [--threads 1]

Each server runs as nginx runs by default (daemon, master process, N workers) on
loopback, answering ``return 200`` without an access log.  Prints requests/s per
server and worker count and the 2-worker/1-worker ratio (target for nginxpy: >= 1.6x
on a 2-core machine; wrk itself takes part of one core, so the ceiling is below 2x).
Also prints how many CPUs the workers got during the run and the load average: on a
machine busy with other work the 2-worker figure says more about the CPUs left than
about the workers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """
{user}
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location = /r {{ return 200 "hello\\n"; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(kind: str, workers: int, base: Path) -> tuple[int, int, Path]:
    prefix = base / f"{kind}-{workers}"
    prefix.mkdir()
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(CONF.format(user=user, workers=workers, prefix=prefix, port=port))
    cmd = [NGINX] if kind == "nginx" else [sys.executable, "-m", "nginxpy"]
    cmd += ["-p", f"{prefix}/", "-c", str(prefix / "nginx.conf")]
    subprocess.run(cmd, cwd=REPO, check=True)  # returns once the daemon serves
    pid = int((prefix / "nginx.pid").read_text())
    deadline = time.monotonic() + 10
    while True:  # nginx's parent returns before its workers accept
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return pid, port, prefix


def stop(pid: int, prefix: Path) -> None:
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while (prefix / "nginx.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def worker_cpu(master: int) -> float:
    """CPU seconds used so far by the master's children (the workers)."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return 0.0
    total = 0
    for pid in children:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def wrk(port: int, duration: int, connections: int, threads: int) -> float:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}/r"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    errors = re.search(r"Socket errors: .*|Non-2xx.*", out)
    if errors:
        print(f"    wrk: {errors.group(0)}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    results: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("nginx", "nginxpy"):
            for workers in (1, 2):
                pid, port, prefix = start(kind, workers, Path(tmp))
                try:
                    wrk(port, 1, args.connections, args.threads)  # warm-up
                    cpu = worker_cpu(pid)
                    rps = wrk(port, args.duration, args.connections, args.threads)
                    cpu = (worker_cpu(pid) - cpu) / args.duration
                finally:
                    stop(pid, prefix)
                results[(kind, workers)] = rps
                print(
                    f"{kind:8} {workers} worker(s): {rps:10.0f} requests/s"
                    f"  (workers used {cpu:.2f} CPUs; load average {os.getloadavg()[0]:.1f})"
                )
    print(f"cores: {os.cpu_count()}")
    for kind in ("nginx", "nginxpy"):
        ratio = results[(kind, 2)] / results[(kind, 1)]
        print(f"{kind:8} 2 workers / 1 worker: {ratio:.2f}x")
    for workers in (1, 2):
        share = results[("nginxpy", workers)] / results[("nginx", workers)]
        print(f"nginxpy / nginx with {workers} worker(s): {share:.2f}")


if __name__ == "__main__":
    main()
