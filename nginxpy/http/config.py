"""The run-time view of a checked configuration: built once at start, read per request.

nginx merges every module's settings at start (``merge_loc_conf``) and builds its
look-up structures (server names per address, location trees).  This module does the
same from the typed model of :mod:`nginxpy.conf.model`: one :class:`LocConf` per
location (and per ``if`` block, and per server for requests outside any location),
with every value resolved and its default applied, one :class:`AddrConf` per
listening address with its server-name tables.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nginxpy import versions
from nginxpy.conf import values as conf_values
from nginxpy.conf.model import (
    HttpScope,
    IfScope,
    Listen,
    LocationScope,
    MainScope,
    MapConf,
    Scope,
    ServerScope,
)
from nginxpy.conf.script import ComplexValue, compile_value

if TYPE_CHECKING:
    from nginxpy.http.connection import HttpConnection
    from nginxpy.http.request import Request

# A location's content handler (nginx's clcf->handler): gets the request and the
# connection (its trio stream and the bytes already read past the request head)
# and returns a status to finalize with (0 once it has answered itself).
ContentHandler = Callable[["Request", "HttpConnection"], Awaitable[int]]
# Directive name -> factory of the handler for a location that sets it in its own
# block (proxy_pass, ...).  The proxy module registers itself here.
CONTENT_HANDLERS: dict[str, Callable[[LocConf], ContentHandler]] = {}
# Directives whose location gets nginx's automatic "301 to the name with a slash".
AUTO_REDIRECT = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass", "grpc_pass")

DEFAULT_TYPES = {"html": "text/html", "gif": "image/gif", "jpg": "image/jpeg"}
COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)


def _size(text: str) -> int:
    value = conf_values.parse_size(text)
    assert value is not None
    return value


def _msec(text: str) -> int:
    value = conf_values.parse_time(text, is_sec=False)
    assert value is not None
    return value


@dataclass(slots=True)
class ErrorPage:
    overwrite: int | None  # None: keep; 0: "=" (the upstream's); else the code
    value: ComplexValue


@dataclass(slots=True)
class Expires:
    kind: str  # off, epoch, max, access, modified, daily
    seconds: int = 0


@dataclass(slots=True)
class AccessRule:
    allow: bool
    network: Any  # ipaddress network, "all" or "unix:"


@dataclass(slots=True)
class LogTarget:
    path: str
    path_value: ComplexValue | None  # a path with variables
    format: list[ComplexValue]
    escape: str
    buffer: int = 0
    flush: float = 0.0
    condition: ComplexValue | None = None
    gzip: int = 0  # compression level of a buffered log (0: plain)


@dataclass(slots=True, eq=False)
class LocConf:
    scope: Scope
    name: str = ""
    modifier: str = ""
    regex: re.Pattern[str] | None = None
    server: ServerConf | None = None
    # the location tree below this one
    exact: dict[str, LocConf] = field(default_factory=dict)
    inclusive: dict[str, LocConf] = field(default_factory=dict)
    prefixes: list[LocConf] = field(default_factory=list)  # inclusive, longest name first
    redirects: dict[str, LocConf] = field(default_factory=dict)
    regexes: list[LocConf] = field(default_factory=list)
    noregex: bool = False
    auto_redirect: bool = False
    internal: bool = False
    # resolved settings
    root: ComplexValue = field(default_factory=lambda: compile_value("html"))
    alias: bool = False
    root_prefix: str = ""
    index: list[ComplexValue] = field(default_factory=list)
    try_files: list[ComplexValue] | None = None
    autoindex: bool = False
    autoindex_exact_size: bool = True
    autoindex_localtime: bool = False
    autoindex_format: str = "html"
    types: dict[str, str] = field(default_factory=dict)
    default_type: str = "text/plain"
    charset: str = ""
    error_pages: dict[int, ErrorPage] = field(default_factory=dict)
    recursive_error_pages: bool = False
    add_headers: list[tuple[str, ComplexValue, bool]] = field(default_factory=list)
    expires: Expires = field(default_factory=lambda: Expires("off"))
    etag: bool = True
    if_modified_since: str = "exact"
    server_tokens: str = "on"
    msie_padding: bool = True
    msie_refresh: bool = False
    absolute_redirect: bool = True
    port_in_redirect: bool = True
    server_name_in_redirect: bool = False
    keepalive_timeout: int = 75000
    keepalive_header: int | None = None
    keepalive_requests: int = 1000
    client_max_body_size: int = 1024 * 1024
    client_body_buffer_size: int = 8192  # two pages (x86-64)
    client_body_timeout: int = 60000
    send_timeout: int = 60000
    lingering_close: str = "on"
    lingering_time: int = 30000
    lingering_timeout: int = 5000
    chunked_transfer_encoding: bool = True
    max_ranges: int | None = None
    log_not_found: bool = True
    access_logs: list[LogTarget] = field(default_factory=list)
    access_rules: list[AccessRule] = field(default_factory=list)
    limit_except: LocConf | None = None
    limit_except_methods: frozenset[str] = frozenset()
    handler: ContentHandler | None = None
    error_log_level: str = "error"
    error_log_path: str = "stderr"
    open_file_cache: bool = False
    disable_symlinks: bool = False


@dataclass(slots=True, eq=False)
class ServerConf:
    scope: ServerScope
    name: str  # $server_name: the first server_name
    loc: LocConf  # the server's own settings (and location tree)
    named: dict[str, LocConf] = field(default_factory=dict)
    client_header_timeout: int = 60000
    client_header_buffer_size: int = 1024
    large_header_buffers: tuple[int, int] = (4, 8192)
    merge_slashes: bool = True
    ignore_invalid_headers: bool = True
    underscores_in_headers: bool = False
    index: int = 0


@dataclass(slots=True, eq=False)
class AddrConf:
    """The servers of one listening address (ngx_http_addr_conf_t + virtual names)."""

    address: str
    port: int
    default: ServerConf
    exact: dict[str, ServerConf] = field(default_factory=dict)
    wc_head: list[tuple[str, ServerConf]] = field(default_factory=list)  # ".example.com", longest first
    wc_tail: list[tuple[str, ServerConf]] = field(default_factory=list)  # "www.example.", longest first
    regexes: list[tuple[re.Pattern[str], ServerConf]] = field(default_factory=list)
    listen: Listen | None = None


@dataclass(slots=True, eq=False)
class Listener:
    """One socket to bind; connections to it are dispatched by local address to an AddrConf."""

    address: str  # "*", "127.0.0.1", "[::1]", "unix:/path"
    port: int
    listen: Listen
    addrs: dict[str, AddrConf] = field(default_factory=dict)  # by address text ("*" for the wildcard)

    def addr_conf(self, local_addr: str) -> AddrConf:
        found = self.addrs.get(local_addr)
        if found is None:
            found = self.addrs.get("*") or self.addrs.get("[::]") or next(iter(self.addrs.values()))
        return found


@dataclass(slots=True, eq=False)
class HttpConf:
    scope: HttpScope
    prefix: str
    servers: list[ServerConf]
    listeners: list[Listener]
    maps: dict[str, MapConf]
    log_formats: dict[str, tuple[list[ComplexValue], str]]
    hostname: str
    ifs: dict[int, LocConf] = field(default_factory=dict)  # by id() of the IfScope
    error_log_path: str = "stderr"
    error_log_level: str = "error"


# -- building -------------------------------------------------------------------------


class Builder:
    def __init__(self, main: MainScope, prefix: str) -> None:
        self.main = main
        self.prefix = prefix
        assert main.http is not None
        self.http = main.http
        self.ifs: dict[int, LocConf] = {}
        self.current_server: ServerConf | None = None
        self.log_formats: dict[str, tuple[list[ComplexValue], str]] = {
            "combined": ([compile_value(COMBINED)], "default")
        }
        for name, parts in self.http.log_formats.items():
            self.log_formats[name] = (parts, self.http.log_format_escape.get(name, "default"))

    def build(self) -> HttpConf:
        servers = [self.server(scope, index) for index, scope in enumerate(self.http.servers)]
        error_path, error_level = self.error_log(self.main)
        conf = HttpConf(
            scope=self.http,
            prefix=self.prefix,
            servers=servers,
            listeners=self.listeners(servers),
            maps=self.http.maps,
            log_formats=self.log_formats,
            hostname=os.uname().nodename,
            ifs=self.ifs,
            error_log_path=error_path,
            error_log_level=error_level,
        )
        return conf

    def error_log(self, scope: Scope) -> tuple[str, str]:
        # ngx_http_core_merge_loc_conf: an unset error_log is the enclosing level's, up to main's
        current: Scope | None = scope
        entries = None
        while current is not None and not entries:
            entries = current.values.get("error_log")
            current = current.parent
        if not entries:
            entries = self.main.values.get("error_log")  # the main level's (cycle->new_log)
        if not entries:
            return "stderr", "error"
        path, level = entries[0]
        return path, level

    # -- servers ------------------------------------------------------------------

    def server(self, scope: ServerScope, index: int) -> ServerConf:
        loc = self.loc(scope)
        name = scope.names[0].name if scope.names else ""
        if name.startswith("."):  # ".example.org" is named "example.org"
            name = name[1:]
        server = ServerConf(scope=scope, name=name, loc=loc, index=index)
        loc.server = server
        for if_loc in self.ifs.values():
            if if_loc.server is None:
                if_loc.server = server
        server.client_header_timeout = scope.get("client_header_timeout", 60000)
        server.client_header_buffer_size = scope.get("client_header_buffer_size", 1024)
        server.large_header_buffers = scope.get("large_client_header_buffers", (4, 8192))
        server.merge_slashes = scope.get("merge_slashes", True)
        server.ignore_invalid_headers = scope.get("ignore_invalid_headers", True)
        server.underscores_in_headers = scope.get("underscores_in_headers", False)
        self.tree(loc, scope.locations, server)
        return server

    def tree(self, parent: LocConf, locations: list[LocationScope], server: ServerConf) -> None:
        """ngx_http_init_locations + ngx_http_init_static_location_trees, as look-up tables."""
        for location in locations:
            child = self.loc(location)
            child.server = server
            child.name, child.modifier, child.regex = location.name, location.modifier, location.regex
            child.noregex = location.modifier == "^~"
            child.auto_redirect = child.name.endswith("/") and any(
                name in location.values for name in AUTO_REDIRECT
            )
            if location.named:
                server.named.setdefault(location.name, child)
            elif location.regex is not None:
                parent.regexes.append(child)
            elif location.exact:
                parent.exact.setdefault(child.name, child)
            else:
                parent.inclusive.setdefault(child.name, child)
            if child.auto_redirect and not location.named and location.regex is None:
                parent.redirects.setdefault(child.name, child)
            self.tree(child, location.locations, server)
            for if_loc in self.ifs.values():
                if if_loc.server is None:
                    if_loc.server = server
        parent.prefixes = sorted(parent.inclusive.values(), key=lambda loc: len(loc.name), reverse=True)

    # -- one level's settings -------------------------------------------------------

    def loc(self, scope: Scope) -> LocConf:
        loc = LocConf(scope=scope)
        for item in scope.script:
            if isinstance(item, IfScope):
                self.ifs[id(item)] = self.loc(item)
        get = scope.get
        root = get("root")
        alias = scope.get("alias") if isinstance(scope, (LocationScope, IfScope)) else None
        if "alias" in scope.values:
            loc.alias = True
            loc.root = compile_value(scope.values["alias"])
        elif isinstance(scope, IfScope) and alias is not None and "root" not in scope.values:
            loc.alias = True
            loc.root = compile_value(alias)
        elif root is not None:
            loc.root = compile_value(root)
        else:
            loc.root = compile_value("html")
        # A relative root is relative to the prefix (ngx_conf_full_name at merge time).
        if loc.root.parts and isinstance(loc.root.parts[0], str) and loc.root.parts[0].startswith("/"):
            loc.root_prefix = ""
        else:
            loc.root_prefix = self.prefix
        index = get("index")
        loc.index = [compile_value(word) for word in (index if index is not None else ["index.html"])]
        own_try = scope.values.get("try_files")
        if own_try is not None:
            loc.try_files = [compile_value(word) for word in own_try]
        loc.autoindex = get("autoindex", False)
        loc.autoindex_exact_size = get("autoindex_exact_size", True)
        loc.autoindex_localtime = get("autoindex_localtime", False)
        loc.autoindex_format = get("autoindex_format", "html")
        types = get("types")
        loc.types = dict(types) if types is not None else dict(DEFAULT_TYPES)
        loc.default_type = get("default_type", "text/plain")
        charset = get("charset")
        loc.charset = "" if not charset or charset[-1][0] == "off" else str(charset[-1][0])
        for codes, overwrite, uri in get("error_page") or []:
            for code in codes:
                loc.error_pages.setdefault(code, ErrorPage(overwrite, compile_value(uri)))
        loc.recursive_error_pages = get("recursive_error_pages", False)
        for entry in get("add_header") or []:
            name, value = entry[0], entry[1]
            loc.add_headers.append((name, compile_value(value), len(entry) > 2 and entry[2] == "always"))
        loc.expires = _expires(_words(scope, "expires"))
        loc.etag = get("etag", True)
        loc.if_modified_since = get("if_modified_since", "exact")
        loc.server_tokens = get("server_tokens", "on")
        loc.msie_padding = get("msie_padding", True)
        loc.msie_refresh = get("msie_refresh", False)
        loc.absolute_redirect = get("absolute_redirect", True)
        loc.port_in_redirect = get("port_in_redirect", True)
        loc.server_name_in_redirect = get("server_name_in_redirect", False)
        keepalive = get("keepalive_timeout")
        if keepalive is not None:
            loc.keepalive_timeout, loc.keepalive_header = keepalive
        loc.keepalive_requests = get("keepalive_requests", 1000)
        loc.client_max_body_size = get("client_max_body_size", 1024 * 1024)
        loc.client_body_buffer_size = get("client_body_buffer_size", 8192)
        loc.client_body_timeout = get("client_body_timeout", 60000)
        loc.send_timeout = get("send_timeout", 60000)
        loc.lingering_close = get("lingering_close", "on")
        loc.lingering_time = get("lingering_time", 30000)
        loc.lingering_timeout = get("lingering_timeout", 5000)
        loc.chunked_transfer_encoding = get("chunked_transfer_encoding", True)
        loc.max_ranges = get("max_ranges")
        loc.log_not_found = get("log_not_found", True)
        loc.access_logs = self.access_logs(get("access_log"))
        loc.access_rules = _access_rules(get("access_rules") or [])
        loc.internal = "internal" in scope.values
        path, level = self.error_log(scope)
        loc.error_log_path, loc.error_log_level = path, level
        for name, factory in CONTENT_HANDLERS.items():
            if name in scope.values:
                loc.handler = factory(loc)
                break
        if isinstance(scope, LocationScope) and scope.limit_except is not None:
            limited = self.loc(scope.limit_except)
            methods = set(scope.limit_except.values.get("limit_except_methods", []))
            if "GET" in methods:
                methods.add("HEAD")
            loc.limit_except = limited
            loc.limit_except_methods = frozenset(methods)
        return loc

    def access_logs(self, entries: list[Any] | None) -> list[LogTarget]:
        if entries is None:
            entries = [(versions.DEFAULT_ACCESS_LOG, "combined", {})]
        targets: list[LogTarget] = []
        for entry in entries:
            if entry == "off":
                return []
            path, fmt, options = entry
            parts, escape = self.log_formats.get(fmt, self.log_formats["combined"])
            value = compile_value(path) if "$" in path else None
            if value is not None and not path.startswith("/"):
                value = compile_value(os.path.join(self.prefix, path))
            # the file's buffer, if any access_log of the path has one (nginx: one per file)
            size, flush, gzip = self.http.log_buffers.get(path, (0, 0, 0))
            targets.append(
                LogTarget(
                    path=path,
                    path_value=value,
                    format=parts,
                    escape=escape,
                    buffer=size,
                    flush=flush / 1000,
                    condition=compile_value(options["if"]) if "if" in options else None,
                    gzip=gzip,
                )
            )
        return targets

    # -- listening sockets --------------------------------------------------------

    def listeners(self, servers: list[ServerConf]) -> list[Listener]:
        """ngx_http_optimize_servers: group servers by address, then by port to bind."""
        by_addr: dict[tuple[str, int], AddrConf] = {}
        for server in servers:
            for listen in server.scope.listens:
                key = (listen.address, listen.port)
                addr = by_addr.get(key)
                if addr is None:
                    addr = by_addr[key] = AddrConf(listen.address, listen.port, server, listen=listen)
                elif listen.default_server:
                    addr.default = server
                    addr.listen = listen
                self.add_names(addr, server)
        for addr in by_addr.values():
            addr.wc_head.sort(key=lambda item: len(item[0]), reverse=True)
            addr.wc_tail.sort(key=lambda item: len(item[0]), reverse=True)
        listeners: list[Listener] = []
        by_port: dict[tuple[str, int], list[AddrConf]] = {}
        for (address, port), addr in by_addr.items():
            if address.startswith("unix:"):
                listeners.append(Listener(address, 0, addr.listen or Listen(address, 0), {"*": addr}))
                continue
            family = "inet6" if address.startswith("[") else "inet"
            by_port.setdefault((family, port), []).append(addr)
        for (_family, port), addrs in by_port.items():
            wildcard = next((a for a in addrs if a.address in ("*", "[::]")), None)
            if wildcard is None:
                for addr in addrs:
                    assert addr.listen is not None
                    listeners.append(Listener(addr.address, port, addr.listen, {addr.address: addr}))
                continue
            assert wildcard.listen is not None
            shared = Listener(wildcard.address, port, wildcard.listen, {"*": wildcard})
            listeners.append(shared)
            for addr in addrs:
                if addr is wildcard:
                    continue
                assert addr.listen is not None
                if addr.listen.bind:
                    listeners.append(Listener(addr.address, port, addr.listen, {addr.address: addr}))
                else:
                    shared.addrs[addr.address.strip("[]")] = addr
        return listeners

    def add_names(self, addr: AddrConf, server: ServerConf) -> None:
        names = server.scope.names or []
        if not names:
            addr.exact.setdefault("", server)
        for name in names:
            if name.regex is not None:
                addr.regexes.append((name.regex, server))
                continue
            text = name.name
            if text.startswith("*."):
                addr.wc_head.append((text[1:], server))
            elif text.startswith("."):
                addr.wc_head.append((text, server))
                addr.exact.setdefault(text[1:], server)
            elif text.endswith(".*"):
                addr.wc_tail.append((text[:-1], server))
            else:
                addr.exact.setdefault(text, server)


def _words(scope: Scope, name: str) -> list[str] | None:
    """The words of the directive in force (set here or inherited)."""
    current: Scope | None = scope
    while current is not None:
        directive = current.set_by.get(name)
        if directive is not None:
            return directive.values
        current = current.parent
    return None


def _expires(words: list[str] | None) -> Expires:
    if not words:
        return Expires("off")
    kind = "access"
    if words[0] == "modified":
        kind = "modified"
        words = words[1:]
    word = words[0]
    if word == "off":
        return Expires("off")
    if word == "epoch":
        return Expires("epoch")
    if word == "max":
        return Expires("max")
    if word.startswith("@"):
        seconds = conf_values.parse_time(word[1:], is_sec=True) or 0
        return Expires("daily", seconds)
    sign = 1
    if word.startswith("-"):
        sign, word = -1, word[1:]
    elif word.startswith("+"):
        word = word[1:]
    seconds = conf_values.parse_time(word, is_sec=True) or 0
    return Expires(kind, sign * seconds)


def _access_rules(entries: list[tuple[str, str]]) -> list[AccessRule]:
    import ipaddress

    rules: list[AccessRule] = []
    for action, address in entries:
        network: Any
        network = address if address in ("all", "unix:") else ipaddress.ip_network(address, strict=False)
        rules.append(AccessRule(action == "allow", network))
    return rules


def build(main: MainScope, prefix: str) -> HttpConf | None:
    if main.http is None:
        return None
    with contextlib.suppress(ImportError):  # the proxy module registers its handler when imported
        import nginxpy.http.upstream  # noqa: F401
    return Builder(main, prefix).build()
