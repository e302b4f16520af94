"""proxy_request_buffering off, against nginx: what the backend receives, and when.

nginx and nginxpy run the same configuration in front of one recording backend.  A
client sends its request head and the first part of the body, and only when the
backend has received that part (``off``: nginx passes the body on as it arrives) sends
the rest.  With buffering (the default, and ``off`` with a chunked body to an HTTP/1.0
upstream) the backend gets nothing before the client has finished.  The head the
backend receives (request line, headers in order, the framing nginx chose) is compared
byte for byte, the body once decoded, and the status the client gets.  Once an
unbuffered body was sent, proxy_next_upstream does not retry.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_harness import Process, exchange, free_port, mask_access, seed_conf, wait_until

CONF = """
error_log @PREFIX@/error.log info;
events { worker_connections 1024; }
http {
    access_log @PREFIX@/access.log;
    error_log @PREFIX@/error.log info;
    upstream retry { server 127.0.0.1:@CLOSER@; server 127.0.0.1:@BACKEND@ backup; }
    server {
        listen 127.0.0.1:@PORT@;
        client_max_body_size 16m;
        location /on/ { proxy_pass http://127.0.0.1:@BACKEND@; }
        location /small/ { client_body_buffer_size 1k; proxy_pass http://127.0.0.1:@BACKEND@; }
        location /off/ { proxy_pass http://127.0.0.1:@BACKEND@; proxy_request_buffering off; }
        location /off11/ {
            proxy_pass http://127.0.0.1:@BACKEND@;
            proxy_request_buffering off;
            proxy_http_version 1.1;
        }
        location /retry/ { proxy_pass http://retry; proxy_request_buffering off; }
    }
}
"""

NAMES = ("nginxpy", "nginx")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@dataclass
class Received:
    """One connection to the backend: its bytes as they came."""

    data: bytearray = field(default_factory=bytearray)
    done: bool = False


class Recorder:
    """A loopback backend (a thread per connection): records bytes as they arrive, answers 200
    once the request is complete; ``closer`` reads the whole request, then closes unanswered."""

    def __init__(self, closer: bool = False) -> None:
        self.closer = closer
        self.conns: list[Received] = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            record = Received()
            with self.lock:
                self.conns.append(record)
            threading.Thread(target=self._serve, args=(conn, record), daemon=True).start()

    def _serve(self, conn: socket.socket, record: Received) -> None:
        conn.settimeout(10)
        with conn:
            try:
                while not complete(bytes(record.data)):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    record.data += chunk
                record.done = True
                if not self.closer:
                    conn.sendall(OK)
            except OSError:
                pass

    def count(self) -> int:
        with self.lock:
            return len(self.conns)

    def stop(self) -> None:
        self.sock.close()


def complete(data: bytes) -> bool:
    """A whole request: head, then a body framed by Content-Length or chunked."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lower = head.lower()
    if b"\r\ntransfer-encoding: chunked" in lower:
        return body.endswith(b"0\r\n\r\n")
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2 :]
    return out


@dataclass
class Env:
    backend: Recorder
    closer: Recorder
    servers: dict[str, Process]
    ports: dict[str, int]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("request-buffering")
    backend, closer = Recorder(), Recorder(closer=True)
    servers: dict[str, Process] = {}
    ports: dict[str, int] = {}
    try:
        for name in NAMES:
            ports[name] = free_port()
            prefix = Path(base / name)
            conf = seed_conf(CONF, PREFIX=prefix, PORT=ports[name], BACKEND=backend.port, CLOSER=closer.port)
            servers[name] = Process.start(name, prefix, conf, [ports[name]])
        yield Env(backend, closer, servers, ports)
    finally:
        for server in servers.values():
            server.stop()
        backend.stop()
        closer.stop()


def two_parts(
    env: Env, name: str, head: bytes, first: bytes, second: bytes, recorder: Recorder, streamed: bool
) -> tuple[bytes, Received]:
    """Send head+first, then (once the backend has ``first``, or has nothing a while later when
    ``streamed`` is false) the rest; the client's reply and what the backend received."""
    before = recorder.count()
    with socket.create_connection(("127.0.0.1", env.ports[name]), timeout=10) as sock:
        sock.sendall(head + first)
        arrived = wait_until(
            lambda: recorder.count() > before and b"hello" in bytes(recorder.conns[before].data),
            deadline=10.0 if streamed else 0.5,
        )
        assert arrived == streamed, (name, arrived)
        if not streamed:
            assert recorder.count() == before  # not even connected: the body is read first
        sock.sendall(second)
        reply = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert wait_until(lambda: recorder.count() > before and recorder.conns[before].done)
    return reply, recorder.conns[before]


CASES = {
    # location, head, first part, second part, sent as it arrives
    "length-off": ("/off/x", b"Content-Length: 10\r\n", b"hello", b"world", True),
    "length-on": ("/on/x", b"Content-Length: 10\r\n", b"hello", b"world", False),
    "chunked-off-http11": (
        "/off11/x",
        b"Transfer-Encoding: chunked\r\n",
        b"5\r\nhello\r\n",
        b"5\r\nworld\r\n0\r\n\r\n",
        True,
    ),
    "chunked-off-http10": (
        "/off/x",
        b"Transfer-Encoding: chunked\r\n",
        b"5\r\nhello\r\n",
        b"5\r\nworld\r\n0\r\n\r\n",
        False,
    ),
    "chunked-on": (
        "/on/x",
        b"Transfer-Encoding: chunked\r\n",
        b"5\r\nhello\r\n",
        b"6\r\nworld!\r\n0\r\n\r\n",
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_backend_receives_as_nginx(env: Env, case: str) -> None:
    path, framing, first, second, streamed = CASES[case]
    head = (
        b"POST "
        + path.encode()
        + b" HTTP/1.1\r\nHost: rb\r\nX-Order: 1\r\n"
        + framing
        + b"Connection: close\r\n\r\n"
    )
    results = {}
    for name in NAMES:
        reply, received = two_parts(env, name, head, first, second, env.backend, streamed)
        up_head, _, up_body = bytes(received.data).partition(b"\r\n\r\n")
        if b"\r\ntransfer-encoding: chunked" in up_head.lower():
            up_body = dechunk(up_body)
        status = reply.split(b"\r\n", 1)[0]
        results[name] = (status, up_head, up_body)
    assert results["nginx"][0] == b"HTTP/1.1 200 OK"
    assert results["nginxpy"] == results["nginx"]


def test_whole_body_already_read_is_sent_with_its_length(env: Env) -> None:
    """``off``, but the body came with the head: nginx sends it as a buffered one (Content-Length)."""
    request = b"POST /off11/x HTTP/1.1\r\nHost: rb\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    request += b"5\r\nhello\r\n0\r\n\r\n"
    results = {}
    for name in NAMES:
        before = env.backend.count()
        reply = exchange(env.ports[name], request)
        assert wait_until(
            lambda before=before: env.backend.count() > before and env.backend.conns[before].done
        )  # type: ignore[misc]
        results[name] = (reply.status, bytes(env.backend.conns[before].data))
    assert results["nginx"][0] == 200 and b"Content-Length: 5\r\n" in results["nginx"][1]
    assert results["nginxpy"] == results["nginx"]


def _normal(lines: list[str], env: Env) -> list[str]:
    text = "\n".join(lines)
    for name in NAMES:
        text = text.replace(str(env.ports[name]), "PORT")
    return text.splitlines()


def test_no_retry_once_an_unbuffered_body_was_sent(env: Env) -> None:
    """The first server closes without answering: buffered, nginx tries the backup; streamed, it cannot."""
    head = b"POST /retry/x HTTP/1.1\r\nHost: rb\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
    results = {}
    for name in NAMES:
        server = env.servers[name]
        mark = server.log_mark()
        reply, _ = two_parts(env, name, head, b"hello", b"world", env.closer, True)
        streamed = (reply.split(b"\r\n", 1)[0], server.errors_since(mark))
        mark = server.log_mark()
        whole = exchange(env.ports[name], head + b"helloworld")
        results[name] = (streamed, (whole.status, server.errors_since(mark)))
    (streamed_status, _), (whole_status, _) = results["nginx"]
    assert streamed_status == b"HTTP/1.1 502 Bad Gateway" and whole_status == 200
    got, want = results["nginxpy"], results["nginx"]
    assert got[0][0] == want[0][0] and got[1][0] == want[1][0]
    assert _normal(got[0][1], env) == _normal(want[0][1], env)
    assert _normal(got[1][1], env) == _normal(want[1][1], env)


@pytest.mark.parametrize("name", NAMES)
def test_large_unbuffered_body_arrives_whole(env: Env, name: str) -> None:
    """A large body passed on piece by piece: it arrives whole, in order, with its length."""
    body = bytes(range(256)) * (4 << 12)  # 4 MiB
    head = b"POST /off/big HTTP/1.1\r\nHost: rb\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(
        body
    )
    before = env.backend.count()
    reply = exchange(env.ports[name], head + body, timeout=30)
    assert reply.status == 200, reply.raw[:200]
    assert wait_until(lambda: env.backend.count() > before and env.backend.conns[before].done)
    up_head, _, up_body = bytes(env.backend.conns[before].data).partition(b"\r\n\r\n")
    assert b"\r\nContent-Length: 4194304\r\n" in up_head + b"\r\n"
    assert up_body == body


def _with_expect(port: int, head: bytes, body: bytes) -> bytes:
    """Head with "Expect: 100-continue", the body only once "100 Continue" came (so none of it was
    read with the head), then the whole reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), reply
        sock.sendall(body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


SPILLS = {
    # name: (path, body size, chunked, body sent after "100 Continue", kept in a file)
    "length-below": ("/small/", 1100, False, True, False),
    "length-at-1.25x": ("/small/", 1280, False, True, True),
    "chunked-below": ("/small/", 1000, True, True, False),
    "chunked-full-buffer": ("/small/", 1024, True, True, True),
    "with-the-head-small": ("/on/", 5000, False, False, False),
    "with-the-head-large": ("/on/", 100000, False, False, True),
}


@pytest.mark.parametrize("case", sorted(SPILLS))
def test_large_buffered_body_kept_in_a_file_as_nginx(env: Env, case: str) -> None:
    """proxy_request_buffering on: a body beyond client_body_buffer_size goes to a temporary file,
    with nginx's warn line (the path aside); what the backend receives is the same either way."""
    path, size, chunked, expect, in_file = SPILLS[case]
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
    head = b"POST %sx HTTP/1.1\r\nHost: rb\r\n%s\r\nConnection: close\r\n" % (path.encode(), framing)
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (size, data) if chunked else data
    results = {}
    for name in NAMES:
        server = env.servers[name]
        mark, before = server.log_mark(), env.backend.count()
        if expect:
            reply = _with_expect(env.ports[name], head + b"Expect: 100-continue\r\n\r\n", body)
        else:
            reply = exchange(env.ports[name], head + b"\r\n" + body).raw
        assert wait_until(
            lambda before=before: env.backend.count() > before and env.backend.conns[before].done
        )  # type: ignore[misc]
        errors = [
            re.sub(r"temporary file \S+", "temporary file PATH", line) for line in server.errors_since(mark)
        ]
        results[name] = (reply.split(b"\r\n", 1)[0], bytes(env.backend.conns[before].data), errors)
    status, received, errors = results["nginx"]
    assert status == b"HTTP/1.1 200 OK" and received.endswith(data)
    assert (
        any("a client request body is buffered to a temporary file PATH" in line for line in errors)
        == in_file
    )
    assert results["nginxpy"] == results["nginx"]


def test_unbuffered_body_after_100_continue(env: Env) -> None:
    """``off`` with "Expect: 100-continue": "100 Continue", the head upstream before any body byte
    was sent (nothing to wait for), then the body as it comes."""
    head = b"POST /off11/e HTTP/1.1\r\nHost: rb\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    results = {}
    for name in NAMES:
        before = env.backend.count()
        with socket.create_connection(("127.0.0.1", env.ports[name]), timeout=10) as sock:
            sock.sendall(head)
            interim = b""
            while b"\r\n\r\n" not in interim:
                chunk = sock.recv(65536)
                assert chunk, interim
                interim += chunk
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            assert wait_until(
                lambda before=before: (
                    env.backend.count() > before and b"\r\n\r\n" in bytes(env.backend.conns[before].data)
                )  # type: ignore[misc]
            )
            sock.sendall(b"hello")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert wait_until(lambda before=before: env.backend.conns[before].done)  # type: ignore[misc]
        results[name] = (reply.split(b"\r\n", 1)[0], bytes(env.backend.conns[before].data))
    assert results["nginx"][0] == b"HTTP/1.1 200 OK" and results["nginx"][1].endswith(b"\r\n\r\nhello")
    assert results["nginxpy"] == results["nginx"]


def test_client_gone_in_the_middle_of_an_unbuffered_body(env: Env) -> None:
    """The client closes after part of its body: nginx's info line, and a 400 logged with nothing sent."""
    results = {}
    for name in NAMES:
        server = env.servers[name]
        mark, count, before = server.log_mark(), len(server.access_log()), env.backend.count()
        with socket.create_connection(("127.0.0.1", env.ports[name]), timeout=10) as sock:
            sock.sendall(b"POST /off/gone HTTP/1.1\r\nHost: rb\r\nContent-Length: 10\r\n\r\nhello")
            assert wait_until(
                lambda before=before: (
                    env.backend.count() > before and b"hello" in bytes(env.backend.conns[before].data)
                )  # type: ignore[misc]
            )
        assert wait_until(lambda server=server, count=count: len(server.access_log()) > count)  # type: ignore[misc]
        errors = [line.replace(str(env.backend.port), "BACKEND") for line in server.errors_since(mark)]
        results[name] = (errors, mask_access(server.access_log()[count]))
    assert '"POST /off/gone HTTP/1.1" 400 0 ' in results["nginx"][1]
    assert results["nginxpy"] == results["nginx"]
