"""The fast path of the upstream head parser gives what the full parser gives, or steps aside."""

from __future__ import annotations

import pytest

from nginxpy.http.proxy import HeadParser, ProxyError, _parse_fast, _parse_head

HEADS = [
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nConnection: keep-alive",
    b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html",
    b"HTTP/1.1 204",
    b"HTTP/1.1 200 \r\nX-Empty:\r\nX-Spaces:   a b  \t",
    b"HTTP/2.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5",
    b"HTTP/1.1 200 OK\r\nConnection: Close",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
    b"HTTP/1.1 200 OK\r\nContent-Length: x",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip",
    b"HTTP/1.1 200 OK\r\nBad Name: 1",
    b"HTTP/1.1 200 OK\r\nNoColon",
    b"HTTP/1.1 200 OK\r\nA: 1\nB: 2",
    b"HTTP/1.1 200 OK\r\nA: 1\r\r\nB: 2",
    b"HTTP/12.1 200 OK\r\nA: 1",
    b"HTTP/1.1 200 OK\rX\r\nA: 1",
]


@pytest.mark.parametrize("head", HEADS)
def test_fast_path_agrees_with_the_full_parser(head: bytes) -> None:
    for _ in range(2):  # the second time from the table of lines seen
        fast = _parse_fast(head.decode("latin-1"))
        try:
            full = _parse_head(head + b"\r\n\r\n")
        except ProxyError:
            assert fast is None
            continue
        assert fast is None or fast == full


def _feed(parts: list[bytes]) -> tuple[object, bytes]:
    parser = HeadParser()
    try:
        for part in parts:
            head = parser.feed(part)
            if head is not None:
                return head, parser.rest
    except ProxyError as err:
        return err.message, b""
    return None, b""


@pytest.mark.parametrize("head", HEADS)
def test_feed_in_one_read_as_in_two(head: bytes) -> None:
    """One read (the fast path may apply) gives what a head split over two reads gives."""
    data = head + b"\r\n\r\nbody"
    assert _feed([data]) == _feed([data[:1], data[1:]])
