"""``resolver`` for proxy_pass with variables, against nginx, with a real DNS server on loopback.

nginx and nginxpy run one configuration whose ``resolver`` is a small DNS server
started by the test (:mod:`dns_server`).  For names it knows, the status and the
request the backend receives are compared; for a name it answers NXDOMAIN to, one it
never answers, and a location without a resolver, the status and the error-log line.
The queries each server sends (A and AAAA, or A only with ``ipv6=off``) and what it
caches (the TTL, or ``valid=``; names case-insensitively; failures not) are compared too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dns_server import DnsServer
from e2e_harness import Process, exchange, free_port, seed_conf, wait_until
from test_request_buffering import Recorder

CONF = """
error_log @PREFIX@/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    error_log @PREFIX@/error.log info;
    upstream grp { server 127.0.0.1:@BACKEND@; }
    server {
        listen 127.0.0.1:@PORT@;
        resolver 127.0.0.1:@DNS@;
        resolver_timeout 1s;
        location /dyn/ { proxy_pass http://$arg_h:@BACKEND@; }
        location /short/ {
            resolver 127.0.0.1:@DNS@ valid=1s ipv6=off;
            proxy_pass http://$arg_h:@BACKEND@/path$is_args$args;
        }
    }
    server {
        listen 127.0.0.1:@PORT2@;
        location /dyn/ { proxy_pass http://$arg_h:@BACKEND@; }
        location /name/ { proxy_pass http://$arg_h; }
    }
}
"""

NAMES = ("nginxpy", "nginx")
KNOWN = [f"{prefix}-{name}.test" for name in NAMES for prefix in ("back", "case", "short", "miss")]


@dataclass
class Env:
    dns: DnsServer
    backend: Recorder
    servers: dict[str, Process]
    ports: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("resolver")
    table = {name: ["127.0.0.1"] for name in KNOWN if not name.startswith("miss-")}
    dns = DnsServer(table, silent=frozenset({"silent.test"}))
    backend = Recorder()
    servers: dict[str, Process] = {}
    ports: dict[str, tuple[int, int]] = {}
    try:
        for name in NAMES:
            ports[name] = (free_port(), free_port())
            prefix = Path(base / name)
            conf = seed_conf(
                CONF,
                PREFIX=prefix,
                PORT=ports[name][0],
                PORT2=ports[name][1],
                BACKEND=backend.port,
                DNS=dns.port,
            )
            servers[name] = Process.start(name, prefix, conf, list(ports[name]))
        yield Env(dns, backend, servers, ports)
    finally:
        for server in servers.values():
            server.stop()
        backend.stop()
        dns.stop()


def get(env: Env, name: str, path: str, second: bool = False) -> tuple[int, bytes | None, list[str]]:
    """One GET: the status, the request the backend received (None: none), the error-log lines."""
    server = env.servers[name]
    mark, before = server.log_mark(), env.backend.count()
    reply = exchange(
        env.ports[name][1 if second else 0], f"GET {path} HTTP/1.0\r\nX-Test: 1\r\n\r\n".encode()
    )
    received = None
    if env.backend.count() > before:
        assert wait_until(lambda: env.backend.conns[before].done)
        received = bytes(env.backend.conns[before].data)
    # a connection that closes before sending anything (the harness's start-up probe) is logged
    # at info whenever the server notices it: not part of this request
    errors = [line for line in server.errors_since(mark) if "while waiting for request" not in line]
    return reply.status, received, errors


def own(text: str, name: str) -> str:
    """Each server asks for names of its own (the DNS server counts them apart)."""
    return text.replace("NAME", name)


def test_resolved_name_proxied_as_nginx(env: Env) -> None:
    results = {}
    for name in NAMES:
        first = get(env, name, own("/dyn/x?h=back-NAME.test", name))
        again = get(env, name, own("/dyn/y?h=back-NAME.test", name))
        queries = env.dns.count(own("back-NAME.test", name))
        results[name] = (repr((first, again)).replace(name, "NAME"), queries)
    assert "(200, b'GET /dyn/x?h=back-NAME.test HTTP/1.0\\r\\nHost: back-NAME.test:" in results["nginx"][0]
    assert results["nginx"][1] == 2  # A and AAAA, once: the answer is cached
    assert results["nginxpy"] == results["nginx"]


def test_cached_names_are_case_insensitive(env: Env) -> None:
    results = {}
    for name in NAMES:
        statuses = [
            get(env, name, own(path, name))[0]
            for path in ("/dyn/?h=case-NAME.test", "/dyn/?h=CASE-NAME.Test")
        ]
        results[name] = (statuses, env.dns.count(own("case-NAME.test", name)))
    assert results["nginx"] == ([200, 200], 2)
    assert results["nginxpy"] == results["nginx"]


def test_valid_overrides_the_ttl(env: Env) -> None:
    """valid=1s, ipv6=off: one A query, the answer reused, asked again once a second or two passed."""
    results = {}
    for name in NAMES:
        host = own("short-NAME.test", name)
        status, received, _ = get(env, name, f"/short/?h={host}&a=1")
        started = time.monotonic()
        assert get(env, name, f"/short/?h={host}")[0] == 200
        assert env.dns.count(host) == 1
        assert wait_until(
            lambda host=host, name=name: (
                get(env, name, f"/short/?h={host}")[0] == 200 and env.dns.count(host) > 1
            )  # type: ignore[misc]
        )
        elapsed = time.monotonic() - started
        assert elapsed >= 0.9, (name, elapsed)
        assert received is not None
        results[name] = (status, received.replace(name.encode(), b"NAME"), env.dns.queries.count((host, 28)))
    assert results["nginx"][0] == 200 and results["nginx"][2] == 0
    assert results["nginxpy"] == results["nginx"]


def test_unresolvable_names_answered_as_nginx(env: Env) -> None:
    results = {}
    for name in NAMES:
        host = own("miss-NAME.test", name)
        missing = [get(env, name, f"/dyn/x?h={host}") for _ in range(2)]
        started = time.monotonic()
        silent = get(env, name, "/dyn/x?h=silent.test")
        waited = time.monotonic() - started
        assert 0.9 <= waited < 5, (name, waited)
        results[name] = (
            [(s, r, [e.replace(name, "NAME") for e in errors]) for s, r, errors in missing],
            silent,
        )
        assert env.dns.count(host) == 4  # a failure is not cached: asked again
    nginx = results["nginx"]
    assert nginx[0][0][0] == 502 and "could not be resolved (3: Host not found)" in nginx[0][0][2][0]
    assert (
        nginx[1][0] == 502
        and "silent.test could not be resolved (110: Operation timed out)" in nginx[1][2][0]
    )
    assert results["nginxpy"] == nginx


@pytest.mark.parametrize(
    "path",
    ["/dyn/x?h=back-NAME.test", "/dyn/x?h=127.0.0.1", "/name/x?h=grp"],
)
def test_without_a_resolver(env: Env, path: str) -> None:
    """No resolver: a name is a 502 ("no resolver defined"); an address or an upstream name is not."""
    results = {}
    for name in NAMES:
        status, received, errors = get(env, name, own(path, name), second=True)
        results[name] = (status, received, [e.replace(name, "NAME") for e in errors])
    if "back-" in path:
        assert results["nginx"][0] == 502
        assert results["nginx"][2][0].startswith("[error] no resolver defined to resolve back-NAME.test, ")
    else:
        assert results["nginx"][0] == 200
    assert results["nginxpy"] == results["nginx"]
