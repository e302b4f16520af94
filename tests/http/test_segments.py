"""Requests that arrive in pieces: the answer and the access log line do not depend on how the
bytes are split (one byte per read, or random splits), and request lines that nginx rejects
before their line end are rejected as early by nginxpy.

A split is only a split if the server reads each piece on its own: after each piece the client
waits until the server's socket has nothing left to read (its receive queue in /proc/net/tcp
is empty), so the server's next read sees the next piece alone.
"""

from __future__ import annotations

import itertools
import random
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_oracle import Pair, Server

CONF = r"""
events {}
http {
    log_format seg '"$request" $status $body_bytes_sent $request_method $uri $args $request_length '
                   '$connection_requests "$http_x_a" $content_length $server_protocol';
    access_log logs/seg.log seg;
    large_client_header_buffers 4 1k;
    client_max_body_size 100;
    server {
        listen 127.0.0.1:{port0};
        server_name seg.test;
        root html;
        location / { }
        location = /ret { return 200 "ret $request_method $args\n"; }
    }
}
"""

H = "Host: seg.test\r\n"
C = "Connection: close\r\n"

# Each one ends with the server closing the connection.  Not here: requests whose answer
# depends on the split in nginx too (an invalid request line: $request is what was read up
# to the offending byte; a bad chunk after a body nginx had already stopped reading).
REQUESTS = {
    "get": f"GET /ret?a=1 HTTP/1.1\r\n{H}X-A: one\r\n{C}\r\n",
    "static": f"GET /f.txt HTTP/1.1\r\n{H}{C}\r\n",
    "http10": "GET /f.txt HTTP/1.0\r\n\r\n",
    "http09": "GET /f.txt\r\n",
    "head": f"HEAD /ret HTTP/1.1\r\n{H}{C}\r\n",
    "bare_lf": "GET /ret HTTP/1.1\nHost: seg.test\nConnection: close\n\n",
    "leading_crlf": f"\r\n\r\nGET /ret HTTP/1.1\r\n{H}{C}\r\n",
    "post": f"POST /ret HTTP/1.1\r\n{H}Content-Length: 5\r\n{C}\r\nhello",
    "chunked": f"POST /ret HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n{C}\r\n5\r\nhello\r\n0\r\n\r\n",
    "expect": f"POST /ret HTTP/1.1\r\n{H}Expect: 100-continue\r\nContent-Length: 2\r\n{C}\r\nok",
    "pipelined": f"GET /ret?n=1 HTTP/1.1\r\n{H}\r\nPOST /ret HTTP/1.1\r\n{H}Content-Length: 1\r\n\r\nx"
    f"GET /f.txt HTTP/1.1\r\n{H}{C}\r\n",
    "bad": "BAD\r\n\r\n",
    "bad_header": f"GET /ret HTTP/1.1\r\n{H}Bad Name: x\r\n\r\n",
    "no_host": "GET /ret HTTP/1.1\r\n\r\n",
    "too_large": f"POST /ret HTTP/1.1\r\n{H}Content-Length: 101\r\n{C}\r\n" + "x" * 101,
    "long_uri": "GET /" + "a" * 1100 + " HTTP/1.1\r\nHost: x\r\n\r\n",
    "missing": f"GET /nope HTTP/1.1\r\n{H}{C}\r\n",
}

# Request lines nginx rejects at the offending byte, sent without their line end: the answer
# comes at once (the client never sends more).
PARTIAL = {
    "bad_cr": "BAD\r",
    "method_char": "G@T /x",
    "lower": "g",
    "uri": "GET r@",
    "ctl_uri": "GET /a\x01",
    "version": "GET / HTTP/2",
    "version_10": "GET / HTTP/10",
    "version_zero": "GET / HTTP/0",
    "after_version": "GET / HTTP/1.1 x",
    "version_text": "GET / HTTPS",
    "schema": "GET h@",
    "host": "GET http://a b",
    "port": "GET http://a:8x",
    "cr_then": "GET /\rx",
}

SEEDS = range(6)
MAX_PIECES = 12


def _hex_addr(port: int) -> str:
    return f"0100007F:{port:04X}"


def _server_queue(server_port: int, client_port: int) -> int | None:
    """The server socket's receive queue (bytes sent by the client, not read yet), or None."""
    local, remote = _hex_addr(server_port), _hex_addr(client_port)
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            if fields[1] == local and fields[2] == remote:
                return int(fields[4].split(":")[1], 16)
    return None


def _wait_read(server_port: int, client_port: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        queued = _server_queue(server_port, client_port)
        if not queued:
            return
        time.sleep(0.0005)


def send_pieces(port: int, pieces: list[bytes], timeout: float = 5.0) -> bytes:
    """Send the pieces one read apart; then read until the server closes."""
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client_port = sock.getsockname()[1]
        for piece in pieces:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered early and closed
            _wait_read(port, client_port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    count = min(len(data) - 1, rng.randint(1, MAX_PIECES - 1))
    cuts = sorted(rng.sample(range(1, len(data)), count)) if count > 0 else []
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


class LogReader:
    def __init__(self, server: Server) -> None:
        self.path = server.prefix / "logs" / "seg.log"
        self.offset = 0

    def new_lines(self, expected: int = 0) -> list[str]:
        """The lines written since the last call, once there are ``expected`` of them (nginx
        writes the line of a request it closes with a lingering close after the client has gone)."""
        deadline = time.monotonic() + 5
        while True:
            text = self.path.read_bytes()[self.offset :] if self.path.exists() else b""
            if text.count(b"\n") >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        self.offset += len(text)
        return text.decode("latin-1").splitlines()


def _normalise(raw: bytes, server: Server) -> str:
    text = raw.decode("latin-1")
    text = re.sub(r"\r\nDate: [^\r]*", "", text)
    text = re.sub(r"\r\nServer: [^\r]*", "", text)
    return text.replace(str(server.ports[0]), "PORT")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    files: dict[str, bytes | None] = {"html/f.txt": b"file\n"}
    with Pair(tmp_path_factory.mktemp("segments"), CONF, files) as running:
        yield running


@pytest.fixture(scope="module")
def logs(pair: Pair) -> dict[str, LogReader]:
    return {"nginx": LogReader(pair.nginx), "nginxpy": LogReader(pair.py)}


def _exchange(server: Server, log: LogReader, pieces: list[bytes]) -> tuple[str, list[str]]:
    log.new_lines()
    answer = _normalise(send_pieces(server.ports[0], pieces), server)
    # one line per request: per final response (HTTP/0.9: a bare body)
    expected = max(1, len(re.findall(r"(?:^|\n)HTTP/1\.[01] [2-5]\d\d ", answer)))
    return answer, log.new_lines(expected)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_segmented(pair: Pair, logs: dict[str, LogReader], name: str) -> None:
    data = REQUESTS[name].encode("latin-1")
    one_byte = [data[i : i + 1] for i in range(len(data))]
    # nginx's answer and log line do not depend on the split either: the oracle for both
    nginx_whole = _exchange(pair.nginx, logs["nginx"], [data])
    assert nginx_whole[1], "nginx logged nothing"
    assert _exchange(pair.nginx, logs["nginx"], one_byte) == nginx_whole
    whole = _exchange(pair.py, logs["nginxpy"], [data])
    assert whole == nginx_whole
    assert _exchange(pair.py, logs["nginxpy"], one_byte) == whole, "one byte per read"
    for seed in SEEDS:
        pieces = splits(data, seed)
        assert _exchange(pair.py, logs["nginxpy"], pieces) == whole, f"split {[len(p) for p in pieces]}"


@pytest.mark.parametrize("name", sorted(PARTIAL))
def test_partial_request_line(pair: Pair, logs: dict[str, LogReader], name: str) -> None:
    data = PARTIAL[name].encode("latin-1")
    expected = _exchange(pair.nginx, logs["nginx"], [data])
    assert expected[0].startswith("HTTP/1.1 "), expected
    assert _exchange(pair.py, logs["nginxpy"], [data]) == expected
    # one byte at a time: nginx stops at the offending byte ($request ends there), nginxpy too
    one_byte = [data[i : i + 1] for i in range(len(data))]
    expected = _exchange(pair.nginx, logs["nginx"], one_byte)
    assert _exchange(pair.py, logs["nginxpy"], one_byte) == expected


def test_proc_net_tcp_available() -> None:
    assert Path("/proc/net/tcp").exists()
