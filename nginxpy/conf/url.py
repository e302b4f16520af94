"""Addresses in directives, read as nginx's ``ngx_parse_url`` reads them (src/core/ngx_inet.c).

``listen 8080``, ``server 127.0.0.1:8001``, ``proxy_pass http://[::1]:3000/``: the
host, port and optional URI part, with nginx's error texts ("invalid host",
"invalid port", "no host", "host not found", ...) in ``err``.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass, field

from nginxpy.conf import values as conf_values


@dataclass
class Url:
    url: str
    host: str = ""
    port: int = 0
    no_port: bool = False
    uri: str = ""
    wildcard: bool = False
    unix: bool = False
    # (family, address text, port) of each address it stands for.
    addrs: list[tuple[int, str, int]] = field(default_factory=list)
    err: str | None = None


def _port(text: str) -> int | None:
    number = conf_values.parse_int(text)
    return number if number is not None and 1 <= number <= 65535 else None


def _inet4(host: str) -> str | None:
    """ngx_inet_addr: exactly four decimal octets."""
    parts = host.split(".")
    if len(parts) != 4 or not all(part.isascii() and part.isdigit() and int(part) <= 255 for part in parts):
        return None
    return ".".join(str(int(part)) for part in parts)


def resolve(host: str, port: int) -> list[tuple[int, str, int]] | None:
    """ngx_inet_resolve_host: IPv4 addresses first, then IPv6; None when not found."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    found: list[tuple[int, str, int]] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for info in infos:
            if info[0] == family:
                entry = (family, str(info[4][0]), port)
                if entry not in found:
                    found.append(entry)
    return found or None


def parse_url(
    url: str, default_port: int = 80, listen: bool = False, uri_part: bool = False, no_resolve: bool = False
) -> Url:
    result = Url(url)
    if url[:5].lower() == "unix:":
        result.unix = True
        path = url[5:]
        if uri_part:
            path = path.split(":", 1)[0]
        if not path:
            result.err = "no path in the unix domain socket"
        result.host = url
        result.addrs.append((socket.AF_UNIX, url, 0))
        return result
    if url.startswith("["):
        return _parse_inet6(result, url, default_port, listen, uri_part)
    return _parse_inet(result, url, default_port, listen, uri_part, no_resolve)


def _parse_inet(
    result: Url, url: str, default_port: int, listen: bool, uri_part: bool, no_resolve: bool
) -> Url:
    last = len(url)
    port_at = url.find(":")
    uri_at = url.find("/")
    args_at = url.find("?")
    if args_at >= 0 and (uri_at < 0 or args_at < uri_at):
        uri_at = args_at
    if uri_at >= 0:
        if listen or not uri_part:
            result.err = "invalid host"
            return result
        result.uri = url[uri_at:]
        last = uri_at
        if uri_at < port_at:
            port_at = -1
    host_end = last
    if port_at >= 0:
        number = _port(url[port_at + 1 : last])
        if number is None:
            result.err = "invalid port"
            return result
        result.port = number
        host_end = port_at
    else:
        if uri_at < 0 and listen:
            text = url[:last]
            if text.isascii() and text.isdigit():
                number = _port(text)
                if number is None:
                    result.err = "invalid port"
                    return result
                result.port, result.wildcard = number, True
                result.addrs.append((socket.AF_INET, "0.0.0.0", number))
                return result
        result.no_port = True
        result.port = default_port
    host = url[:host_end]
    if not host:
        result.err = "no host"
        return result
    result.host = host
    if listen and host == "*":
        result.wildcard = True
        result.addrs.append((socket.AF_INET, "0.0.0.0", result.port))
        return result
    address = _inet4(host)
    if address is not None:
        result.wildcard = address == "0.0.0.0"
        result.addrs.append((socket.AF_INET, address, result.port))
        return result
    if no_resolve:
        return result
    found = resolve(host, result.port)
    if found is None:
        result.err = "host not found"
        return result
    result.addrs = found
    return result


def _parse_inet6(result: Url, url: str, default_port: int, listen: bool, uri_part: bool) -> Url:
    close = url.find("]")
    if close < 0:
        result.err = "invalid host"
        return result
    last = len(url)
    uri_at = url.find("/", close + 1)
    if uri_at >= 0:
        if listen or not uri_part:
            result.err = "invalid host"
            return result
        result.uri = url[uri_at:]
        last = uri_at
    if close + 1 < last:
        if url[close + 1] != ":":
            result.err = "invalid host"
            return result
        number = _port(url[close + 2 : last])
        if number is None:
            result.err = "invalid port"
            return result
        result.port = number
    else:
        result.no_port = True
        result.port = default_port
    inner = url[1:close]
    if not inner:
        result.err = "no host"
        return result
    result.host = url[: close + 1]
    parsed = _ipv6(inner)
    if parsed is None:
        result.err = "invalid IPv6 address"
        return result
    result.wildcard, text = parsed
    result.addrs.append((socket.AF_INET6, text, result.port))
    return result


@functools.lru_cache(maxsize=1024)
def _ipv6(text: str) -> tuple[bool, str] | None:
    """An IPv6 address: (unspecified, compressed text); None if invalid.  Cached: the
    servers of a configuration listen on the same few addresses."""
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return address.is_unspecified, str(address)


def addr_text(family: int, address: str, port: int) -> str:
    """ngx_sock_ntop with the port: "0.0.0.0:80", "[::1]:80", "unix:/path"."""
    if family == socket.AF_UNIX:
        return address
    if family == socket.AF_INET6:
        return f"[{address}]:{port}"
    return f"{address}:{port}"
