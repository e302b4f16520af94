"""nginx vs nginxpy: $request_body in the access log after proxying (the body when nginx read
it to memory; "-" when it went to a temporary file or was never read)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from client import exchange
from http_oracle import Pair, Server

CONF = r"""
events {}
http {
    log_format body '$request_uri [$request_body]';
    access_log logs/body.log body;
    server {
        listen 127.0.0.1:{port0};
        location /p { proxy_pass http://127.0.0.1:{port0}/back; }
        location /small { client_body_buffer_size 100; proxy_pass http://127.0.0.1:{port0}/back; }
        location /back { access_log off; return 200 "back\n"; }
        location /ret { return 200 "ret\n"; }
    }
}
"""


def post(uri: str, body: bytes, chunked: bool = False) -> bytes:
    head = f"POST {uri} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
    if chunked:
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (
            len(body),
            body,
        )
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


REQUESTS = [
    post("/p?quoted", b'a"b\\c\x01\xe9 d'),
    post("/p?empty", b""),
    b"GET /p?get HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"POST /p?no-length HTTP/1.0\r\n\r\n",
    post("/p?8000", b"x" * 8000),  # what is not in the header buffer fits in 1.25 buffers
    post("/p?12000", b"x" * 12000),  # does not: a temporary file
    post("/small?150", b"y" * 150),  # all of it came in the header buffer
    post("/small?1000", b"y" * 1000),
    post("/small?1500", b"y" * 1500),
    post("/p?chunked", b"chunky", chunked=True),
    post("/ret?not-proxied", b"ret-body"),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with Pair(tmp_path_factory.mktemp("reqbody"), CONF) as running:
        for raw in REQUESTS:
            for server in (running.nginx, running.py):
                assert exchange(server.ports[0], raw, timeout=5).startswith(b"HTTP/1.1 200")
        yield running


def log_lines(server: Server) -> list[str]:
    path = server.prefix / "logs" / "body.log"
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(encoding="latin-1") if path.exists() else ""
        if text.count("\n") >= len(REQUESTS):
            break
        time.sleep(0.02)
    return text.splitlines()


def test_request_body_logged(pair: Pair) -> None:
    ours, theirs = log_lines(pair.py), log_lines(pair.nginx)
    assert len(ours) == len(REQUESTS)
    for mine, nginx in zip(ours, theirs, strict=True):
        assert mine == nginx
    assert ours[0] == r"/p?quoted [a\x22b\x5Cc\x01\xE9 d]"
