"""nginx vs nginxpy: static files, index, autoindex, try_files, alias, types, conditional and range
requests, expires, add_header, error_page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_oracle import Pair

CONF = r"""
events {}
http {
    access_log logs/access.log;
    types { text/html html; text/css css; image/png png; application/json json; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:{port0};
        server_name localhost;
        root html;
        add_header X-Server server-level;
        location / { }
        location /idx/ { index first.html second.html; }
        location /idxabs/ { index missing.html /idx/second.html; }
        location /auto/ { autoindex on; }
        location /autojson/ { alias html/auto/; autoindex on; autoindex_format json; }
        location /autokb/ { alias html/auto/; autoindex on; autoindex_exact_size off; }
        location /al/ { alias html/sub/; }
        location ~ ^/rx/(.*)$ { alias html/sub/$1; }
        location /tf/ { try_files $uri $uri/ /tf-fallback.txt; }
        location /tfcode/ { try_files $uri =418; }
        location /tfnamed/ { try_files /nothing @named; }
        location @named { return 200 "named uri=$uri\n"; }
        location /hdr/ {
            add_header X-A a;
            add_header X-Always always always;
            add_header X-Empty "";
            add_header Cache-Control "private";
            expires 1h;
        }
        location /exp/ { alias html/; expires epoch; }
        location /expmax/ { alias html/; expires max; }
        location /expoff/ { alias html/; expires -1; }
        location /noetag/ { alias html/; etag off; }
        location /ims-before/ { alias html/; if_modified_since before; }
        location /ims-off/ { alias html/; if_modified_since off; }
        location /err/ {
            error_page 404 /errors/404.html;
            error_page 403 =200 /errors/ok.html;
            error_page 418 = @teapot;
            error_page 410 http://example.com/gone;
            error_page 409 =301 http://example.com/moved;
            location /err/gone { return 410; }
            location /err/teapot { return 418; }
            location /err/forbidden { return 403; }
            location /err/conflict { return 409; }
            location /err/ret500 { error_page 500 /errors/500.html; return 500; }
        }
        location @teapot { return 200 "teapot handled\n"; }
        location /errors/ { internal; }
        location /ctype/ { alias html/; default_type text/x-default; }
        location /ranges/ { alias html/; max_ranges 1; }
        location /charset/ { alias html/; charset utf-8; }
        location /deny/ { deny all; }
        location /allow/ { allow 127.0.0.1; deny all; }
        location /denylocal/ { deny 127.0.0.0/8; allow all; }
        location /lim/ { limit_except GET { deny all; } }
        location /recurse/ {
            error_page 404 /recurse/missing2;
        }
        location /recurse2/ {
            recursive_error_pages on;
            error_page 404 /recurse2/again;
        }
    }
}
"""

FILES: dict[str, bytes | None] = {
    "html/index.html": b"<p>index</p>\n",
    "html/file.txt": b"0123456789abcdefghijklmnopqrstuvwxyz\n",
    "html/style.css": b"body{}\n",
    "html/data.json": b"{}\n",
    "html/noext": b"noext\n",
    "html/UPPER.PNG": b"png\n",
    "html/idx/second.html": b"second index\n",
    "html/idxabs/placeholder": b"x\n",
    "html/auto/b.txt": b"bb\n",
    "html/auto/a.txt": b"a\n",
    "html/auto/zdir": None,
    "html/auto/.hidden": b"h\n",
    "html/auto/big.bin": b"x" * 20000,
    "html/auto/" + "n" * 60 + ".txt": b"long\n",
    "html/sub/inner.txt": b"inner\n",
    "html/tf/real.txt": b"real\n",
    "html/tf/dir/index.html": b"tf dir index\n",
    "html/tf-fallback.txt": b"fallback\n",
    "html/errors/404.html": b"custom 404\n",
    "html/errors/ok.html": b"ok page\n",
    "html/errors/500.html": b"custom 500\n",
    "html/hdr/h.txt": b"headers\n",
    "html/deny/d.txt": b"d\n",
    "html/allow/a.txt": b"a\n",
    "html/denylocal/a.txt": b"a\n",
    "html/lim/l.txt": b"l\n",
    "html/emptydir": None,
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with Pair(tmp_path_factory.mktemp("static"), CONF, FILES) as running:
        yield running


def req(path: str, extra: str = "", method: str = "GET") -> str:
    return f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"


PATHS = [
    "/",
    "/index.html",
    "/file.txt",
    "/style.css",
    "/data.json",
    "/noext",
    "/UPPER.PNG",
    "/missing",
    "/missing/",
    "/emptydir",
    "/emptydir/",
    "/idx/",
    "/idx",
    "/idxabs/",
    "/auto/",
    "/autojson/",
    "/autokb/",
    "/auto/zdir/",
    "/al/inner.txt",
    "/al/missing",
    "/rx/inner.txt",
    "/rx/none",
    "/tf/real.txt",
    "/tf/dir",
    "/tf/dir/",
    "/tf/none",
    "/tfcode/x",
    "/tfnamed/x",
    "/hdr/h.txt",
    "/hdr/missing",
    "/exp/file.txt",
    "/expmax/file.txt",
    "/expoff/file.txt",
    "/noetag/file.txt",
    "/err/missing",
    "/err/gone",
    "/err/teapot",
    "/err/forbidden",
    "/err/conflict",
    "/err/ret500",
    "/errors/404.html",
    "/ctype/noext",
    "/ctype/file.txt",
    "/charset/file.txt",
    "/charset/style.css",
    "/deny/d.txt",
    "/allow/a.txt",
    "/denylocal/a.txt",
    "/lim/l.txt",
    "/recurse/x",
    "/recurse2/x",
    "/file.txt?query=1",
    "/%66ile.txt",
    "/sub/../file.txt",
    "/../file.txt",
    "/a/%2e%2e/file.txt",
    "/emptydir?x=1",
]


@pytest.mark.parametrize("path", PATHS)
def test_get(pair: Pair, path: str) -> None:
    pair.compare(req(path))


@pytest.mark.parametrize("path", ["/", "/file.txt", "/missing", "/auto/", "/err/missing", "/hdr/h.txt"])
def test_head(pair: Pair, path: str) -> None:
    pair.compare(req(path, method="HEAD"))


@pytest.mark.parametrize("path", ["/file.txt", "/", "/lim/l.txt", "/auto/", "/tf/real.txt"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_methods(pair: Pair, path: str, method: str) -> None:
    pair.compare(req(path, "Content-Length: 0\r\n", method=method))


LM = "Tue, 14 Nov 2023 22:13:20 GMT"
CONDITIONAL = [
    ("/file.txt", f"If-Modified-Since: {LM}\r\n"),
    ("/file.txt", "If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT\r\n"),
    ("/file.txt", "If-Modified-Since: garbage\r\n"),
    ("/ims-before/file.txt", "If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT\r\n"),
    ("/ims-off/file.txt", f"If-Modified-Since: {LM}\r\n"),
    ("/file.txt", 'If-None-Match: "6553f100-25"\r\n'),
    ("/file.txt", 'If-None-Match: W/"6553f100-25"\r\n'),
    ("/file.txt", 'If-None-Match: "other", "6553f100-25"\r\n'),
    ("/file.txt", "If-None-Match: *\r\n"),
    ("/file.txt", 'If-None-Match: "nope"\r\n'),
    ("/file.txt", 'If-Match: "nope"\r\n'),
    ("/file.txt", 'If-Match: "6553f100-25"\r\n'),
    ("/file.txt", "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n"),
    ("/file.txt", f"If-Unmodified-Since: {LM}\r\n"),
    ("/hdr/h.txt", f"If-Modified-Since: {LM}\r\n"),
]


@pytest.mark.parametrize(("path", "extra"), CONDITIONAL)
def test_conditional(pair: Pair, path: str, extra: str) -> None:
    pair.compare(req(path, extra))


RANGES = [
    "bytes=0-4",
    "bytes=5-",
    "bytes=-3",
    "bytes=30-100",
    "bytes=100-200",
    "bytes=5-2",
    "bytes=0-0,2-3",
    "bytes=abc",
    "items=0-1",
    "bytes=-0",
    "bytes=0-36",
    "bytes=37-",
]


@pytest.mark.parametrize("value", RANGES)
def test_range(pair: Pair, value: str) -> None:
    expected, got = pair.both(req("/file.txt", f"Range: {value}\r\n"))
    from http_oracle import render

    # multipart boundaries are random: compare the parts that are not
    def strip(text: str) -> str:
        import re

        return re.sub(r"\d{20}", "BOUNDARY", text)

    assert strip(render(got)) == strip(render(expected))


@pytest.mark.parametrize(
    "extra",
    [
        'Range: bytes=0-4\r\nIf-Range: "6553f100-25"\r\n',
        'Range: bytes=0-4\r\nIf-Range: "x"\r\n',
        f"Range: bytes=0-4\r\nIf-Range: {LM}\r\n",
        "Range: bytes=0-1,3-4\r\n",
    ],
)
def test_range_conditions(pair: Pair, extra: str) -> None:
    path = "/ranges/file.txt" if "0-1,3-4" in extra else "/file.txt"
    pair.compare(req(path, extra))
