"""HTTPS through real nginx (the oracle) and nginxpy with the same configuration.

One nginx and one nginxpy for the whole module, each on ports from the OS.  The
configuration holds the second seed article's server (``listen ... ssl``,
``error_page 497 307 =301 @back``), a TLS port without error_page (nginx's own 497
page), three servers sharing one TLS port (SNI), and client verification.
Compared: status, Location, body (TLS variables), negotiated protocol, certificate.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tls_harness import NGINX, Pki, Running, client_context, free_port, request, start_server

pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="no nginx binary to use as the oracle")

V = ssl.TLSVersion
ECHO = '"$server_name $ssl_protocol $https $scheme [$ssl_server_name] $ssl_client_verify $request_uri\\n"'


def _conf(pki: Pki, seed: int, plain: int, sni: int) -> str:
    a, b, c = (
        f"ssl_certificate {pki.path(n + '.crt')}; ssl_certificate_key {pki.path(n + '.key')};" for n in "abc"
    )
    verify = f"ssl_verify_client on; ssl_client_certificate {pki.path('ca.pem')};"
    return f"""
events {{}}
http {{
    access_log off;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    server {{
        listen 127.0.0.1:{seed} ssl;
        server_name localhost;
        ssl_certificate {pki.path("c.crt")};
        ssl_certificate_key {pki.path("c.key")};
        ssl_session_timeout 5m;
        ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE:ECDH:AES:HIGH:!NULL:!aNULL:!MD5:!ADH:!RC4;
        ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
        ssl_prefer_server_ciphers on;
        error_page 497 307 =301 @back;
        location @back {{
            rewrite ^(.*)$ https://$host:$server_port$1 permanent;
        }}
        location / {{
            return 200 {ECHO};
        }}
    }}
    server {{
        listen 127.0.0.1:{plain} ssl;
        {c}
        location / {{ return 200 {ECHO}; }}
    }}
    server {{
        listen 127.0.0.1:{sni} ssl;
        server_name a.test *.a.test;
        {a}
        location / {{ return 200 {ECHO}; }}
    }}
    server {{
        listen 127.0.0.1:{sni} ssl default_server;
        server_name b.test;
        {b}
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ return 200 {ECHO}; }}
    }}
    server {{
        listen 127.0.0.1:{sni} ssl;
        server_name c.test;
        {c}
        {verify}
        location / {{ return 200 {ECHO}; }}
    }}
}}
"""


@dataclass
class Pair:
    ports: dict[str, dict[str, int]]  # server name -> role -> port


@pytest.fixture(scope="module")
def servers(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    ports: dict[str, dict[str, int]] = {}
    running: list[Running] = []
    try:
        for name in ("nginx", "nginxpy"):
            roles = {"seed": free_port(), "plain": free_port(), "sni": free_port()}
            conf = _conf(pki, roles["seed"], roles["plain"], roles["sni"])
            running.append(start_server(name, tmp_path_factory.mktemp(name), conf, list(roles.values())))
            ports[name] = roles
        yield Pair(ports)
    finally:
        for server in running:
            server.stop()


def _both(pair: Pair, role: str, **kwargs: object) -> tuple[object, object]:
    return tuple(request(pair.ports[name][role], **kwargs) for name in ("nginx", "nginxpy"))  # type: ignore[arg-type,return-value]


def test_seed_https(servers: Pair, pki: Pki) -> None:
    expected, got = _both(servers, "seed", path="/x?a=1", tls=client_context(pki), sni="localhost")
    assert got == expected
    assert expected.status == 200 and expected.protocol == "TLSv1.2"  # type: ignore[attr-defined]


def test_seed_497_redirect(servers: Pair) -> None:
    expected, got = _both(servers, "seed", path="/path/here?q=1", host="localhost")
    assert (expected.status, expected.headers["location"]) == (
        301,
        f"https://localhost:{servers.ports['nginx']['seed']}/path/here?q=1",
    )  # type: ignore[attr-defined]
    assert got.status == 301  # type: ignore[attr-defined]
    assert got.headers["location"] == f"https://localhost:{servers.ports['nginxpy']['seed']}/path/here?q=1"  # type: ignore[attr-defined]
    assert got.body == expected.body  # type: ignore[attr-defined]


def test_plain_http_page(servers: Pair) -> None:
    expected, got = _both(servers, "plain", path="/")
    assert expected.status == 400  # type: ignore[attr-defined]
    assert b"The plain HTTP request was sent to HTTPS port" in expected.body  # type: ignore[attr-defined]
    assert (got.status, got.body, got.headers.get("connection")) == (  # type: ignore[attr-defined]
        expected.status,  # type: ignore[attr-defined]
        expected.body,  # type: ignore[attr-defined]
        expected.headers.get("connection"),  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("version", [V.TLSv1_2, V.TLSv1_3])
def test_default_protocols(servers: Pair, pki: Pki, version: ssl.TLSVersion) -> None:
    # nginx 1.22's default ssl_protocols has no TLSv1.3.
    outcomes = []
    for name in ("nginx", "nginxpy"):
        try:
            reply = request(servers.ports[name]["plain"], tls=client_context(pki, version=version))
            outcomes.append((reply.status, reply.protocol))
        except ssl.SSLError:
            outcomes.append(("handshake failed", None))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == ((200, "TLSv1.2") if version == V.TLSv1_2 else ("handshake failed", None))


@pytest.mark.parametrize(
    ("sni", "host", "version"),
    [
        ("a.test", "a.test", V.TLSv1_3),  # the default server's ssl_protocols apply to every name
        ("x.a.test", "x.a.test", None),
        ("b.test", "b.test", None),
        ("unknown.test", "unknown.test", None),
        (None, "a.test", None),
        ("a.test", "b.test", None),  # Host picks the server independently
        ("a.test", "c.test", None),  # ... but not one that verifies clients: 421
    ],
)
def test_sni(servers: Pair, pki: Pki, sni: str | None, host: str, version: ssl.TLSVersion | None) -> None:
    expected, got = _both(servers, "sni", host=host, tls=client_context(pki, version=version), sni=sni)
    for reply in (expected, got):
        reply.body = reply.body.replace(b"nginx/1.22.1", b"")  # type: ignore[attr-defined]
    assert got == expected


@pytest.mark.parametrize("cert", [None, "client", "stranger"])
def test_client_verification(servers: Pair, pki: Pki, cert: str | None) -> None:
    expected, got = _both(servers, "sni", host="c.test", tls=client_context(pki, cert=cert), sni="c.test")
    assert got == expected
    assert expected.status == (200 if cert == "client" else 400)  # type: ignore[attr-defined]
