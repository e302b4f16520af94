"""proxy_pass: the request nginx 1.22 sends upstream, and what comes back to the client.

The pure half of ``ngx_http_proxy_module``; the sockets live in :mod:`upstream`.

* :func:`parse_proxy_url` is ``ngx_parse_url`` for a proxy_pass URL: scheme, host,
  port, URI part, and the values of ``$proxy_host`` / ``$proxy_port``.
* :class:`ProxyConf` is a location's merged proxy settings, built once at load
  (``ngx_http_proxy_merge_loc_conf``): the header list is the location's
  ``proxy_set_header`` entries, then nginx's defaults they do not override
  (``Host: $proxy_host``, ``Connection: close``, ``Content-Length``,
  ``Transfer-Encoding``, and the empty ``TE``, ``Keep-Alive``, ``Expect``,
  ``Upgrade``).  Every name in that list, empty or not, is kept out of the copy of
  the client's headers: that is why the client's ``Upgrade`` never reaches the
  upstream unless the config sets it again.
* :func:`build_request` is ``ngx_http_proxy_create_request``: request line (the
  URI with the location prefix replaced, or passed as written), set headers in
  order (an empty value drops the line), then the client's headers in their order.
* :func:`rewrite_redirect` is ``proxy_redirect``; :func:`response_headers` is
  ``ngx_http_upstream_process_headers`` (hidden headers, hop-by-hop headers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nginxpy import versions
from nginxpy.conf.script import Capture, ComplexValue, Var, compile_value

# ngx_http_proxy_headers: defaults appended after the configured proxy_set_header list.
DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "$proxy_host"),
    ("Connection", "close"),
    ("Content-Length", "$proxy_internal_body_length"),
    ("Transfer-Encoding", "$proxy_internal_chunked"),
    ("TE", ""),
    ("Keep-Alive", ""),
    ("Expect", ""),
    ("Upgrade", ""),
)

# ngx_http_proxy_hide_headers: upstream response headers never passed unless proxy_pass_header.
DEFAULT_HIDE = ("date", "server", "x-pad", "x-accel-expires", "x-accel-redirect", "x-accel-limit-rate",
                "x-accel-buffering", "x-accel-charset")  # fmt: skip

# Upstream response headers the upstream module consumes instead of copying (hop-by-hop, framing).
_NOT_COPIED = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding"})

Lookup = Callable[[str], str | None]


class ProxyError(Exception):
    """The request cannot be proxied; ``message`` is nginx's error-log text."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- the URL ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyUrl:
    url: str  # as written, e.g. "http://127.0.0.1:3000/" (plcf->url)
    scheme: str  # "http" or "https"
    host: str  # "127.0.0.1", "[::1]", "backend", or the socket path for unix:
    port: int  # explicit or the scheme's default
    no_port: bool
    uri: str  # the URI part ("" when none): "/", "/app/", "/?x"
    unix: bool = False

    @property
    def host_header(self) -> str:
        """$proxy_host: host, plus ":port" when the port is not the scheme's default."""
        if self.unix:
            return "localhost"
        if self.no_port or self.port == self.default_port:
            return self.host
        return f"{self.host}:{self.port}"

    @property
    def proxy_port(self) -> str:
        if self.unix:
            return ""
        return str(self.port)

    @property
    def default_port(self) -> int:
        return 443 if self.scheme == "https" else 80

    @property
    def upstream_key(self) -> str:
        """The upstream{} name this URL refers to (a group name has no port)."""
        return self.host


def parse_proxy_url(url: str, at_runtime: bool = False) -> ProxyUrl:
    lowered = url.lower()
    if lowered.startswith("http://") and (len(url) > 7 or not at_runtime):
        scheme, rest = "http", url[7:]
    elif lowered.startswith("https://") and (len(url) > 8 or not at_runtime):
        scheme, rest = "https", url[8:]
    else:
        raise ProxyError(f'invalid URL prefix in "{url}"')
    default_port = 443 if scheme == "https" else 80
    if rest[:5].lower() == "unix:":
        path = rest[5:]
        uri = ""
        colon = path.find(":")
        if colon >= 0:
            path, uri = path[:colon], path[colon + 1 :]
        if not path:
            raise ProxyError(f'no path in the unix domain socket in upstream "{rest}"')
        return ProxyUrl(url, scheme, path, 0, True, uri, unix=True)
    cut = len(rest)
    for mark in "/?":
        found = rest.find(mark)
        if found >= 0:
            cut = min(cut, found)
    authority, uri = rest[:cut], rest[cut:]
    if uri.startswith("?"):
        uri = "/" + uri if at_runtime else uri
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise ProxyError(f'invalid IPv6 address in upstream "{rest}"')
        host, tail = authority[: end + 1], authority[end + 1 :]
    else:
        host, _, port_part = authority.partition(":")
        tail = ":" + port_part if _ else ""
    if not host:
        raise ProxyError(f'no host in upstream "{rest}"')
    if tail:
        if not tail.startswith(":") or not tail[1:].isdigit() or not 1 <= int(tail[1:]) <= 65535:
            raise ProxyError(f'invalid port in upstream "{rest}"')
        return ProxyUrl(url, scheme, host, int(tail[1:]), False, uri)
    return ProxyUrl(url, scheme, host, default_port, True, uri)


# -- evaluation of complex values --------------------------------------------------


def evaluate(value: ComplexValue, lookup: Lookup) -> str:
    """A compiled value with its variables filled; an unset variable is empty (nginx)."""
    parts = value.parts
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Var):
            out.append(lookup(part.name) or "")
        elif isinstance(part, Capture):
            out.append(lookup(str(part.number)) or "")
    return "".join(out)


# -- the location's settings ----------------------------------------------------------


@dataclass(slots=True)
class Redirect:
    """One proxy_redirect rule: a prefix (complex value) or a regex, and a replacement."""

    replacement: ComplexValue
    prefix: ComplexValue | None = None
    regex: re.Pattern[str] | None = None


@dataclass(slots=True)
class ProxyConf:
    url: ProxyUrl | None  # static URL, or None when proxy_pass has variables
    url_value: ComplexValue | None  # the URL with variables
    location: str  # prefix replaced by the URL's URI part ("" in regex/named/if locations)
    headers: list[tuple[str, ComplexValue]]  # merged, in nginx's order; empty-at-load entries dropped
    headers_set: frozenset[str]  # every merged name, lower-cased: not copied from the client
    http_version: str = versions.DEFAULT_PROXY_HTTP_VERSION
    method: ComplexValue | None = None
    body: ComplexValue | None = None
    pass_request_headers: bool = True
    pass_request_body: bool = True
    hide: frozenset[str] = frozenset(DEFAULT_HIDE)
    redirects: list[Redirect] = field(default_factory=list)
    intercept_errors: bool = False
    buffering: bool = True
    request_buffering: bool = True
    ignore_headers: frozenset[str] = frozenset()
    connect_timeout: float = 60.0
    send_timeout: float = 60.0
    read_timeout: float = 60.0
    buffer_size: int = 4096
    next_upstream: frozenset[str] = frozenset({"error", "timeout"})
    next_upstream_tries: int = 0
    next_upstream_timeout: float = 0.0
    body_buffer_size: int = 8192  # client_body_buffer_size: a larger body is kept in a temporary file
    body_temp_path: str | None = None  # client_body_temp_path (None: <prefix>/client_body_temp)
    resolver: tuple[str, ...] | None = None  # the resolver directive's words in force here
    resolver_timeout: float = 30.0
    plan: list[tuple[int, str, ComplexValue | None]] | None = None  # the headers, prepared (_header_plan)

    @classmethod
    def from_scope(cls, scope: Any) -> ProxyConf:
        """Build from a LocationScope / IfScope (nginxpy.conf.model) with nginx's merge rules."""
        pass_value, owner = _proxy_pass_of(scope)
        if pass_value is None:
            raise ValueError("no proxy_pass in this location")
        url: ProxyUrl | None = None
        url_value: ComplexValue | None = None
        if pass_value.is_constant:
            url = parse_proxy_url(pass_value.source)
        else:
            url_value = pass_value
        location = ""
        if (
            owner is not None
            and getattr(owner, "modifier", "") not in ("~", "~*", "@")
            and owner.ctx.name == "LOCATION"
        ):
            location = getattr(owner, "name", "")
        conf = cls(
            url=url,
            url_value=url_value,
            location=location,
            headers=[],
            headers_set=frozenset(),
        )
        entries = list(scope.get("proxy_set_header") or [])
        conf.set_headers(entries)
        version = scope.get("proxy_http_version")
        if version:
            conf.http_version = version
        method = scope.get("proxy_method")
        if method:
            conf.method = compile_value(method[-1][0] if isinstance(method[-1], list) else method)
        body = scope.get("proxy_set_body")
        if body is not None:
            conf.body = compile_value(body)
        conf.pass_request_headers = _flag(scope, "proxy_pass_request_headers", True)
        conf.pass_request_body = _flag(scope, "proxy_pass_request_body", True)
        conf.intercept_errors = _flag(scope, "proxy_intercept_errors", False)
        conf.buffering = _flag(scope, "proxy_buffering", True)
        conf.request_buffering = _flag(scope, "proxy_request_buffering", True)
        conf.ignore_headers = frozenset(h.lower() for h in scope.get("proxy_ignore_headers") or ())
        hide = set(DEFAULT_HIDE)
        hide.update(_words(scope.get("proxy_hide_header")))
        hide.difference_update(_words(scope.get("proxy_pass_header")))
        conf.hide = frozenset(hide)
        conf.connect_timeout = _msec(scope, "proxy_connect_timeout", 60000)
        conf.send_timeout = _msec(scope, "proxy_send_timeout", 60000)
        conf.read_timeout = _msec(scope, "proxy_read_timeout", 60000)
        conf.buffer_size = int(scope.get("proxy_buffer_size") or 4096)
        next_upstream = scope.get("proxy_next_upstream")
        if next_upstream:
            conf.next_upstream = frozenset({"off"}) if "off" in next_upstream else frozenset(next_upstream)
        conf.next_upstream_tries = int(scope.get("proxy_next_upstream_tries") or 0)
        conf.next_upstream_timeout = _msec(scope, "proxy_next_upstream_timeout", 0)
        conf.redirects = _redirects(scope.get("proxy_redirect"), url, location)
        size = scope.get("client_body_buffer_size")
        if isinstance(size, int) and size > 0:
            conf.body_buffer_size = size
        temp = scope.get("client_body_temp_path")
        if temp:
            conf.body_temp_path = str(temp[0] if isinstance(temp, (list, tuple)) else temp)
        resolver = scope.get("resolver")
        if resolver:
            conf.resolver = tuple(str(word) for word in resolver)
        conf.resolver_timeout = _msec(scope, "resolver_timeout", 30000)
        return conf

    def set_headers(self, entries: Iterable[Sequence[str]]) -> None:
        merged: list[tuple[str, str]] = [(entry[0], entry[1]) for entry in entries]
        names = {name.lower() for name, _ in merged}
        for name, value in DEFAULT_HEADERS:
            if name.lower() not in names:
                merged.append((name, value))
                names.add(name.lower())
        self.headers = [(name, compile_value(value)) for name, value in merged if value != ""]
        self.headers_set = frozenset(names)
        self.plan = None


def _proxy_pass_of(scope: Any) -> tuple[ComplexValue | None, Any]:
    """proxy_pass of this level; an if / limit_except block without one uses its location's."""
    current = scope
    while current is not None:
        value = current.values.get("proxy_pass")
        if value is not None:
            return value, current
        if current.ctx.name not in ("LOCATION_IF", "SERVER_IF", "LIMIT_EXCEPT"):
            return None, None
        current = current.parent
    return None, None


def _flag(scope: Any, name: str, default: bool) -> bool:
    value = scope.get(name)
    return default if value is None else bool(value)


def _msec(scope: Any, name: str, default: int) -> float:
    value = scope.get(name)
    return (default if value is None else int(value)) / 1000.0


def _words(entries: Any) -> list[str]:
    out: list[str] = []
    for entry in entries or ():
        if isinstance(entry, str):
            out.append(entry.lower())
        else:
            out.append(str(entry[0]).lower())
    return out


def _redirects(entries: Any, url: ProxyUrl | None, location: str) -> list[Redirect]:
    rules: list[Redirect] = []
    if entries is None:
        entries = [["default"]]
    for words in entries:
        if words == ["off"]:
            return []
        if words == ["default"]:
            if url is None:
                continue
            if url.uri:
                rules.append(Redirect(compile_value(location), prefix=compile_value(url.url)))
            else:
                rules.append(Redirect(compile_value("/"), prefix=compile_value(url.url + "/")))
            continue
        pattern, replacement = words[0], words[1]
        if pattern.startswith("~*"):
            rules.append(Redirect(compile_value(replacement), regex=re.compile(pattern[2:], re.IGNORECASE)))
        elif pattern.startswith("~"):
            rules.append(Redirect(compile_value(replacement), regex=re.compile(pattern[1:])))
        else:
            rules.append(Redirect(compile_value(replacement), prefix=compile_value(pattern)))
    return rules


# -- the request to the upstream ------------------------------------------------------


@dataclass(slots=True)
class ClientRequest:
    """What the builder needs from the client's request (after rewrites)."""

    method: str
    uri: str  # $uri: decoded, normalised
    args: str = ""
    unparsed_uri: str = ""  # $request_uri as received
    headers: list[tuple[str, str]] = field(default_factory=list)  # as received, in order
    content_length: int = -1  # -1: no body announced
    chunked: bool = False
    valid_unparsed_uri: bool = True  # false once a rewrite changed the URI
    valid_location: bool = True  # false after "rewrite ... break"
    quoted_uri: bool = False  # the request target had %XX escapes (or the request is internal)
    remote_addr: str = ""


@dataclass(slots=True)
class ProxyContext:
    """Per-request proxy state (ngx_http_proxy_ctx_t): the URL's parts and the body framing."""

    url: ProxyUrl
    uri: str  # the URL's URI part used for this request
    internal_body_length: int = -1
    internal_chunked: bool = False
    head: bool = False

    def variable(self, name: str) -> str | None:
        if name == "proxy_host":
            return self.url.host_header
        if name == "proxy_port":
            return self.url.proxy_port
        if name == "proxy_internal_body_length":
            return str(self.internal_body_length) if self.internal_body_length >= 0 else None
        if name == "proxy_internal_chunked":
            return "chunked" if self.internal_chunked else None
        return None


@dataclass(slots=True)
class UpstreamRequest:
    head: bytes  # request line and headers, ending in an empty line
    body: bytes | None  # proxy_set_body's text; None: the client's body (or none)
    send_client_body: bool
    chunked: bool  # client body forwarded re-chunked (proxy_request_buffering off, HTTP/1.1)
    method: str
    uri: str
    context: ProxyContext


_ESCAPE_URI = frozenset(b' "#%<>?\\^`{|}\x7f') | frozenset(range(0x20)) | frozenset(range(0x80, 0x100))


def escape_uri(text: str) -> str:
    """ngx_escape_uri(NGX_ESCAPE_URI): the bytes nginx escapes in a URI it re-encodes."""
    data = _bytes(text)
    if not any(byte in _ESCAPE_URI for byte in data):
        return text
    return "".join(f"%{byte:02X}" if byte in _ESCAPE_URI else chr(byte) for byte in data)


def _bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def x_forwarded_for(headers: Iterable[tuple[str, str]], remote_addr: str) -> str:
    """$proxy_add_x_forwarded_for: the client's X-Forwarded-For lines, then its address."""
    values = [value for name, value in headers if name.lower() == "x-forwarded-for"]
    if not values:
        return remote_addr
    return ", ".join([*values, remote_addr])


_CONSTANT, _LENGTH, _CHUNKED, _VALUE = range(4)
_URL_VARIABLES = frozenset({"proxy_host", "proxy_port"})


def _header_plan(conf: ProxyConf) -> list[tuple[int, str, ComplexValue | None]]:
    """The location's header lines prepared once: whole lines for values that do not change
    from request to request (constants, $proxy_host and $proxy_port of a static URL), the
    name for the body framing and for values with other variables."""
    plan: list[tuple[int, str, ComplexValue | None]] = []
    url = conf.url
    for name, compiled in conf.headers:
        parts = compiled.parts
        if url is not None and all(
            isinstance(part, str) or (isinstance(part, Var) and part.name in _URL_VARIABLES) for part in parts
        ):
            text = evaluate(compiled, ProxyContext(url, url.uri).variable)
            if text:
                plan.append((_CONSTANT, f"{name}: {text}\r\n", None))
        elif len(parts) == 1 and isinstance(parts[0], Var) and parts[0].name == "proxy_internal_body_length":
            plan.append((_LENGTH, f"{name}: ", None))
        elif len(parts) == 1 and isinstance(parts[0], Var) and parts[0].name == "proxy_internal_chunked":
            plan.append((_CHUNKED, f"{name}: chunked\r\n", None))
        else:
            plan.append((_VALUE, name, compiled))
    return plan


def make_context(conf: ProxyConf, lookup: Lookup) -> ProxyContext:
    """The URL for this request: the static one, or proxy_pass with variables evaluated."""
    if conf.url is not None:
        return ProxyContext(conf.url, conf.url.uri)
    assert conf.url_value is not None
    text = evaluate(conf.url_value, lookup)
    url = parse_proxy_url(text, at_runtime=True)
    return ProxyContext(url, url.uri)


def build_request(
    conf: ProxyConf,
    request: ClientRequest,
    lookup: Lookup,
    context: ProxyContext | None = None,
    body_complete: bool = True,
) -> UpstreamRequest:
    """ngx_http_proxy_create_request.  ``body_complete``: the client body was read in full first."""
    if context is None:
        context = make_context(conf, lookup)

    def variables(name: str) -> str | None:
        if name.startswith("proxy_"):
            if name == "proxy_add_x_forwarded_for":
                return x_forwarded_for(request.headers, request.remote_addr or (lookup("remote_addr") or ""))
            value = context.variable(name)
            if value is not None or name in ("proxy_internal_body_length", "proxy_internal_chunked"):
                return value
        return lookup(name)

    method = evaluate(conf.method, variables) if conf.method is not None else request.method
    context.head = method.upper() == "HEAD"

    # the URI (ngx_http_proxy_create_request's three cases)
    if conf.url is None and context.uri:
        uri = context.uri
    elif not context.uri and request.valid_unparsed_uri:
        uri = request.unparsed_uri
    else:
        loc_len = len(conf.location) if request.valid_location and context.uri else 0
        rest = request.uri[loc_len:]
        if request.quoted_uri:
            rest = escape_uri(rest)
        uri = (context.uri if request.valid_location else "") + rest
        if request.args:
            uri += "?" + request.args
    if not uri:
        raise ProxyError("zero length URI to proxy")

    # the body framing
    body: bytes | None = None
    chunked = False
    if conf.body is not None:
        body = _bytes(evaluate(conf.body, variables))
        context.internal_body_length = len(body)
    elif request.chunked and not body_complete:
        context.internal_body_length = -1
        context.internal_chunked = True
        chunked = True
    else:
        context.internal_body_length = request.content_length

    version = "HTTP/1.1" if conf.http_version == "1.1" else "HTTP/1.0"
    lines = [f"{method} {uri} {version}\r\n"]
    plan = conf.plan
    if plan is None:
        plan = conf.plan = _header_plan(conf)
    for kind, name, compiled in plan:
        if kind == _CONSTANT:
            lines.append(name)
        elif kind == _LENGTH:
            if context.internal_body_length >= 0:
                lines.append(f"{name}{context.internal_body_length}\r\n")
        elif kind == _CHUNKED:
            if context.internal_chunked:
                lines.append(name)
        else:
            assert compiled is not None
            text = evaluate(compiled, variables)
            if text:
                lines.append(f"{name}: {text}\r\n")
    if conf.pass_request_headers:
        skip = conf.headers_set
        for name, value in request.headers:
            if name.lower() not in skip:
                lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    head = _bytes("".join(lines))
    send_body = conf.body is None and conf.pass_request_body
    return UpstreamRequest(head, body, send_body, chunked, method, uri, context)


# -- the response -----------------------------------------------------------------


def rewrite_redirect(conf: ProxyConf, value: str, lookup: Lookup, prefix: int = 0) -> str | None:
    """proxy_redirect applied to a Location (prefix 0) or Refresh ("url=" offset) value; None: unchanged."""
    for rule in conf.redirects:
        target = value[prefix:]
        if rule.regex is not None:
            match = rule.regex.match(target)
            if match is None:
                continue
            groups = {str(i): match.group(i) or "" for i in range(1, (match.re.groups or 0) + 1)}
            named = {k: v or "" for k, v in match.groupdict().items()}

            def captured(
                name: str, groups: dict[str, str] = groups, named: dict[str, str] = named
            ) -> str | None:
                if name in groups:
                    return groups[name]
                if name in named:
                    return named[name]
                return lookup(name)

            return value[:prefix] + evaluate(rule.replacement, captured)
        assert rule.prefix is not None
        pattern = evaluate(rule.prefix, lookup)
        if len(pattern) > len(target) or not target.startswith(pattern):
            continue
        return value[:prefix] + evaluate(rule.replacement, lookup) + target[len(pattern) :]
    return None


@dataclass(slots=True)
class ResponseHead:
    """A parsed upstream status line and headers (ngx_http_proxy_process_status_line / _header)."""

    status: int
    reason: str  # the status line after the code, as sent ("OK")
    version: str  # "HTTP/1.1"
    headers: list[tuple[str, str]]
    content_length: int = -1
    chunked: bool = False
    connection_close: bool = False
    http09: bool = False  # no valid status line: the bytes are the body (nginx passes them as HTTP/0.9)
    status_text: str = ""  # the status line from the code to its end, as sent: nginx's status_line


@dataclass(slots=True)
class ClientHeaders:
    """The response headers the client gets (nginx's headers_out after the upstream copy)."""

    status: int
    status_line: str  # "200 OK": nginx sends the upstream's reason phrase
    headers: list[tuple[str, str]]  # in upstream order; hidden and hop-by-hop ones dropped
    content_type: str | None = None
    content_length: int = -1
    location_rewritten: bool = False  # nginx then makes a relative Location absolute
    buffering: bool | None = None  # X-Accel-Buffering


def response_headers(conf: ProxyConf, head: ResponseHead, lookup: Lookup) -> ClientHeaders:
    """ngx_http_upstream_process_headers with the proxy module's copy handlers."""
    out: list[tuple[str, str]] = []
    content_type: str | None = None
    rewritten = False
    buffering: bool | None = None
    for name, value in head.headers:
        lower = name.lower()
        if lower == "x-accel-buffering" and "x-accel-buffering" not in conf.ignore_headers:
            if value.lower() == "yes":
                buffering = True
            elif value.lower() == "no":
                buffering = False
        if lower in conf.hide or lower in _NOT_COPIED:
            continue
        if lower == "content-type":
            content_type = value
            continue
        if lower == "location" and conf.redirects:
            new = rewrite_redirect(conf, value, lookup)
            if new is not None:
                value, rewritten = new, True
        elif lower == "refresh" and conf.redirects:
            at = value.lower().find("url=")
            if at >= 0:
                new = rewrite_redirect(conf, value, lookup, at + 4)
                if new is not None:
                    value = new
        out.append((name, value))
    return ClientHeaders(
        status=head.status,
        status_line=head.status_text
        or (f"{head.status} {head.reason}".rstrip() if head.reason else str(head.status)),
        headers=out,
        content_type=content_type,
        content_length=head.content_length,
        location_rewritten=rewritten,
        buffering=buffering,
    )


class HeadParser:
    """Incremental parser of an upstream response head, with nginx's tolerance rules.

    ``feed(data)`` returns the parsed head once the empty line arrives (the rest of
    ``data`` is in ``rest``), or None to wait for more; raises ProxyError on an
    invalid header line ("upstream sent invalid header").  A first line that is not
    a status line makes an HTTP/0.9 response: everything received is body.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.buffer = bytearray()
        self.limit = limit
        self.rest = b""

    def feed(self, data: bytes | bytearray) -> ResponseHead | None:
        if not self.buffer and data[:5] == b"HTTP/":
            # the usual case: the whole head in the first read, CRLF lines, nothing unusual
            end = data.find(b"\r\n\r\n")
            if end >= 0 and end + 4 <= self.limit:
                text = data[:end].decode("latin-1")
                parsed = _HEADS_SEEN.get(text)
                if parsed is None:
                    parsed = _parse_fast(text)
                    if parsed is not None:
                        if len(_HEADS_SEEN) >= 256:
                            _HEADS_SEEN.clear()
                        _HEADS_SEEN[text] = parsed
                if parsed is not None:
                    self.rest = bytes(data[end + 4 :])
                    return parsed
        if self.buffer:
            self.buffer += data
            buffer: bytes | bytearray = self.buffer
        else:  # the usual case: the whole head in the first read, no copy
            buffer = data
        if not _status_prefix_ok(bytes(buffer[:64])):
            self.rest = bytes(buffer)
            return ResponseHead(200, "", "HTTP/0.9", [], http09=True, connection_close=True)
        end = buffer.find(b"\n\r\n")
        end2 = buffer.find(b"\n\n")
        cut = -1
        if end >= 0 and (end2 < 0 or end < end2):
            cut = end + 3
        elif end2 >= 0:
            cut = end2 + 2
        if cut < 0:
            if len(buffer) > self.limit:
                raise ProxyError("upstream sent too big header", 502)
            if buffer is data:
                self.buffer = bytearray(data)
            return None
        if cut > self.limit:
            raise ProxyError("upstream sent too big header", 502)
        head = bytes(buffer[:cut])
        self.rest = bytes(buffer[cut:])
        return _parse_head(head)


_STATUS_START = re.compile(rb"HTTP/\d+\.\d+ +\d\d\d")


def _status_prefix_ok(data: bytes) -> bool:
    """Could ``data`` still begin a status line (ngx_http_parse_status_line's first states)?"""
    line = data.split(b"\n", 1)[0]
    if _STATUS_START.match(line):
        return True
    if len(line) < len(data) or len(line) >= 16:
        return False  # a whole first line, or a long one, that is not a status line
    template = b"HTTP/1.1 200"
    for index, byte in enumerate(line[: len(template)]):
        expected = template[index]
        if chr(expected).isdigit():
            if not chr(byte).isdigit() and not (index in (5, 7) and byte in b"."):
                return index > 8 and byte == 32
        elif byte != expected and not (expected == 32 and chr(byte).isdigit()):
            return False
    return True


_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) +(\d\d\d)(?: (.*))?$")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_STATUS_TEXT = re.compile(r"HTTP/(\d)\.(\d) +(\d\d\d)(?: (.*))?")
_TOKEN_TEXT = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS_SEEN: dict[str, tuple[int, str, str, str, bool]] = {}  # status line -> its parts
_LINES_SEEN: dict[str, tuple[str, str, str]] = {}  # header line -> name, value, lower-cased name
_SEEN_MAX = 4096
# Whole heads seen (an upstream repeats its heads, Date changing once a second): the parsed head
# is shared by the responses that had it, read only (as every ResponseHead is once parsed).
_HEADS_SEEN: dict[str, ResponseHead] = {}


def _parse_fast(text: str) -> ResponseHead | None:
    """_parse_head for a head of CRLF lines with valid names and nothing nginx would complain
    about; None sends the head to the full parser (which also words the errors).  Lines seen
    before (most of an upstream's lines repeat from response to response) are not parsed again."""
    lines = text.split("\r\n")
    first = lines[0]
    status = _STATUS_SEEN.get(first)
    if status is None:
        match = _STATUS_TEXT.fullmatch(first)
        if match is None or "\r" in first or "\n" in first:
            return None
        major, minor, code, reason = match.groups()
        close = major == "0" or (major == "1" and minor == "0")
        status = (int(code), (reason or "").strip(), f"HTTP/{major}.{minor}", first[match.start(3) :], close)
        if len(_STATUS_SEEN) < _SEEN_MAX:
            _STATUS_SEEN[first] = status
    response = ResponseHead(
        status[0], status[1], status[2], [], connection_close=status[4], status_text=status[3]
    )
    headers = response.headers
    seen = _LINES_SEEN
    for line in lines[1:]:
        parsed = seen.get(line)
        if parsed is None:
            name, sep, value = line.partition(":")
            if not sep or _TOKEN_TEXT.fullmatch(name) is None or "\n" in value or value.endswith("\r"):
                return None
            parsed = (name, value.strip(" \t"), name.lower())
            if len(seen) >= _SEEN_MAX:
                seen.clear()
            seen[line] = parsed
        headers.append((parsed[0], parsed[1]))
        lower = parsed[2]
        if lower in _FRAMING:
            value = parsed[1]
            if lower == "content-length":
                if not value.isdigit() or response.content_length >= 0:
                    return None
                response.content_length = int(value)
            elif lower == "transfer-encoding":
                if value.lower() != "chunked":
                    return None
                response.chunked = True
            elif "close" in value.lower():
                response.connection_close = True
    if response.chunked:
        response.content_length = -1
    return response


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def _parse_head(head: bytes) -> ResponseHead:
    lines = head.split(b"\n")
    first = lines[0].rstrip(b"\r")
    match = _STATUS_LINE.match(first)
    if match is None:
        raise ProxyError("upstream sent no valid HTTP/1.0 header", 502)
    major, minor, code, reason = match.groups()
    version = f"HTTP/{int(major)}.{int(minor)}"
    response = ResponseHead(int(code), (reason or b"").decode("latin-1").strip(), version, [])
    response.status_text = first[match.start(3) :].decode("latin-1")
    if (int(major), int(minor)) < (1, 1):
        response.connection_close = True
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or not _TOKEN.match(name):
            shown = line[: len(name)].decode("latin-1")
            bad = line[len(name)] if len(line) > len(name) else 0
            raise ProxyError(f'upstream sent invalid header: "{shown}\\x{bad:02X}..."', 502)
        text = value.strip(b" \t").decode("latin-1")
        key = name.decode("latin-1")
        lower = key.lower()
        response.headers.append((key, text))
        if lower == "content-length":
            if not text.isdigit():
                raise ProxyError(f'upstream sent invalid "Content-Length" header: "{key}: {text}"', 502)
            if response.content_length >= 0:
                raise ProxyError(f'upstream sent duplicate header line: "{key}: {text}", previous value: '
                                 f'"{key}: {response.content_length}"', 502)  # fmt: skip
            response.content_length = int(text)
        elif lower == "transfer-encoding":
            if text.lower() == "chunked":
                response.chunked = True
            else:
                raise ProxyError(f'upstream sent unknown "Transfer-Encoding": "{text}"', 502)
        elif lower == "connection" and "close" in text.lower():
            response.connection_close = True
    if response.chunked:
        response.content_length = -1
    return response
