"""Run real nginx and nginxpy on the same configuration and compare their answers.

A configuration template uses ``{port0}``, ``{port1}``... (free ports picked by the
OS, different for each server) and ``{prefix}``; files are written under each
server's own prefix with a fixed mtime so ETag and Last-Modified agree.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from client import Response, exchange, parse_responses

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REPO = Path(__file__).resolve().parents[2]
MTIME = 1700000000  # 2023-11-14 22:13:20 GMT


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


class Server:
    def __init__(
        self, kind: str, prefix: Path, conf: str, files: dict[str, bytes | None], nports: int
    ) -> None:
        self.kind = kind
        self.prefix = prefix
        self.ports = free_ports(nports)
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "logs").mkdir(exist_ok=True)
        for name, content in files.items():
            path = prefix / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                path.mkdir(exist_ok=True)
            else:
                path.write_bytes(content)
        for root, dirs, names in os.walk(prefix):
            for name in dirs + names:
                os.utime(os.path.join(root, name), (MTIME, MTIME))
        text = conf.replace("{prefix}", str(prefix))
        for index, port in enumerate(self.ports):
            text = text.replace(f"{{port{index}}}", str(port))
        (prefix / "nginx.conf").write_text(text)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        prefix = str(self.prefix) + "/"
        globals_ = f"daemon off; master_process off; pid {prefix}run.pid;"
        if self.kind == "nginx":
            cmd = [
                NGINX,
                "-p",
                prefix,
                "-c",
                prefix + "nginx.conf",
                "-e",
                prefix + "error.log",
                "-g",
                globals_,
            ]
        else:
            cmd = [
                sys.executable,
                "-m",
                "nginxpy",
                "-p",
                prefix,
                "-c",
                prefix + "nginx.conf",
                "-e",
                prefix + "error.log",
                "-g",
                globals_,
            ]
        self.stderr = open(self.prefix / "stderr.txt", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.kind} exited: {(self.prefix / 'stderr.txt').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.ports[0]), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()  # nothing of a failed start is left running or open
        raise RuntimeError(f"{self.kind} did not start")

    def stop(self) -> None:
        if self.process is None:
            return
        self.stderr.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def quit(self, timeout: float = 10.0) -> int | None:
        """Graceful stop (SIGQUIT, as ``-s quit``); the exit code, None if it did not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGQUIT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, signum: int) -> None:
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(signum)

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Pair:
    """nginx and nginxpy on the same configuration."""

    def __init__(
        self, tmp: Path, conf: str, files: dict[str, bytes | None] | None = None, nports: int = 1
    ) -> None:
        files = files or {}
        self.nginx = Server("nginx", tmp / "nginx", conf, files, nports)
        self.py = Server("nginxpy", tmp / "nginxpy", conf, files, nports)

    def __enter__(self) -> Pair:
        self.nginx.start()
        try:
            self.py.start()
        except BaseException:
            self.nginx.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.nginx.stop()
        self.py.stop()

    def both(
        self, data: bytes | str, port: int = 0, timeout: float = 5.0, half_close: bool = False
    ) -> tuple[list[Response], list[Response]]:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        results = []
        for server in (self.nginx, self.py):
            payload = raw.replace(b"{port}", str(server.ports[port]).encode())
            got = exchange(server.ports[port], payload, timeout, half_close)
            heads = _head_flags(payload)
            results.append(normalise(parse_responses(got, heads), server))
        return results[0], results[1]

    def compare(
        self, data: bytes | str, port: int = 0, timeout: float = 5.0, half_close: bool = False
    ) -> list[Response]:
        expected, got = self.both(data, port, timeout, half_close)
        want, have = render(expected), render(got)
        if want != have:
            diff = "\n".join(
                difflib.unified_diff(want.splitlines(), have.splitlines(), "nginx", "nginxpy", lineterm="")
            )
            raise AssertionError(f"responses differ:\n{diff}")
        return got


def _head_flags(payload: bytes) -> list[bool]:
    flags = []
    for match in re.finditer(rb"(?:^|\n)([A-Z]+) [^\r\n]* HTTP/1\.[01]\r?\n", payload):
        flags.append(match.group(1) == b"HEAD")
    return flags


IGNORED_HEADERS = {"date", "server"}


def normalise(responses: Iterable[Response], server: Server) -> list[Response]:
    out = []
    ports = [str(port) for port in server.ports]
    prefix = str(server.prefix)

    def clean(text: str) -> str:
        text = text.replace(prefix, "PREFIX")
        for index, port in enumerate(ports):
            text = re.sub(rf"(?<![0-9]){port}(?![0-9])", f"PORT{index}", text)
        return text

    for response in responses:
        headers = [
            (name, clean(value)) for name, value in response.headers if name.lower() not in IGNORED_HEADERS
        ]
        body = clean(response.body.decode("latin-1")).encode("latin-1")
        out.append(Response(response.status_line, headers, body))
    return out


def render(responses: list[Response]) -> str:
    parts = []
    for response in responses:
        lines = [response.status_line] + [f"{name}: {value}" for name, value in response.headers]
        parts.append("\n".join(lines) + "\n\n" + response.body.decode("latin-1"))
    return "\n=====\n".join(parts)
