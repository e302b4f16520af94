"""Read a configuration the way nginx does: directive by directive, in file order.

This is ``ngx_conf_parse`` + ``ngx_conf_handler``: every directive is looked up in
the registry, its context and argument count are checked, and its setter parses
and stores its value, raising nginx's own error text.  Block directives open a new
level and walk their body; the http block runs nginx's post-configuration checks
when it closes (unknown variables, server names, listen conflicts).  The result is
the typed model the runtime serves (:mod:`nginxpy.conf.model`).
"""

from __future__ import annotations

import glob as globmod
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nginxpy.conf import values as conf_values
from nginxpy.conf.ast import ConfFile, Directive
from nginxpy.conf.directives import SPECS
from nginxpy.conf.model import (
    _SPECS_BY_NAME,
    ConfError,
    HttpScope,
    MainScope,
    Message,
    Scope,
)
from nginxpy.conf.parse import parse_file, without_gc
from nginxpy.conf.registry import Args, Ctx, Registry, Spec, argument_count_ok, build_registry

REGISTRY: Registry = build_registry(SPECS)
for _spec in SPECS:
    _SPECS_BY_NAME.setdefault(_spec.name, _spec)

# The deepest include nesting before nginx runs out of file descriptors.
MAX_INCLUDE_DEPTH = 512

Handler = Callable[["Loader", Directive, Scope, Spec], None]
HANDLERS: dict[str, Handler] = {}


def handler(*names: str) -> Callable[[Handler], Handler]:
    """Register the setter of one or more directives (nginx's ``cmd->set``)."""

    def register(function: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = function
        return function

    return register


@dataclass
class Paths:
    """nginx's prefixes: -p (prefix) and the directory of the main file (conf prefix)."""

    prefix: str
    conf_file: str
    conf_prefix: str = ""

    def __post_init__(self) -> None:
        if not self.conf_prefix:
            self.conf_prefix = os.path.dirname(self.conf_file) + os.sep

    def full_name(self, name: str, conf: bool = False) -> str:
        """ngx_conf_full_name: relative names resolve against the (conf) prefix."""
        if name.startswith("/"):
            return name
        base = self.conf_prefix if conf else self.prefix
        return os.path.join(base, name)


@dataclass
class ListenAddr:
    """One address:port of the http servers (ngx_http_conf_addr_t)."""

    servers: list[Scope] = field(default_factory=list)
    options_set: bool = False
    default_server: bool = False


@dataclass
class Loader:
    paths: Paths
    registry: Registry = field(default_factory=lambda: REGISTRY)
    main: MainScope = field(default_factory=lambda: MainScope(Ctx.MAIN))
    loaded_modules: set[str] = field(default_factory=set)
    include_depth: int = 0
    # Every directive handled, in order (includes expanded): the http block's end checks
    # look at the ones it holds.
    handled: list[Directive] = field(default_factory=list)
    # Directive being handled, for messages about it.
    current: Directive | None = None
    # Listening addresses of the http servers, by nginx's address text ("0.0.0.0:80").
    listen_addrs: dict[str, ListenAddr] = field(default_factory=dict)
    # Shared memory zones by name: [size, owner module, directive that sized it].
    shm_zones: dict[str, list[Any]] = field(default_factory=dict)
    # Files nginx opens once the configuration is read (error_log, access_log), in order.
    open_files: list[str] = field(default_factory=list)
    # Directories nginx creates then (the *_temp_path and cache paths).
    paths_to_create: list[str] = field(default_factory=list)
    # Set once a block module has counted the modules: load_module is too late then.
    modules_used: bool = False
    # Hosts of proxy_pass (and the like) URLs, resolved when the http block ends unless an
    # upstream block has their name: (host, no port given, port, directive).
    deferred_hosts: list[tuple[str, bool, int, Directive | None]] = field(default_factory=list)
    # Scopes whose proxy_pass, grpc_pass or uwsgi_pass may talk TLS (a TLS scheme or variables):
    # each gets an upstream SSL context from its "proxy", "grpc" or "uwsgi" ssl directives.
    upstream_ssl_scopes: list[tuple[str, Scope]] = field(default_factory=list)
    module_names: set[str] = field(default_factory=set)
    # The -e file: opened with the others when the main level has no error_log.
    default_error_log: str | None = None

    # -- messages ---------------------------------------------------------------------

    def directive_error(self, text: str) -> ConfError:
        """A setter's returned string: nginx says '"name" directive TEXT'."""
        assert self.current is not None
        return self.error(f'"{self.current.name}" directive {text}')

    def close_line(self, directive: Directive) -> int:
        """The line of a block's closing brace (where nginx is when the block ends)."""
        return directive.close_line or directive.end_line

    def add_open_file(self, path: str) -> None:
        if path not in self.open_files:
            self.open_files.append(path)

    def add_shm(self, name: str, size: int, owner: str) -> None:
        """ngx_shared_memory_add: a zone named twice must agree on its size and owner."""
        zone = self.shm_zones.get(name)
        if zone is None:
            self.shm_zones[name] = [size, owner]
            return
        if zone[1] != owner:
            raise self.error(f'the shared memory zone "{name}" is already declared for a different use')
        if size and zone[0] and size != zone[0]:
            raise self.error(
                f'the size {size} of shared memory zone "{name}" conflicts with already declared size {zone[0]}'
            )
        if size:
            zone[0] = size

    def error(self, text: str, directive: Directive | None = None) -> ConfError:
        directive = directive or self.current
        if directive is None:
            return ConfError(text)
        return ConfError(text, directive.file, directive.end_line)

    def warn(self, text: str, directive: Directive | None = None, level: str = "warn") -> None:
        directive = directive or self.current
        if directive is None:
            self.main.messages.append(Message(level, text))
        else:
            self.main.messages.append(Message(level, text, directive.file, directive.end_line))

    # -- files ------------------------------------------------------------------------

    def read(self, path: str, by: Directive | None = None) -> ConfFile:
        try:
            conf = parse_file(path)
        except OSError as exc:
            raise self.error(
                f'open() "{path}" failed ({exc.errno}: {os.strerror(exc.errno or 0)})', by
            ) from None
        self.main.files.append(path)
        conf.text = ""  # not needed any more (-T reads the files again): free it early
        return conf

    def walk_file(self, conf: ConfFile, scope: Scope) -> None:
        self.walk(conf.directives(), scope)
        if conf.error is not None:
            raise ConfError(conf.error.message, conf.error.file, conf.error.line)

    def walk(self, directives: list[Directive], scope: Scope) -> None:
        for directive in directives:
            self.handle(directive, scope)

    def walk_block(self, directive: Directive, scope: Scope) -> None:
        """Walk a block's body; a block the file ended inside of stops here (the error follows)."""
        self.walk(directive.directives(), scope)

    # -- one directive (ngx_conf_handler) ---------------------------------------------

    def handle(self, directive: Directive, scope: Scope) -> None:
        args = directive.args
        for arg in args:
            if arg.bad_follow is not None:
                raise ConfError(f'unexpected "{arg.bad_follow}"', directive.file, arg.bad_line)
        self.current = directive
        self.handled.append(directive)
        name = directive.name
        if self.loaded_modules:
            entries = [
                e
                for e in _entries(self.registry, name)
                if not e.spec.dynamic or e.spec.module in self.loaded_modules
            ]
        else:
            entries = _static_entries(self.registry, name)
        if not entries:
            raise self.error(f'unknown directive "{name}"')
        ctx = scope.ctx
        for entry in entries:
            if int.__and__(entry.contexts, ctx):
                break
        else:
            raise self.error(f'"{name}" directive is not allowed here')
        if entry.is_block:
            if directive.block is None and directive.raw_block is None:
                raise self.error(f'directive "{name}" has no opening "{{"')
        elif directive.block is not None or directive.raw_block is not None:
            raise self.error(f'directive "{name}" is not terminated by ";"')
        nargs = len(args)
        at_least = entry.at_least
        if nargs < at_least if at_least >= 0 else nargs >= 8 or not entry.counts >> nargs & 1:
            raise self.error(f'invalid number of arguments in "{name}" directive')
        entry.setter(self, directive, scope, entry.spec)
        self.current = directive
        if entry.ignored and name not in self.main.ignored:
            self.main.ignored[name] = directive

    def store(self, scope: Scope, directive: Directive, value: object, duplicate_check: bool = True) -> None:
        name = directive.name
        if duplicate_check and name in scope.values:
            raise self.error(f'"{name}" directive is duplicate')
        scope.values[name] = value
        scope.set_directive(name, directive)


# -- nginx's shared setters (ngx_conf_set_*_slot) ------------------------------------


def _first(directive: Directive) -> str:
    return directive.args[0].value


def set_flag(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if directive.name in scope.values:
        raise loader.error(f'"{directive.name}" directive is duplicate')
    value = conf_values.parse_flag(_first(directive))
    if value is None:
        raise loader.error(
            f'invalid value "{_first(directive)}" in "{directive.name}" directive, it must be "on" or "off"'
        )
    loader.store(scope, directive, value)


def _parsed(
    parse: Callable[[str], int | None], message: str
) -> Callable[[Loader, Directive, Scope, Spec], None]:
    def setter(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
        if directive.name in scope.values:
            raise loader.error(f'"{directive.name}" directive is duplicate')
        value = parse(_first(directive))
        if value is None:
            raise loader.error(f'"{directive.name}" directive {message}')
        loader.store(scope, directive, value)

    return setter


def set_str(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    loader.store(scope, directive, _first(directive))


def set_str_array(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    scope.values.setdefault(directive.name, []).append(_first(directive))
    scope.set_directive(directive.name, directive)


def set_keyval(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    scope.values.setdefault(directive.name, []).append((directive.args[0].value, directive.args[1].value))
    scope.set_directive(directive.name, directive)


def set_enum(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if directive.name in scope.values:
        raise loader.error(f'"{directive.name}" directive is duplicate')
    word = _first(directive)
    for value in spec.values:
        if value.lower() == word.lower():
            loader.store(scope, directive, value)
            return
    raise loader.error(f'invalid value "{word}"')


def set_bitmask(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    chosen: set[str] = set(scope.values.get(directive.name, ()))
    allowed = {value.lower(): value for value in spec.values}
    for arg in directive.args:
        value = allowed.get(arg.value.lower())
        if value is None:
            raise loader.error(f'invalid value "{arg.value}"')
        if value in chosen:
            loader.warn(f'duplicate value "{arg.value}"')
        chosen.add(value)
    scope.values[directive.name] = frozenset(chosen)
    scope.set_directive(directive.name, directive)


def set_bufs(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if directive.name in scope.values:
        raise loader.error(f'"{directive.name}" directive is duplicate')
    number = conf_values.parse_int(directive.args[0].value)
    size = conf_values.parse_size(directive.args[1].value)
    if not number or not size:
        raise loader.error(f'"{directive.name}" directive invalid value')
    loader.store(scope, directive, (number, size))


def set_path(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if directive.name in scope.values:
        raise loader.error(f'"{directive.name}" directive is duplicate')
    levels = []
    for arg in directive.args[1:]:
        level = conf_values.parse_int(arg.value)
        if level is None or not 1 <= level <= 2:
            raise loader.error(f'"{directive.name}" directive invalid value')
        levels.append(level)
    loader.store(scope, directive, (loader.paths.full_name(_first(directive)), levels))


def set_custom_default(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    """A directive whose own setter nginxpy does not model: keep its words, walk its block."""
    scope.values.setdefault(directive.name, [])
    scope.values[directive.name].append(directive.values)
    scope.set_directive(directive.name, directive)
    if directive.block is not None:
        body = Scope(Ctx(0), parent=scope, directive=directive)
        # Its body is not checked by name: it has its own syntax (geo, charset_map, ...).
        del body


SLOT_SETTERS: dict[str, Handler] = {
    "flag": set_flag,
    "num": _parsed(conf_values.parse_int, "invalid number"),
    "size": _parsed(conf_values.parse_size, "invalid value"),
    "off": _parsed(conf_values.parse_offset, "invalid value"),
    "msec": _parsed(lambda text: conf_values.parse_time(text, is_sec=False), "invalid value"),
    "sec": _parsed(lambda text: conf_values.parse_time(text, is_sec=True), "invalid value"),
    "str": set_str,
    "str_array": set_str_array,
    "keyval": set_keyval,
    "enum": set_enum,
    "bitmask": set_bitmask,
    "bufs": set_bufs,
    "path": set_path,
}


# -- entry points ---------------------------------------------------------------------


@dataclass
class Result:
    main: MainScope
    error: ConfError | None = None
    syntax_ok: bool = False  # the files were read: nginx -t prints "syntax is ok" at this point

    @property
    def messages(self) -> list[Message]:
        return self.main.messages


def load(
    conf_file: str,
    prefix: str | None = None,
    global_directives: str | None = None,
    signaller: bool = False,
    error_log: str | None = None,
) -> Result:
    """Read and check a configuration as ``nginx -t`` does; never raises ConfError.

    ``signaller``: for ``-s``, whose process stops after reading the configuration, before
    ngx_init_cycle creates the pid file, the paths and the log files.  ``error_log``: the
    -e file, which is the log (and is opened) when the main level sets no error_log."""
    with without_gc():
        return _load(conf_file, prefix, global_directives, signaller, error_log)


def _load(
    conf_file: str,
    prefix: str | None,
    global_directives: str | None,
    signaller: bool = False,
    error_log: str | None = None,
) -> Result:
    from nginxpy.conf import handlers

    # With a prefix the caller has resolved conf_file against it already (as ngx_process_options).
    if prefix is None:
        conf_file = os.path.abspath(conf_file)
    paths = Paths(prefix or os.path.dirname(conf_file) + os.sep, conf_file)
    loader = Loader(paths)
    loader.default_error_log = error_log
    try:
        if global_directives:
            load_params(loader, global_directives)
        conf = loader.read(conf_file)
        loader.walk_file(conf, loader.main)
    except ConfError as error:
        return Result(loader.main, error)
    # nginx says "syntax is ok" here, before its modules' init_conf and ngx_init_cycle's checks.
    try:
        handlers.finish_main(loader, create_files=not signaller)
    except ConfError as error:
        return Result(loader.main, error, syntax_ok=True)
    return Result(loader.main, syntax_ok=True)


def load_params(loader: Loader, text: str) -> None:
    """ngx_conf_param: the -g directives, read before the file, reported "in command line"."""
    from nginxpy.conf.parse import parse_text

    params = parse_text(text, "command line")
    for directive in params.directives():
        if directive.block is not None:
            raise ConfError("block directives are not supported in -g option in command line")
    try:
        for directive in params.directives():
            directive.file = "command line"
            loader.handle(directive, loader.main)
    except ConfError as error:
        raise ConfError(f"{error.message.text} in command line") from None
    if params.error is not None:
        message = params.error.message.replace("end of file", "end of parameter")
        message = message.replace('expecting ";" or "}"', 'expecting ";"')
        raise ConfError(f"{message} in command line")


def http_scope(result: Result) -> HttpScope | None:
    return result.main.http


def argument_shape(spec: Spec) -> str:
    """The argument rule in nginx's own names (TAKE12, FLAG, 1MORE, BLOCK|NOARGS, ...)."""
    names = []
    for flag in (Args.NOARGS, Args.FLAG, Args.ANY, Args.ONEMORE, Args.TWOMORE, Args.BLOCK):
        if spec.args & flag:
            names.append({"ONEMORE": "1MORE", "TWOMORE": "2MORE"}.get(flag.name or "", flag.name or ""))
    takes = "".join(str(n) for n in range(1, 8) if spec.args & Args[f"TAKE{n}"])
    if takes:
        names.append(f"TAKE{takes}")
    return "|".join(names)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A spec prepared for the hot path of handle(): plain ints instead of enum flags."""

    spec: Spec
    contexts: int
    is_block: bool
    counts: int  # bit n: n arguments accepted (n < MAX_ARGS)
    at_least: int  # 1MORE / 2MORE: the minimum; -1 when the counts decide; 0 for ANY
    setter: Handler
    ignored: bool  # recognised, but the runtime does not act on it

    def accepts(self, nargs: int) -> bool:
        if self.at_least >= 0:
            return nargs >= self.at_least
        return bool(self.counts >> nargs & 1) if nargs < 8 else False


_ENTRIES: dict[str, list[_Entry]] = {}


def _entries(registry: Registry, name: str) -> list[_Entry]:
    cached = _ENTRIES.get(name) if registry is REGISTRY else None
    if cached is not None:
        return cached
    implemented = _runtime_implemented()
    entries = []
    for spec in registry.lookup(name):
        family = spec.module.split("_")[1]  # http, stream, mail, core, event
        handler = HANDLERS.get(f"{family}:{name}")
        if handler is None and family not in ("stream", "mail"):
            handler = HANDLERS.get(name)
        at_least = -1
        if spec.args & Args.ANY:
            at_least = 0
        elif spec.args & Args.FLAG:
            at_least = -1
        elif spec.args & Args.ONEMORE:
            at_least = 1
        elif spec.args & Args.TWOMORE:
            at_least = 2
        counts = sum(1 << n for n in range(8) if argument_count_ok(spec.args, n))
        entries.append(
            _Entry(
                spec=spec,
                contexts=int(spec.contexts),
                is_block=spec.is_block,
                counts=counts,
                at_least=at_least,
                setter=handler or SLOT_SETTERS.get(spec.kind) or set_custom_default,
                ignored=not spec.implemented and name not in implemented,
            )
        )
    if registry is REGISTRY:
        _ENTRIES[name] = entries
    return entries


_STATIC_ENTRIES: dict[str, list[_Entry]] = {}


def _static_entries(registry: Registry, name: str) -> list[_Entry]:
    """The entries of the modules there without load_module (not the dynamic stream/mail)."""
    cached = _STATIC_ENTRIES.get(name) if registry is REGISTRY else None
    if cached is not None:
        return cached
    entries = [e for e in _entries(registry, name) if not e.spec.dynamic]
    if registry is REGISTRY:
        _STATIC_ENTRIES[name] = entries
    return entries


def _runtime_implemented() -> frozenset[str]:
    """Directives the runtime acts on (nginxpy.http.IMPLEMENTED, when the runtime has it, and the
    process layer's nginxpy.process.IMPLEMENTED)."""
    import nginxpy.http
    import nginxpy.process

    implemented: frozenset[str] = getattr(nginxpy.http, "IMPLEMENTED", frozenset())
    return implemented | getattr(nginxpy.process, "IMPLEMENTED", frozenset())


def globbed(pattern: str) -> list[str]:
    return sorted(globmod.glob(pattern))
