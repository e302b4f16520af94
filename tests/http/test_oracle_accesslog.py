"""nginx vs nginxpy: buffered access logs (buffer=, flush=, gzip), written when the next line does
not fit, when flush= has passed, at reopen (SIGUSR1) and at a graceful stop (SIGQUIT)."""

from __future__ import annotations

import gzip
import signal
import time
from collections.abc import Iterator

import pytest
from client import exchange
from http_oracle import Pair, Server

CONF = r"""
events {}
http {
    log_format short '$request_method $uri $status';
    access_log logs/all.log short;
    open_log_file_cache max=10 inactive=20s valid=1m min_uses=2;
    server {
        listen 127.0.0.1:{port0};
        location /held/ {
            access_log logs/all.log short;
            access_log logs/held.log short buffer=4k;
            return 200 "held\n";
        }
        location /shared/ {
            access_log logs/all.log short;
            access_log logs/held.log short;  # no buffer=, but the file has one: nginx uses it
            return 200 "shared\n";
        }
        location /small/ {
            access_log logs/all.log short;
            access_log logs/small.log short buffer=64;
            return 200 "small\n";
        }
        location /long/ {
            access_log logs/all.log short;
            access_log logs/small.log short buffer=64;
            return 200 "long\n";
        }
        location /timer/ {
            access_log logs/all.log short;
            access_log logs/timer.log short buffer=32k flush=1s;
            return 200 "timer\n";
        }
        location /reopen/ {
            access_log logs/all.log short;
            access_log logs/reopen.log short buffer=4k;
            return 200 "reopen\n";
        }
        location /gz/ {
            access_log logs/all.log short;
            access_log logs/gz.log short gzip=4 buffer=40;
            return 204;
        }
    }
}
"""

Observed = dict[str, dict[str, bytes]]


def get(server: Server, uri: str) -> None:
    raw = f"GET {uri} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode()
    assert exchange(server.ports[0], raw, timeout=5).startswith(b"HTTP/1.1 ")


def read(server: Server, name: str) -> bytes:
    path = server.prefix / "logs" / name
    return path.read_bytes() if path.exists() else b""


def wait_for(server: Server, name: str, lines: int, timeout: float = 5.0) -> bytes:
    """The file once it has ``lines`` lines (or what it has at the deadline)."""
    deadline = time.monotonic() + timeout
    data = read(server, name)
    while data.count(b"\n") < lines and time.monotonic() < deadline:
        time.sleep(0.02)
        data = read(server, name)
    return data


def scenario(server: Server, seen: dict[str, bytes]) -> None:
    """Requests whose lines stay in buffers; what the files hold is noted after each step.
    all.log (unbuffered) is written for every request: once it has a request's line, that request
    has been logged everywhere it will be without a buffer."""
    logged = 0
    for uri in ("/held/1", "/shared/2", "/small/aaaaaaaaaa", "/small/bbbbbbbbbb", "/small/cccccccccc"):
        get(server, uri)
        logged += 1
    seen["all-1"] = wait_for(server, "all.log", logged)
    seen["held-1"] = read(server, "held.log")
    seen["small-1"] = read(server, "small.log")
    get(server, "/long/" + "x" * 80)  # longer than the 64-byte buffer: written at once, after it
    logged += 1
    for uri in ("/gz/1", "/gz/2", "/gz/3", "/gz/4"):
        get(server, uri)
        logged += 1
    seen["all-2"] = wait_for(server, "all.log", logged)
    seen["small-2"] = read(server, "small.log")
    seen["gz-1"] = read(server, "gz.log")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    seen: Observed = {"nginx": {}, "nginxpy": {}}
    with Pair(tmp_path_factory.mktemp("accesslog"), CONF) as pair:
        servers = (pair.nginx, pair.py)
        for server in servers:
            scenario(server, seen[server.kind])
        # flush=1s: both timers run at once; the line is not there before the timer fires
        started = time.monotonic()
        for server in servers:
            get(server, "/timer/1")
        for server in servers:
            seen[server.kind]["timer-0"] = read(server, "timer.log")
        for server in servers:
            seen[server.kind]["timer-1"] = wait_for(server, "timer.log", 1, timeout=5)
        seen["nginxpy"]["timer-elapsed"] = str(round(time.monotonic() - started)).encode()
        seen["nginx"]["timer-elapsed"] = seen["nginxpy"]["timer-elapsed"]
        # reopen (SIGUSR1) writes the buffers out
        for server in servers:
            get(server, "/reopen/1")
            seen[server.kind]["reopen-0"] = read(server, "reopen.log")
            server.signal(signal.SIGUSR1)
        for server in servers:
            seen[server.kind]["reopen-1"] = wait_for(server, "reopen.log", 1)
        # a graceful stop writes what is left
        for server in servers:
            get(server, "/held/3")
            seen[server.kind]["quit-code"] = str(server.quit()).encode()
            for name in ("held.log", "small.log", "gz.log", "all.log"):
                seen[server.kind]["end-" + name] = read(server, name)
        yield seen


def lines(data: bytes) -> list[str]:
    return data.decode().splitlines()


def test_buffered_lines_wait(observed: Observed) -> None:
    ours, theirs = observed["nginxpy"], observed["nginx"]
    assert len(lines(ours["all-1"])) == 5
    assert ours["held-1"] == theirs["held-1"] == b""
    # nginx counts 20 bytes for $status: a line takes 43 of the 64 bytes, so each line
    # writes the one before it
    assert ours["small-1"] == theirs["small-1"]
    assert lines(ours["small-1"]) == ["GET /small/aaaaaaaaaa 200", "GET /small/bbbbbbbbbb 200"]


def test_line_longer_than_buffer(observed: Observed) -> None:
    ours, theirs = observed["nginxpy"], observed["nginx"]
    assert ours["small-2"] == theirs["small-2"]
    assert lines(ours["small-2"])[2:] == ["GET /small/cccccccccc 200", "GET /long/" + "x" * 80 + " 200"]


def test_gzip_members(observed: Observed) -> None:
    ours, theirs = observed["nginxpy"], observed["nginx"]
    assert ours["gz-1"] == theirs["gz-1"]  # same zlib, same window: the same bytes
    # a line takes 32 bytes of the 40 (20 for $status): each write is one line, one gzip member
    assert ours["gz-1"].count(b"\x1f\x8b\x08") == 3
    assert lines(gzip.decompress(ours["gz-1"])) == ["GET /gz/1 204", "GET /gz/2 204", "GET /gz/3 204"]
    assert ours["end-gz.log"] == theirs["end-gz.log"]
    assert lines(gzip.decompress(ours["end-gz.log"]))[3:] == ["GET /gz/4 204"]


def test_flush_timer(observed: Observed) -> None:
    ours, theirs = observed["nginxpy"], observed["nginx"]
    assert ours["timer-0"] == theirs["timer-0"] == b""
    assert ours["timer-1"] == theirs["timer-1"] == b"GET /timer/1 200\n"
    assert int(ours["timer-elapsed"]) <= 3


def test_reopen_flushes(observed: Observed) -> None:
    ours, theirs = observed["nginxpy"], observed["nginx"]
    assert ours["reopen-0"] == theirs["reopen-0"] == b""
    assert ours["reopen-1"] == theirs["reopen-1"] == b"GET /reopen/1 200\n"


def test_quit_flushes(observed: Observed) -> None:
    ours, theirs = observed["nginxpy"], observed["nginx"]
    assert ours["quit-code"] == theirs["quit-code"] == b"0"
    for name in ("held.log", "small.log", "all.log"):
        assert ours["end-" + name] == theirs["end-" + name], name
    assert lines(ours["end-held.log"]) == ["GET /held/1 200", "GET /shared/2 200", "GET /held/3 200"]
