"""Typed, merged settings built from the tree: what the runtime reads.

One ``Scope`` per configuration level (main, events, http, server, location, if,
upstream, ...).  Values of directives with a shared setter (flags, sizes, times,
...) are stored parsed, by directive name; ``get`` applies nginx's inheritance
(http -> server -> location -> if) and the registry's default.  Structural
directives (listen, server_name, location, map, upstream, ...) have typed fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
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
    """One level.  A large configuration has many, mostly small: the directive that set
    each value and the rewrite statements are kept compactly, and made into the usual
    containers when asked for."""

    ctx: Ctx
    parent: Scope | None = None
    directive: Directive | None = None  # the block directive that opened this level
    values: dict[str, Any] = field(default_factory=dict)  # parsed values set at this level
    # The directives that set values here: a directive, or (key, directive) when the key is
    # not its name; one entry per key (see set_by).
    _set: list[Directive | tuple[str, Directive]] | None = None
    _script: list[Directive | IfScope] | None = None

    @property
    def set_by(self) -> Mapping[str, Directive]:
        """The directive that set each value here, by key (read only: see set_directive)."""
        found: dict[str, Directive] = {}
        for entry in self._set or ():
            if isinstance(entry, tuple):
                found[entry[0]] = entry[1]
            else:
                found[entry.name] = entry
        return MappingProxyType(found)

    def set_directive(self, key: str, directive: Directive) -> None:
        """Record that `directive` set the value of `key` here (the last one counts)."""
        entry: Directive | tuple[str, Directive] = directive if key == directive.name else (key, directive)
        entries = self._set
        if entries is None:
            self._set = [entry]
            return
        for index, old in enumerate(entries):
            if (old[0] if isinstance(old, tuple) else old.name) == key:
                entries[index] = entry
                return
        entries.append(entry)

    @property
    def script(self) -> list[Directive | IfScope]:
        """Rewrite-module statements (rewrite, return, set, if, break) in order."""
        if self._script is None:
            self._script = []
        return self._script

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
    _locations: list[LocationScope] | None = None
    limit_except: Scope | None = None
    server: ServerScope | None = None

    @property
    def locations(self) -> list[LocationScope]:
        """The locations nested in this one."""
        if self._locations is None:
            self._locations = []
        return self._locations

    def nested(self) -> list[LocationScope]:
        """The nested locations, for reading (no list is made for a location without any)."""
        return self._locations or []

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
