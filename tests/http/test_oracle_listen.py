"""nginx vs nginxpy: listeners the other modules do not compare: [::1], unix:, default_server
among several addresses on one port, a wildcard with a specific address on one port, and
ipv6only=on|off.  The answers show the connection's variables."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
from client import parse_responses
from http_oracle import Pair, Server, normalise, render


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = _has_ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not IPV6, reason="this machine has no IPv6 loopback (::1)")

VARS = "sa=$server_addr sp=$server_port ra=$remote_addr h=$host sn=$server_name"

CONF = (
    r"""
events {}
http {
    log_format conn '$remote_addr $server_addr $server_port "$request" $status';
    access_log logs/access.log conn;
    server {
        listen 127.0.0.1:{port0};
        listen unix:{prefix}/http.sock;
        LISTEN6
        server_name main;
        location / { return 200 "VARS\n"; }
        location /unix { return 200 "VARS rp=[$remote_port] bra=$binary_remote_addr.\n"; }
    }
    # three servers on one port at two addresses: the default is per address
    server { listen 127.0.0.1:{port1}; server_name one; return 200 "one VARS\n"; }
    server { listen 127.0.0.2:{port1}; server_name two; return 200 "two VARS\n"; }
    server { listen 127.0.0.2:{port1} default_server; server_name three; return 200 "three VARS\n"; }
    # a wildcard and a specific address on one port: each connection goes to its address's
    server { listen {port2}; server_name wild; return 200 "wild VARS\n"; }
    server { listen 127.0.0.2:{port2}; server_name specific; return 200 "specific VARS\n"; }
    DUAL
}
""".replace("VARS", VARS)
    .replace("LISTEN6", "listen [::1]:{port0};" if IPV6 else "")
    .replace(
        "DUAL",
        # ipv6only=off: IPv4 clients come as ::ffff:a.b.c.d; on (the default): IPv6 only
        "server { listen [::]:{port3} ipv6only=off; server_name dual; return 200 'dual VARS\\n'; }\n"
        "    server { listen [::]:{port4}; server_name v6only; return 200 'v6only VARS\\n'; }".replace(
            "VARS", VARS
        )
        if IPV6
        else "",
    )
)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with Pair(tmp_path_factory.mktemp("listen"), CONF, nports=5) as running:
        yield running


def ask(family: int, address: object, payload: bytes, timeout: float = 5.0) -> bytes:
    """Send the request, read to the end; b"refused" if nothing listens there."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)  # type: ignore[arg-type]
        except ConnectionRefusedError:
            return b"refused"
        sock.sendall(payload)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def compare(pair: Pair, family: int, host: str, port: int | None, payload: bytes) -> str:
    """The same request to both; the answers (ports and prefixes normalised) must be equal."""
    rendered = []
    for server in (pair.nginx, pair.py):
        if family == socket.AF_UNIX:
            address: object = str(server.prefix) + "/http.sock"
        elif family == socket.AF_INET6:
            address = (host, server.ports[port or 0], 0, 0)
        else:
            address = (host, server.ports[port or 0])
        raw = ask(family, address, payload)
        text = raw.decode() if raw == b"refused" else render(normalise(parse_responses(raw), server))
        if family == socket.AF_UNIX:  # the socket's path, in the body, differs in length
            text = re.sub(r"Content-Length: \d+", "Content-Length: N", text)
        rendered.append(text)
    assert rendered[1] == rendered[0]
    return rendered[1]


GET11 = b"GET /%s HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n"
GET10 = b"GET /%s HTTP/1.0\r\n\r\n"


@pytest.mark.parametrize("request_", [GET11, GET10], ids=["host", "no-host"])
def test_unix_socket(pair: Pair, request_: bytes) -> None:
    body = compare(pair, socket.AF_UNIX, "", None, request_ % b"unix")
    assert "ra=unix:" in body


@needs_ipv6
@pytest.mark.parametrize("request_", [GET11, GET10], ids=["host", "no-host"])
def test_ipv6_loopback(pair: Pair, request_: bytes) -> None:
    body = compare(pair, socket.AF_INET6, "::1", 0, request_ % b"")
    assert "sa=::1" in body


@pytest.mark.parametrize(
    ("host", "name"),
    [("127.0.0.1", "one"), ("127.0.0.2", "three")],
)
@pytest.mark.parametrize("request_", [GET11, GET10], ids=["other-host", "no-host"])
def test_default_server_per_address(pair: Pair, host: str, name: str, request_: bytes) -> None:
    body = compare(pair, socket.AF_INET, host, 1, request_ % b"")
    assert body.split("\n\n", 1)[1].startswith(name + " ")


@pytest.mark.parametrize("name", ["one", "two", "three"])
def test_named_server_per_address(pair: Pair, name: str) -> None:
    payload = f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode()
    for host in ("127.0.0.1", "127.0.0.2"):
        compare(pair, socket.AF_INET, host, 1, payload)


@pytest.mark.parametrize(
    ("host", "name"), [("127.0.0.1", "wild"), ("127.0.0.2", "specific"), ("127.0.0.3", "wild")]
)
def test_wildcard_and_specific(pair: Pair, host: str, name: str) -> None:
    payload = b"GET / HTTP/1.1\r\nHost: specific\r\nConnection: close\r\n\r\n"
    body = compare(pair, socket.AF_INET, host, 2, payload)
    assert body.split("\n\n", 1)[1].startswith(name + " ")


@needs_ipv6
@pytest.mark.parametrize(
    ("family", "host", "port"),
    [
        (socket.AF_INET6, "::1", 3),
        (socket.AF_INET, "127.0.0.1", 3),  # ipv6only=off: ::ffff:127.0.0.1
        (socket.AF_INET6, "::1", 4),
        (socket.AF_INET, "127.0.0.1", 4),  # ipv6only=on: refused
    ],
    ids=["dual-v6", "dual-v4", "v6only-v6", "v6only-v4"],
)
def test_ipv6only(pair: Pair, family: int, host: str, port: int) -> None:
    compare(pair, family, host, port, GET11 % b"")


def access_lines(server: Server, marker: str) -> list[str]:
    """The access log once its last line is ``marker``'s request; ports and prefix normalised."""
    path = server.prefix / "logs" / "access.log"
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if f"GET /{marker} HTTP/1.1" in text:
            break
        time.sleep(0.02)
    out = text.replace(str(server.prefix), "PREFIX")
    for index, port in enumerate(server.ports):
        out = out.replace(str(port), f"PORT{index}")
    return out.splitlines()


def test_access_log(pair: Pair) -> None:
    """The lines of every request the module's tests sent so far (each went to both servers,
    in the same order), then of these, the last one marking the end."""
    compare(pair, socket.AF_UNIX, "", None, GET11 % b"unix-log")
    compare(pair, socket.AF_INET, "127.0.0.2", 1, GET11 % b"v4-log")
    if IPV6:
        compare(pair, socket.AF_INET6, "::1", 0, GET11 % b"v6-log")
    compare(pair, socket.AF_INET, "127.0.0.1", 0, GET11 % b"last-log")
    ours = access_lines(pair.py, "last-log")
    assert ours == access_lines(pair.nginx, "last-log")
    assert len(ours) >= 4
