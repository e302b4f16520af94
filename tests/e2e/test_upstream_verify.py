"""proxy_pass https:// with upstream certificate verification off and on, next to nginx.

nginx does not verify the upstream's certificate unless ``proxy_ssl_verify on``; with it,
the chain must lead to ``proxy_ssl_trusted_certificate`` and the name must match
``proxy_ssl_name`` (by default the host in proxy_pass).  A failed check is a 502 with an
error-log line naming the reason.

Each location has a backend of its own: nginx keeps one TLS session per upstream peer
(proxy_ssl_session_reuse) and a session resumed from a location that did not verify
carries that location's verification result (20: unable to get local issuer certificate).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trustme
from e2e_harness import Backends, Process, exchange, free_port, make_certs, seed_conf

CONF = """
error_log @PREFIX@/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:@PORT@;
        location /off/ { proxy_pass https://127.0.0.1:@OFF@/; }
        location /trusted/ {
            proxy_pass https://127.0.0.1:@TRUSTED@/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate @CERTS@/ca.pem;
            proxy_ssl_name backend.test;
        }
        location /other-ca/ {
            proxy_pass https://127.0.0.1:@OTHER@/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate @CERTS@/other-ca.pem;
            proxy_ssl_name backend.test;
        }
        location /wrong-name/ {
            proxy_pass https://127.0.0.1:@WRONG@/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate @CERTS@/ca.pem;
            proxy_ssl_name other.test;
        }
    }
}
"""

NAMES = ("nginxpy", "nginx")


async def ok_app(backends: Backends, stream: trio.abc.Stream) -> None:
    """Read the request head, answer a short 200, close."""
    data = b""
    with trio.fail_after(10):
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            data += chunk
    await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")


@dataclass
class Env:
    servers: dict[str, Process]
    ports: dict[str, int]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("verify")
    certs = make_certs(base / "certs")
    trustme.CA(organization_name="another CA").cert_pem.write_to_path(str(base / "certs" / "other-ca.pem"))
    backends = Backends(certs=certs)
    backend = backends.start({name: (ok_app, True) for name in ("off", "trusted", "other", "wrong")})
    servers: dict[str, Process] = {}
    ports: dict[str, int] = {}
    try:
        for name in NAMES:
            ports[name] = free_port()
            prefix = Path(base / name)
            conf = seed_conf(
                CONF,
                PREFIX=prefix,
                PORT=ports[name],
                CERTS=base / "certs",
                OFF=backend["off"],
                TRUSTED=backend["trusted"],
                OTHER=backend["other"],
                WRONG=backend["wrong"],
            )
            servers[name] = Process.start(name, prefix, conf, [ports[name]])
        yield Env(servers, ports)
    finally:
        for server in servers.values():
            server.stop()
        backends.stop()


def _normal(text: str, env: Env) -> str:
    for name in NAMES:
        text = text.replace(str(env.ports[name]), "PORT")
    return text


@pytest.mark.parametrize(
    ("path", "status"), [("/off/x", 200), ("/trusted/x", 200), ("/other-ca/x", 502), ("/wrong-name/x", 502)]
)
def test_upstream_verification_as_nginx(env: Env, path: str, status: int) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: verify\r\nConnection: close\r\n\r\n".encode()
    results = {}
    for name in NAMES:
        server = env.servers[name]
        mark = server.log_mark()
        reply = exchange(env.ports[name], request)
        errors = [line for line in server.errors_since(mark) if "[error]" in line or "[alert]" in line]
        results[name] = (reply.status, reply.body if reply.status == 200 else b"", errors)
    assert results["nginx"][0] == status
    got, want = results["nginxpy"], results["nginx"]
    assert got[:2] == want[:2]
    assert [_normal(line, env) for line in got[2]] == [_normal(line, env) for line in want[2]]
