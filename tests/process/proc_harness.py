"""Start nginxpy (or nginx) as a daemon with a master and workers, in its own prefix, and stop
what was started by PID.

Every wait polls with a deadline; nothing sleeps a fixed time.  The master is a daemon
(reparented to init), so "gone" means its /proc entry is gone or a zombie.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
IS_ROOT = os.geteuid() == 0
# As root, nginx's workers would run as "nobody" and could not open pytest's private tmp dir.
USER = "user root;" if IS_ROOT else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(field) for field in text.split()]


def http_get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def try_get(port: int, path: str = "/") -> tuple[int, bytes] | None:
    """http_get, or None if the connection failed (refused, reset)."""
    try:
        return http_get(port, path)
    except OSError:
        return None


class Server:
    """One nginxpy (or nginx) in ``prefix``: nginx.conf there, logs in logs/, pid in logs/nginx.pid."""

    def __init__(self, prefix: Path, conf: str, kind: str = "nginxpy") -> None:
        self.prefix = prefix
        self.kind = kind
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        self.conf_path = prefix / "nginx.conf"
        self.write_conf(conf)
        self.pid_path = prefix / "logs" / "nginx.pid"
        self.error_log = prefix / "logs" / "error.log"
        self.master = 0
        self.seen: set[int] = set()

    def write_conf(self, conf: str) -> None:
        self.conf_path.write_text(conf.replace("{prefix}", str(self.prefix)))

    def command(self, *args: str) -> list[str]:
        base = [NGINX] if self.kind == "nginx" else [sys.executable, "-m", "nginxpy"]
        return [*base, "-p", f"{self.prefix}/", "-c", str(self.conf_path), *args]

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self) -> subprocess.CompletedProcess[str]:
        done = self.run()
        if done.returncode == 0:
            self.master = int(self.pid_path.read_text())
            self.seen.add(self.master)
            self.workers()
        return done

    def workers(self) -> list[int]:
        pids = children(self.master)
        self.seen.update(pids)
        return pids

    def wait_workers(self, count: int, exclude: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
        found: list[int] = []

        def ready() -> bool:
            nonlocal found
            found = [pid for pid in self.workers() if pid not in exclude]
            return len(found) == count and all(self.logged(f"start worker process {pid}") for pid in found)

        wait_for(ready, what=f"{count} new workers")
        return found

    def log_text(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def logged(self, text: str | re.Pattern[str]) -> bool:
        log = self.log_text()
        return bool(text.search(log)) if isinstance(text, re.Pattern) else text in log

    def wait_logged(self, text: str | re.Pattern[str], timeout: float = 15.0) -> None:
        wait_for(lambda: self.logged(text), timeout, what=f"{text!r} in the error log")

    def stop(self) -> None:
        """Fast stop by PID; whatever is left after a while is killed."""
        if self.master and alive(self.master):
            self.workers()
            with contextlib.suppress(OSError):
                os.kill(self.master, signal.SIGTERM)
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not alive(self.master), timeout=10)
        for pid in self.seen:
            if alive(pid) and self.owns(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def owns(self, pid: int) -> bool:
        """The PID is still one of ours (not reused): its command line names our prefix."""
        try:
            return f"{self.prefix}/".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
