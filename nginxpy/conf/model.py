"""Typed, merged settings built from the tree: what the runtime reads.

One ``Scope`` per configuration level (main, events, http, server, location, if,
upstream, ...).  Values of directives with a shared setter (flags, sizes, times,
...) are stored parsed, by directive name; ``get`` applies nginx's inheritance
(http -> server -> location -> if) and the registry's default.  Structural
directives (listen, server_name, location, map, upstream, ...) have typed fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nginxpy.conf.ast import Directive
from nginxpy.conf.registry import Ctx, Merge, Spec
from nginxpy.conf.script import ComplexValue


@dataclass(slots=True)
class Message:
    """A line nginx would log while reading the configuration."""

    level: str  # emerg, alert, warn, notice, info
    text: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:
            where = ""
        elif self.line is None:
            where = f" in {self.file}"  # "in command line", for -g
        else:
            where = f" in {self.file}:{self.line}"
        return f"[{self.level}] {self.text}{where}"


class ConfError(Exception):
    """The configuration is rejected: nginx's [emerg] message."""

    def __init__(self, text: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(text)
        self.message = Message("emerg", text, file, line)

    def __str__(self) -> str:
        return str(self.message)


@dataclass(slots=True, eq=False)
class Scope:
    ctx: Ctx
    parent: Scope | None = None
    directive: Directive | None = None  # the block directive that opened this level
    values: dict[str, Any] = field(default_factory=dict)  # parsed values set at this level
    set_by: dict[str, Directive] = field(default_factory=dict)
    # Rewrite-module statements (rewrite, return, set, if, break) in order.
    script: list[Directive | IfScope] = field(default_factory=list)

    def own(self, name: str) -> Any:
        return self.values.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        """The value in force here: set here, else inherited (unless the directive does not merge)."""
        scope: Scope | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            spec = _SPECS_BY_NAME.get(name)
            if spec is not None and spec.merge is Merge.NONE:
                break
            scope = scope.parent
        return default


# Filled by nginxpy.conf.check to resolve merge rules without importing it here.
_SPECS_BY_NAME: dict[str, Spec] = {}


@dataclass(slots=True, eq=False)
class IfScope(Scope):
    condition: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Listen:
    address: str  # "*", "127.0.0.1", "[::1]", "unix:/path"
    port: int
    default_server: bool = False
    ssl: bool = False
    http2: bool = False
    proxy_protocol: bool = False
    backlog: int | None = None
    reuseport: bool = False
    ipv6only: bool = True
    bind: bool = False
    rcvbuf: int | None = None
    sndbuf: int | None = None
    so_keepalive: str | None = None
    deferred: bool = False
    fastopen: int | None = None
    directive: Directive | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.address, self.port)


@dataclass(slots=True)
class ServerName:
    name: str  # as written ("" for the empty name)
    regex: re.Pattern[str] | None = None


@dataclass(slots=True, eq=False)
class LocationScope(Scope):
    modifier: str = ""  # "", "=", "^~", "~", "~*", "@"
    name: str = ""
    regex: re.Pattern[str] | None = None
    locations: list[LocationScope] = field(default_factory=list)
    limit_except: Scope | None = None
    server: ServerScope | None = None

    @property
    def exact(self) -> bool:
        return self.modifier == "="

    @property
    def named(self) -> bool:
        return self.modifier == "@"


@dataclass(slots=True, eq=False)
class ServerScope(Scope):
    listens: list[Listen] = field(default_factory=list)
    names: list[ServerName] = field(default_factory=list)
    locations: list[LocationScope] = field(default_factory=list)
    named_locations: dict[str, LocationScope] = field(default_factory=dict)
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class MapEntry:
    key: str
    value: ComplexValue
    regex: re.Pattern[str] | None = None


@dataclass(slots=True)
class MapConf:
    source: ComplexValue
    variable: str
    default: ComplexValue | None = None
    hostnames: bool = False
    volatile: bool = False
    exact: dict[str, ComplexValue] = field(default_factory=dict)
    wildcards: list[MapEntry] = field(default_factory=list)
    regexes: list[MapEntry] = field(default_factory=list)
    directive: Directive | None = None


@dataclass(slots=True)
class UpstreamServer:
    address: str
    weight: int = 1
    max_fails: int = 1
    fail_timeout: float = 10.0
    backup: bool = False
    down: bool = False
    max_conns: int = 0
    directive: Directive | None = None


@dataclass(slots=True, eq=False)
class UpstreamScope(Scope):
    name: str = ""
    servers: list[UpstreamServer] = field(default_factory=list)
    balancer: str = "round_robin"  # round_robin, least_conn, ip_hash, hash, random
    balancer_args: list[str] = field(default_factory=list)
    implicit: bool = False  # made from a proxy_pass host, not an upstream { } block


@dataclass(slots=True, eq=False)
class HttpScope(Scope):
    servers: list[ServerScope] = field(default_factory=list)
    upstreams: dict[str, UpstreamScope] = field(default_factory=dict)
    maps: dict[str, MapConf] = field(default_factory=dict)  # by variable name
    log_formats: dict[str, list[ComplexValue]] = field(default_factory=dict)
    log_format_escape: dict[str, str] = field(default_factory=dict)
    user_variables: set[str] = field(default_factory=set)  # set, map, geo, split_clients, captures
    log_buffers: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # access_log path: buffer


@dataclass(slots=True, eq=False)
class MainScope(Scope):
    events: Scope | None = None
    http: HttpScope | None = None
    files: list[str] = field(default_factory=list)  # every file read, in order (for -T)
    messages: list[Message] = field(default_factory=list)  # warnings and notices, in order
    ignored: dict[str, Directive] = field(default_factory=dict)  # recognised, not acted on
