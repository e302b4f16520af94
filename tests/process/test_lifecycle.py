"""The drop-in process model: daemon, pid file, master and workers, signals, -s."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from proc_harness import USER, Server, alive, free_port, http_get, wait_for

CONF = """
{user}
worker_processes 2;
error_log {prefix}/logs/error.log notice;
pid {prefix}/logs/nginx.pid;
events {{ worker_connections 128; }}
http {{
    access_log {prefix}/logs/access.log;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "{body}\\n"; }}
    }}
}}
"""


def conf(port: int, body: str = "one", extra: str = "") -> str:
    return CONF.format(user=USER, port=port, body=body, prefix="{prefix}") + extra


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    srv = Server(tmp_path / "nginxpy", conf(port))
    srv.port = port  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.stop()


def test_daemon_returns_serving_and_pid_file_comes_and_goes(server: Server) -> None:
    port: int = server.port  # type: ignore[attr-defined]
    done = server.start()
    assert done.returncode == 0, done.stderr
    # the command returned: the pid file is there and the workers accept
    assert server.pid_path.read_text() == f"{server.master}\n"
    assert http_get(port) == (200, b"one\n")
    workers = server.wait_workers(2)
    assert os.getsid(server.master) == server.master  # detached: its own session
    # the master logs each fork right after it: poll rather than race it
    for pid in workers:
        wait_for(lambda pid=pid: f"start worker process {pid}" in server.log_text(), what="the fork logged")
    assert "start worker processes" in server.log_text()

    done = server.run("-s", "quit")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: not alive(server.master), what="the master to exit")
    assert not server.pid_path.exists()
    for pid in workers:
        assert not alive(pid)
    log = server.log_text()
    assert re.search(
        rf"\[notice\] {server.master}#\d+: signal 3 \(SIGQUIT\) received from \d+, shutting down", log
    )
    for pid in workers:
        for line in ("gracefully shutting down", "exiting", "exit"):
            assert f"[notice] {pid}#{pid}: {line}\n" in log
        assert f"worker process {pid} exited with code 0" in log
    assert log.endswith(f"[notice] {server.master}#{server.master}: exit\n")


def test_stop_is_fast_and_removes_the_pid_file(server: Server) -> None:
    assert server.start().returncode == 0
    workers = server.wait_workers(2)
    assert server.run("-s", "stop").returncode == 0
    wait_for(lambda: not alive(server.master), what="the master to exit")
    assert not server.pid_path.exists()
    log = server.log_text()
    assert re.search(r"signal 15 \(SIGTERM\) received from \d+, exiting", log)
    for pid in workers:
        assert not alive(pid)
        assert f"[notice] {pid}#{pid}: exiting\n" in log


def test_killed_worker_is_replaced(server: Server) -> None:
    port: int = server.port  # type: ignore[attr-defined]
    assert server.start().returncode == 0
    first = server.wait_workers(2)
    os.kill(first[0], signal.SIGKILL)
    server.wait_logged(
        f"[alert] {server.master}#{server.master}: worker process {first[0]} exited on signal 9"
    )
    (new,) = server.wait_workers(1, exclude=set(first))
    assert new != first[0]
    assert first[1] in server.workers()
    server.wait_logged(f"start worker process {new}")
    for _ in range(20):
        assert http_get(port) == (200, b"one\n")


def test_broken_config_on_reload_keeps_the_old_one(server: Server) -> None:
    port: int = server.port  # type: ignore[attr-defined]
    assert server.start().returncode == 0
    workers = server.wait_workers(2)
    server.write_conf(conf(port, "two", extra="no_such_directive on;\n"))
    # as nginx, -s reads the configuration first and refuses to signal with a broken one
    done = server.run("-s", "reload")
    assert done.returncode == 1
    assert 'unknown directive "no_such_directive"' in done.stderr
    os.kill(server.master, signal.SIGHUP)  # systemd's ExecReload does this
    line = rf'\[emerg\] {server.master}#\d+: unknown directive "no_such_directive" in {server.conf_path}:\d+'
    server.wait_logged(re.compile(line))
    assert sorted(server.workers()) == sorted(workers)
    assert http_get(port) == (200, b"one\n")
    # a good configuration afterwards is taken
    server.write_conf(conf(port, "three"))
    assert server.run("-s", "reload").returncode == 0
    server.wait_workers(2, exclude=set(workers))
    wait_for(lambda: http_get(port) == (200, b"three\n"), what="the new configuration")
    for pid in workers:
        wait_for(lambda pid=pid: not alive(pid), what="the old workers to exit")  # type: ignore[misc]


def test_reopen_after_moving_the_logs_writes_new_files(server: Server) -> None:
    port: int = server.port  # type: ignore[attr-defined]
    assert server.start().returncode == 0
    server.wait_workers(2)
    assert http_get(port, "/before") == (200, b"one\n")
    access = server.prefix / "logs" / "access.log"
    wait_for(lambda: access.exists() and b"/before" in access.read_bytes(), what="the access log line")
    moved_access = access.with_suffix(".log.1")
    moved_error = server.error_log.with_suffix(".log.1")
    access.rename(moved_access)
    server.error_log.rename(moved_error)
    assert server.run("-s", "reopen").returncode == 0
    # as nginx, "reopening logs" is the last line of the old file
    line = f"[notice] {server.master}#{server.master}: reopening logs"
    wait_for(lambda: line in moved_error.read_text(), what="the master's notice")
    # the workers reopen theirs after the master; requests until one lands in the new file
    wait_for(
        lambda: http_get(port, "/after") and access.exists() and b"/after" in access.read_bytes(),
        what="a request logged in the new access log",
    )
    assert b"/before" not in access.read_bytes()
    assert b"/before" in moved_access.read_bytes()
    assert "signal 10 (SIGUSR1) received from" in moved_error.read_text()
    # the new error log gets the next lines
    os.kill(server.workers()[0], signal.SIGUSR1)
    server.wait_logged("signal 10 (SIGUSR1) received, reopening logs")


@pytest.mark.parametrize("kind", ["nginx", "nginxpy"])
def test_worker_connections_limit_as_nginx(tmp_path: Path, kind: str) -> None:
    """The listening socket and the channel take two of four: with two clients busy (a large
    response they do not read), a third is refused and nginx's alert is logged."""
    port = free_port()
    text = conf(port).replace("worker_processes 2", "worker_processes 1")
    text = text.replace("worker_connections 128", "worker_connections 4")
    text = text.replace("location / {", "location /big { root {prefix}/html; }\n        location / {")
    srv = Server(tmp_path / kind, text, kind)
    (srv.prefix / "html" / "big").mkdir(parents=True)
    (srv.prefix / "html" / "big" / "file").write_bytes(b"x" * (32 << 20))
    with contextlib.ExitStack() as stack:
        stack.callback(srv.stop)
        assert srv.start().returncode == 0
        (worker,) = srv.wait_workers(1)
        for _ in range(2):
            busy = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            busy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            busy.sendall(b"GET /big/file HTTP/1.1\r\nHost: x\r\n\r\n")
            assert busy.recv(12) == b"HTTP/1.1 200"  # accepted and answering
        third = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
        third.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):
            assert third.recv(100) == b""  # closed at once
        srv.wait_logged(f"[alert] {worker}#{worker}: 4 worker_connections are not enough")


def test_master_process_off_daemon_reload_and_quit(tmp_path: Path) -> None:
    port = free_port()
    srv = Server(tmp_path / "nginxpy", "master_process off;\n" + conf(port))
    try:
        assert srv.start().returncode == 0
        assert srv.workers() == []  # one process serves
        assert http_get(port) == (200, b"one\n")
        srv.write_conf("master_process off;\n" + conf(port, "two"))
        assert srv.run("-s", "reload").returncode == 0
        srv.wait_logged(f"[notice] {srv.master}#{srv.master}: reconfiguring")
        wait_for(lambda: http_get(port) == (200, b"two\n"), what="the new configuration")
        assert srv.run("-s", "quit").returncode == 0
        wait_for(lambda: not alive(srv.master), what="the process to exit")
        assert not srv.pid_path.exists()
        log = srv.log_text()
        for line in (
            "signal 3 (SIGQUIT) received, shutting down",
            "gracefully shutting down",
            "exiting",
            "exit",
        ):
            assert f"[notice] {srv.master}#{srv.master}: {line}\n" in log
    finally:
        srv.stop()
