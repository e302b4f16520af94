"""The pure parts without sockets: parsing, server selection, location matching, variables, map, rewrite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nginxpy.conf.check import load
from nginxpy.conf.script import compile_value
from nginxpy.http.config import HttpConf, build
from nginxpy.http.core import init_request, new_request
from nginxpy.http.locations import DECLINED, DONE, OK, find_location
from nginxpy.http.maps import find_map_value
from nginxpy.http.parse import (
    BadRequest,
    ChunkedDecoder,
    parse_complex_uri,
    parse_head,
    parse_request_line,
    parse_simple_head,
)
from nginxpy.http.request import ConnInfo, Request
from nginxpy.http.rewrite import run_script
from nginxpy.http.servers import find_virtual_server, validate_host
from nginxpy.http.static import parse_range
from nginxpy.http.variables import evaluate, log_line

CONF = r"""
events {}
http {
    map $arg_k $mk { default dflt; a A; ~^b(?<tail>.*)$ "B-$tail"; }
    server {
        listen 127.0.0.1:8001;
        server_name example.com *.example.com www.example.* ~^(?<user>[a-z]+)\.users\.test$;
        location = / { }
        location / { }
        location /docs/ { location /docs/api/ { } location ~ \.md$ { } }
        location ^~ /static/ { }
        location ~ \.(png|jpg)$ { }
        location ~* \.PDF$ { }
        location /proxy/ { proxy_pass http://127.0.0.1:9; }
        location @fallback { }
        location /rw/ {
            set $x "1";
            if ($arg_a = "yes") { set $x "2"; }
            rewrite ^/rw/(.*)$ /new/$1 last;
        }
    }
    server { listen 127.0.0.1:8001 default_server; server_name other.test; }
}
"""


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> HttpConf:
    directory: Path = tmp_path_factory.mktemp("units")
    (directory / "nginx.conf").write_text(CONF)
    result = load(str(directory / "nginx.conf"), prefix=str(directory) + "/")
    assert result.error is None, result.error
    conf = build(result.main, str(directory) + "/")
    assert conf is not None
    return conf


def make_request(http: HttpConf, text: str) -> Request:
    info = ConnInfo(1, "127.0.0.1", 8001, "127.0.0.2", 5555)
    addr = http.listeners[0].addr_conf("127.0.0.1")
    r = new_request(info, http, addr)
    init_request(r, parse_head(text), addr)
    return r


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("get / HTTP/1.1", 400),
        ("GET / HTTP/2.0", 505),
        ("GET x HTTP/1.1", 400),
        ("GET / HTTP/1.x", 400),
        ("POST /", 400),
        ("GET /\x7f HTTP/1.1", 400),
    ],
)
def test_request_line_errors(line: str, status: int) -> None:
    with pytest.raises(BadRequest) as info:
        parse_request_line(line)
    assert info.value.status == status


def test_request_line_forms() -> None:
    head = parse_request_line("GET http://Example.com:8080/a?b=1 HTTP/1.0")
    assert (head.host, head.path, head.args, head.version) == ("Example.com", "/a", "b=1", 1000)
    assert parse_request_line("GET /").version == 9


@pytest.mark.parametrize(
    ("raw", "uri"),
    [
        ("/a/./b", "/a/b"),
        ("/a/b/../c", "/a/c"),
        ("//a///b", "/a/b"),
        ("/%41%2Fb", "/A/b"),
        ("/a/..", "/"),
        ("/a#frag", "/a"),
        ("/a/%2e%2e/b", "/b"),
    ],
)
def test_complex_uri(raw: str, uri: str) -> None:
    assert parse_complex_uri(raw) == uri


@pytest.mark.parametrize("raw", ["/..", "/%zz", "/a%00", "/%2"])
def test_complex_uri_errors(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_complex_uri(raw)


def test_headers_invalid_ignored() -> None:
    head = parse_head("GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nGood: v  ")
    assert head.headers == [("Host", "a"), ("Good", "v")]
    assert head.invalid_headers == ["X_Y: 1"]


def test_chunked_decoder() -> None:
    decoder = ChunkedDecoder()
    pieces, rest = decoder.feed("5\r\nhel")
    assert pieces == ["hel"] and rest == ""
    pieces, rest = decoder.feed("lo\r\n0\r\n\r\nNEXT")
    assert pieces == ["lo"] and decoder.done and rest == "NEXT"


@pytest.mark.parametrize(
    ("host", "expected"),
    [("Example.COM:80", "example.com"), ("a.b.", "a.b"), ("a..b", None), ("a/b", None), ("[::1]:8", "[::1]")],
)
def test_validate_host(host: str, expected: str | None) -> None:
    assert validate_host(host) == expected


@pytest.mark.parametrize(
    ("host", "index"),
    [
        ("example.com", 0),
        ("a.example.com", 0),
        ("www.example.org", 0),
        ("bob.users.test", 0),
        ("x.test", 1),
        ("", 1),
    ],
)
def test_find_virtual_server(http: HttpConf, host: str, index: int) -> None:
    addr = http.listeners[0].addr_conf("127.0.0.1")
    server, match = find_virtual_server(addr, host)
    assert server.index == index
    if host == "bob.users.test":
        assert isinstance(match, re.Match) and match.group("user") == "bob"


@pytest.mark.parametrize(
    ("uri", "name", "rc"),
    [
        ("/", "/", OK),
        ("/x", "/", DECLINED),
        ("/docs/a", "/docs/", DECLINED),
        ("/docs/api/x", "/docs/api/", DECLINED),
        ("/docs/api/x.md", r"\.md$", OK),
        ("/static/a.png", "/static/", DECLINED),
        ("/a.png", r"\.(png|jpg)$", OK),
        ("/A.pdf", r"\.PDF$", OK),
        ("/proxy", "/proxy/", DONE),
        ("/proxy/x", "/proxy/", DECLINED),
    ],
)
def test_find_location(http: HttpConf, uri: str, name: str, rc: int) -> None:
    found_rc, loc, _ = find_location(http.servers[0].loc, uri)
    assert (loc.name, found_rc) == (name, rc)


def test_named_location(http: HttpConf) -> None:
    assert "@fallback" in http.servers[0].named


def test_variables(http: HttpConf) -> None:
    r = make_request(
        http, "GET /a/b.txt?x=1&k=bz HTTP/1.1\r\nHost: Example.com\r\nCookie: s=1; t=2\r\nX-Y: z"
    )
    value = compile_value(
        "$host|$uri|$args|$arg_x|$cookie_t|$http_x_y|$exten|$mk|$tail|$server_name|$is_args"
    )
    assert evaluate(value, r) == "example.com|/a/b.txt|x=1&k=bz|1|2|z||B-z|z|example.com|?"
    assert log_line([compile_value('"$http_referer" $status')], "default", r) == '"-" 000'


def test_map_lookup(http: HttpConf) -> None:
    conf = http.maps["mk"]
    value, match = find_map_value(conf, "a")
    assert value is not None and value.source == "A" and match is None
    value, match = find_map_value(conf, "zzz")
    assert value is not None and value.source == "dflt"


def test_rewrite_script(http: HttpConf) -> None:
    r = make_request(http, "GET /rw/page?a=yes HTTP/1.1\r\nHost: example.com")
    _, loc, _ = find_location(http.servers[0].loc, r.uri)
    r.loc = loc
    outcome = run_script(r, loc.scope)
    assert outcome.action == "last"
    assert (r.uri, r.args, r.vars["x"]) == ("/new/page", "a=yes", "2")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-4", [(0, 5)]),
        ("bytes=-3", [(7, 10)]),
        ("bytes=8-", [(8, 10)]),
        ("bytes=20-30", 416),
        ("bytes=x", 416),
        ("bytes=0-1,3-4", [(0, 2), (3, 5)]),
    ],
)
def test_parse_range(header: str, expected: object) -> None:
    assert parse_range(header, 10, None) == expected


def test_request_line_scanner_agrees_with_parser() -> None:
    """The byte-wise scanner (for lines still arriving) and the whole-line parser give the same
    answer for every complete line: random lines from pieces that exercise each state."""
    import random

    from nginxpy.http.parse import RequestLineScanner

    pieces = ["GET", "HEAD", "B@D", "get", " ", "  ", "/", "/a", "http://", "h", "[::1]", ":80", "?x"]
    pieces += ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1000", "HTTP/1.100", "HTTP/10.1", "HTTP/0.9"]
    pieces += ["HTTP/1.", "\t", "\x01", "\r", "x", "%", "#", "\x7f", "\xe9", "HTTP/01.1", "H", "HTTP/1.1\r"]
    rng = random.Random(7)
    for _ in range(20000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        try:
            parse_request_line(line[:-1] if line.endswith("\r") else line)
            whole = None
        except BadRequest as error:
            whole = None if error.http09 else (error.status, error.log)
        found = RequestLineScanner().feed(line + "\n")
        assert (None if found is None else (found.status, found.log)) == whole, repr(line)


@pytest.mark.parametrize(
    "head",
    [
        "GET /r HTTP/1.1\r\nHost: 127.0.0.1:8080  \r\nX-A:b\r\nX-B:   \r\n\r\n",
        "GET /a//b/./c?x=1&y HTTP/1.0\r\n\r\n",
        "POST /x? HTTP/1.1\r\nContent-Length: 3\r\nCookie: a=b; c=\xe9\r\n\r\nabc",
        "HEAD / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    ],
)
def test_simple_head_is_what_the_general_parser_gives(head: str) -> None:
    found = parse_simple_head(head)
    assert found is not None
    parsed, length = found
    end = head.index("\r\n\r\n")
    assert length == end + 4
    assert parsed == parse_head(head[:end])


@pytest.mark.parametrize(
    "head",
    [
        "GET /r HTTP/1.1\r\nHost_x: a\r\n\r\n",  # underscores: a setting decides
        "GET /r HTTP/1.1\nHost: a\n\n",  # bare LF
        "GET /r HTTP/1.1\r\nHost: a\r\n",  # not all in yet
        "GET /%41 HTTP/1.1\r\n\r\n",  # an escape
        "GET http://a/ HTTP/1.1\r\n\r\n",  # absolute form
        "GET /r HTTP/1.1\r\nBad Name: a\r\n\r\n",
        "GET /r HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "GET /r HTTP/2.0\r\n\r\n",
    ],
)
def test_simple_head_leaves_the_rest_to_the_general_parser(head: str) -> None:
    assert parse_simple_head(head) is None
