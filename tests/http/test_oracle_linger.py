"""nginx vs nginxpy: lingering close (lingering_close off|on|always, lingering_timeout,
lingering_time).  When the server closes is seen from its side: the number of sockets the
process holds (/proc/PID/fd) comes back to what it was before the client connected."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from client import exchange, parse_responses
from http_oracle import Pair, Server, normalise, render

CONF = r"""
events {}
http {
    lingering_timeout 1s;
    lingering_time 2s;
    server {
        listen 127.0.0.1:{port0};
        location /on/ { return 200 "on\n"; }
        location /always/ { lingering_close always; return 200 "always\n"; }
        location /off/ { lingering_close off; return 200 "off\n"; }
        location /small/ { client_max_body_size 1k; return 200 "small\n"; }
    }
}
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with Pair(tmp_path_factory.mktemp("linger"), CONF) as running:
        # a first answer: the servers are fully up (event loop sockets made) before counting
        for server in (running.nginx, running.py):
            assert exchange(server.ports[0], request("/on/"), timeout=5).startswith(b"HTTP/1.1 200")
        yield running


def sockets_of(server: Server) -> int:
    assert server.process is not None
    count = 0
    directory = f"/proc/{server.process.pid}/fd"
    for name in os.listdir(directory):
        try:
            if os.readlink(f"{directory}/{name}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


class Outcome:
    def __init__(self) -> None:
        self.response = b""
        self.reset = False  # the response was cut by a reset before its end
        self.closed_after = -1.0  # seconds from the client's last send to the server's close
        self.lifetime = -1.0  # seconds from the request head to the server's close


def read_to_end(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data, False


def run_client(
    server: Server, head: bytes, sending: float, interval: float, chunk: int, outcome: Outcome
) -> None:
    """Send ``head``, then ``chunk`` bytes every ``interval`` seconds for ``sending`` seconds (in a
    thread, until the server is gone), read the response; time the server's close from the
    moment the client fell silent."""
    baseline = sockets_of(server)
    sock = socket.create_connection(("127.0.0.1", server.ports[0]))
    silent = [time.monotonic()]

    def sender() -> None:
        end = time.monotonic() + sending
        try:
            while time.monotonic() < end:
                sock.send(b"x" * chunk)
                silent[0] = time.monotonic()
                time.sleep(interval)
        except OSError:
            pass

    with sock:
        sock.sendall(head)
        started = silent[0] = time.monotonic()
        thread = threading.Thread(target=sender)
        thread.start()
        try:
            outcome.response, outcome.reset = read_to_end(sock, 10)
            deadline = time.monotonic() + 10
            while sockets_of(server) > baseline and time.monotonic() < deadline:
                time.sleep(0.01)
            outcome.closed_after = time.monotonic() - silent[0]
            outcome.lifetime = time.monotonic() - started
        finally:
            thread.join(15)


def both(pair: Pair, run: Callable[[Server, Outcome], None]) -> tuple[Outcome, Outcome]:
    """The same client against nginx and nginxpy at the same time."""
    outcomes = (Outcome(), Outcome())
    threads = [
        threading.Thread(target=run, args=(server, outcome))
        for server, outcome in zip((pair.nginx, pair.py), outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def same_response(pair: Pair, theirs: Outcome, ours: Outcome) -> None:
    want = render(normalise(parse_responses(theirs.response), pair.nginx))
    have = render(normalise(parse_responses(ours.response), pair.py))
    assert have == want
    assert not theirs.reset and not ours.reset


POST_413 = b"POST /small/ HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n"


def test_413_while_sending_then_silence(pair: Pair) -> None:
    """The client sends its body for half a second after the 413: it still gets the whole
    response, and the server closes lingering_timeout (1 s) after the client fell silent."""
    theirs, ours = both(pair, lambda server, out: run_client(server, POST_413, 0.5, 0.05, 16384, out))
    same_response(pair, theirs, ours)
    assert b" 413 " in ours.response.split(b"\r\n", 1)[0]
    for outcome in (theirs, ours):
        assert 0.8 <= outcome.closed_after <= 2.5, (outcome is ours, outcome.closed_after)


def test_413_client_never_stops(pair: Pair) -> None:
    """A client that keeps sending is cut off after lingering_time (2 s, whole seconds)."""
    theirs, ours = both(pair, lambda server, out: run_client(server, POST_413, 6, 0.1, 1000, out))
    want = render(normalise(parse_responses(theirs.response), pair.nginx))
    assert render(normalise(parse_responses(ours.response), pair.py)) == want
    for outcome in (theirs, ours):
        # lingering_time counts whole seconds of the clock from the response: 1 to 2 s later
        assert outcome.response.startswith(b"HTTP/1.1 413 ")
        assert 0.9 <= outcome.lifetime <= 3.2, outcome.lifetime


def request(uri: str, extra: bytes = b"") -> bytes:
    return f"GET {uri} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode() + extra


@pytest.mark.parametrize(
    ("head", "lingers"),
    [
        (request("/on/"), False),  # nothing more from the client: closed at once
        (request("/on/", b"GET /next"), True),  # unread bytes: lingering
        (request("/always/"), True),
        (request("/off/", b"GET /next"), False),
    ],
    ids=["on-nothing-pending", "on-pipelined", "always", "off-pipelined"],
)
def test_lingering_close_modes(pair: Pair, head: bytes, lingers: bool) -> None:
    theirs, ours = both(pair, lambda server, out: run_client(server, head, 0, 0.05, 1, out))
    same_response(pair, theirs, ours)
    for outcome in (theirs, ours):
        if lingers:
            assert 0.8 <= outcome.closed_after <= 2.5, (outcome is ours, outcome.closed_after)
        else:
            assert outcome.closed_after < 0.5, outcome.closed_after
