"""Virtual server selection (ngx_http_find_virtual_server) and the request's Host (pure)."""

from __future__ import annotations

import re

from nginxpy.http.config import AddrConf, ServerConf
from nginxpy.http.parse import BadRequest

_PLAIN_HOST = re.compile(r"([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::[0-9]*)?")


_VALID_HOSTS: dict[str, str | None] = {}  # clients send the same few Host values over and over


def validate_host(host: str) -> str | None:
    """ngx_http_validate_host: lower-cased host without port or trailing dot; None if invalid."""
    try:
        return _VALID_HOSTS[host]
    except KeyError:
        pass
    valid = _validate_host(host)
    if len(_VALID_HOSTS) >= 1024:
        _VALID_HOSTS.clear()
    _VALID_HOSTS[host] = valid
    return valid


def _validate_host(host: str) -> str | None:
    plain = _PLAIN_HOST.fullmatch(host)
    if plain is not None:  # the common case, decided by one regex
        return plain.group(1)
    dot_pos = -2
    host_len = len(host)
    state = "usual"
    for i, ch in enumerate(host):
        if ch == ".":
            if dot_pos == i - 1:
                return None
            dot_pos = i
        elif ch == ":":
            if state == "usual":
                host_len = i
                state = "rest"
        elif ch == "[":
            if i == 0:
                state = "literal"
        elif ch == "]":
            if state == "literal":
                host_len = i + 1
                state = "rest"
        elif ch == "/" or ch <= " " or ch == "\x7f":
            return None
    if dot_pos == host_len - 1:
        host_len -= 1
    if host_len <= 0:
        return None
    return host[:host_len].lower()


def find_virtual_server(addr: AddrConf, host: str) -> tuple[ServerConf, object]:
    """The server for a Host on one address: exact name, longest leading wildcard,
    longest trailing wildcard, first regex (its match is returned for captures), else
    the address's default server."""
    found = addr.exact.get(host)
    if found is not None:
        return found, None
    if host:
        for suffix, server in addr.wc_head:
            if host.endswith(suffix) and len(host) > len(suffix):
                return server, None
        for prefix, server in addr.wc_tail:
            if host.startswith(prefix) and len(host) > len(prefix):
                return server, None
        for regex, server in addr.regexes:
            match = regex.search(host)
            if match is not None:
                return server, match
    return addr.default, None


def request_host(request_line_host: str | None, host_header: str | None) -> str:
    """The host used to pick the server: the request line's, else the Host header's."""
    if request_line_host is not None:
        host = validate_host(request_line_host)
        if host is None:
            raise BadRequest(400, "client sent invalid host in request line")
        return host
    if host_header is not None:
        host = validate_host(host_header)
        if host is None:
            raise BadRequest(400, "client sent invalid host header")
        return host
    return ""
