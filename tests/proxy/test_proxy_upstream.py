"""proxy_handler against loopback trio backends, with a stand-in client connection.

Checks nginx's answers and error-log texts for refused, stalled, closing and
garbage backends, next_upstream, keepalive reuse, bodies, and the 101 tunnel.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from nginxpy.conf.model import UpstreamScope, UpstreamServer
from nginxpy.conf.registry import Ctx
from nginxpy.http.proxy import ProxyConf, parse_proxy_url
from nginxpy.http.request import ConnInfo, Request
from nginxpy.http.upstream import _IMPLICIT, _REGISTRY, proxy_handler

Serve = Callable[[trio.SocketStream], Awaitable[None]]


class FakeConn:
    """What the proxy needs of the runtime's HttpConnection, recording what it is given."""

    def __init__(self, body: bytes = b"", client: trio.abc.Stream | None = None) -> None:
        self.body = body
        self.errors: list[tuple[str, str]] = []
        self.sent_header: dict[str, Any] | None = None
        self.chunks: list[bytes] = []
        self.finished = False
        self.client = client

    async def read_body(self, r: Request) -> bytes:
        return self.body

    async def send_header(self, r: Request) -> None:
        self.sent_header = {
            "status": r.status,
            "headers": [tuple(h) for h in r.headers_out],
            "content_type": r.content_type,
            "content_length": r.content_length,
            "location": r.location,
        }

    async def send_body(self, r: Request, data: bytes) -> None:
        self.chunks.append(data)

    async def finish_body(self, r: Request) -> None:
        self.finished = True

    def log_error(self, level: str, text: str, r: Request) -> None:
        self.errors.append((level, text))

    async def upgrade(self, r: Request) -> tuple[trio.abc.Stream, bytes]:
        assert self.client is not None
        return self.client, b"pipelined"


def request(method: str = "GET", uri: str = "/x", headers: list[tuple[str, str]] | None = None) -> Request:
    conn = ConnInfo(1, "127.0.0.1", 80, "127.0.0.1", 5555)
    r = Request(conn, SimpleNamespace(maps={}))  # type: ignore[arg-type]
    r.method = method
    r.uri = uri
    r.request_uri = uri
    r.headers = headers or [("Host", "localhost")]
    r.headers_in = {name.lower(): value for name, value in r.headers}
    return r


def conf_for(url: str, **settings: Any) -> ProxyConf:
    conf = ProxyConf(
        url=parse_proxy_url(url), url_value=None, location="", headers=[], headers_set=frozenset()
    )
    conf.set_headers(settings.pop("set_headers", []))
    for name, value in settings.items():
        setattr(conf, name, value)
    return conf


async def backend(nursery: trio.Nursery, serve: Serve) -> int:
    listeners = await nursery.start(functools.partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_request(stream: trio.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


def scope_for(groups: dict[str, UpstreamScope]) -> SimpleNamespace:
    space = SimpleNamespace(upstreams=groups)
    _REGISTRY.pop(id(space), None)
    return space


async def test_refused_is_502_with_nginx_log_line() -> None:
    _IMPLICIT.clear()
    port = refused_port()
    conn = FakeConn()
    r = request()
    status = await proxy_handler(r, conn, conf_for(f"http://127.0.0.1:{port}"), scope_for({}))
    assert status == 502
    assert conn.errors == [
        ("error", "connect() failed (111: Connection refused) while connecting to upstream")
    ]
    assert r.ctx["upstream_log"] == f"http://127.0.0.1:{port}/x"
    assert r.vars["upstream_addr"] == f"127.0.0.1:{port}"
    assert r.vars["upstream_status"] == "502"


async def test_stall_past_read_timeout_is_504(autojump_clock: trio.testing.MockClock) -> None:
    async def stall(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await trio.sleep(100)

    async with trio.open_nursery() as nursery:
        port = await backend(nursery, stall)
        conn = FakeConn()
        status = await proxy_handler(
            request(), conn, conf_for(f"http://127.0.0.1:{port}", read_timeout=2.0), scope_for({})
        )
        nursery.cancel_scope.cancel()
    assert status == 504
    assert conn.errors[0][1].startswith(
        "upstream timed out (110: Connection timed out) while reading response header from upstream"
    )


async def test_premature_close_is_502() -> None:
    async def close(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        port = await backend(nursery, close)
        conn = FakeConn()
        status = await proxy_handler(request(), conn, conf_for(f"http://127.0.0.1:{port}"), scope_for({}))
        nursery.cancel_scope.cancel()
    assert status == 502
    assert (
        "upstream prematurely closed connection while reading response header from upstream"
        in conn.errors[0][1]
    )


async def test_garbage_is_passed_as_http09() -> None:
    async def garbage(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await stream.send_all(b"garbage, not http\n")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        port = await backend(nursery, garbage)
        conn = FakeConn()
        status = await proxy_handler(request(), conn, conf_for(f"http://127.0.0.1:{port}"), scope_for({}))
        nursery.cancel_scope.cancel()
    assert status == 0
    assert b"".join(conn.chunks) == b"garbage, not http\n"


async def test_response_headers_body_and_redirect() -> None:
    seen: list[bytes] = []

    async def ok(stream: trio.SocketStream) -> None:
        seen.append(await read_request(stream))
        await stream.send_all(
            b"HTTP/1.1 302 Found\r\nServer: back\r\nDate: x\r\nContent-Type: text/plain\r\nX-Pad: 1\r\n"
            b"Location: http://127.0.0.1:%d/next\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
            b"X-Keep: yes\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" % port
        )
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        port = await backend(nursery, ok)
        conn = FakeConn()
        conf = ProxyConf.from_scope(_location_scope(f"http://127.0.0.1:{port}/", "/web/"))
        r = request(uri="/web/a")
        status = await proxy_handler(r, conn, conf, scope_for({}))
        nursery.cancel_scope.cancel()
    assert status == 0
    assert seen[0].startswith(b"GET /a HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % port)
    assert conn.sent_header is not None
    assert conn.sent_header["status"] == 302
    assert conn.sent_header["headers"] == [("X-Keep", "yes")]
    assert conn.sent_header["content_type"] == "text/plain"
    assert conn.sent_header["location"] == "/web/next"
    assert b"".join(conn.chunks) == b"abcde"
    assert r.vars["upstream_http_x_keep"] == "yes"


def _location_scope(url: str, name: str) -> Any:
    from nginxpy.conf.model import LocationScope
    from nginxpy.conf.script import compile_value

    scope = LocationScope(Ctx.LOCATION, name=name)
    scope.values["proxy_pass"] = compile_value(url)
    return scope


async def test_next_upstream_after_refused_and_round_robin() -> None:
    _REGISTRY.clear()

    async def ok(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await stream.send_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        good = await backend(nursery, ok)
        bad = refused_port()
        group = UpstreamScope(Ctx.UPSTREAM, name="back")
        group.servers = [UpstreamServer(f"127.0.0.1:{bad}"), UpstreamServer(f"127.0.0.1:{good}")]
        space = scope_for({"back": group})
        conn = FakeConn()
        r = request()
        status = await proxy_handler(r, conn, conf_for("http://back"), space)
        assert status == 0
        assert r.vars["upstream_addr"] == f"127.0.0.1:{bad}, 127.0.0.1:{good}"
        assert r.vars["upstream_status"] == "502, 200"
        # the refused peer is now out for fail_timeout: the next request goes straight to the good one
        r2 = request()
        assert await proxy_handler(r2, FakeConn(), conf_for("http://back"), space) == 0
        assert r2.vars["upstream_addr"] == f"127.0.0.1:{good}"
        nursery.cancel_scope.cancel()


async def test_keepalive_reuses_upstream_connection() -> None:
    connections = 0

    async def keep(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        while True:
            data = await read_request(stream)
            if not data:
                return
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async with trio.open_nursery() as nursery:
        port = await backend(nursery, keep)
        group = UpstreamScope(Ctx.UPSTREAM, name="ka")
        group.servers = [UpstreamServer(f"127.0.0.1:{port}")]
        group.values["keepalive"] = [["4"]]
        space = scope_for({"ka": group})
        conf = conf_for("http://ka", http_version="1.1", set_headers=[("Connection", "")])
        for _ in range(5):
            conn = FakeConn()
            assert await proxy_handler(request(), conn, conf, space) == 0
            assert b"".join(conn.chunks) == b"ok"
        pool = _REGISTRY[id(space)]["ka"].pool
        assert pool is not None
        for entries in pool.idle.values():  # the kept connection would outlive the test
            for stream, _, _ in entries:
                await stream.aclose()
        nursery.cancel_scope.cancel()
    assert connections == 1


async def test_post_body_is_forwarded_with_content_length() -> None:
    seen: list[bytes] = []

    async def echo(stream: trio.SocketStream) -> None:
        data = b""
        while b"hello" not in data:
            data += await stream.receive_some(65536)
        seen.append(data)
        await stream.send_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        port = await backend(nursery, echo)
        conn = FakeConn(body=b"hello")
        r = request("POST", headers=[("Host", "h"), ("Content-Length", "5")])
        r.content_length_in = 5
        assert await proxy_handler(r, conn, conf_for(f"http://127.0.0.1:{port}"), scope_for({})) == 0
        nursery.cancel_scope.cancel()
    assert seen[0].endswith(b"Connection: close\r\nContent-Length: 5\r\n\r\nhello")
    assert conn.sent_header is not None and conn.sent_header["status"] == 201


async def test_upgrade_becomes_a_tunnel() -> None:
    async def ws(stream: trio.SocketStream) -> None:
        await read_request(stream)
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nhi"
        )
        data = b""
        while len(data) < len(b"pipelinedping"):
            data += await stream.receive_some(100)
        await stream.send_all(b"echo:" + data)
        await stream.aclose()

    client_outer, client_inner = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        port = await backend(nursery, ws)
        conn = FakeConn(client=client_inner)
        r = request(headers=[("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade")])
        conf = conf_for(
            f"http://127.0.0.1:{port}",
            http_version="1.1",
            set_headers=[("Upgrade", "$http_upgrade"), ("Connection", "upgrade")],
        )

        async def run() -> None:
            assert await proxy_handler(r, conn, conf, scope_for({})) == 0

        nursery.start_soon(run)
        await client_outer.send_all(b"ping")
        got = b""
        while b"echo:pipelinedping" not in got:
            got += await client_outer.receive_some(100)
        nursery.cancel_scope.cancel()
    assert got == b"hiecho:pipelinedping"
    assert conn.sent_header is not None and conn.sent_header["status"] == 101
