"""The second seed end to end: ``listen ... ssl``, the ``$connection_upgrade`` map and
``error_page 497 307 =301 @back`` (plain HTTP on the TLS port bounced to https).

As written, with loopback backends (a plain WebSocket echo application standing in for
``http://192.168.3.140:30880``), trustme certificates, and an events block (the page
shows only the http part).  nginx and nginxpy run it side by side.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from e2e_harness import (
    Backends,
    Certs,
    Process,
    exchange,
    free_port,
    make_certs,
    seed_conf,
    upgrade_request,
    wait_until,
    ws_app,
    ws_open,
)

SEED = """
events { worker_connections 4096; }
http {
access_log @PREFIX@/access.log;
map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
}
server {
    listen 127.0.0.1:@PORT@ ssl;
    #填写绑定证书的域名
    server_name local.wuanwanghao.top;
    #证书文件名称
    ssl_certificate  @CERTS@/front.crt;
    #私钥文件名称
    ssl_certificate_key @CERTS@/front.key;
    ssl_session_timeout 5m;
    ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE:ECDH:AES:HIGH:!NULL:!aNULL:!MD5:!ADH:!RC4;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_prefer_server_ciphers on;
    error_page 497 307 =301 @back;
    location @back {
        rewrite ^(.*)$ https://$host:$server_port$1 permanent;
    }
    location / {
          proxy_set_header Host $host;
          proxy_set_header X-Real-Ip $remote_addr;
          proxy_set_header X-Forwarded-For $remote_addr;
          #网站主页路径。此路径仅供参考,具体请您按照实际目录操作。
          proxy_pass   http://127.0.0.1:@BACKEND@;
          proxy_set_header Upgrade $http_upgrade;
          proxy_set_header Connection "$connection_upgrade";
    }
}
}
"""

NAMES = ("nginxpy", "nginx")
TUNNELS = 1000
DEADLINE = 180  # a bound for a hang, not a speed check: on a loaded machine 1,000 TLS tunnels take minutes


@dataclass
class Env:
    certs: Certs
    backends: Backends
    servers: dict[str, Process]
    ports: dict[str, int]

    def client(self) -> ssl.SSLContext:
        return self.certs.client_context()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("seed2")
    certs = make_certs(base / "certs")
    backends = Backends(certs)
    backend = backends.start({"ws": (ws_app, False)})["ws"]
    servers: dict[str, Process] = {}
    ports: dict[str, int] = {}
    try:
        for name in NAMES:
            ports[name] = free_port()
            prefix = Path(base / name)
            conf = seed_conf(SEED, PREFIX=prefix, PORT=ports[name], CERTS=certs.dir, BACKEND=backend)
            servers[name] = Process.start(name, prefix, conf, [ports[name]])
        yield Env(certs, backends, servers, ports)
    finally:
        for server in servers.values():
            server.stop()
        backends.stop()


def test_plain_http_on_the_tls_port_is_bounced_as_nginx(env: Env) -> None:
    replies = {
        name: exchange(env.ports[name], b"GET /some/page?x=1 HTTP/1.1\r\nHost: local.wuanwanghao.top\r\n\r\n")
        for name in NAMES
    }
    got, want = replies["nginxpy"], replies["nginx"]
    assert want.status == 301
    port = env.ports["nginxpy"]
    assert f"Location: https://local.wuanwanghao.top:{port}/some/page?x=1" in got.head
    assert got.head.replace(str(port), "PORT") == want.head.replace(str(env.ports["nginx"]), "PORT")
    assert got.body == want.body


def test_plain_page_through_the_map_as_nginx(env: Env) -> None:
    """No Upgrade from the client: the map gives "Connection: close"; the backend sees the same request."""
    heads = env.backends.heads
    seen: dict[str, tuple[bytes, str, bytes]] = {}
    for name in NAMES:
        before = len(heads)
        request = (
            b"GET /index HTTP/1.1\r\nHost: local.wuanwanghao.top\r\nConnection: close\r\nAccept: */*\r\n\r\n"
        )
        reply = exchange(env.ports[name], request, env.client())
        assert wait_until(lambda before=before: len(heads) > before)  # type: ignore[misc]
        seen[name] = (heads[before], reply.head, reply.body)
    assert seen["nginxpy"] == seen["nginx"]
    assert seen["nginx"][0].startswith(b"GET /index HTTP/1.0\r\nHost: local.wuanwanghao.top\r\n")
    assert b"\r\nConnection: close\r\n" in seen["nginx"][0]
    assert seen["nginx"][1].startswith("HTTP/1.1 200 OK\r\n")


def test_upgrade_request_through_the_map_as_nginx(env: Env) -> None:
    heads = env.backends.heads
    seen: dict[str, tuple[bytes, str]] = {}
    for name in NAMES:
        before = len(heads)
        close = bytes([0x88, 0x80, 0, 0, 0, 0])  # an empty masked close frame, pipelined
        reply = exchange(
            env.ports[name], upgrade_request("/chat", "local.wuanwanghao.top", close), env.client()
        )
        assert wait_until(lambda before=before: len(heads) > before)  # type: ignore[misc]
        seen[name] = (heads[before], reply.head)
    assert seen["nginxpy"] == seen["nginx"]
    assert b"\r\nUpgrade: websocket\r\nConnection: upgrade\r\n" in seen["nginx"][0]


@pytest.mark.parametrize("name", NAMES)
async def test_wss_through_the_seed(env: Env, name: str) -> None:
    async with ws_open(env.ports[name], "/chat", env.client()) as ws:
        await ws.send_message("hello")
        assert await ws.get_message() == "hello"
        await ws.send_message(b"\x00" * 70000)
        assert await ws.get_message() == b"\x00" * 70000


async def test_a_thousand_concurrent_tunnels(env: Env) -> None:
    """1,000 wss:// tunnels open at once through nginxpy, each echoing; then all closed, nothing leaked."""
    server = env.servers["nginxpy"]
    baseline = server.open_fds()
    opened = 0
    all_open = trio.Event()
    release = trio.Event()
    echoed = 0
    closed = 0
    limiter = trio.CapacityLimiter(64)  # connection attempts in flight (the listen backlog is finite)
    context = env.client()

    async def one(index: int) -> None:
        nonlocal opened, echoed, closed
        async with limiter:
            manager = ws_open(env.ports["nginxpy"], f"/t{index}", context)
            ws = await manager.__aenter__()
        try:
            opened += 1
            if opened == TUNNELS:
                all_open.set()
            await all_open.wait()
            await ws.send_message(f"tunnel {index}")
            assert await ws.get_message() == f"tunnel {index}"
            echoed += 1
            await release.wait()
        finally:
            await manager.__aexit__(None, None, None)
            closed += 1

    with trio.move_on_after(DEADLINE) as limit:
        async with trio.open_nursery() as nursery:
            for index in range(TUNNELS):
                nursery.start_soon(one, index)
            await all_open.wait()
            during = server.open_fds()
            assert during >= baseline + 2 * TUNNELS, (baseline, during)
            while echoed < TUNNELS:
                await trio.sleep(0.01)
            release.set()
    assert not limit.cancelled_caught, f"{DEADLINE} s: {opened} opened, {echoed} echoed, {closed} closed"
    assert echoed == TUNNELS
    after = server.wait_fds(baseline, 20)
    assert after <= baseline, (baseline, after)
