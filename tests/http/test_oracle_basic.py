"""nginx vs nginxpy: return, rewrite, set, if, map, variables, server and location selection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_oracle import Pair

CONF = r"""
events {}
http {
    access_log logs/access.log;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    map $uri $mapped { default "none"; /m/a "is-a"; ~^/m/(?<rest>x.*)$ "rx-$rest"; ~*^/M/C "caseless"; }
    map $http_host $maphost { hostnames; default d; *.example.com wild; www.example.* tail; example.org exact; }
    server {
        listen 127.0.0.1:{port0};
        server_name localhost first.test;
        location = /v {
            return 200 "host=$host uri=$uri args=$args is_args=$is_args request_uri=$request_uri method=$request_method proto=$server_protocol scheme=$scheme sn=$server_name arg_a=$arg_a cookie_c=$cookie_c http_x_y=$http_x_y cu=$connection_upgrade ct=$content_type cl=$content_length https=$https\n";
        }
        location = /exact { return 200 "exact\n"; }
        location / { return 200 "prefix-root\n"; }
        location /a/ { return 200 "prefix-a\n"; }
        location /a/b/ { return 200 "prefix-a-b\n"; }
        location ^~ /stop/ { return 200 "noregex-stop\n"; }
        location ~ \.php$ { return 200 "regex-php $1\n"; }
        location ~* \.(JPG|png)$ { return 200 "regex-img $1\n"; }
        location /nest/ {
            location /nest/in/ { return 200 "nested-in\n"; }
            location ~ /nest/.*\.txt$ { return 200 "nested-regex\n"; }
            return 200 "nest-outer\n";
        }
        location ~ ^/cap/(?<first>[a-z]+)/(\d+)$ { return 200 "cap first=$first two=$2 one=$1\n"; }
        location /m/ { return 200 "map=$mapped rest=$rest\n"; }
        location /M/ { return 200 "map=$mapped\n"; }
        location = /maphost { return 200 "maphost=$maphost\n"; }
        location /ret/ {
            location = /ret/301 { return 301 /target; }
            location = /ret/302abs { return 302 http://example.com/x; }
            location = /ret/bare { return http://example.com/bare; }
            location = /ret/404 { return 404; }
            location = /ret/403text { return 403 "forbidden text"; }
            location = /ret/204 { return 204; }
            location = /ret/500 { return 500; }
            location = /ret/418 { return 418; }
            location = /ret/299 { return 299 "odd"; }
            location = /ret/444 { return 444; }
            location = /ret/200empty { return 200; }
            location = /ret/307 { return 307 "/rel?x=1"; }
            location = /ret/html.html { return 200 "typed"; }
        }
        location /rw/ {
            rewrite ^/rw/last/(.*)$ /exact last;
            rewrite ^/rw/brk/(.*)$ /other/$1 break;
            rewrite ^/rw/red/(.*)$ /new/$1 redirect;
            rewrite ^/rw/perm/(.*)$ /new/$1 permanent;
            rewrite ^/rw/args/(.*)$ /v?x=$1;
            rewrite ^/rw/noargs/(.*)$ /v?;
            rewrite ^/rw/abs/(.*)$ http://example.com/$1;
            rewrite ^/rw/loop$ /rw/loop last;
            return 200 "rw-fallthrough uri=$uri\n";
        }
        location /other/ { return 200 "other $uri\n"; }
        location /set/ {
            set $a "one";
            set $b "$a-two";
            if ($arg_x = "yes") { set $b "$b-x"; }
            if ($arg_y) { return 200 "y-set $arg_y\n"; }
            if ($http_user_agent ~* (curl|test)(.*)) { set $b "$b-ua-$1"; }
            if ($arg_z !~ ^[0-9]+$) { set $b "$b-notnum"; }
            if (-f $document_root/index.html) { set $b "$b-file"; }
            if (!-d $document_root/nodir) { set $b "$b-nodir"; }
            return 200 "b=$b\n";
        }
        location /brk/ {
            set $v "1";
            break;
            set $v "2";
            return 200 "never\n";
        }
        location = /brkv { set $w "1"; break; }
    }
    server {
        listen 127.0.0.1:{port0};
        server_name *.example.com;
        location / { return 200 "wildcard-head sn=$server_name host=$host\n"; }
    }
    server {
        listen 127.0.0.1:{port0};
        server_name .example.org www.example.*;
        location / { return 200 "dot-or-tail sn=$server_name host=$host\n"; }
    }
    server {
        listen 127.0.0.1:{port0};
        server_name ~^(?<sub>[a-z]+)\.regex\.test$ ~^num(\d+)\.test$;
        location / { return 200 "regex-server sub=$sub one=$1 sn=$server_name\n"; }
    }
    server {
        listen 127.0.0.1:{port0} default_server;
        server_name exact.example.com "";
        location / { return 200 "default-or-exact host=$host sn=$server_name\n"; }
    }
    server {
        listen 127.0.0.1:{port1};
        location / { return 200 "second-port host=$host port=$server_port\n"; }
    }
}
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with Pair(tmp_path_factory.mktemp("basic"), CONF, {"html/index.html": b"index\n"}, nports=2) as running:
        yield running


def get(path: str, host: str = "localhost", extra: str = "") -> str:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"


LOCATIONS = [
    "/exact",
    "/exact/",
    "/exactly",
    "/",
    "/a",
    "/a/",
    "/a/x",
    "/a/b",
    "/a/b/",
    "/a/b/c",
    "/stop/x.php",
    "/x.php",
    "/a/x.php",
    "/img.jpg",
    "/img.JPG",
    "/IMG.PNG",
    "/nest/",
    "/nest/in/",
    "/nest/in/x.txt",
    "/nest/x.txt",
    "/nest/y",
    "/cap/abc/42",
    "/cap/ABC/42",
    "/m/a",
    "/m/xyz",
    "/m/q",
    "/M/c",
    "/M/d",
    "/ret/x",
]


@pytest.mark.parametrize("path", LOCATIONS)
def test_location_selection(pair: Pair, path: str) -> None:
    pair.compare(get(path))


RETURNS = [
    "/ret/301",
    "/ret/302abs",
    "/ret/bare",
    "/ret/404",
    "/ret/403text",
    "/ret/204",
    "/ret/500",
    "/ret/418",
    "/ret/299",
    "/ret/444",
    "/ret/200empty",
    "/ret/307",
    "/ret/html.html",
]


@pytest.mark.parametrize("path", RETURNS)
def test_return(pair: Pair, path: str) -> None:
    pair.compare(get(path))


REWRITES = [
    "/rw/last/q",
    "/rw/brk/q",
    "/rw/red/q",
    "/rw/red/q?a=1",
    "/rw/perm/q",
    "/rw/args/q",
    "/rw/args/q?orig=1",
    "/rw/noargs/q?orig=1",
    "/rw/abs/q?z=9",
    "/rw/loop",
    "/rw/none",
]


@pytest.mark.parametrize("path", REWRITES)
def test_rewrite(pair: Pair, path: str) -> None:
    pair.compare(get(path))


SCRIPTS = [
    ("/set/", ""),
    ("/set/?x=yes", ""),
    ("/set/?y=7", ""),
    ("/set/?z=12", "User-Agent: TestAgent/1\r\n"),
    ("/set/?z=ab", "User-Agent: other\r\n"),
    ("/brk/", ""),
    ("/brkv", ""),
]


@pytest.mark.parametrize(("path", "extra"), SCRIPTS)
def test_set_if_break(pair: Pair, path: str, extra: str) -> None:
    pair.compare(get(path, extra=extra))


VARIABLES = [
    ("/v", "localhost", ""),
    ("/v?a=1&b=2", "LocalHost:8080", "Cookie: c=cv; d=dv\r\nX-Y: xy\r\n"),
    ("/v?A=up", "first.test", "Upgrade: websocket\r\nContent-Type: text/x\r\nContent-Length: 0\r\n"),
    ("/v?", "localhost.", ""),
    ("/%76", "localhost", ""),
    ("/./v", "localhost", ""),
    ("//v?a=%20", "localhost", ""),
    ("/x/../v", "localhost", ""),
]


@pytest.mark.parametrize(("path", "host", "extra"), VARIABLES)
def test_variables(pair: Pair, path: str, host: str, extra: str) -> None:
    pair.compare(get(path, host, extra))


HOSTS = [
    "localhost",
    "first.test",
    "a.example.com",
    "b.a.example.com",
    "example.com",
    "example.org",
    "x.example.org",
    "www.example.net",
    "www.example.com",
    "abc.regex.test",
    "ABC.Regex.Test",
    "num42.test",
    "exact.example.com",
    "unknown.test",
    "127.0.0.1",
]


@pytest.mark.parametrize("host", HOSTS)
def test_server_selection(pair: Pair, host: str) -> None:
    pair.compare(get("/sel", host))


@pytest.mark.parametrize("host", ["www.example.com", "a.example.com", "example.org", "other"])
def test_map_hostnames(pair: Pair, host: str) -> None:
    pair.compare(get("/maphost", "localhost", "X: 1\r\n").replace("Host: localhost", f"Host: {host}"))


def test_http10_without_host(pair: Pair) -> None:
    pair.compare("GET /sel HTTP/1.0\r\n\r\n")


def test_second_port(pair: Pair) -> None:
    pair.compare(get("/", "any"), port=1)


def test_absolute_form(pair: Pair) -> None:
    pair.compare("GET http://abc.regex.test/x?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")


def test_map_hostnames_plain(pair: Path | Pair) -> None:
    assert isinstance(pair, Pair)
    pair.compare(get("/maphost", "www.example.org"))
