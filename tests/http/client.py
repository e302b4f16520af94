"""A tiny raw-socket HTTP client for the tests: send bytes, read responses, parse them loosely."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


@dataclass
class Response:
    status_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    @property
    def status(self) -> int:
        parts = self.status_line.split(" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def exchange(port: int | str, data: bytes, timeout: float = 5.0, half_close: bool = False) -> bytes:
    """Send data, read until the server closes (or the deadline)."""
    if isinstance(port, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: object = port
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address = ("127.0.0.1", port)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    with sock:
        sock.settimeout(timeout)
        sock.connect(address)  # type: ignore[arg-type]
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
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


def parse_responses(raw: bytes, head_only: list[bool] | None = None) -> list[Response]:
    """Split a byte stream into responses (Content-Length, chunked, or to the end)."""
    responses: list[Response] = []
    pos = 0
    index = 0
    while pos < len(raw) and len(responses) < 100:
        end = raw.find(b"\r\n\r\n", pos)
        if end < 0 or not raw.startswith(b"HTTP/", pos):
            responses.append(Response("", [], raw[pos:], raw[pos:]))
            break
        head = raw[pos:end].decode("latin-1").split("\r\n")
        response = Response(head[0])
        for line in head[1:]:
            name, _, value = line.partition(":")
            response.headers.append((name, value.strip()))
        body_start = end + 4
        is_head = head_only[index] if head_only and index < len(head_only) else False
        length = response.header("content-length")
        if response.status in (100, 101) or is_head or response.status in (204, 304):
            pos = body_start
        elif response.header("transfer-encoding") == "chunked":
            body = bytearray()
            p = body_start
            for _ in range(10000):
                nl = raw.find(b"\r\n", p)
                if nl < 0:
                    p = len(raw)
                    break
                size = int(raw[p:nl].split(b";")[0] or b"0", 16)
                p = nl + 2
                if size == 0:
                    trailer_end = raw.find(b"\r\n", p)
                    p = len(raw) if trailer_end < 0 else trailer_end + 2
                    break
                body += raw[p : p + size]
                p += size + 2
            response.body = bytes(body)
            pos = p
        elif length is not None:
            response.body = raw[body_start : body_start + int(length)]
            pos = body_start + int(length)
        else:
            response.body = raw[body_start:]
            pos = len(raw)
        response.raw = raw[:pos]
        if response.status != 100:
            index += 1
        responses.append(response)
    return responses


def request(port: int | str, data: bytes, timeout: float = 5.0) -> list[Response]:
    heads = [
        line.startswith(b"HEAD ")
        for line in data.split(b"\r\n")
        if line[:5] in (b"HEAD ", b"GET /", b"POST ")
    ]
    return parse_responses(exchange(port, data, timeout), heads)
