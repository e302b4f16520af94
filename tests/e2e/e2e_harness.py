"""End-to-end harness: ``python -m nginxpy`` and real nginx as processes, loopback backends in a thread.

* :class:`Backends` runs a trio loop in a thread with the test backends (each on a port
  from the OS): a WebSocket application (echo; ``push N`` sends N messages; ``close CODE``
  closes with that code) that records every request head it receives and answers a plain
  page to requests that do not ask to upgrade, over plain TCP or TLS; and the faulty
  backends (``reset`` mid-response, ``stall``, ``garbage``).
* :class:`Process` starts nginx or nginxpy (no daemon, no master) in its own prefix,
  waits for its ports with a deadline, is stopped by PID, and counts its open fds.
* :func:`exchange` is a raw HTTP/1.x client (plain or TLS) that reads to EOF: what the
  tests compare between nginx and nginxpy byte for byte (``Date`` aside).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio_websocket
import trustme

NGINX = "/usr/sbin/nginx"
ROOT = Path(__file__).resolve().parents[2]
MAX_MESSAGE = 32 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], deadline: float = 10.0, step: float = 0.02) -> bool:
    """Poll a condition until it holds or the deadline passes (bounded, no fixed sleep)."""
    end = time.monotonic() + deadline
    while True:
        if predicate():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(step)


# -- certificates ----------------------------------------------------------------------------------


@dataclass
class Certs:
    dir: Path
    ca: trustme.CA

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.path("backend.pem"))
        return context


def make_certs(directory: Path) -> Certs:
    """A trustme CA, the front certificate (the seeds' names, localhost, 127.0.0.1) and a backend one."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="nginxpy e2e CA")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    front = ca.issue_cert("localhost", "local.wuanwanghao.top", "127.0.0.1")
    front.cert_chain_pems[0].write_to_path(str(directory / "front.crt"))
    front.private_key_pem.write_to_path(str(directory / "front.key"))
    backend = ca.issue_cert("backend.test", "127.0.0.1")
    backend.private_key_and_cert_chain_pem.write_to_path(str(directory / "backend.pem"))
    return Certs(directory, ca)


# -- backends --------------------------------------------------------------------------------------


class _Prefixed(trio.abc.Stream):
    """A stream whose first bytes were read already (the request head we recorded)."""

    def __init__(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        self.stream = stream
        self.prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self.prefix:
            data, self.prefix = self.prefix, b""
            await trio.lowlevel.checkpoint()
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


async def _read_head(stream: trio.abc.Stream, limit: int = 65536) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


def _hard_close(stream: trio.abc.Stream) -> None:
    """Close with a TCP reset (SO_LINGER 0)."""
    transport: Any = stream
    while not isinstance(transport, trio.SocketStream):
        transport = transport.transport_stream
    transport.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    transport.socket.close()


Handler = Callable[["Backends", trio.abc.Stream], Awaitable[None]]


async def ws_app(backends: Backends, stream: trio.abc.Stream) -> None:
    """Record the head; a WebSocket upgrade gets the echo application, anything else a plain page."""
    head = await _read_head(stream)
    if not head:
        return
    backends.heads.append(head.split(b"\r\n\r\n", 1)[0])
    lower = head.lower()
    if b"\r\nupgrade: websocket" not in lower:
        body = b"plain page\n"
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body)
        )
        return
    async with trio.open_nursery() as nursery:
        request = await trio_websocket.wrap_server_stream(
            nursery, _Prefixed(stream, head), max_message_size=MAX_MESSAGE, receive_buffer_size=65536
        )
        ws = await request.accept()
        try:
            while True:
                message = await ws.get_message()
                if isinstance(message, str) and message.startswith("push "):
                    for index in range(int(message.split()[1])):
                        await ws.send_message(f"pushed {index}")
                elif isinstance(message, str) and message.startswith("close "):
                    await ws.aclose(int(message.split()[1]), "bye")
                    return
                else:
                    await ws.send_message(message)
        except trio_websocket.ConnectionClosed as closed:
            backends.close_codes.append(closed.reason.code if closed.reason is not None else None)


async def reset_app(backends: Backends, stream: trio.abc.Stream) -> None:
    """Part of a response, then a TCP reset."""
    await _read_head(stream)
    await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    _hard_close(stream)


async def stall_app(backends: Backends, stream: trio.abc.Stream) -> None:
    """Read the request, never answer (until the proxy closes)."""
    await _read_head(stream)
    while await stream.receive_some(65536):
        pass


async def garbage_app(backends: Backends, stream: trio.abc.Stream) -> None:
    """Garbage in answer to whatever comes first (an HTTP request or a TLS ClientHello)."""
    await stream.receive_some(65536)
    await stream.send_all(b"\x00\x01 this is no HTTP\r\nat all\r\n\r\n")


@dataclass
class Backends:
    """Loopback backends in a thread of their own; ports from the OS."""

    certs: Certs | None = None
    ports: dict[str, int] = field(default_factory=dict)
    heads: list[bytes] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _token: Any = None
    _cancel: trio.CancelScope | None = None

    def start(self, specs: dict[str, tuple[Handler, bool]]) -> dict[str, int]:
        ready = threading.Event()
        errors: list[BaseException] = []

        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            with trio.CancelScope() as cancel:
                self._cancel = cancel
                async with trio.open_nursery() as nursery:
                    for name, (handler, tls) in specs.items():
                        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=1024)
                        self.ports[name] = listeners[0].socket.getsockname()[1]
                        nursery.start_soon(self._serve, listeners, handler, tls)
                    ready.set()

        def run() -> None:
            try:
                trio.run(main)
            except BaseException as error:  # pragma: no cover - reported to the test
                errors.append(error)
                ready.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"backends did not start: {errors}")
        return self.ports

    async def _serve(self, listeners: list[trio.SocketListener], handler: Handler, tls: bool) -> None:
        context = self.certs.server_context() if tls and self.certs is not None else None

        async def one(stream: trio.SocketStream) -> None:
            wrapped: trio.abc.Stream = stream
            try:
                if context is not None:
                    wrapped = trio.SSLStream(stream, context, server_side=True)
                    await wrapped.do_handshake()
                await handler(self, wrapped)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ValueError):
                pass
            except trio_websocket.ConnectionClosed:
                pass
            finally:
                await trio.aclose_forcefully(wrapped)

        await trio.serve_listeners(one, listeners)

    def stop(self) -> None:
        if self._token is not None and self._cancel is not None:
            cancel = self._cancel
            with suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(cancel.cancel, trio_token=self._token)
        if self._thread is not None:
            self._thread.join(10)


# -- servers ---------------------------------------------------------------------------------------


@dataclass
class Process:
    """nginx ("nginx") or nginxpy ("nginxpy") on one configuration, in its own prefix."""

    name: str
    prefix: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls, name: str, prefix: Path, conf: str, ports: list[int], tls_ports: tuple[int, ...] = ()
    ) -> Process:
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "logs").mkdir(exist_ok=True)
        (prefix / "html").mkdir(exist_ok=True)
        (prefix / "html" / "50x.html").write_bytes(b"<html>the 50x page</html>\n")
        shutil.copy("/etc/nginx/mime.types", prefix / "mime.types")
        (prefix / "nginx.conf").write_text(conf.replace("{prefix}", str(prefix)))
        program = [NGINX] if name == "nginx" else [sys.executable, "-m", "nginxpy"]
        command = [
            *program,
            "-p",
            f"{prefix}/",
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(prefix / "error.log"),
            "-g",
            f"daemon off; master_process off; pid {prefix}/run.pid;",
        ]
        env = {key: value for key, value in os.environ.items() if key != "PYTHONTRACEMALLOC"}
        env = {**env, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        stderr = open(prefix / "stderr.txt", "wb")  # noqa: SIM115
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=ROOT)
        stderr.close()
        running = cls(name, prefix, proc)

        def ready(port: int) -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited: {(prefix / 'stderr.txt').read_text()}{running.error_log()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                    # a probe from the same ephemeral port connects to itself (TCP simultaneous open)
                    return bool(probe.getsockname()[1] != port)
            except OSError:
                return False

        for port in ports:
            if not wait_until(lambda port=port: ready(port), 15.0):  # type: ignore[misc]
                running.stop()
                raise TimeoutError(f"{name}: port {port} not ready")
        # The kernel completes a connection as soon as the socket listens, before the event loop
        # runs (it creates its epoll and wake-up fds then): started means the probes were served.
        for port in ports:
            if not wait_until(lambda port=port: _probes_served(port), 15.0):  # type: ignore[misc]
                running.stop()
                raise TimeoutError(f"{name}: the probe of port {port} was not served")
        return running

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def wait_fds(self, count: int, deadline: float = 10.0) -> int:
        """Poll the open file count until it is back to ``count``; the last count seen."""
        seen = [self.open_fds()]

        def back() -> bool:
            seen[0] = self.open_fds()
            return seen[0] <= count

        wait_until(back, deadline)
        return seen[0]

    def errors_since(self, mark: int) -> list[str]:
        """Error-log lines written after ``mark`` (a length of the log), without their time and pid."""
        text = self.error_log()[mark:]
        return [_strip_log(line) for line in text.splitlines() if " [notice] " not in line]

    def log_mark(self) -> int:
        return len(self.error_log())


def _probes_served(port: int) -> bool:
    """Nothing is waiting in ``port``'s accept queue and no accepted connection to it is still
    open (a socket without an fd, in TIME_WAIT or LAST_ACK, has inode 0 in /proc/net/tcp)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) != port:
                    continue
                listening = fields[3] == "0A"  # for a listener, rx_queue is the accept queue's length
                if (listening and int(fields[4].split(":")[1], 16)) or (not listening and fields[9] != "0"):
                    return False
    return True


_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (\*\d+ )?")


def _strip_log(line: str) -> str:
    line = _LOG_PREFIX.sub(lambda m: f"[{m.group(1)}] ", line)
    return re.sub(r"client: 127\.0\.0\.1", "client: C", line)


# -- a raw client ----------------------------------------------------------------------------------


@dataclass
class Reply:
    raw: bytes
    status: int
    head: str  # status line and headers, Date removed
    body: bytes


def exchange(
    port: int,
    data: bytes,
    tls: ssl.SSLContext | None = None,
    timeout: float = 10.0,
    when: tuple[bytes, threading.Event] | None = None,
) -> Reply:
    """Send ``data``, read to EOF; ``when=(marker, event)`` sets the event once ``marker`` came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        conn: socket.socket = tls.wrap_socket(sock, server_hostname="localhost") if tls is not None else sock
    except BaseException:
        sock.close()  # a failed handshake leaves the plain socket open
        raise
    with conn:
        conn.sendall(data)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if when is not None and when[0] in b"".join(chunks):
                when[1].set()
                when = None
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.decode("latin-1").split("\r\n") if not line.lower().startswith("date:")]
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    return Reply(raw, status, "\r\n".join(lines), body)


def mask_access(line: str) -> str:
    """An access-log line without its time."""
    return re.sub(r"\[[^\]]+\]", "[TIME]", line, count=1)


# -- WebSocket clients -----------------------------------------------------------------------------


@asynccontextmanager
async def ws_open(port: int, path: str, tls: ssl.SSLContext | None = None) -> AsyncIterator[Any]:
    """A trio-websocket client on loopback (wss:// with ``tls``), large messages allowed.

    trio-websocket's client leaves its socket open when the server ends the connection
    after a close handshake (it waits for the TCP close, then never closes): closed here.
    """
    async with trio_websocket.open_websocket(
        "127.0.0.1",
        port,
        path,
        use_ssl=tls if tls is not None else False,
        max_message_size=MAX_MESSAGE,
        receive_buffer_size=65536,
        connect_timeout=10,
        disconnect_timeout=30,  # 1,000 TLS tunnels closing at once on a busy machine take a while
    ) as ws:
        try:
            yield ws
        finally:
            stream = ws._stream
    await trio.aclose_forcefully(stream)


WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(path: str, host: str, extra: bytes = b"") -> bytes:
    """A browser's WebSocket handshake, optionally followed by pipelined frame bytes."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: e2e\r\n\r\n"
    ).encode() + extra


# A masked close frame, code 1000: the backend answers with its own close frame and hangs up.
CLOSE_FRAME = bytes([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2])


def seed_conf(template: str, **values: object) -> str:
    """A seed configuration with its placeholders (``@NAME@``) filled."""
    text = template
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    left = re.findall(r"@[A-Z0-9_]+@", text)
    assert not left, left
    return text
