"""Static content: root/alias mapping, index, autoindex, try_files, conditional and range requests.

The pure parts (``map_uri_to_path``, ``content_type``, ``etag``, ``parse_range``,
``not_modified``, ``autoindex_html``) need no sockets; the handlers at the end only
decide what to send and hand it to the connection.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from nginxpy.http.request import Request
from nginxpy.http.response import headers_filter
from nginxpy.http.variables import evaluate

if TYPE_CHECKING:
    from nginxpy.http.connection import HttpConnection

DECLINED = -1  # "not mine": the next content handler runs


# -- paths ----------------------------------------------------------------------------


def document_root(r: Request) -> str | None:
    loc = r.loc
    if loc is None:
        return None
    root = evaluate(loc.root, r)
    if loc.alias and loc.regex is None and root.endswith("/") is False and False:
        return root
    if loc.root_prefix and not root.startswith("/"):
        root = os.path.join(loc.root_prefix, root)
    return root


def map_uri_to_path(r: Request, uri: str | None = None) -> tuple[str, int] | None:
    """ngx_http_map_uri_to_path: (path, length of the root part)."""
    loc = r.loc
    if loc is None:
        return None
    root = document_root(r)
    if root is None:
        return None
    if uri is None:
        uri = r.uri
    if loc.alias:
        if loc.regex is not None or (any(not isinstance(p, str) for p in loc.root.parts) and loc.regex):
            # alias in a regex location is the whole path
            return root, len(root)
        name = loc.name
        if uri.startswith(name):
            return root + uri[len(name) :], len(root)
        return root + uri, len(root)
    return root + uri, len(root)


def content_type(r: Request, exten: str) -> tuple[str, str]:
    """ngx_http_set_content_type: (type, charset) from the extension (lower-cased) or default_type."""
    loc = r.loc
    assert loc is not None
    found = loc.types.get(exten.lower()) if exten else None
    ctype = found if found is not None else loc.default_type
    return ctype, charset_for(r, ctype)


CHARSET_TYPES = frozenset(
    (
        "text/html",
        "text/xml",
        "text/plain",
        "text/vnd.wap.wml",
        "application/javascript",
        "application/rss+xml",
    )
)


def charset_for(r: Request, ctype: str) -> str:
    loc = r.loc
    if loc is None or not loc.charset:
        return ""
    return loc.charset if ctype in CHARSET_TYPES else ""


def exten_of(uri: str) -> str:
    slash = uri.rfind("/")
    dot = uri.rfind(".")
    return uri[dot + 1 :] if dot > slash else ""


def etag(st: os.stat_result) -> str:
    """ngx_http_set_etag: "mtime-size" in hex."""
    return f'"{int(st.st_mtime):x}-{st.st_size:x}"'


# -- conditional requests (ngx_http_not_modified_filter) ------------------------------


def parse_http_time(text: str) -> int | None:
    from email.utils import parsedate_to_datetime

    try:
        parsed = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return int(parsed.timestamp())


def _etag_matches(header: str, tag: str, weak: bool) -> bool:
    if header.strip() == "*":
        return True
    if weak and tag.startswith("W/"):
        tag = tag[2:]
    for item in header.split(","):
        item = item.strip()
        if weak and item.startswith("W/"):
            item = item[2:]
        if item == tag:
            return True
    return False


def not_modified(r: Request, mtime: int, tag: str | None) -> int:
    """0, 304 or 412 for a 200 response with this mtime and ETag."""
    loc = r.loc
    assert loc is not None
    unmodified = r.headers_in.get("if-unmodified-since")
    if unmodified is not None:
        when = parse_http_time(unmodified)
        if when is None or when < mtime:
            return 412
    if_match = r.headers_in.get("if-match")
    if if_match is not None and (tag is None or not _etag_matches(if_match, tag, weak=False)):
        return 412
    ims = r.headers_in.get("if-modified-since")
    inm = r.headers_in.get("if-none-match")
    if ims is not None or inm is not None:
        if ims is not None and loc.if_modified_since != "off":
            when = parse_http_time(ims)
            if when is None:
                return 0
            if loc.if_modified_since == "exact" and when != mtime:
                return 0
            if loc.if_modified_since == "before" and when < mtime:
                return 0
            if inm is None:
                return 304
        elif ims is not None:
            return 0
        if inm is not None:
            if tag is not None and _etag_matches(inm, tag, weak=True):
                return 304
            return 0
        return 304
    return 0


# -- ranges (ngx_http_range_filter) ---------------------------------------------------


def parse_range(header: str, size: int, max_ranges: int | None) -> list[tuple[int, int]] | int | None:
    """ngx_http_range_parse: the ranges ((start, end) end exclusive), 416, or None ("declined":
    send the whole file).  ``header`` is the whole Range value (starting "bytes=")."""
    text = header[6:] + "\0"
    p = 0
    ranges: list[tuple[int, int]] = []
    total = 0
    left = max_ranges
    while True:
        start = end = 0
        suffix = False
        while text[p] == " ":
            p += 1
        if text[p] != "-":
            if not text[p].isdigit():
                return 416
            while text[p].isdigit():
                start = start * 10 + int(text[p])
                p += 1
            while text[p] == " ":
                p += 1
            if text[p] != "-":
                return 416
            p += 1
            while text[p] == " ":
                p += 1
            if text[p] in ",\0":
                end = size
                open_ended = True
            else:
                open_ended = False
        else:
            suffix = True
            p += 1
            open_ended = False
        if not open_ended:
            if not text[p].isdigit():
                return 416
            while text[p].isdigit():
                end = end * 10 + int(text[p])
                p += 1
            while text[p] == " ":
                p += 1
            if text[p] not in ",\0":
                return 416
            if suffix:
                start = size - end if end < size else 0
                end = size - 1
            end = size if end >= size else end + 1
        if start < end:
            ranges.append((start, end))
            total += end - start
            if left is not None:
                if left == 0:
                    return None
                left -= 1
        elif start == 0:
            return None
        if text[p] != ",":
            break
        p += 1
    if not ranges:
        return 416
    if total > size:
        return None
    return ranges


# -- autoindex ------------------------------------------------------------------------

NAME_LEN = 50
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _human_size(length: int) -> str:
    gig, meg = 1024 * 1024 * 1024, 1024 * 1024
    if length > gig - 1:
        size = length // gig + (1 if length % gig > gig // 2 - 1 else 0)
        return f"{size:6d}G"
    if length > meg - 1:
        size = length // meg + (1 if length % meg > meg // 2 - 1 else 0)
        return f"{size:6d}M"
    if length > 9999:
        size = length // 1024 + (1 if length % 1024 > 511 else 0)
        return f"{size:6d}K"
    return f" {length:6d}"


def list_directory(path: str) -> list[tuple[str, bool, int, int]]:
    entries: list[tuple[str, bool, int, int]] = []
    with os.scandir(path) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            entries.append((entry.name, stat.S_ISDIR(st.st_mode), st.st_size, int(st.st_mtime)))
    entries.sort(key=lambda e: (not e[1], e[0].encode("latin-1", "surrogateescape")))
    return entries


def autoindex_html(uri: str, entries: list[tuple[str, bool, int, int]], exact: bool, localtime: bool) -> str:
    title = escape_html(uri)
    out = [
        f"<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n<h1>Index of {title}</h1>",
        '<hr><pre><a href="../">../</a>\r\n',
    ]
    for name, is_dir, size, mtime in entries:
        href = quote(name, safe="") + ("/" if is_dir else "")
        length = len(name)
        shown = escape_html(name[: NAME_LEN - 3]) if length > NAME_LEN else escape_html(name)
        line = f'<a href="{href}">'
        if length > NAME_LEN:
            line += shown + "..&gt;</a>"
        else:
            if is_dir:
                shown += "/"
                length += 1
            line += shown + "</a>" + " " * max(0, NAME_LEN - length)
        t = time.localtime(mtime) if localtime else time.gmtime(mtime)
        line += f" {t.tm_mday:02d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_year} {t.tm_hour:02d}:{t.tm_min:02d} "
        if exact:
            line += "                  -" if is_dir else f"{size:19d}"
        else:
            line += "      -" if is_dir else _human_size(size)
        out.append(line + "\r\n")
    out.append("</pre><hr></body>\r\n</html>\r\n")
    return "".join(out)


def autoindex_json(entries: list[tuple[str, bool, int, int]]) -> str:
    import json

    from nginxpy.http.variables import http_time

    items = []
    for name, is_dir, size, mtime in entries:
        item = f'{{ "name":{json.dumps(name)}, "type":"{"directory" if is_dir else "file"}", "mtime":"{http_time(mtime)}"'
        if not is_dir:
            item += f', "size":{size}'
        items.append(item + " }")
    return "[\r\n" + ",\r\n".join(items) + "\r\n]"


# -- the handlers -----------------------------------------------------------------------


def _open_error(r: Request, conn: HttpConnection, path: str, error: OSError) -> int:
    code = error.errno or 0
    loc = r.loc
    assert loc is not None
    if code in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
        if loc.log_not_found:
            conn.log_error("error", f'open() "{path}" failed ({code}: {os.strerror(code)})', r)
        return 404
    if code == errno.EACCES:
        conn.log_error("error", f'open() "{path}" failed ({code}: {os.strerror(code)})', r)
        return 403
    conn.log_error("crit", f'open() "{path}" failed ({code}: {os.strerror(code)})', r)
    return 500


async def static_handler(r: Request, conn: HttpConnection) -> int:
    """ngx_http_static_handler."""
    if r.method not in ("GET", "HEAD", "POST"):
        return 405
    if r.uri.endswith("/"):
        return DECLINED
    mapped = map_uri_to_path(r)
    if mapped is None:
        return 500
    path = mapped[0]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        return _open_error(r, conn, path, error)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            fd = -1
            location = r.uri + "/"
            if r.args:
                location += "?" + r.args
            await conn.discard_body(r)
            r.location = location
            return 301
        if not stat.S_ISREG(st.st_mode):
            conn.log_error("crit", f'"{path}" is not a regular file', r)
            return 404
        if r.method == "POST":
            return 405
        if not conn.discard_body_now(r):
            await conn.discard_body(r)
        r.status = 200
        r.content_length = st.st_size
        r.last_modified = int(st.st_mtime)
        r.content_type, r.charset = content_type(r, r.exten or exten_of(r.uri))
        tag = etag(st) if r.loc is not None and r.loc.etag else None
        if tag is not None:
            r.add_header("ETag", tag)
        return await send_file(r, conn, fd, st.st_size, tag)
    finally:
        if fd >= 0:
            os.close(fd)


async def send_file(r: Request, conn: HttpConnection, fd: int, size: int, tag: str | None) -> int:
    """The header filters in nginx's order (not modified, headers, range), then the body in chunks."""
    plain = r.err_status in (0, 200)  # an error_page target keeps the error's status: no 304, no ranges
    code = not_modified(r, r.last_modified, tag) if plain else 0
    if code == 304:
        r.status = 304
        r.content_type = ""
        r.charset = ""
        r.content_length = -1
        await conn.send_header(r)
        await conn.finish_body(r)
        return 0
    if code == 412:
        return 412
    loc = r.loc
    assert loc is not None
    if not plain:
        await conn.send_header(r)
        await conn.send_fd(r, fd, 0, size)
        return 0
    headers_filter(r)
    r.ctx["filtered"] = True
    ranges = None
    range_header = r.headers_in.get("range")
    if loc.max_ranges != 0 and r.version >= 1000:
        if range_header is not None and len(range_header) >= 7 and range_header[:6].lower() == "bytes=":
            if_range = r.headers_in.get("if-range")
            applies = True
            if if_range is not None:
                if len(if_range) >= 2 and if_range.endswith('"'):
                    applies = tag is not None and if_range == tag
                else:
                    applies = parse_http_time(if_range) == r.last_modified
            if applies:
                ranges = parse_range(range_header, size, loc.max_ranges)
        if ranges == 416:
            r.add_header("Content-Range", f"bytes */{size}")
            r.content_length = -1
            r.ctx.pop("filtered", None)
            return 416
        if ranges is None:
            r.add_header("Accept-Ranges", "bytes")
    if isinstance(ranges, list) and len(ranges) == 1:
        start, end = ranges[0]
        r.status = 206
        r.content_length = end - start
        r.add_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        await conn.send_header(r)
        await conn.send_fd(r, fd, start, end - start)
        return 0
    if isinstance(ranges, list):
        boundary = f"{int(time.time() * 1000) % 10**20:020d}"
        ctype = r.content_type + (f"; charset={r.charset}" if r.charset else "")
        pieces: list[tuple[str, int, int]] = []
        total = 0
        for start, end in ranges:
            head = f"\r\n--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {start}-{end - 1}/{size}\r\n\r\n"
            pieces.append((head, start, end))
            total += len(head) + end - start
        closing = f"\r\n--{boundary}--\r\n"
        total += len(closing)
        r.status = 206
        r.content_type = f"multipart/byteranges; boundary={boundary}"
        r.charset = ""
        r.content_length = total
        await conn.send_header(r)
        for head, start, end in pieces:
            await conn.send_body(r, head.encode("latin-1"))
            await conn.send_fd(r, fd, start, end - start, finish=False)
        await conn.send_body(r, closing.encode("latin-1"))
        await conn.finish_body(r)
        return 0
    conn.put_header(r)
    await conn.send_fd(r, fd, 0, size)
    return 0


async def index_handler(r: Request, conn: HttpConnection) -> int:
    """ngx_http_index_handler: an internal redirect to the first index file that exists."""
    if not r.uri.endswith("/"):
        return DECLINED
    if r.method not in ("GET", "HEAD", "POST"):
        return DECLINED
    loc = r.loc
    assert loc is not None
    dir_tested = False
    for number, value in enumerate(loc.index):
        name = evaluate(value, r)
        last = number == len(loc.index) - 1
        if name.startswith("/"):
            if last:
                return conn.internal_redirect_code(r, name, r.args)
            uri = name
        else:
            uri = r.uri + name
        mapped = map_uri_to_path(r, uri if name.startswith("/") else None)
        if mapped is None:
            return 500
        path = mapped[0] if name.startswith("/") else mapped[0] + name
        try:
            os.stat(path)
        except OSError as error:
            code = error.errno or 0
            if code in (errno.ENOENT, errno.ENOTDIR):
                if not dir_tested:
                    directory = map_uri_to_path(r)
                    assert directory is not None
                    try:
                        st = os.stat(directory[0])
                    except OSError as dir_error:
                        dcode = dir_error.errno or 0
                        if dcode in (errno.ENOENT, errno.ENOTDIR):
                            if loc.log_not_found:
                                conn.log_error(
                                    "error",
                                    f'"{directory[0]}" is not found ({dcode}: {os.strerror(dcode)})',
                                    r,
                                )
                            return 404
                        return 403 if dcode == errno.EACCES else 500
                    if not stat.S_ISDIR(st.st_mode):
                        return 404
                    dir_tested = True
                continue
            if code == errno.EACCES:
                conn.log_error("error", f'"{path}" is forbidden ({code}: {os.strerror(code)})', r)
                return 403
            return 500
        return conn.internal_redirect_code(r, uri, r.args)
    return DECLINED


async def autoindex_handler(r: Request, conn: HttpConnection) -> int:
    loc = r.loc
    assert loc is not None
    if not loc.autoindex or not r.uri.endswith("/"):
        return DECLINED
    if r.method not in ("GET", "HEAD"):
        return DECLINED
    mapped = map_uri_to_path(r)
    assert mapped is not None
    path = mapped[0]
    try:
        entries = list_directory(path)
    except OSError as error:
        code = error.errno or 0
        if code in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            conn.log_error("error", f'opendir() "{path}" failed ({code}: {os.strerror(code)})', r)
            return 404
        conn.log_error("error", f'opendir() "{path}" failed ({code}: {os.strerror(code)})', r)
        return 403 if code == errno.EACCES else 500
    await conn.discard_body(r)
    r.status = 200
    if loc.autoindex_format == "json":
        body = autoindex_json(entries)
        r.content_type = "application/json"
    else:
        body = autoindex_html(r.uri, entries, loc.autoindex_exact_size, loc.autoindex_localtime)
        r.content_type = "text/html"
    r.charset = charset_for(r, r.content_type)
    data = body.encode("utf-8", "surrogateescape")
    await conn.send_whole(r, data, chunked_if_possible=True)
    return 0


async def directory_forbidden(r: Request, conn: HttpConnection) -> int:
    """What the static module says about a directory URI nobody served."""
    mapped = map_uri_to_path(r)
    if r.method not in ("GET", "HEAD", "POST"):
        return 405
    if mapped is not None:
        conn.log_error("error", f'directory index of "{mapped[0]}" is forbidden', r)
    return 403


def try_files_path(r: Request, name: str) -> tuple[str, int]:
    """The file tried for one try_files name: the root (or alias) plus the name."""
    loc = r.loc
    assert loc is not None
    root = document_root(r) or ""
    if loc.alias and loc.regex is None and name.startswith(loc.name):
        name = name[len(loc.name) :]
        return root + name, len(root)
    if loc.alias and loc.regex is not None:
        return root + name, len(root)
    return root + name, len(root)


def test_file(path: str, is_dir: bool) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    if is_dir:
        return stat.S_ISDIR(st.st_mode)
    return not stat.S_ISDIR(st.st_mode)
