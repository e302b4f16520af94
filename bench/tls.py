"""TLS benchmark (not a test): handshakes/s and HTTPS requests/s, nginxpy next to nginx, one run.

    python3 bench/tls.py [--seconds 5]

Both servers get the same configuration (one ``listen ... ssl`` server with an ECDSA
certificate from trustme answering ``return 200``), single process each.
Handshakes/s: full TLS 1.2 handshakes (no resumption) from 4 client threads, each
connection closed right after its handshake.  Requests/s: ``wrk`` over keep-alive
HTTPS connections (2 threads, 32 connections).  Prints both figures and the ratios.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "tls")]
from tls_harness import free_port, start_server  # noqa: E402


def _conf(cert: str, key: str, port: int) -> str:
    return f"""
events {{}}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "hello\\n"; }}
    }}
}}
"""


def handshakes_per_second(port: int, seconds: float, threads: int = 4) -> float:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    count = [0] * threads
    end = time.monotonic() + seconds

    def work(index: int) -> None:
        while time.monotonic() < end:
            with socket.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw) as tls:
                tls.do_handshake()
            count[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(count) / seconds


def requests_per_second(port: int, seconds: float) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    out = subprocess.run(
        [wrk, "-t2", "-c32", f"-d{int(seconds)}s", f"https://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    import trustme

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        ca = trustme.CA()
        issued = ca.issue_cert("localhost", "127.0.0.1")
        issued.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
        issued.private_key_pem.write_to_path(str(directory / "key.pem"))
        results: dict[str, tuple[float, float | None]] = {}
        for name in ("nginx", "nginxpy"):
            port = free_port()
            conf = _conf(str(directory / "cert.pem"), str(directory / "key.pem"), port)
            server = start_server(name, directory / name, conf, [port])
            try:
                results[name] = (
                    handshakes_per_second(port, args.seconds),
                    requests_per_second(port, args.seconds),
                )
            finally:
                server.stop()
    print(f"{'':10} {'handshakes/s':>14} {'requests/s':>12}")
    for name, (handshakes, requests) in results.items():
        print(f"{name:10} {handshakes:14.0f} {requests or 0:12.0f}")
    (h_ngx, r_ngx), (h_py, r_py) = results["nginx"], results["nginxpy"]
    print(f"{'ratio':10} {h_py / h_ngx:14.2f} {(r_py or 0) / (r_ngx or 1):12.2f}   (nginxpy / nginx)")


if __name__ == "__main__":
    main()
