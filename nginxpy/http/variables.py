"""nginx's http variables: a table of name -> getter, plus prefix getters, evaluated per request.

As in ``ngx_http_variables.c``, most getters read the request's fields each time
(``$uri`` follows rewrites); ``map`` results are cached for the request unless the
map is ``volatile``.  A getter returns ``None`` for "not found" (written as "" in
strings and "-" in access logs).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from nginxpy import versions
from nginxpy.conf.script import Capture, ComplexValue, Var

if TYPE_CHECKING:
    from nginxpy.http.request import Request

Getter = Callable[["Request"], str | None]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


_HTTP_TIMES: dict[int, str] = {}  # a file's Last-Modified is asked for on every request


def http_time(seconds: float) -> str:
    """ngx_http_time: "Mon, 28 Sep 1970 06:00:00 GMT"."""
    if not isinstance(seconds, int):
        return _http_time(seconds)
    text = _HTTP_TIMES.get(seconds)
    if text is None:
        if len(_HTTP_TIMES) >= 4096:
            _HTTP_TIMES.clear()
        text = _HTTP_TIMES[seconds] = _http_time(seconds)
    return text


def _http_time(seconds: float) -> str:
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def time_local(seconds: float) -> str:
    t = time.localtime(seconds)
    offset = t.tm_gmtoff or 0
    sign = "+" if offset >= 0 else "-"
    offset = abs(offset) // 60
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} "
        f"{sign}{offset // 60:02d}{offset % 60:02d}"
    )


def time_iso8601(seconds: float) -> str:
    t = time.localtime(seconds)
    offset = t.tm_gmtoff or 0
    sign = "+" if offset >= 0 else "-"
    offset = abs(offset) // 60
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f"{sign}{offset // 60:02d}:{offset % 60:02d}"


# -- getters ---------------------------------------------------------------------------


def _host(r: Request) -> str | None:
    if r.host:
        return r.host
    if r.server is not None:
        return r.server.name
    return ""


def _request_filename(r: Request) -> str | None:
    from nginxpy.http.static import map_uri_to_path

    path = map_uri_to_path(r)
    return None if path is None else path[0]


def _document_root(r: Request) -> str | None:
    from nginxpy.http.static import document_root

    return document_root(r)


def _realpath_root(r: Request) -> str | None:
    root = _document_root(r)
    if root is None:
        return None
    try:
        return os.path.realpath(root, strict=True) if root else root
    except OSError:
        return None


def _status(r: Request) -> str:
    status = r.err_status or r.status
    return f"{status:03d}" if status else "000"


def _content_length(r: Request) -> str | None:
    value = r.headers_in.get("content-length")
    if value is not None:
        return value
    if r.content_length_in >= 0 and r.chunked_in:
        return str(r.content_length_in)
    return None


def _remote_user(r: Request) -> str | None:
    import base64

    auth = r.headers_in.get("authorization")
    if not auth or auth[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("latin-1")
    except ValueError:
        return None
    user, sep, _ = decoded.partition(":")
    return user if sep else None


def _cookies(r: Request) -> str | None:
    values = r.header_values("cookie")
    return "; ".join(values) if values else None


def _xff(r: Request) -> str | None:
    values = r.header_values("x-forwarded-for")
    return ", ".join(values) if values else None


def _binary_remote_addr(r: Request) -> str:
    import ipaddress

    if r.conn.family == "unix":
        return r.conn.remote_addr  # nginx: the address text, "unix:"
    try:
        return ipaddress.ip_address(r.conn.remote_addr).packed.decode("latin-1")
    except ValueError:
        return ""


def _request_id(r: Request) -> str:
    value = r.ctx.get("request_id")
    if value is None:
        value = r.ctx["request_id"] = secrets.token_hex(16)
    return str(value)


def _server_addr(r: Request) -> str:
    addr = r.conn.local_addr
    return addr


def _request_time(r: Request) -> str:
    return f"{max(0.0, time.time() - r.start):.3f}"


def _sent_content_type(r: Request) -> str | None:
    if not r.content_type:
        return None
    if r.charset:
        return f"{r.content_type}; charset={r.charset}"
    return r.content_type


def _sent_content_length(r: Request) -> str | None:
    return str(r.content_length) if r.content_length >= 0 else None


def _sent_location(r: Request) -> str | None:
    if r.location is not None:
        return r.location
    return _sent_header(r, "location")


def _sent_last_modified(r: Request) -> str | None:
    if r.last_modified >= 0:
        return http_time(r.last_modified)
    return _sent_header(r, "last-modified")


def _sent_connection(r: Request) -> str:
    return "keep-alive" if r.keepalive else "close"


def _sent_keep_alive(r: Request) -> str | None:
    if r.keepalive and r.loc is not None and r.loc.keepalive_header:
        return f"timeout={r.loc.keepalive_header}"
    return None


def _sent_transfer_encoding(r: Request) -> str | None:
    return "chunked" if r.chunked else None


def _sent_header(r: Request, name: str) -> str | None:
    found = [value for key, value in r.headers_out if key.lower() == name and value != ""]
    if not found:
        return None
    if name in ("cache-control", "link"):
        return ", ".join(found)
    return found[0]


GETTERS: dict[str, Getter] = {
    "http_host": lambda r: r.headers_in.get("host"),
    "http_user_agent": lambda r: r.headers_in.get("user-agent"),
    "http_referer": lambda r: r.headers_in.get("referer"),
    "http_via": lambda r: r.headers_in.get("via"),
    "http_x_forwarded_for": _xff,
    "http_cookie": _cookies,
    "content_length": _content_length,
    "content_type": lambda r: r.headers_in.get("content-type"),
    "host": _host,
    "binary_remote_addr": _binary_remote_addr,
    "remote_addr": lambda r: r.conn.remote_addr,
    "remote_port": lambda r: str(r.conn.remote_port) if r.conn.family != "unix" else "",
    "proxy_protocol_addr": lambda r: None,
    "proxy_protocol_port": lambda r: None,
    "proxy_protocol_server_addr": lambda r: None,
    "proxy_protocol_server_port": lambda r: None,
    "server_addr": _server_addr,
    "server_port": lambda r: str(r.conn.local_port) if r.conn.family != "unix" else "",
    "server_protocol": lambda r: r.protocol,
    "scheme": lambda r: r.conn.scheme,
    "https": lambda r: "on" if r.conn.ssl else "",
    "request_uri": lambda r: r.request_uri or None,
    "uri": lambda r: r.uri or None,
    "document_uri": lambda r: r.uri or None,
    "request": lambda r: r.request_line,
    "document_root": _document_root,
    "realpath_root": _realpath_root,
    "query_string": lambda r: r.args or None,
    "args": lambda r: r.args or None,
    "is_args": lambda r: "?" if r.args else "",
    "request_filename": _request_filename,
    "server_name": lambda r: r.server.name if r.server is not None else "",
    "request_method": lambda r: r.method or None,
    "remote_user": _remote_user,
    "bytes_sent": lambda r: str(r.bytes_sent),
    "body_bytes_sent": lambda r: str(max(0, r.body_bytes_sent)),
    "pipe": lambda r: "p" if r.pipelined else ".",
    "request_completion": lambda r: "OK" if r.completed else "",
    "request_body": lambda r: r.ctx.get("request_body"),  # set where a body is read to memory
    "request_body_file": lambda r: None,
    "request_length": lambda r: str(r.request_length),
    "request_time": _request_time,
    "request_id": _request_id,
    "status": _status,
    "sent_http_content_type": _sent_content_type,
    "sent_http_content_length": _sent_content_length,
    "sent_http_location": _sent_location,
    "sent_http_last_modified": _sent_last_modified,
    "sent_http_connection": _sent_connection,
    "sent_http_keep_alive": _sent_keep_alive,
    "sent_http_transfer_encoding": _sent_transfer_encoding,
    "sent_http_cache_control": lambda r: _sent_header(r, "cache-control"),
    "sent_http_link": lambda r: _sent_header(r, "link"),
    "limit_rate": lambda r: "0",
    "connection": lambda r: str(r.conn.number),
    "connection_requests": lambda r: str(r.conn.requests),
    "connection_time": lambda r: f"{max(0.0, time.time() - r.conn.start):.3f}",
    "nginx_version": lambda r: versions.NGINX_VERSION,
    "hostname": lambda r: r.http.hostname,
    "pid": lambda r: str(os.getpid()),
    "msec": lambda r: f"{time.time():.3f}",
    "time_iso8601": lambda r: time_iso8601(time.time()),
    "time_local": lambda r: time_local(time.time()),
    "tcpinfo_rtt": lambda r: "0",
    "tcpinfo_rttvar": lambda r: "0",
    "tcpinfo_snd_cwnd": lambda r: "0",
    "tcpinfo_rcv_space": lambda r: "0",
    "date_local": lambda r: time.strftime("%A, %d-%b-%Y %H:%M:%S %Z", time.localtime()),
    "date_gmt": lambda r: time.strftime("%A, %d-%b-%Y %H:%M:%S GMT", time.gmtime()),
}


def _header_in(r: Request, name: str) -> str | None:
    """$http_NAME: the first header whose name, lower-cased with "-" as "_", is NAME."""
    for key, value in r.headers:
        if key.lower().replace("-", "_") == name:
            return value
    return None


def _cookie(r: Request, name: str) -> str | None:
    """$cookie_NAME (ngx_http_parse_multi_header_lines with ";" separators)."""
    lowered = name
    for header in r.header_values("cookie"):
        for item in header.split(";"):
            key, sep, value = item.strip(" ").partition("=")
            if sep and key.lower() == lowered:
                return value
    return None


def _arg(r: Request, name: str) -> str | None:
    """$arg_NAME: the first NAME=value of the args (names compared case-insensitively)."""
    args = r.args
    if not args:
        return None
    for item in args.split("&"):
        key, sep, value = item.partition("=")
        if key.lower() == name:
            return value if sep else ""
    return None


def get(r: Request, name: str) -> str | None:
    """The value of $name for this request (name lower-cased), None when not found."""
    found = r.vars.get(name)
    if found is not None:
        return found
    maps = r.http.maps
    if name in maps:
        from nginxpy.http.maps import map_value

        return map_value(r, maps[name])
    getter = GETTERS.get(name)
    if getter is not None:
        return getter(r)
    if name.startswith("http_"):
        return _header_in(r, name[5:])
    if name.startswith("arg_"):
        return _arg(r, name[4:])
    if name.startswith("cookie_"):
        return _cookie(r, name[7:])
    if name.startswith("sent_http_"):
        return _sent_header(r, name[10:].replace("_", "-"))
    if name.isdigit():
        return r.capture(int(name))
    if name.startswith("ssl_"):
        from nginxpy.tls.variables import tls_variable

        return tls_variable(r.conn.tls, name)
    return None


def evaluate(value: ComplexValue, r: Request) -> str:
    """ngx_http_complex_value: the string, with variables and captures substituted."""
    parts = value.parts
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Var):
            out.append(get(r, part.name) or "")
        elif isinstance(part, Capture):
            out.append(r.capture(part.number))
    return "".join(out)


_ESCAPE_DEFAULT = re.compile(r'[\x00-\x1f"\\\x7f-\xff]')
_ESCAPE_JSON = re.compile(r'[\x00-\x1f"\\]')


def log_escape(text: str, mode: str) -> str:
    """ngx_http_log_escape / json escaping of one variable's value in access log lines."""
    if mode == "none":
        return text
    if mode == "json":
        table = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
        return _ESCAPE_JSON.sub(lambda m: table.get(m.group(), f"\\u{ord(m.group()):04x}"), text)
    return _ESCAPE_DEFAULT.sub(lambda m: f"\\x{ord(m.group()):02X}", text)


def log_line(parts: list[ComplexValue], escape: str, r: Request) -> str:
    """One access log line: variables escaped, "-" for an empty/missing one (as ngx_http_log_variable)."""
    out: list[str] = []
    for value in parts:
        for part in value.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            found = get(r, part.name) if isinstance(part, Var) else r.capture(part.number)
            if found is None:
                out.append("" if escape == "json" else "-")
            else:
                out.append(log_escape(found, escape))
    return "".join(out)
