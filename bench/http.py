"""nginx vs nginxpy vs a minimal aiohttp server, loaded by wrk (not a test).

    python bench/http.py [--duration 10] [--connections 50]

Each server runs one worker on loopback; the same run measures ``return 200`` and a
static file for nginx and nginxpy, and the same ``return 200``-like answer for aiohttp.
Prints requests/s, p50/p99 latency, the server's CPU time per request (utime+stime over the
run: the fair figure on a shared machine) and ratios.  Also times the request-head parser
against h11 on the same bytes (the issue allows a hand-written parser only if it is
both stricter and faster).
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
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location = /r {{ return 200 "hello\\n"; }}
        location / {{ }}
    }}
}}
"""

AIOHTTP = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    async def handle(request):
        return web.Response(text="hello\\n")
    app = web.Application()
    app.router.add_get("/r", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def start(kind: str, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "aiohttp":
        script = directory / "aio.py"
        script.write_text(AIOHTTP)
        process = subprocess.Popen(
            [sys.executable, str(script), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(port)
        return process, port
    prefix = directory / kind
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "html").mkdir(exist_ok=True)
    (prefix / "html" / "file.html").write_bytes(b"x" * 1024)
    (prefix / "nginx.conf").write_text(CONF.format(port=port, root=prefix / "html"))
    globals_ = f"daemon off; master_process off; pid {prefix}/run.pid;"
    if kind == "nginx":
        cmd = [
            NGINX,
            "-p",
            f"{prefix}/",
            "-c",
            f"{prefix}/nginx.conf",
            "-e",
            f"{prefix}/error.log",
            "-g",
            globals_,
        ]
    else:
        cmd = [
            sys.executable,
            "-m",
            "nginxpy",
            "-p",
            f"{prefix}/",
            "-c",
            f"{prefix}/nginx.conf",
            "-e",
            f"{prefix}/error.log",
            "-g",
            globals_,
        ]
    process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return process, port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (the machine may be shared: CPU per request is the fair figure)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, path: str, duration: int, connections: int, pid: int) -> tuple[float, str, str, float]:
    """req/s, p50, p99 and the server's CPU microseconds per request."""
    cpu = cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    return rps, p50, p99, cpu / max(requests, 1) * 1e6


def parser_micro() -> None:
    import h11

    from nginxpy.http.parse import parse_head

    raw = b"GET /index.html?x=1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        end = raw.find(b"\r\n\r\n")
        parse_head(raw[:end].decode("latin-1"))
    ours = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(n):
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(raw)
        conn.next_event()
    theirs = (time.perf_counter() - t0) / n
    print(
        f"request head parse: nginxpy {ours * 1e6:.1f} us, h11 {theirs * 1e6:.1f} us ({theirs / ours:.1f}x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    parser_micro()
    results: dict[tuple[str, str], tuple[float, str, str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, paths in (
            ("nginx", ("/r", "/file.html")),
            ("nginxpy", ("/r", "/file.html")),
            ("aiohttp", ("/r",)),
        ):
            process, port = start(kind, Path(tmp))
            try:
                for path in paths:
                    wrk(port, path, 1, args.connections, process.pid)  # warm up
                    results[(kind, path)] = wrk(port, path, args.duration, args.connections, process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
    print(f"{'server':10} {'path':12} {'req/s':>10} {'p50':>9} {'p99':>9} {'cpu us/req':>11}")
    for (kind, path), (rps, p50, p99, cpu) in results.items():
        print(f"{kind:10} {path:12} {rps:10.0f} {p50:>9} {p99:>9} {cpu:11.1f}")
    for path in ("/r", "/file.html"):
        ratio = results[("nginxpy", path)][0] / results[("nginx", path)][0]
        print(f"nginxpy/nginx {path}: {ratio:.3f} (target >= 0.100 for /r)")
    print(
        f"nginxpy/aiohttp /r: {results[('nginxpy', '/r')][0] / results[('aiohttp', '/r')][0]:.2f} (target >= 1)"
    )
    cpu_ratio = results[("aiohttp", "/r")][3] / results[("nginxpy", "/r")][3]
    print(f"aiohttp/nginxpy CPU per request /r: {cpu_ratio:.2f} (>= 1: nginxpy needs less)")
    print(f"cpus: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
