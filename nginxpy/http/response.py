"""The response head and nginx's built-in pages, byte for byte (pure).

``header_bytes`` follows ``ngx_http_header_filter``: the status line (nginx's own
reason phrases; an unknown code gets "NNN "), then Server, Date, Content-Type,
Content-Length, Last-Modified, Location (made absolute), Transfer-Encoding,
Connection, Keep-Alive, then the other headers in the order they were added.
``special_page`` gives the HTML nginx sends for an error status.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from nginxpy import versions
from nginxpy.http.request import Request

if TYPE_CHECKING:
    from nginxpy.http.config import LocConf
from nginxpy.http.variables import evaluate, http_time

STATUS_LINES = {
    200: "200 OK",
    201: "201 Created",
    202: "202 Accepted",
    204: "204 No Content",
    206: "206 Partial Content",
    301: "301 Moved Permanently",
    302: "302 Moved Temporarily",
    303: "303 See Other",
    304: "304 Not Modified",
    307: "307 Temporary Redirect",
    308: "308 Permanent Redirect",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    402: "402 Payment Required",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Not Allowed",
    406: "406 Not Acceptable",
    408: "408 Request Time-out",
    409: "409 Conflict",
    410: "410 Gone",
    411: "411 Length Required",
    412: "412 Precondition Failed",
    413: "413 Request Entity Too Large",
    414: "414 Request-URI Too Large",
    415: "415 Unsupported Media Type",
    416: "416 Requested Range Not Satisfiable",
    421: "421 Misdirected Request",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    501: "501 Not Implemented",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
    505: "505 HTTP Version Not Supported",
    507: "507 Insufficient Storage",
}

_STATUS_HEADS = {code: f"HTTP/1.1 {line}\r\n" for code, line in STATUS_LINES.items()}

# The titles of nginx's error pages (ngx_http_special_response.c): the status lines of the
# 3xx (but 304) to 5xx codes, save two that the pages word differently. The 49x codes are sent as 400
# with their own explanation.
PAGE_TITLES = {code: line for code, line in STATUS_LINES.items() if code >= 301 and code != 304} | {
    302: "302 Found",
    401: "401 Authorization Required",
}
SPECIAL_400 = {
    494: "Request Header Or Cookie Too Large",
    495: "The SSL certificate error",
    496: "No required SSL certificate was sent",
    497: "The plain HTTP request was sent to HTTPS port",
}

MSIE_PADDING = "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n" * 6


def server_string(tokens: str) -> str:
    if tokens == "off":
        return "nginx"
    return f"nginx/{versions.NGINX_VERSION}"


def page_body(status: int) -> str | None:
    """The page's head part for a status, or None when nginx sends no body for it."""
    if status in SPECIAL_400:
        text = SPECIAL_400[status]
        return (
            f"<html>\r\n<head><title>400 {text}</title></head>\r\n<body>\r\n"
            f"<center><h1>400 Bad Request</h1></center>\r\n<center>{text}</center>\r\n"
        )
    if status == 498:
        status = 404
    title = PAGE_TITLES.get(status)
    if title is None:
        return None
    return f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"


def page_tail(tokens: str) -> str:
    return f"<hr><center>{server_string(tokens)}</center>\r\n</body>\r\n</html>\r\n"


def special_page(status: int, tokens: str = "on", padding: bool = False) -> str:
    """The whole body nginx sends for an error status ("" for none)."""
    body = page_body(status)
    if body is None:
        return ""
    text = body + page_tail(tokens)
    if padding and status >= 400:
        text += MSIE_PADDING
    return text


_date_cache: tuple[int, str] = (0, "")


def http_date_now() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, http_time(now))
    return _date_cache[1]


_server_date: dict[str, tuple[int, str]] = {}


def _server_and_date(tokens: str) -> str:
    """The "Server" and "Date" lines, made once a second (nginx caches its time strings too)."""
    now = int(time.time())
    cached = _server_date.get(tokens)
    if cached is None or cached[0] != now:
        cached = _server_date[tokens] = (
            now,
            f"Server: {server_string(tokens)}\r\nDate: {http_date_now()}\r\n",
        )
    return cached[1]


def header_bytes(r: Request) -> bytes:
    """The response head (ngx_http_header_filter)."""
    loc = r.loc
    status = r.status
    if r.last_modified >= 0 and status not in (200, 206, 304):
        r.last_modified = -1
        r.headers_out = [h for h in r.headers_out if h[0].lower() != "last-modified"]
    if status == 204:
        r.header_only = True
        r.content_type = ""
        r.last_modified = -1
        r.content_length = -1
    elif status == 304:
        r.header_only = True
    if not r.headers_out and r.location is None and r.last_modified < 0 and not r.ctx:
        # The common head (no other headers): made once a second for the same fields.
        key = (
            status,
            r.content_type,
            r.charset,
            r.content_length,
            r.chunked,
            r.keepalive,
            loc.server_tokens if loc is not None else "on",
            loc.keepalive_header if loc is not None else None,
        )
        now = int(time.time())
        if _heads_second[0] != now:
            _heads_second[0] = now
            _HEADS.clear()
        data = _HEADS.get(key)
        if data is None:
            data = _header_bytes(r, loc, status)
            if len(_HEADS) < 1024:
                _HEADS[key] = data
        return data
    return _header_bytes(r, loc, status)


# Heads without other headers, for the current second (their Date).
_HEADS: dict[tuple[object, ...], bytes] = {}
_heads_second = [0]


def _header_bytes(r: Request, loc: LocConf | None, status: int) -> bytes:
    line = STATUS_LINES.get(status)
    upstream_line = r.ctx.get("status_line")  # a proxied response keeps its upstream's status line
    if upstream_line and upstream_line[:3] == f"{status:03d}":
        line = upstream_line
    if upstream_line:
        out = [f"HTTP/1.1 {line}\r\n" if line else f"HTTP/1.1 {status:03d} \r\n"]
    else:
        out = [_STATUS_HEADS.get(status) or f"HTTP/1.1 {status:03d} \r\n"]
    tokens = loc.server_tokens if loc is not None else "on"
    headers_out = r.headers_out
    own_server = False
    for header in headers_out:
        if header[1] != "" and header[0].lower() == "server":
            own_server = True
            break
    if own_server:
        out.append(f"Date: {http_date_now()}\r\n")
    else:
        out.append(_server_and_date(tokens))
    if r.content_type:
        if r.charset:
            out.append(f"Content-Type: {r.content_type}; charset={r.charset}\r\n")
        else:
            out.append(f"Content-Type: {r.content_type}\r\n")
    if r.content_length >= 0:
        out.append(f"Content-Length: {r.content_length}\r\n")
    if r.last_modified >= 0:
        out.append(f"Last-Modified: {http_time(r.last_modified)}\r\n")
    location = r.location
    if location is not None and location.startswith("/") and (loc is None or loc.absolute_redirect):
        location = absolute_location(r, location)
        r.location = location
        out.append(f"Location: {location}\r\n")
        location = None
    if r.chunked:
        out.append("Transfer-Encoding: chunked\r\n")
    if status == 101:
        out.append("Connection: upgrade\r\n")
    elif r.keepalive:
        out.append("Connection: keep-alive\r\n")
        if loc is not None and loc.keepalive_header:
            out.append(f"Keep-Alive: timeout={loc.keepalive_header}\r\n")
    else:
        out.append("Connection: close\r\n")
    if location is not None:
        out.append(f"Location: {location}\r\n")
    for name, value in r.headers_out:
        if value == "":
            continue
        out.append(f"{name}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("latin-1", "replace")


def absolute_location(r: Request, location: str) -> str:
    loc = r.loc
    conn = r.conn
    if loc is not None and loc.server_name_in_redirect and r.server is not None:
        host = r.server.name
    elif r.host:
        host = r.host
    else:
        host = conn.local_addr
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
    port = conn.local_port
    if loc is None or loc.port_in_redirect:
        if port == (443 if conn.ssl else 80):
            port = 0
    else:
        port = 0
    if conn.family == "unix":
        port = 0
    scheme = "https" if conn.ssl else "http"
    return f"{scheme}://{host}:{port}{location}" if port else f"{scheme}://{host}{location}"


SAFE_STATUSES = frozenset((200, 201, 204, 206, 301, 302, 303, 304, 307, 308))


def headers_filter(r: Request) -> None:
    """ngx_http_headers_filter: expires and add_header (``always`` for other statuses)."""
    loc = r.loc
    if loc is None or (loc.expires.kind == "off" and not loc.add_headers):
        return
    safe = r.status in SAFE_STATUSES
    if loc.expires.kind != "off" and safe:
        set_expires(r, loc.expires.kind, loc.expires.seconds)
    for name, value, always in loc.add_headers:
        if not safe and not always:
            continue
        text = evaluate(value, r)
        lowered = name.lower()
        if lowered == "last-modified":
            r.last_modified = -1
            r.headers_out = [h for h in r.headers_out if h[0].lower() != "last-modified"]
        elif lowered == "etag":
            r.headers_out = [h for h in r.headers_out if h[0].lower() != "etag"]
        if text:
            r.headers_out.append([name, text])


def set_expires(r: Request, kind: str, seconds: int) -> None:
    now = int(time.time())
    cache_control = None
    for header in r.headers_out:
        if header[0].lower() == "cache-control":
            if cache_control is None:
                cache_control = header
            else:
                header[1] = ""
    expires = next((h for h in r.headers_out if h[0].lower() == "expires"), None)
    if expires is None:
        expires = ["Expires", ""]
        r.headers_out.append(expires)
    if cache_control is None:
        cache_control = ["Cache-Control", ""]
        r.headers_out.append(cache_control)
    if kind == "epoch":
        expires[1] = "Thu, 01 Jan 1970 00:00:01 GMT"
        cache_control[1] = "no-cache"
        return
    if kind == "max":
        expires[1] = "Thu, 31 Dec 2037 23:55:55 GMT"
        cache_control[1] = "max-age=315360000"
        return
    if seconds == 0 and kind != "daily":
        expires[1] = http_date_now()
        cache_control[1] = "max-age=0"
        return
    if kind == "daily":
        today = now - now % 86400
        when = today + seconds
        if when <= now:
            when += 86400
        max_age = when - now
        expires_time = when
    elif kind == "modified":
        base = r.last_modified if r.last_modified >= 0 else now
        expires_time = base + seconds
        max_age = expires_time - now
    else:
        expires_time = now + seconds
        max_age = seconds
    expires[1] = http_time(expires_time)
    if (kind == "access" and seconds < 0) or max_age < 0:
        cache_control[1] = "no-cache"
        return
    cache_control[1] = f"max-age={max_age}"
