"""Test helpers: real nginx as the oracle, loopback backends that record what they receive."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"port {port} not ready")


@dataclass
class Nginx:
    """One real nginx (no daemon, no master) in a temporary prefix."""

    prefix: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, prefix: Path, conf: str, port: int, argv: list[str] | None = None) -> Nginx:
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "logs").mkdir(exist_ok=True)
        (prefix / "nginx.conf").write_text(conf)
        command = argv or [
            NGINX,
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(prefix / "error.log"),
            "-g",
            f"daemon off; master_process off; pid {prefix}/nginx.pid;",
        ]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = cls(prefix, port, proc)
        try:
            wait_for_port(port, proc=proc)
        except Exception as err:
            server.stop()
            raise RuntimeError(server.error_log()) from err
        return server

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


def read_http_message(sock: socket.socket, initial: bytes = b"") -> tuple[bytes, bytes]:
    """Read one request from ``sock``: (head, body), framing by Content-Length or chunked."""
    data = initial
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    head += b"\r\n\r\n"
    lower = head.lower()
    if b"\r\ntransfer-encoding: chunked" in lower:
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return head, rest
    length = 0
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break  # an announced body that never comes (proxy_pass_request_body off)
        if not chunk:
            break
        rest += chunk
    return head, rest


@dataclass
class CaptureBackend:
    """A loopback HTTP backend in a thread: records each request's exact bytes, answers 200."""

    port: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    response: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    body_timeout: float = 5.0
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: bool = False

    def start(self) -> CaptureBackend:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(self.body_timeout)
                try:
                    head, body = read_http_message(conn)
                    self.requests.append((head, body))
                    conn.sendall(self.response)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop = True
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)


def http_exchange(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes to a server on loopback, read one response (framed, or until close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while True:
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                lower = head.lower()
                if b"\r\ncontent-length:" in lower:
                    length = int(lower.split(b"\r\ncontent-length:")[1].split(b"\r\n")[0])
                    if len(body) >= length:
                        return data
                elif b"\r\ntransfer-encoding: chunked" in lower and body.endswith(b"0\r\n\r\n"):
                    return data
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
