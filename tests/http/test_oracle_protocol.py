"""nginx vs nginxpy on the wire: keep-alive, pipelining, bodies, Expect, HTTP/1.0 and 0.9, limits
and malformed input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_oracle import Pair

CONF = r"""
events {}
http {
    access_log logs/access.log;
    client_max_body_size 100;
    large_client_header_buffers 4 1k;
    keepalive_requests 3;
    server {
        listen 127.0.0.1:{port0};
        server_name localhost;
        root html;
        location / { }
        location = /ret { return 200 "ret $request_method $content_length\n"; }
        location = /ka0 { keepalive_timeout 0; return 200 "no keepalive\n"; }
        location = /kahdr { keepalive_timeout 30s 25; return 200 "header\n"; }
        location = /big { client_max_body_size 0; return 200 "any size\n"; }
    }
}
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with Pair(
        tmp_path_factory.mktemp("proto"), CONF, {"html/index.html": b"index\n", "html/f.txt": b"file\n"}
    ) as p:
        yield p


H = "Host: localhost\r\n"
CLOSE = "Connection: close\r\n"

WIRE = {
    "pipelined": f"GET /f.txt HTTP/1.1\r\n{H}\r\nHEAD /f.txt HTTP/1.1\r\n{H}\r\nGET /ret HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "keepalive_requests": "".join(f"GET /ret HTTP/1.1\r\n{H}\r\n" for _ in range(4)),
    "http10": "GET /f.txt HTTP/1.0\r\n\r\n",
    "http10_keepalive": f"GET /f.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /ret HTTP/1.0\r\n{H}\r\n",
    "http09": "GET /f.txt\r\n",
    "http09_post": "POST /f.txt\r\n",
    "ka0": f"GET /ka0 HTTP/1.1\r\n{H}\r\nGET /ret HTTP/1.1\r\n{H}\r\n",
    "kahdr": f"GET /kahdr HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "leading_crlf": f"\r\n\r\nGET /ret HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "bare_lf": "GET /ret HTTP/1.1\nHost: localhost\nConnection: close\n\n",
    "post_body": f"POST /ret HTTP/1.1\r\n{H}Content-Length: 5\r\n\r\nhelloGET /ret HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "post_static": f"POST /f.txt HTTP/1.1\r\n{H}Content-Length: 3\r\n\r\nabcGET /f.txt HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "chunked": f"POST /ret HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /ret HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "chunked_ext": f"POST /ret HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nGET /ret HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "expect": f"POST /ret HTTP/1.1\r\n{H}Expect: 100-continue\r\nContent-Length: 2\r\n{CLOSE}\r\nok",
    "expect_static": f"GET /f.txt HTTP/1.1\r\n{H}Expect: 100-continue\r\n{CLOSE}\r\n",
    "expect_10": f"POST /ret HTTP/1.0\r\n{H}Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "too_large": f"POST /ret HTTP/1.1\r\n{H}Content-Length: 101\r\n{CLOSE}\r\n" + "x" * 101,
    "too_large_expect": f"POST /ret HTTP/1.1\r\n{H}Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
    "unlimited": f"POST /big HTTP/1.1\r\n{H}Content-Length: 300\r\n{CLOSE}\r\n" + "y" * 300,
    "cl_and_te": f"POST /ret HTTP/1.1\r\n{H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_unknown": f"POST /ret HTTP/1.1\r\n{H}Transfer-Encoding: gzip\r\n\r\n",
    "te_http10": f"POST /ret HTTP/1.0\r\n{H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad_cl": f"POST /ret HTTP/1.1\r\n{H}Content-Length: abc\r\n\r\n",
    "dup_cl": f"POST /ret HTTP/1.1\r\n{H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "dup_host": "GET /ret HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "no_host_11": "GET /ret HTTP/1.1\r\n\r\n",
    "bad_host": "GET /ret HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "bad_host_dots": "GET /ret HTTP/1.1\r\nHost: a..b\r\n\r\n",
    "empty_host": "GET /ret HTTP/1.1\r\nHost:\r\n\r\n",
    "bad_method": "get /ret HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad_method_char": "G@T /ret HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad_uri": "GET ret HTTP/1.1\r\nHost: x\r\n\r\n",
    "star_uri": "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad_version": "GET /ret HTTP/1.x\r\nHost: x\r\n\r\n",
    "lower_version": "GET /ret http/1.1\r\nHost: x\r\n\r\n",
    "http2_version": "GET /ret HTTP/2.0\r\nHost: x\r\n\r\n",
    "http3_version": "GET /ret HTTP/3\r\nHost: x\r\n\r\n",
    "http12_version": f"GET /ret HTTP/1.2\r\n{H}{CLOSE}\r\n",
    "space_in_uri": "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "ctl_in_uri": "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
    "header_no_colon": f"GET /ret HTTP/1.1\r\n{H}NoColon\r\n{CLOSE}\r\n",
    "header_space_name": f"GET /ret HTTP/1.1\r\n{H}Bad Name: x\r\n{CLOSE}\r\n",
    "header_underscore": f"GET /ret HTTP/1.1\r\n{H}X_Under: x\r\n{CLOSE}\r\n",
    "header_cr": f"GET /ret HTTP/1.1\r\n{H}X: a\rb\r\n{CLOSE}\r\n",
    "header_nul": f"GET /ret HTTP/1.1\r\n{H}X: a\x00b\r\n{CLOSE}\r\n",
    "connect": "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "trace": "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n",
    "long_uri": "GET /" + "a" * 2000 + " HTTP/1.1\r\nHost: x\r\n\r\n",
    "long_header": f"GET /ret HTTP/1.1\r\n{H}X-Long: " + "b" * 2000 + "\r\n\r\n",
    "many_headers": f"GET /ret HTTP/1.1\r\n{H}"
    + "".join(f"X-H{i}: " + "c" * 500 + "\r\n" for i in range(12))
    + "\r\n",
    "uri_above_root": "GET /../x HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad_escape": "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul_escape": "GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "absolute_uri": f"GET http://other.test/ret?x=1 HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "absolute_uri_noslash": f"GET http://other.test HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "absolute_bad_host": "GET http://a..b/ret HTTP/1.1\r\nHost: x\r\n\r\n",
    "head_ret": f"HEAD /ret HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "head_missing": f"HEAD /nope HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "fragment": f"GET /f.txt#frag HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "fragment_args": f"GET /ret?a=1#frag HTTP/1.1\r\n{H}{CLOSE}\r\n",
    "post_static_chunked": f"POST /f.txt HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n{CLOSE}\r\n1\r\na\r\n0\r\n\r\n",
    "bad_chunk": f"POST /ret HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\nzz\r\n",
}


@pytest.mark.parametrize("name", sorted(WIRE))
def test_wire(pair: Pair, name: str) -> None:
    pair.compare(WIRE[name], timeout=3)


def test_half_closed_request(pair: Pair) -> None:
    pair.compare(f"GET /ret HTTP/1.1\r\n{H}\r\n", half_close=True, timeout=3)
