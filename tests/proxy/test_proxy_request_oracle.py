"""The request sent upstream: nginx's bytes (captured by a loopback backend) vs build_request's.

One real nginx runs the config below in front of a capture backend; for each client
request the exact bytes nginx sends upstream (request line, headers in order, body)
are compared with what :func:`nginxpy.http.proxy.build_request` makes from the same
request and the same location, loaded by nginxpy's config front end.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_harness import CaptureBackend, Nginx, free_port, http_exchange

from nginxpy.conf.check import load
from nginxpy.conf.model import LocationScope
from nginxpy.http.proxy import ClientRequest, ProxyConf, build_request

CONF = """
events {{ }}
http {{
    access_log off;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    proxy_set_header X-Outer outer;
    upstream back {{ server 127.0.0.1:{backend}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location /plain/ {{ proxy_pass http://127.0.0.1:{backend}; }}
        location /slash/ {{ proxy_pass http://127.0.0.1:{backend}/; }}
        location /sub/ {{ proxy_pass http://127.0.0.1:{backend}/app/; }}
        location /query/ {{ proxy_pass http://127.0.0.1:{backend}/?fixed=1; }}
        location /trap/ {{ proxy_pass http://127.0.0.1:{backend}; proxy_set_header X-Inner inner; }}
        location /ws/ {{
            proxy_pass http://127.0.0.1:{backend}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
        location /wsconst/ {{
            proxy_pass http://127.0.0.1:{backend}/;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }}
        location /empty/ {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_set_header Accept "";
            proxy_set_header User-Agent "";
            proxy_set_header Host "";
        }}
        location /host/ {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_set_header Host $host;
            proxy_set_header X-Real-Ip $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Port $proxy_port;
        }}
        location /case/ {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_set_header host custom;
            proxy_set_header CONNECTION keep-alive;
            proxy_set_header x-CUSTOM 5;
        }}
        location /v11/ {{ proxy_pass http://127.0.0.1:{backend}; proxy_http_version 1.1; }}
        location /method/ {{ proxy_pass http://127.0.0.1:{backend}; proxy_method PUT; proxy_set_body "hello $arg_x"; }}
        location /nohdr/ {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
        }}
        location /var/ {{ proxy_pass http://127.0.0.1:{backend}/v$request_uri; }}
        location /group/ {{ proxy_pass http://back/; }}
        location ~ ^/re/ {{ proxy_pass http://127.0.0.1:{backend}; }}
    }}
}}
"""


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.backend = CaptureBackend(body_timeout=0.3).start()
        self.port = free_port()
        conf = CONF.format(backend=self.backend.port, port=self.port)
        self.nginx = Nginx.start(tmp / "nginx", conf, self.port)
        result = load(str(tmp / "nginx" / "nginx.conf"), prefix=str(tmp / "nginx"))
        assert result.error is None, result.error
        http = result.main.http
        assert http is not None
        self.maps = http.maps
        self.locations: dict[str, LocationScope] = {}
        for server in http.servers:
            for location in server.locations:
                self.locations[location.name] = location

    def stop(self) -> None:
        self.nginx.stop()
        self.backend.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    state = Setup(tmp_path_factory.mktemp("proxy-request"))
    yield state
    state.stop()


def parse_client(raw: bytes) -> tuple[ClientRequest, bytes]:
    """The client request as the runtime would hand it over (tests only: simple inputs)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ")
    headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])]
    path, _, args = target.partition("?")
    request = ClientRequest(
        method=method,
        uri=urllib.parse.unquote(path, encoding="latin-1"),
        args=args,
        unparsed_uri=target,
        headers=headers,
        quoted_uri="%" in path,
        remote_addr="127.0.0.1",
    )
    chunked = any(n.lower() == "transfer-encoding" and "chunked" in v.lower() for n, v in headers)
    if chunked:
        decoded = b""
        rest = body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            decoded += rest[:size]
            rest = rest[size + 2 :]
        body = decoded
        request.chunked = True
        request.content_length = len(body)
    else:
        for name, value in headers:
            if name.lower() == "content-length":
                request.content_length = int(value)
    return request, body


def lookup_for(setup: Setup, request: ClientRequest, port: int) -> dict[str, str]:
    values: dict[str, str] = {
        "remote_addr": "127.0.0.1",
        "request_uri": request.unparsed_uri,
        "uri": request.uri,
    }
    for name, value in request.headers:
        key = "http_" + name.lower().replace("-", "_")
        values[key] = (
            f"{values[key]}, {value}" if key in values and key == "http_cookie" else values.get(key, value)
        )
    host = values.get("http_host", "localhost").split(":")[0].lower()
    values["host"] = host
    for arg in request.args.split("&"):
        name, _, value = arg.partition("=")
        values.setdefault("arg_" + name.lower(), value)
    conf = setup.maps["connection_upgrade"]
    source = values.get("http_upgrade", "")
    mapped = conf.exact.get(source, conf.default)
    values["connection_upgrade"] = mapped.source if mapped is not None else ""
    return values


def location_for(setup: Setup, uri: str) -> LocationScope:
    if uri.startswith("/re/"):
        return setup.locations["^/re/"]
    best = max((name for name in setup.locations if uri.startswith(name)), key=len)
    return setup.locations[best]


GET = b"GET {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test/1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
WS = (
    b"GET {target} HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://x\r\n\r\n"
)
HOP = (
    b"GET {target} HTTP/1.1\r\nhost: LocalHost\r\nKeep-Alive: 300\r\nTE: trailers\r\nConnection: close, TE\r\n"
    b"X-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nX-Dup: 1\r\nX-Dup: 2\r\nCookie: a=1\r\n\r\n"
)
POST = b"POST {target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world"
CHUNKED = (
    b"POST {target} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)
EMPTY_POST = b"POST {target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
HTTP10 = b"GET {target} HTTP/1.0\r\nUser-Agent: old\r\n\r\n"
EXPECT = (
    b"PUT {target} HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
    b"Connection: close\r\n\r\nabc"
)

TEMPLATES = {"get": GET, "ws": WS, "hop": HOP, "post": POST, "chunked": CHUNKED, "empty-post": EMPTY_POST}
TEMPLATES.update({"http10": HTTP10, "expect": EXPECT})

TARGETS = [
    "/plain/a/b?x=1",
    "/slash/x/y",
    "/slash/",
    "/sub/p?q=2&r",
    "/query/z?y=3",
    "/trap/t",
    "/ws/chat",
    "/wsconst/c",
    "/empty/e",
    "/host/h",
    "/case/c",
    "/v11/v?x=1",
    "/method/m?x=arg",
    "/nohdr/n",
    "/var/w?k=v",
    "/group/g",
    "/re/r?x",
    "/slash/a%20b",
    "/slash/%7Euser/%41",
]

CASES = [(name, target) for target in TARGETS for name in TEMPLATES]


@pytest.mark.parametrize(("template", "target"), CASES)
def test_upstream_request_matches_nginx(setup: Setup, template: str, target: str) -> None:
    raw = TEMPLATES[template].replace(b"{target}", target.encode())
    before = len(setup.backend.requests)
    http_exchange(setup.port, raw)
    assert len(setup.backend.requests) == before + 1, setup.nginx.error_log()[-2000:]
    nginx_head, nginx_body = setup.backend.requests[-1]

    request, body = parse_client(raw)
    values = lookup_for(setup, request, setup.port)
    conf = ProxyConf.from_scope(location_for(setup, request.uri))
    built = build_request(conf, request, values.get)
    assert built.head.decode("latin-1") == nginx_head.decode("latin-1")
    expected_body = built.body if built.body is not None else (body if built.send_client_body else b"")
    assert expected_body == nginx_body
