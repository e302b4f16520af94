"""The first seed end to end: ``ssl on;`` and ``proxy_pass https://...:4443/`` for WebSocket.

The seed's configuration as written (its backend addresses replaced by loopback backends,
its certificates by trustme's, its ``ssl_ciphers`` line joined where the page broke it,
an access log in the prefix), run by nginxpy and by nginx side by side.  Real WebSocket
clients speak ``wss://`` to the front; the backends are WebSocket echo applications over
TLS.  Note what the seed does not say: no ``proxy_http_version 1.1``, so the upstream
handshake is an HTTP/1.0 request carrying ``Upgrade`` (the backend accepts it); and the
port-80 server's ``/web/`` has no ``Upgrade``/``Connection`` lines at all.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio_websocket
from e2e_harness import (
    CLOSE_FRAME,
    Backends,
    Certs,
    Process,
    exchange,
    free_port,
    make_certs,
    mask_access,
    seed_conf,
    upgrade_request,
    wait_until,
    ws_app,
    ws_open,
)

SEED = """
worker_processes  1;

events {
    worker_connections  1024;
}

http {
    include       mime.types;
    default_type  application/octet-stream;
    access_log @PREFIX@/access.log;
sendfile        on;

keepalive_timeout  65;

server {
    listen       127.0.0.1:@PLAIN@;
    server_name  localhost;

    location /web/ {
        proxy_pass https://127.0.0.1:@B3000@/;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   html;
    }
}

server {
    listen       127.0.0.1:@TLS@;
    server_name  localhost;

  ssl on;
  ssl_certificate   @CERTS@/front.crt;
  ssl_certificate_key  @CERTS@/front.key;
  ssl_session_timeout 5m;
  ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE:ECDH:AES:HIGH:!NULL:!aNULL:!MD5:!ADH:!RC4;
  ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
  ssl_prefer_server_ciphers on;

    location / {
        proxy_pass https://127.0.0.1:@B3000@/;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        }

        location /wss/ {
            proxy_pass https://127.0.0.1:@B4443@/;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }

        error_page   500 502 503 504  /50x.html;
        location = /50x.html {
            root   html;
        }
    }
}
"""

NAMES = ("nginxpy", "nginx")


@dataclass
class Env:
    certs: Certs
    backends: Backends
    servers: dict[str, Process]
    plain: dict[str, int]
    tls: dict[str, int]

    def client(self) -> ssl.SSLContext:
        return self.certs.client_context()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("seed1")
    certs = make_certs(base / "certs")
    backends = Backends(certs)
    ports = backends.start({"b3000": (ws_app, True), "b4443": (ws_app, True)})
    servers: dict[str, Process] = {}
    plain: dict[str, int] = {}
    tls: dict[str, int] = {}
    try:
        for name in NAMES:
            plain[name], tls[name] = free_port(), free_port()
            prefix = Path(base / name)
            conf = seed_conf(
                SEED,
                PREFIX=prefix,
                PLAIN=plain[name],
                TLS=tls[name],
                CERTS=certs.dir,
                B3000=ports["b3000"],
                B4443=ports["b4443"],
            )
            servers[name] = Process.start(name, prefix, conf, [plain[name], tls[name]])
        yield Env(certs, backends, servers, plain, tls)
    finally:
        for server in servers.values():
            server.stop()
        backends.stop()


SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]


@pytest.mark.parametrize("name", NAMES)
async def test_wss_to_https_backend_text_and_binary(env: Env, name: str) -> None:
    async with ws_open(env.tls[name], "/wss/echo", env.client()) as ws:
        for size in SIZES:
            text = "é" * (size // 2)
            await ws.send_message(text)
            assert await ws.get_message() == text
            data = bytes(range(256)) * (size // 256) + b"\x07" * (size % 256)
            await ws.send_message(data)
            assert await ws.get_message() == data


@pytest.mark.parametrize("name", NAMES)
async def test_ping_pong_and_server_messages(env: Env, name: str) -> None:
    async with ws_open(env.tls[name], "/wss/", env.client()) as ws:
        with trio.fail_after(10):
            await ws.ping(b"are you there")  # returns once the matching pong came back
        await ws.send_message("push 200")
        assert [await ws.get_message() for _ in range(200)] == [f"pushed {i}" for i in range(200)]


@pytest.mark.parametrize("name", NAMES)
async def test_close_codes_pass_through(env: Env, name: str) -> None:
    before = len(env.backends.close_codes)
    async with ws_open(env.tls[name], "/wss/", env.client()) as ws:
        await ws.aclose(4001, "client leaves")
        assert ws.closed is not None and ws.closed.code == 4001  # the backend's answer, echoed
    # other connections (an earlier test's) may end meanwhile: look for this one's code
    with trio.fail_after(10):
        while 4001 not in env.backends.close_codes[before:]:
            await trio.sleep(0.01)
    async with ws_open(env.tls[name], "/wss/", env.client()) as ws:
        await ws.send_message("close 4002")
        with pytest.raises(trio_websocket.ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason.code == 4002
        assert closed.value.reason.reason == "bye"


@pytest.mark.parametrize("name", NAMES)
async def test_seed_root_location_upgrades_over_http10(env: Env, name: str) -> None:
    async with ws_open(env.tls[name], "/chat", env.client()) as ws:
        await ws.send_message("hello")
        assert await ws.get_message() == "hello"


def _handshake(env: Env, name: str, port: int, path: str, tls: bool) -> tuple[bytes, str, bytes]:
    """A raw handshake with a close frame pipelined: (the head the backend got, the reply head, body)."""
    heads = env.backends.heads
    before = len(heads)
    request = upgrade_request(path, "localhost", CLOSE_FRAME)
    reply = exchange(port, request, env.client() if tls else None)
    assert wait_until(lambda: len(heads) > before)
    return heads[before], reply.head, reply.body


def test_upstream_handshake_and_pipelined_frame_as_nginx(env: Env) -> None:
    results = {name: _handshake(env, name, env.tls[name], "/wss/x?y=1", True) for name in NAMES}
    got, want = results["nginxpy"], results["nginx"]
    assert got[0] == want[0]
    assert got[0].startswith(b"GET /x?y=1 HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n")
    assert got[1] == want[1]
    assert got[1].startswith("HTTP/1.1 101 Switching Protocols\r\n")
    # the close frame sent right after the handshake reached the backend, whose answer came back
    assert got[2] == want[2] == bytes([0x88, 0x02, 0x03, 0xE8])


def test_missing_headers_as_nginx(env: Env) -> None:
    """/web/ has no Upgrade/Connection lines: the backend gets a plain HTTP/1.0 request, the client
    gets the backend's plain page, exactly as from nginx."""
    results = {name: _handshake(env, name, env.plain[name], "/web/chat", False) for name in NAMES}
    got, want = results["nginxpy"], results["nginx"]
    assert got[0] == want[0]
    assert got[0].startswith(b"GET /chat HTTP/1.0\r\nHost: 127.0.0.1:")
    assert b"upgrade" not in got[0].lower().replace(b"sec-websocket", b"")
    assert got[1] == want[1]
    assert got[1].startswith("HTTP/1.1 200 OK\r\n")
    assert got[2] == want[2]  # the page, then the answer to the close frame read as a request
    assert got[2].startswith(b"plain page\n")


def test_access_log_of_a_tunnel_as_nginx(env: Env) -> None:
    lines: dict[str, str] = {}
    for name in NAMES:
        server = env.servers[name]
        count = len(server.access_log())
        _handshake(env, name, env.tls[name], "/wss/logged", True)
        assert wait_until(lambda server=server, count=count: len(server.access_log()) > count)  # type: ignore[misc]
        lines[name] = mask_access(server.access_log()[count])
    assert ' "GET /wss/logged HTTP/1.1" 101 4 ' in lines["nginx"]
    assert lines["nginxpy"] == lines["nginx"]
