"""HTTP/1.x request parsing as nginx does it: pure, bytes in, values out.

nginx parses the request line and the header lines with its own state machines
(``ngx_http_parse_request_line``, ``ngx_http_parse_header_line``) and normalises
the URI with ``ngx_http_parse_complex_uri``.  Their rules decide which requests get a
400, 414, 494 or 505, so nginxpy follows them rather than a generic HTTP parser:

* the request line: ``METHOD SP+ target [SP+ HTTP/x.y] SP* CRLF``; the method is
  upper-case letters, ``_`` and ``-``; the target is ``/path`` or ``scheme://host``;
  a line without a version is HTTP/0.9 (GET only); a major version above 1 is a 505;
* header lines end with LF or CRLF; names are letters, digits, ``-`` (and ``_`` with
  ``underscores_in_headers``); other bytes make the line "invalid" (ignored with
  ``ignore_invalid_headers``), control bytes and spaces in a name are a 400;
* the URI: ``%XX`` decoded, ``//`` merged, ``.`` and ``..`` segments resolved, a climb
  above the root is a 400.

Everything is ``str`` decoded as Latin-1, so bytes round-trip unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class BadRequest(Exception):
    """The request cannot be parsed; ``status`` is what nginx answers (400, 414, 494, 505, 501)."""

    def __init__(self, status: int, log: str, http09: bool = False) -> None:
        super().__init__(log)
        self.status = status
        self.log = log
        self.http09 = http09  # the answer is HTTP/0.9: a body without a head
        self.offset = -1  # a bad header line: where it starts in the head (nginx's request_length)


@dataclass(slots=True)
class RequestHead:
    method: str
    target: str  # as sent (the part of the request line nginx calls request_uri, or the absolute URL)
    request_line: str
    version: int  # 9, 1000, 1001 (nginx's major * 1000 + minor)
    protocol: str  # "HTTP/1.1", "" for HTTP/0.9
    path: str  # the raw path part of the target (before '?')
    args: str
    host: str | None  # the host of an absolute-form target
    complex: bool  # the path needs parse_complex_uri
    headers: list[tuple[str, str]] = field(default_factory=list)  # names as sent
    # True once a header line was found invalid (ignored): for the log.
    invalid_headers: list[str] = field(default_factory=list)


_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_-")
_REQUEST_LINE = re.compile(r"([A-Z_-]+) +([^ ]+)(?: +(.*?))? *", re.S)
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(\[[^\]/ ]*\]|[A-Za-z0-9.-]*)(?::([0-9]*))?(.*)", re.S)
_VERSION = re.compile(r"HTTP/([1-9][0-9]?)\.([0-9]{1,3})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A path that ngx_http_parse_request_line would not flag as complex: no "%", "#", "//", "/.".
_COMPLEX = re.compile(r"[%#]|//|/\.")


# The common line, taken in one match: an origin-form path (no "%", "#", control bytes), args,
# HTTP/1.0 or 1.1.
_SIMPLE_LINE = re.compile(r"([A-Z_-]+) (/[^ %#?\x00-\x1f\x7f]*)(\?[^ #\x00-\x1f\x7f]*)? (HTTP/1\.[01])")


def _simple_head(line: str, method: str, path: str, query: str | None, protocol: str) -> RequestHead:
    return RequestHead(
        method,
        path + query if query else path,
        line,
        1001 if protocol[7] == "1" else 1000,
        protocol,
        path,
        query[1:] if query else "",
        None,
        "//" in path or "/." in path,
    )


# A whole common head: the common line, then plain header lines, all ending in CRLF.
_SIMPLE_HEAD = re.compile(_SIMPLE_LINE.pattern + r"\r\n((?:[A-Za-z0-9-]+:[^\x00\r\n]*\r\n)*)\r\n")


def parse_simple_head(text: str) -> tuple[RequestHead, int] | None:
    """The common head at the start of text, in one regex match: the head and its length
    (up to the body), or None when the general way must decide (parse_request_line and
    parse_head give the same result for the heads this takes)."""
    match = _SIMPLE_HEAD.match(text)
    if match is None:
        return None
    method, path, query, protocol, block = match.groups()
    head = _simple_head(text[: match.start(5) - 2], method, path, query, protocol)
    headers = head.headers
    for name, value in _HEADER_PAIR.findall(block):
        headers.append((name, value.rstrip(" ") if value.endswith(" ") else value))
    return head, match.end()


def parse_request_line(line: str) -> RequestHead:
    """One request line, without its line end.  Raises BadRequest as nginx answers."""
    simple = _SIMPLE_LINE.fullmatch(line)
    if simple is not None:
        method, path, query, protocol = simple.groups()
        return _simple_head(line, method, path, query, protocol)
    if not line or line[0] not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-":
        raise BadRequest(400, "client sent invalid method")
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        # The method may be followed by a bad byte, or by nothing.
        method_end = 0
        while method_end < len(line) and line[method_end] in "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-":
            method_end += 1
        if method_end == len(line) or line[method_end] != " ":
            raise BadRequest(400, "client sent invalid method")
        raise BadRequest(400, "client sent invalid request")
    method, target, rest = match.group(1), match.group(2), match.group(3)
    if _CONTROL.search(target):
        raise BadRequest(400, "client sent invalid request")
    host = None
    tail = ""
    if target[0] == "/":
        path_and_args = target
    else:
        absolute = _ABSOLUTE.fullmatch(target)
        if absolute is None:
            raise BadRequest(400, "client sent invalid request")
        host = absolute.group(2)
        tail = absolute.group(4)
        if tail and tail[0] not in "/?":
            raise BadRequest(400, "client sent invalid request")
        if absolute.group(3) is not None and absolute.group(3) == "" and tail and tail[0] != "/":
            raise BadRequest(400, "client sent invalid request")
        path_and_args = tail if tail.startswith("/") else "/" + tail
    if rest is None or rest == "":
        if host is not None and not tail and rest is None:  # the line ends in the host or port
            raise BadRequest(400, "client sent invalid request")
        version, protocol = 9, ""
        if method != "GET":
            raise BadRequest(400, "client sent invalid method in HTTP/0.9 request", http09=True)
    else:
        version_match = _VERSION.fullmatch(rest)
        if version_match is None:
            if rest.startswith("HTTP/") and rest[5:6].isdigit() and rest[5] != "0":
                digits = ""
                for ch in rest[5:]:
                    if not ch.isdigit():
                        break
                    digits += ch
                if int(digits) > 1:
                    raise BadRequest(505, "client sent unsupported HTTP version")
            raise BadRequest(400, "client sent invalid request")
        major, minor = int(version_match.group(1)), int(version_match.group(2))
        if major > 1:
            raise BadRequest(505, "client sent unsupported HTTP version")
        version = major * 1000 + minor
        protocol = rest
    path, _, args = path_and_args.partition("?")
    complex_uri = bool(_COMPLEX.search(path))
    if "#" in args:
        args = args[: args.index("#")]
    return RequestHead(
        method=method,
        target=target,
        request_line=line,
        version=version,
        protocol=protocol,
        path=path,
        args=args,
        host=host,
        complex=complex_uri,
    )


_METHOD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_-")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_SCHEMA = _ALPHA | _DIGITS | frozenset("+-.")
_HOST = _ALPHA | _DIGITS | frozenset(".-")
_IP_LITERAL = _ALPHA | _DIGITS | frozenset(":-._~!$&'()*+,;=")
_HTTP = "HTTP/"
_LINE_END_STATES = frozenset(("uri", "http_09", "minor", "spaces_after_digit", "almost_done"))


class RequestLineScanner:
    """The error states of ngx_http_parse_request_line for a request line still arriving.

    nginx parses the line byte by byte as it is read and answers at the first byte that
    cannot be part of a request line ("BAD\r" is an invalid method at the CR): it does not
    wait for the line end.  nginxpy parses whole lines (``parse_request_line``); this
    scanner only finds, for a line without its LF yet, whether nginx would already have
    given up, and with which answer.  ``feed`` is incremental: it resumes where it stopped.
    """

    __slots__ = ("major", "minor", "pos", "protocol", "state")

    def __init__(self) -> None:
        self.state = "start"
        self.pos = 0
        self.major = 0
        self.minor = 0
        self.protocol = False  # the version has begun ("H" seen): $server_protocol is found (empty)

    def feed(self, more: str) -> BadRequest | None:
        """Scan the next bytes of the line (``pos`` counts those scanned); the error nginx answers."""
        state = self.state
        error: BadRequest | None = None
        for ch in more:
            if ch == "\n" and state in _LINE_END_STATES:
                state = "done"
                break
            if state == "uri":  # sw_after_slash_in_uri, sw_check_uri, sw_uri
                if ch == " ":
                    state = "http_09"
                elif ch == "\r":
                    state = "almost_done"
                elif ch < " " or ch == "\x7f":
                    error = BadRequest(400, "client sent invalid request")
            elif state == "start":
                if ch in _METHOD:
                    state = "method"
                else:
                    error = BadRequest(400, "client sent invalid method")
            elif state == "method":
                if ch == " ":
                    state = "spaces_before_uri"
                elif ch not in _METHOD:
                    error = BadRequest(400, "client sent invalid method")
            elif state == "spaces_before_uri":
                if ch == "/":
                    state = "uri"
                elif ch in _ALPHA:
                    state = "schema"
                elif ch != " ":
                    error = BadRequest(400, "client sent invalid request")
            elif state == "schema":
                if ch == ":":
                    state = "schema_slash"
                elif ch not in _SCHEMA:
                    error = BadRequest(400, "client sent invalid request")
            elif state in ("schema_slash", "schema_slash_slash"):
                if ch != "/":
                    error = BadRequest(400, "client sent invalid request")
                state = "schema_slash_slash" if state == "schema_slash" else "host_start"
            elif state in ("host_start", "host", "host_end"):
                if state == "host_start" and ch == "[":
                    state = "ip_literal"
                elif state != "host_end" and ch in _HOST:
                    state = "host"
                elif ch == ":":
                    state = "port"
                elif ch in "/?":
                    state = "uri"
                elif ch == " ":
                    state = "http_09"
                else:
                    error = BadRequest(400, "client sent invalid request")
            elif state == "ip_literal":
                if ch == "]":
                    state = "host_end"
                elif ch not in _IP_LITERAL:
                    error = BadRequest(400, "client sent invalid request")
            elif state == "port":
                if ch in "/?":
                    state = "uri"
                elif ch == " ":
                    state = "http_09"
                elif ch not in _DIGITS:
                    error = BadRequest(400, "client sent invalid request")
            elif state == "http_09":
                if ch == "H":
                    state = "http_1"
                    self.protocol = True
                elif ch == "\r":
                    state = "almost_done"
                elif ch != " ":
                    error = BadRequest(400, "client sent invalid request")
            elif state.startswith("http_"):  # "HTTP/", one byte after the other
                index = int(state[5:])
                if ch != _HTTP[index]:
                    error = BadRequest(400, "client sent invalid request")
                state = f"http_{index + 1}" if index + 1 < len(_HTTP) else "first_major"
            elif state == "first_major" or state == "major":
                if state == "major" and ch == ".":
                    state = "first_minor"
                elif ch not in _DIGITS or (state == "first_major" and ch == "0"):
                    error = BadRequest(400, "client sent invalid request")
                else:
                    self.major = self.major * 10 + int(ch)
                    if self.major > 1:
                        error = BadRequest(505, "client sent unsupported HTTP version")
                    state = "major"
            elif state == "first_minor":
                if ch not in _DIGITS:
                    error = BadRequest(400, "client sent invalid request")
                self.minor = int(ch) if ch in _DIGITS else 0
                state = "minor"
            elif state == "minor":
                if ch == "\r":
                    state = "almost_done"
                elif ch == " ":
                    state = "spaces_after_digit"
                elif ch not in _DIGITS or self.minor > 99:
                    error = BadRequest(400, "client sent invalid request")
                else:
                    self.minor = self.minor * 10 + int(ch)
            elif state == "spaces_after_digit":
                if ch == "\r":
                    state = "almost_done"
                elif ch != " ":
                    error = BadRequest(400, "client sent invalid request")
            else:  # almost_done: only the LF may follow the CR; done: nothing
                error = BadRequest(400, "client sent invalid request")
            if error is not None:
                return error
        self.state = state
        self.pos += len(more)
        return None


def parse_header_line(line: str, allow_underscores: bool) -> tuple[str, str, bool]:
    """One header line (without its line end) -> (name, value, valid).

    Raises BadRequest for the lines nginx refuses outright."""
    colon = line.find(":")
    name = line if colon < 0 else line[:colon]
    if not name:
        raise BadRequest(400, "client sent invalid header line")
    valid = True
    for index, ch in enumerate(name):
        if ch.isascii() and (ch.isalnum() or ch == "-"):
            continue
        if ch == "_":
            if not allow_underscores:
                valid = False
            continue
        if ch <= " " or ch == "\x7f":
            raise BadRequest(400, "client sent invalid header line")
        if index == 0 and ch == ":":  # pragma: no cover - colon at 0 makes name empty
            raise BadRequest(400, "client sent invalid header line")
        valid = False
    value = "" if colon < 0 else line[colon + 1 :].lstrip(" ").rstrip(" ")
    if "\x00" in value or "\r" in value:
        raise BadRequest(400, "client sent invalid header line")
    return name, value, valid


# Header lines that all take the fast path (each name, ":", a value without NUL or CR): the
# whole block is checked at once, then split into pairs.  No part can match two ways (no
# backtracking on a long line).
_PLAIN_HEADERS = re.compile(r"(?:[A-Za-z0-9-]+:[^\x00\r\n]*\r?\n)*[A-Za-z0-9-]+:[^\x00\r\n]*\r?")
_HEADER_PAIR = re.compile(r"([A-Za-z0-9-]+):[ ]*([^\x00\r\n]*)")
_FAST_HEADER = re.compile(r"([A-Za-z0-9-]+):[ ]*([^\x00\r]*)")  # trailing spaces: stripped after


def parse_head(
    text: str,
    allow_underscores: bool = False,
    ignore_invalid: bool = True,
    request_line: RequestHead | None = None,
) -> RequestHead:
    """A whole request head (request line and header lines, ending before the blank line);
    ``request_line`` is the first line when it was parsed already."""
    if request_line is not None:
        head = request_line
    else:
        first = text.split("\n", 1)[0]
        if first.endswith("\r"):
            first = first[:-1]
        if "\r" in first:
            raise BadRequest(400, "client sent invalid request")
        head = parse_request_line(first)
    if head.version == 9:
        return head
    headers = head.headers
    newline = text.find("\n")
    if newline < 0:
        return head
    block = text[newline + 1 :]
    if _PLAIN_HEADERS.fullmatch(block) is not None:  # the common head, in two regex calls
        for name, value in _HEADER_PAIR.findall(block):
            headers.append((name, value.rstrip(" ") if value.endswith(" ") else value))
        return head
    lines = text.split("\n")
    fast = _FAST_HEADER.fullmatch
    for index in range(1, len(lines)):
        raw = lines[index]
        line = raw[:-1] if raw.endswith("\r") else raw
        match = fast(line)
        if match is not None:
            name, value = match.groups()
            headers.append((name, value.rstrip(" ") if value.endswith(" ") else value))
            continue
        try:
            name, value, valid = parse_header_line(line, allow_underscores)
        except BadRequest as error:
            error.offset = sum(len(before) + 1 for before in lines[:index])
            raise
        if not valid and ignore_invalid:
            head.invalid_headers.append(line)
            continue
        headers.append((name, value))
    return head


_HEAD_END = re.compile(r"\r?\n\r?\n")


def find_head_end(buffer: str, start: int = 0) -> tuple[int, int] | None:
    """Where the head ends in the buffer: (end of the last header line, start of the body)."""
    match = _HEAD_END.search(buffer, start)
    if match is None:
        return None
    return match.start(), match.end()


# -- the URI ---------------------------------------------------------------------------

_HEX = "0123456789abcdefABCDEF"


def parse_complex_uri(path: str, merge_slashes: bool = True) -> str:
    """Decode and normalise a path (without its args) as ngx_http_parse_complex_uri.

    Raises BadRequest(400) for a bad escape, a %00, or ".." above the root."""
    out: list[str] = []
    state = "usual"
    quoted_state = "usual"
    decoded = 0
    i = 0
    n = len(path)
    # Process characters; a decoded byte is re-examined in the state before "%".
    pending: str | None = None
    while True:
        if pending is not None:
            ch = pending
            pending = None
        else:
            if i >= n:
                break
            ch = path[i]
            i += 1
        if state == "quoted":
            if ch in _HEX:
                decoded = int(ch, 16)
                state = "quoted_second"
                continue
            raise BadRequest(400, "client sent invalid request")
        if state == "quoted_second":
            if ch not in _HEX:
                raise BadRequest(400, "client sent invalid request")
            value = decoded * 16 + int(ch, 16)
            char = chr(value)
            if ch.isdigit():
                if char in "%#":
                    out.append(char)
                    state = "usual"
                    continue
                if value == 0:
                    raise BadRequest(400, "client sent invalid request")
            elif char == "?":
                out.append(char)
                state = "usual"
                continue
            state = quoted_state
            pending = char
            continue
        if ch == "%":
            quoted_state = state
            state = "quoted"
            continue
        if ch == "#":
            if state == "dot":
                out.pop()
            elif state == "dot_dot":
                _climb(out)
            return "".join(out)
        if state == "usual":
            if ch == "/":
                state = "slash"
            out.append(ch)
        elif state == "slash":
            if ch == "/":
                if not merge_slashes:
                    out.append(ch)
            elif ch == ".":
                state = "dot"
                out.append(ch)
            else:
                state = "usual"
                out.append(ch)
        elif state == "dot":
            if ch == "/":
                state = "slash"
                out.pop()
            elif ch == ".":
                state = "dot_dot"
                out.append(ch)
            else:
                state = "usual"
                out.append(ch)
        else:  # dot_dot
            if ch == "/":
                _climb(out)
                state = "slash"
            else:
                state = "usual"
                out.append(ch)
    if state in ("quoted", "quoted_second"):
        raise BadRequest(400, "client sent invalid request")
    if state == "dot":
        out.pop()
    elif state == "dot_dot":
        _climb(out)
    return "".join(out)


def _climb(out: list[str]) -> None:
    """Remove "/seg/.." (out ends with "/.."): back to the slash before the previous segment."""
    # out ends with "/", ".", "." -> drop them and the segment before.
    del out[-3:]
    if not out:
        raise BadRequest(400, "client sent invalid request")
    while out[-1] != "/":  # out starts with "/"
        out.pop()


def uri_exten(uri: str) -> str:
    """$exten: the text after the last "." of the last path segment."""
    slash = uri.rfind("/")
    dot = uri.rfind(".")
    if dot > slash:
        return uri[dot + 1 :]
    return ""


# -- chunked bodies ------------------------------------------------------------------

_CHUNK_SIZE = re.compile(r"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r?\n")


class ChunkedDecoder:
    """Decodes a chunked request body incrementally (ngx_http_parse_chunked's rules, simplified)."""

    def __init__(self) -> None:
        self.state = "size"
        self.remaining = 0
        self.done = False
        self.size = 0  # total of data so far

    def feed(self, data: str) -> tuple[list[str], str]:
        """Consume what can be consumed; returns (data pieces, unconsumed tail)."""
        pieces: list[str] = []
        pos = 0
        n = len(data)
        while pos < n and not self.done:
            if self.state == "size":
                match = _CHUNK_SIZE.match(data, pos)
                if match is None:
                    nl = data.find("\n", pos)
                    if nl >= 0 or n - pos > 4096:
                        raise BadRequest(400, "client sent invalid chunked body")
                    break
                size_text = match.group(1)
                if len(size_text.lstrip("0")) > 15:
                    raise BadRequest(400, "client sent invalid chunked body")
                self.remaining = int(size_text, 16)
                pos = match.end()
                self.state = "data" if self.remaining else "trailer"
            elif self.state == "data":
                take = min(self.remaining, n - pos)
                pieces.append(data[pos : pos + take])
                self.size += take
                self.remaining -= take
                pos += take
                if self.remaining == 0:
                    self.state = "data_end"
            elif self.state == "data_end":
                if data.startswith("\r\n", pos):
                    pos += 2
                elif data.startswith("\n", pos):
                    pos += 1
                elif data[pos:] == "\r":
                    break
                else:
                    raise BadRequest(400, "client sent invalid chunked body")
                self.state = "size"
            else:  # trailer: lines until an empty line
                nl = data.find("\n", pos)
                if nl < 0:
                    break
                line = data[pos:nl]
                pos = nl + 1
                if line in ("", "\r"):
                    self.done = True
        return pieces, data[pos:]
