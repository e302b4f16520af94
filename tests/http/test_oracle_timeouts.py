"""nginx vs nginxpy: client_header_timeout, client_body_timeout, keepalive_timeout and
send_timeout (1 s each).  Every client of a scenario runs at the same time, against both
servers at once; then the answers, when each server closed, the access log lines and the
error log's info lines are compared."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from http_oracle import Pair, Server

CONF = r"""
error_log logs/info.log info;
events {}
http {
    log_format t '$remote_addr "$request" $status $request_length';
    access_log logs/access.log t;
    client_header_timeout 1s;
    client_body_timeout 1s;
    keepalive_timeout 1s;
    send_timeout 1s;
    server {
        listen 127.0.0.1:{port0};
        location / { return 200 "ok\n"; }
        location /big { alias big.bin; }
        location /up { proxy_pass http://127.0.0.1:{port0}/; }
    }
}
"""

BIG = b"b" * (8 << 20)


@dataclass
class Seen:
    data: bytes = b""
    closed_at: float = -1.0  # seconds from the connection's start to the server's close
    error: str = ""


def _read_to_end(sock: socket.socket, start: float, seen: Seen, limit: float = 8.0) -> None:
    deadline = start + limit
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            seen.error = "no close"
            return
        except ConnectionResetError:
            seen.error = "reset"
            break
        if not chunk:
            break
        seen.data += chunk
    seen.closed_at = time.monotonic() - start


def client(port: int, steps: list[bytes | float], rcvbuf: int = 0) -> Seen:
    """Send the byte strings and sleep the floats in turn, then read until the server closes."""
    seen = Seen()
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    with sock:
        sock.connect(("127.0.0.1", port))
        start = time.monotonic()
        for step in steps:
            if isinstance(step, float):
                time.sleep(step)
            else:
                sock.sendall(step)
        _read_to_end(sock, start, seen)
    return seen


def after_response(port: int, head: bytes, then: list[bytes | float]) -> Seen:
    """One whole exchange (read up to the response's end), then ``then``; the close is timed
    from the response."""
    seen = Seen()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        sock.settimeout(5)
        while b"\r\n\r\nok\n" not in seen.data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            seen.data += chunk
        start = time.monotonic()
        for step in then:
            if isinstance(step, float):
                time.sleep(step)
            else:
                sock.sendall(step)
        _read_to_end(sock, start, seen)
    return seen


GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"

SCENARIOS: dict[str, Callable[[int], Seen]] = {
    # client_header_timeout: nothing at all, a request line cut short, a head cut short
    "nothing": lambda port: client(port, []),
    "partial-line": lambda port: client(port, [b"GET /pa"]),
    "partial-head": lambda port: client(port, [b"GET /h HTTP/1.1\r\nHost: a\r\nReferer: r\r\nX-Cut: 1"]),
    # the first head's timer runs from the connection's start, not from its first bytes
    "late-head": lambda port: client(port, [0.8, b"GET /late HTTP/1.1\r\nHost: late\r\n"]),
    # client_body_timeout (the proxy reads the body first): 408, logged without an error line
    "partial-body": lambda port: client(
        port, [b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"]
    ),
    # keepalive_timeout: an idle connection after a response
    "keepalive": lambda port: after_response(port, GET, []),
    # a second request cut short: its head timer starts with its first bytes
    "second-head": lambda port: after_response(port, GET, [0.5, b"GET /second HTTP/1.1\r\nHost: b\r\n"]),
    # send_timeout: a client that does not read a large response
    "send": lambda port: client(port, [b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n", 2.5], rcvbuf=4096),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Seen]]]:
    with Pair(tmp_path_factory.mktemp("timeouts"), CONF, {"big.bin": BIG}) as pair:
        seen: dict[str, dict[str, Seen]] = {"nginx": {}, "nginxpy": {}}

        def run(server: Server, name: str) -> None:
            seen[server.kind][name] = SCENARIOS[name](server.ports[0])

        threads = [
            threading.Thread(target=run, args=(server, name))
            for server in (pair.nginx, pair.py)
            for name in SCENARIOS
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        for server in (pair.nginx, pair.py):
            seen[server.kind]["logs"] = Seen(
                data=wait_lines(server, "access.log", 8) + b"\n=====\n" + info_lines(server)
            )
        yield seen


def wait_lines(server: Server, name: str, count: int) -> bytes:
    path = server.prefix / "logs" / name
    deadline = time.monotonic() + 5
    data = b""
    while time.monotonic() < deadline:
        data = path.read_bytes() if path.exists() else b""
        if data.count(b"\n") >= count:
            break
        time.sleep(0.02)
    return b"\n".join(sorted(data.splitlines()))


def info_lines(server: Server) -> bytes:
    """The info lines, without time, pid and connection number; port as PORT; sorted."""
    path = server.prefix / "logs" / "info.log"
    text = path.read_text() if path.exists() else ""
    lines = []
    for line in text.splitlines():
        match = re.match(r"\S+ \S+ \[info\] \d+#\d+: \*\d+ (.*)$", line)
        if match:
            lines.append(match.group(1).replace(str(server.ports[0]), "PORT"))
    return "\n".join(sorted(lines)).encode()


@pytest.mark.parametrize("name", [name for name in SCENARIOS if name != "send"])
def test_closed_like_nginx(results: dict[str, dict[str, Seen]], name: str) -> None:
    theirs, ours = results["nginx"][name], results["nginxpy"][name]
    strip = re.compile(rb"Date: [^\r]*\r\n")
    assert strip.sub(b"", ours.data) == strip.sub(b"", theirs.data)
    assert ours.error == theirs.error == ""
    # the 1 s timers: closed one second after the connection (or the response), never before
    expected = {"second-head": 1.5}.get(name, 1.0)
    for seen in (theirs, ours):
        assert expected - 0.1 <= seen.closed_at <= expected + 0.6, (seen is ours, seen.closed_at)


def test_send_timeout(results: dict[str, dict[str, Seen]]) -> None:
    theirs, ours = results["nginx"]["send"], results["nginxpy"]["send"]
    for seen in (theirs, ours):
        assert seen.data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(seen.data) < len(BIG)  # cut: the server gave up and closed
        assert seen.error == ""


def test_logs(results: dict[str, dict[str, Seen]]) -> None:
    assert results["nginxpy"]["logs"].data.decode() == results["nginx"]["logs"].data.decode()
