"""Reload (SIGHUP, -s reload) while clients are busy: no request is lost, and an open WebSocket
tunnel keeps passing messages on the old worker until it ends (or worker_shutdown_timeout)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio_websocket
from proc_harness import USER, Server, alive, free_port

CONF = """
{user}
worker_processes 2;
error_log {{prefix}}/logs/error.log notice;
pid {{prefix}}/logs/nginx.pid;
{extra}
events {{ worker_connections 256; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "{body}\\n"; }}
        location /ws {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }}
    }}
}}
"""


def conf(port: int, backend: int, body: str, extra: str = "") -> str:
    return CONF.format(user=USER, port=port, backend=backend, body=body, extra=extra)


async def get(port: int) -> tuple[int, bytes]:
    """One request on a new connection (Connection: close), read to the end."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def until(predicate: object, what: str, timeout: float = 15.0) -> None:
    assert callable(predicate)
    with trio.fail_after(timeout):
        while True:
            result = predicate()
            if hasattr(result, "__await__"):
                result = await result
            if result:
                return
            await trio.sleep(0.01)


async def run(server: Server, *args: str) -> None:
    done = await trio.to_thread.run_sync(lambda: server.run(*args))
    assert done.returncode == 0, done.stderr


@pytest.fixture
async def echo_backend() -> AsyncIterator[int]:
    """A WebSocket echo server: its port."""

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        yield listeners.port
        nursery.cancel_scope.cancel()


@pytest.fixture
def server(tmp_path: Path) -> AsyncIterator[Server]:
    srv = Server(tmp_path / "nginxpy", "")
    try:
        yield srv  # type: ignore[misc]
    finally:
        srv.stop()


async def test_reload_under_load_loses_no_request(server: Server) -> None:
    port = free_port()
    server.write_conf(conf(port, 1, "v0"))
    assert (await trio.to_thread.run_sync(server.start)).returncode == 0
    counts: dict[bytes, int] = {}
    failures: list[str] = []
    stop = trio.Event()

    async def client() -> None:
        while not stop.is_set():
            try:
                status, body = await get(port)
            except OSError as error:
                failures.append(repr(error))
                continue
            if status != 200:
                failures.append(f"status {status}")
            counts[body] = counts.get(body, 0) + 1

    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(client)
            await until(lambda: counts.get(b"v0\n", 0) >= 100, "requests before the reloads")
            for generation in range(1, 4):
                old = set(server.workers())
                body = f"v{generation}".encode() + b"\n"
                server.write_conf(conf(port, 1, f"v{generation}"))
                await run(server, "-s", "reload")
                await until(lambda body=body: counts.get(body, 0) >= 100, f"requests answered by {body!r}")
                await until(lambda old=old: not any(alive(pid) for pid in old), "the old workers to exit")
            stop.set()
    assert failures == []
    total = sum(counts.values())
    assert total >= 400
    log = server.log_text()
    assert log.count(": reconfiguring\n") == 3
    assert len(re.findall(r"\[notice\] \d+#\d+: gracefully shutting down", log)) == 6


async def test_websocket_tunnel_survives_reload(server: Server, echo_backend: int) -> None:
    port = free_port()
    server.write_conf(conf(port, echo_backend, "old"))
    assert (await trio.to_thread.run_sync(server.start)).returncode == 0
    with trio.fail_after(60):
        async with trio_websocket.open_websocket_url(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send_message("before")
            assert await ws.get_message() == "before"
            old = set(server.workers())
            server.write_conf(conf(port, echo_backend, "new"))
            await run(server, "-s", "reload")
            for pid in old:  # told to quit once the new workers accept
                await until(
                    lambda pid=pid: server.logged(f"[notice] {pid}#{pid}: gracefully shutting down"), "quit"
                )
            assert await get(port) == (200, b"new\n")
            # the worker without the tunnel leaves; the one with it stays and keeps passing messages
            await until(lambda: sum(alive(pid) for pid in old) == 1, "the idle old worker to exit")
            for n in range(20):
                await ws.send_message(f"after {n}")
                assert await ws.get_message() == f"after {n}"
            assert sum(alive(pid) for pid in old) == 1
        # the tunnel ended: the last old worker exits
        await until(lambda: not any(alive(pid) for pid in old), "the old worker to exit")
    # The master logs a worker's exit once it has reaped it: a moment after the process is gone.
    for pid in old:
        await until(lambda pid=pid: f"worker process {pid} exited with code 0" in server.log_text(), "reaped")


async def test_worker_shutdown_timeout_ends_a_tunnel(server: Server, echo_backend: int) -> None:
    port = free_port()
    extra = "worker_shutdown_timeout 1s;"
    server.write_conf(conf(port, echo_backend, "old", extra))
    assert (await trio.to_thread.run_sync(server.start)).returncode == 0
    with trio.fail_after(60):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive_some(4096)
            assert head.startswith(b"HTTP/1.1 101 ")
            old = set(server.workers())
            server.write_conf(conf(port, echo_backend, "new", extra))
            start = trio.current_time()
            await run(server, "-s", "reload")
            # the tunnel is idle: the old worker closes it when worker_shutdown_timeout passes
            while await stream.receive_some(4096):
                pass
            assert trio.current_time() - start >= 0.9
        await until(lambda: not any(alive(pid) for pid in old), "the old workers to exit")
