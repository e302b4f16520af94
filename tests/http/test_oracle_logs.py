"""nginx vs nginxpy: access log lines (log_format, escape=, several logs, off) and error log messages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from client import exchange
from http_oracle import Pair, Server

CONF = r"""
events {}
http {
    log_format plain '$remote_addr "$request" $status $body_bytes_sent "$http_referer" "$http_x_odd" $request_method $uri $args $server_name $request_length';
    log_format js escape=json '{"uri":"$uri","odd":"$http_x_odd","status":$status}';
    access_log logs/main.log plain;
    access_log logs/json.log js;
    server {
        listen 127.0.0.1:{port0};
        server_name logs.test;
        root html;
        location / { }
        location /quiet/ { access_log off; return 200 "quiet\n"; }
        location = /ret { return 201 "made\n"; }
    }
}
"""

REQUESTS = [
    "GET /ret?a=1 HTTP/1.1\r\nHost: logs.test\r\nReferer: http://r/\r\nConnection: close\r\n\r\n",
    'GET /missing HTTP/1.1\r\nHost: logs.test\r\nX-Odd: quote" back\\ tab\t\xe9\r\nConnection: close\r\n\r\n',
    "GET /quiet/ HTTP/1.1\r\nHost: logs.test\r\nConnection: close\r\n\r\n",
    "GET /index.html HTTP/1.0\r\n\r\n",
    "BAD\r\n\r\n",
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with Pair(tmp_path_factory.mktemp("logs"), CONF, {"html/index.html": b"i\n"}) as running:
        for raw in REQUESTS:
            for server in (running.nginx, running.py):
                exchange(server.ports[0], raw.encode("latin-1"), timeout=3)
        yield running


def read_log(server: Server, name: str, lines: int) -> list[str]:
    path = server.prefix / "logs" / name
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(encoding="latin-1") if path.exists() else ""
        if text.count("\n") >= lines:
            break
        time.sleep(0.02)
    return text.splitlines()


@pytest.mark.parametrize("name", ["main.log", "json.log"])
def test_access_logs(pair: Pair, name: str) -> None:
    assert read_log(pair.py, name, 4) == read_log(pair.nginx, name, 4)


def _messages(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        match = re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: \*\d+ (.*)$", line)
        if match and match.group(1) == "error":
            found.append(re.sub(r"/\S*/(nginx|nginxpy)/", "PREFIX/", match.group(2)))
    return found


def test_error_log(pair: Pair) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(_messages(pair.py.error_log())) < 1:
        time.sleep(0.02)
    assert _messages(pair.py.error_log()) == _messages(pair.nginx.error_log())
