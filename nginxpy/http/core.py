"""The request's way through nginx's phases, and how it ends (ngx_http_core_module).

``init_request`` checks the head as ``ngx_http_process_request_headers`` does and
picks the virtual server; ``run_phases`` walks server rewrite, find config, rewrite,
post rewrite, access, try_files and content, restarting on internal redirects (at most
10, as nginx); ``finalize`` sends what a status means: a built-in page, an
``error_page`` redirect, or nothing (444).  The connection does the I/O.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from nginxpy.conf.script import ComplexValue
from nginxpy.http import locations as loc_rc
from nginxpy.http.config import AddrConf, ErrorPage, HttpConf, LocConf
from nginxpy.http.locations import find_location
from nginxpy.http.parse import BadRequest, RequestHead, parse_complex_uri
from nginxpy.http.request import ConnInfo, Request
from nginxpy.http.response import special_page
from nginxpy.http.rewrite import run_script
from nginxpy.http.servers import find_virtual_server, request_host
from nginxpy.http.static import (
    DECLINED,
    autoindex_handler,
    content_type,
    directory_forbidden,
    exten_of,
    index_handler,
    static_handler,
    test_file,
    try_files_path,
)
from nginxpy.http.variables import evaluate

if TYPE_CHECKING:
    from nginxpy.http.connection import HttpConnection

REDIRECT = -1000  # an internal redirect is pending (uri and args in r.ctx["redirect"])
NAMED = -1001  # a jump to a named location is pending (r.ctx["named"])
CLOSE = 444  # close the connection without a response
UNIQUE_HEADERS = frozenset(
    (
        "if-modified-since",
        "if-unmodified-since",
        "if-match",
        "if-none-match",
        "content-length",
        "content-range",
        "if-range",
        "transfer-encoding",
        "expect",
        "authorization",
    )
)
KEEPALIVE_OFF_CODES = frozenset((400, 413, 414, 497, 495, 496, 500, 501))


def process_request_line(r: Request, head: RequestHead, addr: AddrConf) -> None:
    """What nginx knows once the request line is parsed, before the header lines
    (ngx_http_process_request_line, ngx_http_process_request_uri): a header error is then
    logged with the method, the URI and the protocol."""
    r.method = head.method
    r.request_line = head.request_line
    r.version = head.version
    r.protocol = head.protocol or None
    r.request_uri = (
        head.target if head.host is None else (head.path + ("?" + head.args if "?" in head.target else ""))
    )
    r.args = head.args
    r.uri = parse_complex_uri(head.path, addr.default.merge_slashes) if head.complex else head.path


def init_request(r: Request, head: RequestHead, addr: AddrConf) -> None:
    """Fill the request from its head; raise BadRequest as ngx_http_process_request_headers."""
    if not r.method:
        process_request_line(r, head, addr)
    r.headers = head.headers
    r.server = addr.default
    r.loc = addr.default.loc
    server = addr.default
    headers_in = r.headers_in
    host_header: str | None = None
    for name, value in head.headers:
        lowered = name.lower()
        if lowered in headers_in:  # a repeated header: only some may be
            if lowered == "host":
                raise BadRequest(
                    400,
                    f'client sent duplicate host header: "{name}: {value}", previous value: "Host: {host_header}"',
                )
            if lowered in UNIQUE_HEADERS:
                raise BadRequest(
                    400,
                    f'client sent duplicate header line: "{name}: {value}", previous value: "{name}: {headers_in[lowered]}"',
                )
            continue
        if lowered == "host":
            host_header = value
            validated = request_host(None, value)
            r.has_host_header = True
            if head.host is None:
                r.host = validated
        headers_in[lowered] = value
    if head.host is not None:
        r.host = request_host(head.host, None)
    # the virtual server (ngx_http_set_virtual_server)
    server, match = find_virtual_server(addr, r.host)
    r.server = server
    r.loc = server.loc
    if match is not None:
        import re

        assert isinstance(match, re.Match)
        r.set_captures(match)
    # the URI (again if the virtual server merges slashes otherwise)
    if head.complex and server.merge_slashes != addr.default.merge_slashes:
        r.uri = parse_complex_uri(head.path, server.merge_slashes)
    r.exten = exten_of(r.uri)
    if head.version == 9:
        r.keepalive = False
        return
    if host_header is None and head.version > 1000 and head.host is None:
        raise BadRequest(400, 'client sent HTTP/1.1 request without "Host" header')
    length = headers_in.get("content-length")
    if length is not None:
        if not length.isdigit() or len(length) > 18:
            raise BadRequest(400, 'client sent invalid "Content-Length" header')
        r.content_length_in = int(length)
    encoding = headers_in.get("transfer-encoding")
    if encoding is not None:
        if head.version < 1001:
            raise BadRequest(400, 'client sent HTTP/1.0 request with "Transfer-Encoding" header')
        if encoding.lower() == "chunked":
            if length is not None:
                raise BadRequest(
                    400, 'client sent "Content-Length" and "Transfer-Encoding" headers at the same time'
                )
            r.chunked_in = True
        else:
            raise BadRequest(501, f'client sent unknown "Transfer-Encoding": "{encoding}"')
    connection = headers_in.get("connection", "").lower()
    if head.version >= 1001:
        r.keepalive = "close" not in connection
    else:
        r.keepalive = "keep-alive" in connection
    if r.method == "CONNECT":
        raise BadRequest(405, "client sent CONNECT method")
    if r.method == "TRACE":
        raise BadRequest(405, "client sent TRACE method")
    if r.conn.tls_runtime is not None:  # ngx_http_process_request on a TLS address: 421/495/496/497
        from nginxpy.tls.glue import process_request

        process_request(r)


def update_location_config(r: Request, loc: LocConf) -> None:
    """ngx_http_update_location_config: limit_except, keep-alive settings."""
    if loc.limit_except is not None and r.method not in loc.limit_except_methods:
        loc = loc.limit_except
    r.loc = loc
    if r.keepalive and (loc.keepalive_timeout == 0 or r.conn.requests >= loc.keepalive_requests):
        r.keepalive = False


def find_config(r: Request, conn: HttpConnection) -> int:
    """ngx_http_core_find_config_phase: 0, or a status to finalize with."""
    assert r.server is not None
    r.ctx.pop("uri_changed", None)
    rc, loc, match = find_location(r.server.loc, r.uri)
    if match is not None:
        r.set_captures(match)
    if not r.internal and loc.internal:
        update_location_config(r, loc)
        return 404
    update_location_config(r, loc)
    limit = loc.client_max_body_size
    if limit and r.content_length_in > limit:
        conn.log_error("error", f"client intended to send too large body: {r.content_length_in} bytes", r)
        r.expect_tested = True
        return 413
    if rc == loc_rc.DONE:
        location = r.uri + "/"
        if r.args:
            location += "?" + r.args
        r.location = location
        return 301
    return 0


def check_access(r: Request, conn: HttpConnection) -> int:
    loc = r.loc
    assert loc is not None
    if not loc.access_rules:
        return 0
    if r.conn.family == "unix":
        address = None
    else:
        try:
            address = ipaddress.ip_address(r.conn.remote_addr)
        except ValueError:
            address = None
    for rule in loc.access_rules:
        network = rule.network
        if network == "all":
            matched = True
        elif network == "unix:":
            matched = address is None
        else:
            matched = address is not None and address.version == network.version and address in network
        if matched:
            if rule.allow:
                return 0
            conn.log_error("error", "access forbidden by rule", r)
            return 403
    return 0


def internal_redirect(r: Request, conn: HttpConnection, uri: str, args: str) -> int:
    """ngx_http_internal_redirect: 0, or 500 for a cycle."""
    r.uri_changes -= 1
    if r.uri_changes == 0:
        conn.log_error(
            "error", f'rewrite or internal redirection cycle while internally redirecting to "{uri}"', r
        )
        return 500
    r.uri = uri
    r.args = args
    r.exten = exten_of(uri)
    r.internal = True
    r.ctx.pop("redirect", None)
    return 0


def named_location(r: Request, conn: HttpConnection, name: str) -> int:
    assert r.server is not None
    if r.uri_changes == 0:
        conn.log_error(
            "error", f'rewrite or internal redirection cycle while redirect to named location "{name}"', r
        )
        return 500
    loc = r.server.named.get(name)
    if loc is None:
        conn.log_error("error", f'could not find named location "{name}"', r)
        return 500
    r.uri_changes -= 1
    r.internal = True
    update_location_config(r, loc)
    return 0


async def run_phases(r: Request, conn: HttpConnection, phase: str = "server_rewrite") -> int:
    """Walk the phases; returns a status to finalize with, or 0 when a response was sent."""
    for _ in range(64):
        if phase == "server_rewrite":
            assert r.server is not None
            r.loc = r.server.loc
            outcome = run_script(r, r.server.scope)
            if outcome.action == "status":
                return outcome.status
            phase = "find_config"
        if phase == "find_config":
            rc = find_config(r, conn)
            if rc:
                return rc
            phase = "rewrite"
        if phase == "rewrite":
            assert r.loc is not None
            outcome = run_script(r, r.loc.scope)
            if outcome.action == "status":
                return outcome.status
            if outcome.action == "last" or (outcome.action == "done" and r.ctx.get("uri_changed")):
                r.uri_changes -= 1
                if r.uri_changes == 0:
                    conn.log_error(
                        "error", f'rewrite or internal redirection cycle while processing "{r.uri}"', r
                    )
                    return 500
                r.exten = exten_of(r.uri)
                phase = "find_config"
                continue
            r.ctx.pop("uri_changed", None)
            r.exten = exten_of(r.uri)
        rc = check_access(r, conn)
        if rc:
            return rc
        rc, restart = _follow(r, conn, try_files(r, conn))
        if rc:
            return rc
        if restart is None:
            rc, restart = _follow(r, conn, await content(r, conn))
            if rc or restart is None:
                return rc
        phase = restart
    return 500


def _follow(r: Request, conn: HttpConnection, rc: int) -> tuple[int, str | None]:
    """After try_files or the content handler: an internal redirect starts again at the
    server's rewrite phase, a named location at the location's rewrite phase."""
    if rc == REDIRECT:
        uri, args = r.ctx.pop("redirect")
        return internal_redirect(r, conn, uri, args), "server_rewrite"
    if rc == NAMED:
        return named_location(r, conn, r.ctx.pop("named")), "rewrite"
    return rc, None


def try_files(r: Request, conn: HttpConnection) -> int:
    """ngx_http_core_try_files_phase: the first name that exists (a file, or a directory for
    a name ending in "/") becomes the URI; else the last one is a code, @name or a URI."""
    loc = r.loc
    assert loc is not None
    if loc.try_files is None:
        return 0
    values = loc.try_files
    for value in values[:-1]:
        name = evaluate(value, r)
        test_dir = value.source.endswith("/")
        if test_dir:
            name = name[:-1]
        path, _ = try_files_path(r, name)
        if not test_file(path, test_dir):
            continue
        if not loc.alias:
            r.uri = name
        elif loc.regex is not None:
            if not test_dir:
                r.uri = name
        else:
            prefix = loc.name
            r.uri = prefix + (name[len(prefix) :] if name.startswith(prefix) else name)
        r.exten = exten_of(r.uri)
        return 0
    last = evaluate(values[-1], r)
    if values[-1].source.startswith("=") and last[1:].isdigit():
        return int(last[1:])
    if last.startswith("@"):
        r.ctx["named"] = last
        return NAMED
    uri, question, args = last.partition("?")
    r.ctx["redirect"] = (uri, args if question else "")
    return REDIRECT


async def content(r: Request, conn: HttpConnection) -> int:
    loc = r.loc
    assert loc is not None
    if loc.handler is not None:
        return await loc.handler(r, conn)
    if not r.uri.endswith("/"):  # index and autoindex decline any other URI
        rc = await static_handler(r, conn)
        return rc if rc != DECLINED else await directory_forbidden(r, conn)
    for handler in (index_handler, autoindex_handler, static_handler):
        rc = await handler(r, conn)
        if rc != DECLINED:
            return rc
    return await directory_forbidden(r, conn)


# -- how a request ends ---------------------------------------------------------------


async def finalize(r: Request, conn: HttpConnection, rc: int) -> None:
    """Answer for rc (ngx_http_finalize_request + ngx_http_special_response_handler)."""
    for _ in range(16):
        if rc == 0 or r.header_sent:
            return
        if rc == CLOSE:
            r.status = 444
            r.keepalive = False
            conn.close_after = True
            return
        if rc < 0:
            await send_text(r, conn, -rc, r.ctx.pop("return_text", None))
            return
        if rc >= 300 or rc in (201, 204):
            rc = await special_response(r, conn, rc)
            continue
        # 1xx/2xx statuses without a body from return
        r.status = rc
        r.content_length = 0
        await conn.discard_body(r)
        conn.put_header(r)
        conn.put_finish(r)
        return


# return's texts without variables, encoded once (keyed by the compiled value, which lives as
# long as its configuration)
_CONSTANT_TEXTS: dict[int, tuple[ComplexValue, bytes | None]] = {}


async def send_text(r: Request, conn: HttpConnection, status: int, value: ComplexValue | None) -> None:
    """ngx_http_send_response for ``return CODE TEXT``."""
    if not conn.discard_body_now(r):
        await conn.discard_body(r)
    r.status = status
    if value is None:
        data = b""
    else:
        cached = _CONSTANT_TEXTS.get(id(value))
        if cached is None or cached[0] is not value:
            if len(_CONSTANT_TEXTS) >= 4096:  # configurations reloaded many times
                _CONSTANT_TEXTS.clear()
            cached = _CONSTANT_TEXTS[id(value)] = (
                value,
                "".join(value.parts).encode("latin-1", "replace") if value.is_constant else None,  # type: ignore[arg-type]
            )
        data = cached[1] if cached[1] is not None else evaluate(value, r).encode("latin-1", "replace")
    r.content_length = len(data)
    r.content_type, r.charset = content_type(r, r.exten)
    conn.put_whole(r, data)


async def special_response(r: Request, conn: HttpConnection, error: int) -> int:
    r.err_status = error
    if r.keepalive and error in KEEPALIVE_OFF_CODES:
        r.keepalive = False
    r.content_type = ""
    loc = r.loc
    assert loc is not None
    if not r.error_page and loc.error_pages and r.uri_changes != 0:
        if not loc.recursive_error_pages:
            r.error_page = True
        page = loc.error_pages.get(error)
        if page is not None:
            return await send_error_page(r, conn, page)
    r.expect_tested = True
    await conn.discard_body(r)
    await send_special(r, conn, error)
    return 0


async def send_error_page(r: Request, conn: HttpConnection, page: ErrorPage) -> int:
    overwrite = page.overwrite
    if overwrite and overwrite != 200:
        r.expect_tested = True
    if overwrite is not None:
        r.err_status = overwrite
    uri = evaluate(page.value, r)
    if uri.startswith("/"):
        path, question, args = uri.partition("?")
        if r.method != "HEAD":
            r.method = "GET"
        r.clear_headers()
        rc = internal_redirect(r, conn, path, args if question else "")
        if rc:
            return rc
        rc = await run_phases(r, conn, "server_rewrite")
        return rc
    if uri.startswith("@"):
        r.clear_headers()
        rc = named_location(r, conn, uri)
        if rc:
            return rc
        return await run_phases(r, conn, "rewrite")
    r.expect_tested = True
    await conn.discard_body(r)
    if overwrite not in (301, 302, 303, 307, 308):
        r.err_status = 302
    r.location = uri
    await send_special(r, conn, r.err_status)
    return 0


async def send_special(r: Request, conn: HttpConnection, error: int) -> None:
    """ngx_http_send_special_response: nginx's page for the status."""
    loc = r.loc
    assert loc is not None
    status = 400 if error in (494, 495, 496, 497) else error
    if error in (494, 495, 496, 497):
        r.err_status = 400
    msie = (
        "msie" in (r.headers_in.get("user-agent") or "").lower()
        or "chrome/" in (r.headers_in.get("user-agent") or "").lower()
    )
    body = special_page(error, loc.server_tokens, padding=loc.msie_padding and msie and r.version >= 1000)
    r.status = status
    if body:
        r.content_type = "text/html"
        r.charset = ""
        r.content_length = len(body)
    else:
        r.content_type = ""
        r.content_length = 0
    r.last_modified = -1
    r.headers_out = [
        h for h in r.headers_out if h[0].lower() not in ("accept-ranges", "etag", "last-modified")
    ]
    if error == 416 and "content_range" in r.ctx:
        r.headers_out.append(["Content-Range", r.ctx.pop("content_range")])
    conn.put_whole(r, body.encode("latin-1"))


def bad_request_loc(http: HttpConf, addr: AddrConf) -> LocConf:
    return addr.default.loc


def new_request(conn_info: ConnInfo, http: HttpConf, addr: AddrConf) -> Request:
    r = Request(conn=conn_info, http=http)
    r.server = addr.default
    r.loc = addr.default.loc
    return r
