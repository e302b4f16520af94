"""Reverse-proxy benchmark (not a test): nginx vs nginxpy vs a minimal aiohttp proxy.

    python bench/proxy.py [--seconds 5] [--skip-ws]

One run starts, on loopback:
  * a fast backend: a second nginx answering ``return 200 "ok"`` (HTTP) and a
    ``websockets`` echo server (WebSocket);
  * nginx (one worker) and nginxpy (``python -m nginxpy``) with the same proxy
    config (upstream ``keepalive``; the seed's WebSocket location), and an aiohttp
    reverse proxy for the HTTP case;
and prints requests/s and p50/p99 latency (wrk, 50 keep-alive connections),
WebSocket messages/s and MB/s (1 and 100 clients; 16 B and 64 KiB messages), and
memory per idle tunnel (2,000 tunnels), each as a ratio to nginx's, with the
targets of issue #4.
"""

from __future__ import annotations

import argparse
import asyncio
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

# bench/ holds files named like standard modules (http.py): keep the script's directory off the path
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent.resolve()]

NGINX = "/usr/sbin/nginx"

BACKEND_CONF = """
worker_processes 1;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server {{ listen 127.0.0.1:{port}; keepalive_requests 1000000; location / {{ return 200 "ok"; }} }}
}}
"""

PROXY_CONF = """
worker_processes 1;
daemon off;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream back {{ server 127.0.0.1:{backend}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 1000000;
        location / {{ proxy_pass http://back; proxy_http_version 1.1; proxy_set_header Connection ""; }}
        location /wss/ {{
            proxy_pass http://127.0.0.1:{ws}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], deadline: float = 15) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start_nginx(prefix: Path, conf: str, port: int) -> subprocess.Popen[bytes] | None:
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log"),
         "-g", f"master_process off; pid {prefix}/nginx.pid;" + ("" if "daemon off" in conf else " daemon off;")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc if wait_port(port, proc) else None


def start_nginxpy(prefix: Path, conf: str, port: int) -> subprocess.Popen[bytes] | None:
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nginxpy", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
         "-e", str(prefix / "error.log"), "-g", "master_process off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc if wait_port(port, proc) else None


AIOHTTP_PROXY = """
import sys
from aiohttp import ClientSession, TCPConnector, web
backend = sys.argv[2]
async def handle(request):
    async with request.app["session"].get(backend + request.path_qs) as resp:
        body = await resp.read()
        return web.Response(body=body, status=resp.status)
async def session(app):
    app["session"] = ClientSession(connector=TCPConnector(limit=64))
    yield
    await app["session"].close()
app = web.Application()
app.cleanup_ctx.append(session)
app.router.add_get("/{tail:.*}", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

WS_ECHO = """
import asyncio, sys, websockets
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), max_size=None, compression=None):
        await asyncio.Future()
asyncio.run(main())
"""


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (/proc/PID/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, seconds: int, pid: int | None = None) -> tuple[float, str, str, float]:
    """req/s, p50, p99, and the server's CPU time per request in microseconds (pid given)."""
    before = cpu_seconds(pid) if pid is not None else 0.0
    out = subprocess.run(
        ["wrk", "-t1", "-c50", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    used = cpu_seconds(pid) - before if pid is not None else 0.0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+(\S+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    total = re.search(r"(\d+) requests in", out)
    per = used / int(total.group(1)) * 1e6 if total and int(total.group(1)) else 0.0
    return (
        float(rps.group(1)) if rps else 0.0,
        p50.group(1) if p50 else "-",
        p99.group(1) if p99 else "-",
        per,
    )


async def ws_load(port: int, clients: int, size: int, seconds: float) -> tuple[float, float]:
    import websockets

    payload = os.urandom(size)
    count = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal count
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/wss/", max_size=None, compression=None, open_timeout=30
        ) as ws:
            while time.monotonic() < deadline:
                await ws.send(payload)
                await ws.recv()
                count += 1

    start = time.monotonic()
    await asyncio.gather(*(one() for _ in range(clients)))
    elapsed = time.monotonic() - start
    return count / elapsed, count * size * 2 / elapsed / 1e6


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def idle_tunnels(port: int, pid: int, count: int) -> float:
    import websockets

    # with master_process off the started process is the one serving (a master's RSS would not move)
    await asyncio.sleep(0.5)
    before = rss_kb(pid)
    sockets = []
    for start in range(0, count, 200):
        batch = await asyncio.gather(
            *(
                websockets.connect(f"ws://127.0.0.1:{port}/wss/", open_timeout=60)
                for _ in range(min(200, count - start))
            )
        )
        sockets.extend(batch)
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    await asyncio.gather(*(ws.close() for ws in sockets))
    return (after - before) / count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--skip-ws", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    procs: list[subprocess.Popen[bytes] | None] = []
    try:
        backend_port, ws_port = free_port(), free_port()
        procs.append(start_nginx(tmp / "backend", BACKEND_CONF.format(port=backend_port), backend_port))
        ws = subprocess.Popen([sys.executable, "-c", WS_ECHO, str(ws_port)])
        procs.append(ws)
        wait_port(ws_port, ws)
        ports = {name: free_port() for name in ("nginx", "nginxpy", "aiohttp")}
        servers: dict[str, subprocess.Popen[bytes] | None] = {}
        for name, starter in (("nginx", start_nginx), ("nginxpy", start_nginxpy)):
            conf = PROXY_CONF.format(backend=backend_port, port=ports[name], ws=ws_port)
            servers[name] = starter(tmp / name, conf, ports[name])
        aio = subprocess.Popen(
            [sys.executable, "-c", AIOHTTP_PROXY, str(ports["aiohttp"]), f"http://127.0.0.1:{backend_port}"]
        )
        servers["aiohttp"] = aio if wait_port(ports["aiohttp"], aio) else None
        procs.extend(servers.values())

        print(f"HTTP, wrk -t1 -c50 -d{args.seconds}s (keep-alive), backend: nginx return 200")
        results: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name in ("nginx", "nginxpy", "aiohttp"):
            server = servers[name]
            if server is None:
                print(f"  {name:8s} not running")
                continue
            rps, p50, p99, per = wrk(ports[name], args.seconds, server.pid)
            results[name] = rps
            cpu[name] = per
            print(f"  {name:8s} {rps:10.0f} req/s  p50 {p50:>8s}  p99 {p99:>8s}  cpu {per:7.1f} us/req")
        if "nginx" in results and "nginxpy" in results:
            ratio = results["nginxpy"] / results["nginx"]
            print(f"  nginxpy/nginx = {ratio:.3f} (target >= 0.100)")
        if "aiohttp" in results and "nginxpy" in results:
            print(f"  nginxpy/aiohttp = {results['nginxpy'] / results['aiohttp']:.2f} (target >= 1.00)")
        if cpu.get("nginxpy") and cpu.get("aiohttp"):
            print(
                f"  CPU per request, aiohttp/nginxpy = {cpu['aiohttp'] / cpu['nginxpy']:.2f} (>= 1.00: nginxpy cheaper)"
            )
        if args.skip_ws:
            return 0
        print("WebSocket echo through /wss/")
        for clients, size in ((1, 16), (100, 16), (1, 65536), (100, 65536)):
            row = {}
            for name in ("nginx", "nginxpy"):
                if servers[name] is None:
                    continue
                try:
                    row[name] = asyncio.run(ws_load(ports[name], clients, size, args.seconds / 2))
                except Exception as err:  # a proxy that cannot tunnel yet
                    print(f"  {name}: {type(err).__name__}: {err}")
            text = "  ".join(f"{n}: {m:8.0f} msg/s {mb:7.1f} MB/s" for n, (m, mb) in row.items())
            ratio = ""
            if "nginx" in row and "nginxpy" in row:
                ratio = f"  ratio {row['nginxpy'][1] / row['nginx'][1]:.2f}"
            print(f"  {clients:3d} clients x {size:5d} B  {text}{ratio}")
        print("Memory per idle tunnel (2,000 tunnels)")
        per: dict[str, float] = {}
        for name in ("nginx", "nginxpy"):
            proc = servers[name]
            if proc is None:
                continue
            try:
                per[name] = asyncio.run(idle_tunnels(ports[name], proc.pid, 2000))
                print(f"  {name:8s} {per[name]:7.1f} KiB per tunnel")
            except Exception as err:
                print(f"  {name}: {type(err).__name__}: {err}")
        if "nginx" in per and "nginxpy" in per and per["nginx"] > 0:
            print(f"  nginxpy/nginx = {per['nginxpy'] / per['nginx']:.1f} (target <= 10)")
        return 0
    finally:
        for proc in reversed(procs):  # the proxies before their backends
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
