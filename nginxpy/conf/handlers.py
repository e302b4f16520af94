"""Setters of the directives that have their own handler in nginx.

Each function is named after the nginx handler it follows (``ngx_http_core_listen``
-> ``core_listen``) and raises nginx's message for the same mistakes.  Block
directives open their level here and walk their body.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket

from nginxpy.conf import values as conf_values
from nginxpy.conf import variables as known_variables
from nginxpy.conf.ast import Directive
from nginxpy.conf.check import ListenAddr, Loader, globbed, handler
from nginxpy.conf.model import (
    ConfError,
    HttpScope,
    IfScope,
    Listen,
    LocationScope,
    MapConf,
    MapEntry,
    Scope,
    ServerName,
    ServerScope,
    UpstreamScope,
    UpstreamServer,
)
from nginxpy.conf.regex import RegexError, compile_regex
from nginxpy.conf.registry import Ctx, Spec
from nginxpy.conf.script import ComplexValue, ScriptError, compile_value
from nginxpy.conf.url import Url, addr_text, parse_url, resolve

# -- core -----------------------------------------------------------------------------


@handler("include")
def conf_include(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    name = loader.paths.full_name(directive.args[0].value, conf=True)
    if loader.include_depth >= 256:
        raise loader.error(f'open() "{name}" failed (24: Too many open files)')
    files = globbed(name) if any(ch in name for ch in "*?[") else [name]
    for path in files:
        conf = loader.read(path, directive)
        loader.include_depth += 1
        try:
            loader.walk_file(conf, scope)
        finally:
            loader.include_depth -= 1


@handler("load_module")
def load_module(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    """ngx_load_module: before any block module has counted the modules, each module once."""
    if loader.modules_used:
        raise loader.directive_error("is specified too late")
    path = loader.paths.full_name(directive.args[0].value)
    if not os.path.exists(path):
        raise loader.error(
            f'dlopen() "{path}" failed ({path}: cannot open shared object file: No such file or directory)'
        )
    base = os.path.basename(path)
    name = base[:-3] if base.endswith(".so") else base
    if name in loader.module_names:
        raise loader.error(f'module "{name}" is already loaded')
    loader.module_names.add(name)
    for module in ("stream", "mail"):
        if base.startswith(f"ngx_{module}_module"):
            loader.loaded_modules.update(
                spec.module
                for spec in loader.registry.all()
                if spec.dynamic and spec.module.startswith(f"ngx_{module}")
            )


@handler("worker_processes")
def worker_processes(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "worker_processes" in scope.values:
        raise loader.error('"worker_processes" directive is duplicate')
    word = directive.args[0].value
    if word == "auto":
        loader.store(scope, directive, os.cpu_count() or 1)
        return
    number = conf_values.parse_int(word)
    if number is None:
        raise loader.error('"worker_processes" directive invalid value')
    loader.store(scope, directive, number)


@handler("user")
def set_user(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "user" in scope.values:
        raise loader.error('"user" directive is duplicate')
    if os.geteuid() != 0:
        loader.warn(
            'the "user" directive makes sense only if the master process runs with super-user privileges, ignored'
        )
        scope.values["user"] = None
        return
    import grp
    import pwd

    user = directive.args[0].value
    group = directive.args[1].value if len(directive.args) > 1 else user
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise loader.error(f'getpwnam("{user}") failed') from None
    try:
        grp.getgrnam(group)
    except KeyError:
        raise loader.error(f'getgrnam("{group}") failed') from None
    loader.store(scope, directive, (user, group))


LOG_LEVELS = ("stderr", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")


@handler("error_log")
def error_log(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    target = words[0]
    level = "error"
    for word in words[1:]:
        if word not in LOG_LEVELS[1:]:
            raise loader.error(f'invalid log level "{word}"')
        level = word
    if target == "stderr" or target.startswith(("syslog:", "memory:")):
        path = target
    else:
        path = loader.paths.full_name(target)
        loader.add_open_file(path)
    scope.values.setdefault("error_log", []).append((path, level))
    scope.set_directive("error_log", directive)


# -- blocks ---------------------------------------------------------------------------


@handler("events")
def events_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    main = loader.main
    if main.events is not None:
        raise loader.error('"events" directive is duplicate')
    loader.modules_used = True
    main.events = Scope(Ctx.EVENTS, parent=None, directive=directive)
    loader.walk_block(directive, main.events)


@handler("http")
def http_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    main = loader.main
    if main.http is not None:
        raise loader.error('"http" directive is duplicate')
    loader.modules_used = True
    http = main.http = HttpScope(Ctx.HTTP, parent=None, directive=directive)
    first = len(loader.handled)
    loader.walk_block(directive, http)
    if directive.closed:
        from nginxpy.conf.finish import finish_http

        finish_http(loader, http, loader.handled[first:])


@handler("server")
def server_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if scope.ctx is Ctx.UPSTREAM:
        upstream_server(loader, directive, scope, spec)
        return
    if directive.args:
        raise loader.error('invalid number of arguments in "server" directive')
    assert isinstance(scope, HttpScope)
    server = ServerScope(
        Ctx.SERVER, parent=scope, directive=directive, file=directive.file, line=directive.end_line
    )
    scope.servers.append(server)
    loader.walk_block(directive, server)
    if not server.listens:
        server.listens.append(Listen("*", 80 if os.geteuid() == 0 else 8000, directive=None))


@handler("location")
def core_location(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    location = LocationScope(Ctx.LOCATION, parent=scope, directive=directive)
    if len(words) == 2:
        modifier, name = words
        if modifier not in ("=", "^~", "~", "~*"):
            raise loader.error(f'invalid location modifier "{modifier}"')
    else:
        word = words[0]
        if word.startswith("="):
            modifier, name = "=", word[1:]
        elif word.startswith("^~"):
            modifier, name = "^~", word[2:]
        elif word.startswith("~*"):
            modifier, name = "~*", word[2:]
        elif word.startswith("~"):
            modifier, name = "~", word[1:]
        elif word.startswith("@"):
            modifier, name = "@", word
        else:
            modifier, name = "", word
    location.modifier, location.name = modifier, name
    if modifier in ("~", "~*"):
        location.regex = _http_regex(loader, name, caseless=modifier == "~*")
    if isinstance(scope, LocationScope):
        parent = scope
        if parent.exact:
            raise loader.error(f'location "{name}" cannot be inside the exact location "{parent.name}"')
        if parent.named:
            raise loader.error(f'location "{name}" cannot be inside the named location "{parent.name}"')
        if location.named:
            raise loader.error(f'named location "{name}" can be on the server level only')
        if location.regex is None and not name.startswith(parent.name):
            raise loader.error(f'location "{name}" is outside location "{parent.name}"')
        location.server = parent.server
        parent.locations.append(location)
    else:
        assert isinstance(scope, ServerScope)
        location.server = scope
        if location.named:
            scope.named_locations.setdefault(name, location)
        scope.locations.append(location)
    loader.walk_block(directive, location)


@handler("if")
def rewrite_if(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    ctx = Ctx.SERVER_IF if scope.ctx in (Ctx.SERVER, Ctx.SERVER_IF) else Ctx.LOCATION_IF
    words = directive.values
    condition = _if_condition(loader, words)
    body = IfScope(ctx, parent=scope, directive=directive, condition=condition)
    scope.script.append(body)
    loader.walk_block(directive, body)


def _if_condition(loader: Loader, words: list[str]) -> list[str]:
    """ngx_http_rewrite_if_condition: the words of "( ... )", parentheses stripped."""
    words = list(words)
    if not words[0].startswith("("):
        raise loader.error(f'invalid condition "{words[0]}"')
    if words[0] == "(":
        words.pop(0)
    else:
        words[0] = words[0][1:]
    if not words or not words[-1].endswith(")"):
        raise loader.error(f'invalid condition "{words[-1] if words else "("}"')
    if words[-1] == ")":
        words.pop()
    else:
        words[-1] = words[-1][:-1]
    if not words:
        raise loader.error('invalid condition ")"')
    first = words[0]
    last = len(words) - 1
    if len(first) > 1 and first.startswith("$"):
        if last not in (0, 2):
            raise loader.error(f'invalid condition "{first}"')
        _rewrite_variable(loader, first)
        if last == 0:
            return words
        operator = words[1]
        if operator in ("=", "!="):
            _compile(loader, words[2])
            return words
        if operator in ("~", "~*", "!~", "!~*"):
            _http_regex(loader, words[2], caseless=operator.endswith("*"))
            return words
        raise loader.error(f'unexpected "{operator}" in condition')
    if (len(first) == 2 and first[0] == "-") or (len(first) == 3 and first.startswith("!-")):
        if last != 1:
            raise loader.error(f'invalid condition "{first}"')
        _compile(loader, words[1])
        if first[-1] in "fdex":
            return words
    raise loader.error(f'invalid condition "{first}"')


def _rewrite_variable(loader: Loader, word: str) -> None:
    """ngx_http_rewrite_variable: "$name" must be a known variable name."""
    name = word[1:]
    if name.startswith("{") and name.endswith("}"):
        name = name[1:-1]
    _compile(loader, word)


def _http_regex(loader: Loader, pattern: str, caseless: bool = False) -> re.Pattern[str]:
    """ngx_http_regex_compile: named captures become variables."""
    regex = _regex(loader, pattern, caseless)
    if loader.main.http is not None:
        loader.main.http.user_variables.update(name.lower() for name in regex.groupindex)
    return regex


@handler("limit_except")
def limit_except(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    methods = {"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE", "OPTIONS"}
    methods |= {"PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH"}
    assert isinstance(scope, LocationScope)
    if scope.limit_except is not None:
        raise loader.error('"limit_except" directive is duplicate')
    for word in directive.values:
        if word.upper() not in methods or word != word.upper():
            raise loader.error(f'invalid method "{word}"')
    scope.limit_except = Scope(Ctx.LIMIT_EXCEPT, parent=scope, directive=directive)
    scope.limit_except.values["limit_except_methods"] = directive.values
    loader.walk_block(directive, scope.limit_except)


@handler("upstream")
def upstream_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    assert isinstance(scope, HttpScope)
    name = directive.args[0].value
    existing = scope.upstreams.get(name)
    if existing is not None and not existing.implicit:
        raise loader.error(f'duplicate upstream "{name}"')
    upstream = UpstreamScope(Ctx.UPSTREAM, parent=scope, directive=directive, name=name)
    scope.upstreams[name] = upstream
    loader.walk_block(directive, upstream)
    if directive.closed and not upstream.servers:
        raise ConfError("no servers are inside upstream", directive.file, loader.close_line(directive))


def upstream_server(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    assert isinstance(scope, UpstreamScope)
    words = directive.values
    server = UpstreamServer(words[0], directive=directive)
    for word in words[1:]:
        key, _, value = word.partition("=")
        if key == "weight" and value:
            number = conf_values.parse_int(value)
            if not number:
                raise loader.error(f'invalid parameter "{word}"')
            server.weight = number
        elif key == "max_fails" and value:
            number = conf_values.parse_int(value)
            if number is None:
                raise loader.error(f'invalid parameter "{word}"')
            server.max_fails = number
        elif key == "max_conns" and value:
            number = conf_values.parse_int(value)
            if number is None:
                raise loader.error(f'invalid parameter "{word}"')
            server.max_conns = number
        elif key == "fail_timeout" and value:
            seconds = conf_values.parse_time(value, is_sec=True)
            if seconds is None:
                raise loader.error(f'invalid parameter "{word}"')
            server.fail_timeout = float(seconds)
        elif word == "backup":
            if scope.balancer in ("hash", "ip_hash", "random"):
                raise loader.error('balancing method does not support parameter "backup"')
            server.backup = True
        elif word == "down":
            server.down = True
        else:
            raise loader.error(f'invalid parameter "{word}"')
    url = parse_url(words[0], default_port=80)
    if url.err:
        raise loader.error(f'{url.err} in upstream "{words[0]}"')
    scope.servers.append(server)


@handler("least_conn", "ip_hash", "random", "hash")
def upstream_balancer(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    assert isinstance(scope, UpstreamScope)
    if scope.balancer != "round_robin":
        loader.warn("load balancing method redefined")
    scope.balancer = directive.name
    scope.balancer_args = directive.values


# -- http: servers, names, listen -----------------------------------------------------


def _url_error(url: str, default_port: int, listen: bool) -> str | None:
    """The part of ngx_parse_url that rejects an address (its u->err texts)."""
    if url.startswith("unix:"):
        return None if len(url) > 5 else "no path in the unix domain socket"
    host, port = _split_host_port(url)
    if host is None:
        return "invalid IPv6 address"
    if port is not None and port != "":
        number = conf_values.parse_int(port)
        if number is None or not 1 <= number <= 65535:
            return "invalid port"
    elif port == "":
        return "invalid port"
    if host == "" and not listen:
        return "no host"
    return None


def _split_host_port(url: str) -> tuple[str | None, str | None]:
    if url.startswith("["):
        end = url.find("]")
        if end < 0:
            return None, None
        host, rest = url[: end + 1], url[end + 1 :]
        if rest == "":
            return host, None
        if not rest.startswith(":"):
            return None, None
        return host, rest[1:]
    path_start = url.find("/")
    if path_start >= 0:
        url = url[:path_start]
    if ":" in url:
        host, _, port = url.rpartition(":")
        return host, port
    if url.isdigit():
        return "", url
    return url, None


@handler("listen")
def core_listen(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    assert isinstance(scope, ServerScope)
    words = directive.values
    url = parse_url(words[0], default_port=80, listen=True)
    if url.err:
        raise loader.error(f'{url.err} in "{words[0]}" of the "listen" directive')
    template = Listen("*", url.port, directive=directive)
    options_set = False
    for word in words[1:]:
        if word in ("default_server", "default"):
            template.default_server = True
        elif word == "bind":
            template.bind = True
        elif word.startswith("fastopen="):
            number = conf_values.parse_int(word[9:])
            if number is None:
                raise loader.error(f'invalid fastopen "{word}"')
            template.fastopen, template.bind, options_set = number, True, True
        elif word.startswith("backlog="):
            number = _signed_int(word[8:])
            if number is None or number == 0:
                raise loader.error(f'invalid backlog "{word}"')
            template.backlog, template.bind, options_set = number, True, True
        elif word.startswith(("rcvbuf=", "sndbuf=")):
            size = conf_values.parse_size(word[7:])
            if size is None:
                raise loader.error(f'invalid {word[:6]} "{word}"')
            setattr(template, word[:6], size)
            template.bind, options_set = True, True
        elif word.startswith("accept_filter="):
            loader.warn(f'accept filters "{word[14:]}" are not supported on this platform, ignored')
        elif word == "deferred":
            template.deferred, template.bind, options_set = True, True, True
        elif word.startswith("ipv6only=o"):
            if word[10:] not in ("n", "ff"):
                raise loader.error(f'invalid ipv6only flags "{word[9:]}"')
            template.ipv6only, template.bind, options_set = word[10:] == "n", True, True
        elif word == "reuseport":
            template.reuseport, template.bind, options_set = True, True, True
        elif word == "ssl":
            template.ssl = True
        elif word == "http2":
            template.http2 = True
        elif word.startswith("so_keepalive="):
            value = word[13:]
            if value not in ("on", "off") and not _so_keepalive_ok(value):
                raise loader.error(f'invalid so_keepalive value: "{value}"')
            template.so_keepalive, template.bind, options_set = value, True, True
        elif word == "proxy_protocol":
            template.proxy_protocol = True
        else:
            raise loader.error(f'invalid parameter "{word}"')
    for family, address, port in url.addrs:
        # One Listen per address: the template itself when there is one (a copy costs).
        listen = template if len(url.addrs) == 1 else dataclasses.replace(template)
        listen.port = port
        if family == socket.AF_UNIX:
            listen.address = address
        elif family == socket.AF_INET6:
            listen.address = f"[{address}]"
        else:
            listen.address = "*" if address == "0.0.0.0" else address
        add_listen(loader, scope, listen, addr_text(family, address, port), options_set)


def add_listen(loader: Loader, server: ServerScope, listen: Listen, text: str, options_set: bool) -> None:
    """ngx_http_add_listen: one server per address once, listen options once, one default server."""
    addr = loader.listen_addrs.setdefault(text, ListenAddr())
    if server in addr.servers:
        raise loader.error(f"a duplicate listen {text}")
    addr.servers.append(server)
    if options_set:
        if addr.options_set:
            raise loader.error(f"duplicate listen options for {text}")
        addr.options_set = True
    if listen.default_server:
        if addr.default_server:
            raise loader.error(f"a duplicate default server for {text}")
        addr.default_server = True
    server.listens.append(listen)


def _so_keepalive_ok(value: str) -> bool:
    parts = value.split(":")
    if len(parts) > 3:
        parts = [*parts[:2], ":".join(parts[2:])]
    idle, interval, count = [*parts, "", ""][:3]
    if idle and conf_values.parse_time(idle, is_sec=True) is None:
        return False
    if interval and conf_values.parse_time(interval, is_sec=True) is None:
        return False
    if count and conf_values.parse_int(count) is None:
        return False
    numbers = [
        conf_values.parse_time(idle, is_sec=True) if idle else 0,
        conf_values.parse_time(interval, is_sec=True) if interval else 0,
        conf_values.parse_int(count) if count else 0,
    ]
    return any(numbers)


def _signed_int(text: str) -> int | None:
    if text.startswith("-"):
        number = conf_values.parse_int(text[1:])
        return None if number is None else -number
    return conf_values.parse_int(text)


@handler("server_name")
def core_server_name(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    assert isinstance(scope, ServerScope)
    for word in directive.values:
        first = word[:1]
        if (first == "*" and (len(word) < 3 or word[1] != ".")) or (first == "." and len(word) < 2):
            raise loader.error(f'server name "{word}" is invalid')
        if "/" in word:
            loader.warn(f'server name "{word}" has suspicious symbols')
        if word.lower() == "$hostname":
            scope.names.append(ServerName(socket.gethostname().lower()))
            continue
        if first != "~":
            scope.names.append(ServerName(word.lower()))
            continue
        if len(word) == 1:
            raise loader.error(f'empty regex in server name "{word}"')
        caseless = any("A" <= ch <= "Z" for ch in word[1:])
        scope.names.append(ServerName(word, _http_regex(loader, word[1:], caseless=caseless)))


# -- rewrite module -------------------------------------------------------------------


def _compile(loader: Loader, text: str) -> ComplexValue:
    try:
        return compile_value(text)
    except ScriptError as error:
        raise loader.error(str(error)) from None


def _regex(loader: Loader, pattern: str, caseless: bool = False) -> re.Pattern[str]:
    try:
        return compile_regex(pattern, caseless)
    except RegexError as error:
        raise loader.error(str(error)) from None


@handler("return")
def rewrite_return(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    code = conf_values.parse_int(words[0])
    if code is None:
        if len(words) == 2:
            raise loader.error(f'invalid return code "{words[0]}"')
        if not words[0].startswith(("http://", "https://", "$scheme")):
            raise loader.error(f'invalid return code "{words[0]}"')
        _compile(loader, words[0])
    else:
        if code > 999:
            raise loader.error(f'invalid return code "{words[0]}"')
        if len(words) == 2:
            _compile(loader, words[1])
    scope.script.append(directive)


@handler("rewrite")
def rewrite_rewrite(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    _http_regex(loader, words[0])
    _compile(loader, words[1])
    if len(words) == 3 and words[2] not in ("last", "break", "redirect", "permanent"):
        raise loader.error(f'invalid parameter "{words[2]}"')
    scope.script.append(directive)


@handler("set")
def rewrite_set(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    name, value = directive.values
    if not name.startswith("$"):
        raise loader.error(f'invalid variable name "{name}"')
    variable = name[1:]
    if variable.lower() in known_variables.BUILTIN and variable.lower() not in ("args", "limit_rate"):
        raise loader.error(f'the duplicate "{variable}" variable')
    _compile(loader, value)
    _http(loader).user_variables.add(variable.lower())
    scope.script.append(directive)


@handler("break")
def rewrite_break(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    scope.script.append(directive)


# -- map, types -----------------------------------------------------------------------


def _http(loader: Loader) -> HttpScope:
    assert loader.main.http is not None
    return loader.main.http


@handler("map")
def map_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    source_text, name = directive.values
    if not name.startswith("$"):
        raise loader.error(f'invalid variable name "{name}"')
    variable = name[1:].lower()
    http = _http(loader)
    conf = MapConf(_compile(loader, source_text), variable, directive=directive)
    if variable in known_variables.BUILTIN:
        raise loader.error(f'the duplicate "{variable}" variable')
    http.maps[variable] = conf
    http.user_variables.add(variable)
    _map_body(loader, directive, conf)


def _map_body(loader: Loader, block: Directive, conf: MapConf) -> None:
    for entry in block.directives():
        loader.current = entry
        key = entry.name
        words = entry.values
        if entry.block is not None:
            raise loader.error('unexpected "{"')
        if key == "include" and len(words) == 1:
            path = loader.paths.full_name(words[0], conf=True)
            for found in globbed(path) if any(ch in path for ch in "*?[") else [path]:
                included = loader.read(found, entry)
                fake = Directive("map", (), found, 0, 0, block=list(included.directives()))
                _map_body(loader, fake, conf)
                if included.error is not None:
                    raise ConfError(included.error.message, included.error.file, included.error.line)
            continue
        if key in ("hostnames", "volatile") and not words:
            setattr(conf, key, True)
            continue
        if len(words) != 1:
            raise loader.error("invalid number of the map parameters")
        value = _compile(loader, words[0])
        if key == "default":
            if conf.default is not None:
                raise loader.error("duplicate default map parameter")
            conf.default = value
            continue
        if key.startswith("~") and len(key) > 1:
            caseless = key.startswith("~*")
            pattern = key[2:] if caseless else key[1:]
            conf.regexes.append(MapEntry(key, value, _http_regex(loader, pattern, caseless)))
            continue
        if key.startswith("\\"):
            key = key[1:]
        lowered = key.lower()
        if conf.hostnames and (lowered.startswith(("*.", ".")) or lowered.endswith(".*")):
            conf.wildcards.append(MapEntry(lowered, value))
            continue
        if lowered in conf.exact:
            raise loader.error(f'conflicting parameter "{key}"')
        conf.exact[lowered] = value
    loader.current = block


@handler("types")
def core_types(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    types: dict[str, str] = dict(scope.values.get("types") or {}) if "types" in scope.values else {}
    _types_body(loader, directive, types)
    scope.values["types"] = types
    scope.set_directive("types", directive)


def _types_body(loader: Loader, block: Directive, types: dict[str, str]) -> None:
    for entry in block.directives():
        loader.current = entry
        if entry.block is not None:
            raise loader.error('unexpected "{"')
        if entry.name == "include" and len(entry.args) == 1:
            path = loader.paths.full_name(entry.args[0].value, conf=True)
            for found in globbed(path) if any(ch in path for ch in "*?[") else [path]:
                included = loader.read(found, entry)
                _types_body(
                    loader, Directive("types", (), found, 0, 0, block=list(included.directives())), types
                )
                if included.error is not None:
                    raise ConfError(included.error.message, included.error.file, included.error.line)
            continue
        mime = entry.name
        for ext in entry.values:
            lowered = ext.lower()
            if lowered in types and types[lowered] != mime:
                loader.warn(
                    f'duplicate extension "{ext}", content type: "{mime}", previous content type: "{types[lowered]}"'
                )
            types[lowered] = mime
    loader.current = block


# -- logs -----------------------------------------------------------------------------


@handler("log_format")
def log_format(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    http = _http(loader)
    words = directive.values
    name = words[0]
    if name in http.log_formats:
        raise loader.error(f'duplicate "log_format" name "{name}"')
    escape = "default"
    parts = words[1:]
    if parts and parts[0].startswith("escape="):
        escape = parts[0][7:]
        if escape not in ("default", "json", "none"):
            raise loader.error(f'unknown log format escaping "{escape}"')
        parts = parts[1:]
    if name == "combined":
        raise loader.error('duplicate "log_format" name "combined"')
    http.log_formats[name] = [_compile(loader, part) for part in parts]
    http.log_format_escape[name] = escape


@handler("access_log")
def access_log(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    entries = scope.values.setdefault("access_log", [])
    scope.set_directive("access_log", directive)
    if words[0] == "off":
        if len(words) > 1:
            raise loader.error(f'invalid parameter "{words[1]}"')
        scope.values["access_log"] = ["off"]
        return
    path = words[0]
    if not (path.startswith("syslog:") or "$" in path):
        path = loader.paths.full_name(path)
    fmt = "combined"
    options: dict[str, str] = {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if word == "gzip" and word is not words[1]:
            word, key, eq, value = "gzip=1", "gzip", "=", "1"  # Z_BEST_SPEED
        if eq and key in ("buffer", "flush", "gzip", "if"):
            if key == "buffer" and not conf_values.parse_size(value):
                raise loader.error(f'invalid buffer size "{value}"')
            if key == "flush" and not conf_values.parse_time(value, is_sec=False):
                raise loader.error(f'invalid flush time "{value}"')
            if key == "gzip" and value not in tuple("123456789"):
                raise loader.error(f'invalid compression level "{value}"')
            options[key] = value
            continue
        if word is words[1] and not eq:
            fmt = word
            continue
        raise loader.error(f'invalid parameter "{word}"')
    http = _http(loader)
    if fmt != "combined" and fmt not in http.log_formats:
        raise loader.error(f'unknown log format "{fmt}"')
    if "flush" in options and "buffer" not in options and "gzip" not in options:
        raise loader.error(f'no buffer is defined for access_log "{words[0]}"')
    if ("buffer" in options or "gzip" in options) and "$" in path:
        raise loader.error("buffered logs cannot have variables in name")
    if "buffer" in options or "gzip" in options:
        # one buffer per file (ngx_http_log_buf_t): every access_log of the path shares it
        gzip = int(options.get("gzip", "0"))
        size = conf_values.parse_size(options["buffer"]) if "buffer" in options else 64 * 1024
        flush = conf_values.parse_time(options["flush"], is_sec=False) if "flush" in options else 0
        params = (size or 0, flush or 0, gzip)
        if http.log_buffers.setdefault(path, params) != params:
            raise loader.error(f'access_log "{words[0]}" already defined with conflicting parameters')
    if not (path.startswith("syslog:") or "$" in path):
        loader.add_open_file(path)
    entries.append((path, fmt, options))


# -- misc http ------------------------------------------------------------------------


@handler("error_page")
def error_page(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    uri = words[-1]
    codes = words[:-1]
    overwrite: int | None = None
    if codes and codes[-1].startswith("="):
        change = codes.pop()[1:]
        if change:
            overwrite = conf_values.parse_int(change)
            if overwrite is None:
                raise loader.error(f'invalid value "={change}"')
        else:
            overwrite = 0
    if not codes:
        raise loader.error('invalid number of arguments in "error_page" directive')
    parsed: list[int] = []
    for word in codes:
        code = conf_values.parse_int(word)
        if code is None:
            raise loader.error(f'invalid value "{word}"')
        if code < 300 or code > 599:
            raise loader.error(f'value "{word}" must be between 300 and 599')
        parsed.append(code)
    _compile(loader, uri)
    pages = scope.values.setdefault("error_page", [])
    pages.append((parsed, overwrite, uri))
    scope.set_directive("error_page", directive)


@handler("root", "alias")
def core_root(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    name = directive.name
    if "root" in scope.values or "alias" in scope.values:
        other = "root" if "root" in scope.values else "alias"
        if other == name:
            raise loader.error(f'"{name}" directive is duplicate')
        raise loader.error(f'"{name}" directive is duplicate, "{other}" directive was specified earlier')
    if isinstance(scope, LocationScope) and name == "alias" and scope.named:
        raise loader.error('the "alias" directive cannot be used inside the named location')
    value = directive.args[0].value
    _compile(loader, value)
    loader.store(scope, directive, value, duplicate_check=False)


@handler("try_files")
def try_files(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "try_files" in scope.values:
        raise loader.error('"try_files" directive is duplicate')
    words = directive.values
    last = words[-1]
    if last.startswith("="):
        code = conf_values.parse_int(last[1:])
        if code is None or code > 999:
            raise loader.error(f'invalid code "{last}"')
    for word in words:
        _compile(loader, word)
    loader.store(scope, directive, words)


@handler("proxy_pass")
def proxy_pass(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "proxy_pass" in scope.values:
        raise loader.error('"proxy_pass" directive is duplicate')
    url = directive.args[0].value
    value = _compile(loader, url)
    if value.is_constant:
        lowered = url.lower()
        if lowered.startswith("http://"):
            rest, port = url[7:], 80
        elif lowered.startswith("https://"):
            rest, port = url[8:], 443
        else:
            raise loader.error("invalid URL prefix")
        parsed = parse_url(rest, default_port=port, uri_part=True, no_resolve=True)
        if parsed.err:
            raise loader.error(f'{parsed.err} in upstream "{rest}"')
        location = scope if isinstance(scope, LocationScope) else None
        if parsed.uri and (
            isinstance(scope, IfScope)
            or scope.ctx is Ctx.LIMIT_EXCEPT
            or (location is not None and (location.regex is not None or location.named))
        ):
            raise loader.error(
                '"proxy_pass" cannot have URI part in location given by regular expression, '
                'or inside named location, or inside "if" statement, or inside "limit_except" block'
            )
        _implicit_upstream(loader, parsed)
    if not value.is_constant or url.lower().startswith("https://"):
        loader.upstream_ssl_scopes.append(("proxy", scope))
    loader.store(scope, directive, value)


def _implicit_upstream(loader: Loader, parsed: Url) -> None:
    """ngx_http_upstream_add for a host in a URL: it must resolve unless an upstream has its name."""
    if parsed.unix or parsed.addrs:
        return
    http = loader.main.http
    if http is not None and parsed.host in http.upstreams and parsed.no_port:
        return
    loader.deferred_hosts.append((parsed.host, parsed.no_port, parsed.port, loader.current))


@handler("proxy_set_header", "add_header", "add_trailer", "proxy_hide_header", "proxy_pass_header")
def header_array(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    entries = scope.values.setdefault(directive.name, [])
    scope.set_directive(directive.name, directive)
    if directive.name in ("add_header", "add_trailer") and len(words) == 3 and words[2] != "always":
        raise loader.error(f'invalid parameter "{words[2]}"')
    for word in words[1:2]:
        _compile(loader, word)
    entries.append(tuple(words))


@handler("index")
def index_directive(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    entries = scope.values.setdefault("index", [])
    scope.set_directive("index", directive)
    for word in directive.values:
        if word == "":
            raise loader.error('index "" in "index" directive is invalid')
        if word.startswith("/") and word is not directive.values[-1]:
            loader.warn('only the last index in "index" directive should be absolute')
        _compile(loader, word)
        entries.append(word)


@handler("keepalive_timeout")
def keepalive_timeout(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "keepalive_timeout" in scope.values:
        raise loader.error('"keepalive_timeout" directive is duplicate')
    words = directive.values
    timeout = conf_values.parse_time(words[0], is_sec=False)
    if timeout is None:
        raise loader.directive_error("invalid value")
    header = None
    if len(words) == 2:
        header = conf_values.parse_time(words[1], is_sec=True)
        if header is None:
            raise loader.directive_error("invalid value")
    loader.store(scope, directive, (timeout, header))


@handler("ssl")
def ssl_flag(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    from nginxpy.conf.check import set_flag

    loader.warn('the "ssl" directive is deprecated, use the "listen ... ssl" directive instead')
    set_flag(loader, directive, scope, spec)


@handler("ssl_certificate", "ssl_certificate_key")
def ssl_certificate(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    entries = scope.values.setdefault(directive.name, [])
    scope.set_directive(directive.name, directive)
    _compile(loader, directive.args[0].value)
    entries.append(directive.args[0].value)


@handler("ssl_password_file", "proxy_ssl_password_file", "uwsgi_ssl_password_file", "grpc_ssl_password_file")
def ssl_password_file(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    """ngx_ssl_read_password_file: the file is read when the directive is, so it must exist."""
    from nginxpy.conf.check import set_custom_default

    if directive.name in scope.values:
        raise loader.directive_error("is duplicate")
    name = loader.paths.full_name(directive.args[0].value, conf=True)
    try:
        with open(name, "rb") as handle:
            handle.read()
    except OSError as error:
        raise loader.error(f'open() "{name}" failed ({error.errno}: {error.strerror})') from None
    set_custom_default(loader, directive, scope, spec)


# -- events ---------------------------------------------------------------------------

EVENT_METHODS = ("epoll", "poll", "select")


@handler("use")
def event_use(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "use" in scope.values:
        raise loader.directive_error("is duplicate")
    method = directive.args[0].value
    if method not in EVENT_METHODS:
        raise loader.error(f'invalid event type "{method}"')
    loader.store(scope, directive, method)


@handler("worker_connections")
def event_connections(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "worker_connections" in scope.values:
        raise loader.directive_error("is duplicate")
    word = directive.args[0].value
    number = conf_values.parse_int(word)
    if number is None:
        raise loader.error(f'invalid number "{word}"')
    loader.store(scope, directive, number)


# -- shared setters with a post handler (ngx_conf_post_t) -------------------------------

NUM_BOUNDS = {"gzip_comp_level": (1, 9)}


@handler("gzip_comp_level")
def num_with_bounds(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if directive.name in scope.values:
        raise loader.directive_error("is duplicate")
    number = conf_values.parse_int(directive.args[0].value)
    if number is None:
        raise loader.directive_error("invalid number")
    low, high = NUM_BOUNDS[directive.name]
    if not low <= number <= high:
        raise loader.error(f"value must be between {low} and {high}")
    loader.store(scope, directive, number)


@handler("send_lowat")
def send_lowat(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "send_lowat" in scope.values:
        raise loader.directive_error("is duplicate")
    size = conf_values.parse_size(directive.args[0].value)
    if size is None:
        raise loader.directive_error("invalid value")
    loader.warn('"send_lowat" is not supported, ignored')
    loader.store(scope, directive, 0)


@handler("directio")
def core_directio(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "directio" in scope.values:
        raise loader.directive_error("is duplicate")
    word = directive.args[0].value
    if word == "off":
        loader.store(scope, directive, None)
        return
    size = conf_values.parse_offset(word)
    if size is None:
        raise loader.directive_error("invalid value")
    loader.store(scope, directive, size)


@handler("expires")
def headers_expires(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    """ngx_http_headers_expires: epoch, max, off, [modified] [+-]time, @time of day, or variables."""
    if "expires" in scope.values:
        raise loader.directive_error("is duplicate")
    words = directive.values
    value = words[0]
    if len(words) == 2:
        if value != "modified":
            raise loader.directive_error("invalid value")
        value = words[1]
    if value in ("epoch", "max", "off") and len(words) == 1:
        loader.store(scope, directive, value)
        return
    if "$" in value:
        _compile(loader, value)
        loader.store(scope, directive, value)
        return
    text = value
    if text.startswith("@"):
        seconds = conf_values.parse_time(text[1:], is_sec=True)
        if seconds is None:
            raise loader.directive_error("invalid value")
        if seconds > 24 * 60 * 60:
            raise loader.directive_error("daily time value must be less than 24 hours")
        loader.store(scope, directive, value)
        return
    if text.startswith(("+", "-")):
        text = text[1:]
    if conf_values.parse_time(text, is_sec=True) is None:
        raise loader.directive_error("invalid value")
    loader.store(scope, directive, value)


@handler("fastcgi_split_path_info")
def fastcgi_split_path_info(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    _http_regex(loader, directive.args[0].value)
    loader.store(scope, directive, directive.args[0].value, duplicate_check=False)


# -- upstreams named in URLs ---------------------------------------------------------------

PASS_PREFIXES = {
    "uwsgi_pass": ("uwsgi://", "suwsgi://"),
    "grpc_pass": ("grpc://", "grpcs://"),
    "fastcgi_pass": (),
    "scgi_pass": (),
    "memcached_pass": (),
}


@handler("fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass", "grpc_pass")
def upstream_pass(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    name = directive.name
    if name in scope.values:
        raise loader.directive_error("is duplicate")
    url = directive.args[0].value
    value = _compile(loader, url)
    if value.is_constant:
        rest = url
        for prefix in PASS_PREFIXES[name]:
            if url.lower().startswith(prefix):
                rest = url[len(prefix) :]
                break
        else:
            if name == "grpc_pass":
                raise loader.error("invalid URL prefix")
        parsed = parse_url(rest, default_port=80, no_resolve=True)
        if parsed.err:
            raise loader.error(f'{parsed.err} in upstream "{rest}"')
        _implicit_upstream(loader, parsed)
    tls_prefix = {"grpc_pass": "grpcs://", "uwsgi_pass": "suwsgi://"}.get(name)
    if tls_prefix is not None and (not value.is_constant or url.lower().startswith(tls_prefix)):
        loader.upstream_ssl_scopes.append((name.split("_")[0], scope))
    loader.store(scope, directive, value)


@handler("keepalive")
def upstream_keepalive(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "keepalive" in scope.values:
        raise loader.directive_error("is duplicate")
    word = directive.args[0].value
    number = conf_values.parse_int(word)
    if not number:
        raise loader.error(f'invalid value "{word}" in "keepalive" directive')
    loader.store(scope, directive, number)


# -- shared memory zones -----------------------------------------------------------------------


def _zone_param(loader: Loader, word: str, name_only: bool = False) -> tuple[str, int]:
    """ "zone=name:size" as limit_req_zone/limit_conn_zone read it."""
    body = word[5:]
    name, colon, size_text = body.partition(":")
    if not colon:
        raise loader.error(f'invalid zone size "{word}"')
    size = conf_values.parse_size(size_text)
    if size is None:
        raise loader.error(f'invalid zone size "{word}"')
    if size < 8 * 4096:
        raise loader.error(f'zone "{word}" is too small')
    return name, size


@handler("limit_req_zone")
def limit_req_zone(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    _compile(loader, words[0])
    name, size = "", 0
    for word in words[1:]:
        if word.startswith("zone="):
            name, size = _zone_param(loader, word)
            continue
        if word.startswith("rate="):
            text = word[5:]
            if text.endswith(("r/s", "r/m")):
                text = text[:-3]
            rate = conf_values.parse_int(text)
            if not rate:
                raise loader.error(f'invalid rate "{word}"')
            continue
        raise loader.error(f'invalid parameter "{word}"')
    if not name:
        raise loader.error('"limit_req_zone" must have "zone" parameter')
    zone = loader.shm_zones.get(name)
    loader.add_shm(name, size, "limit_req")
    if zone is not None and len(zone) > 2:
        raise loader.error(f'limit_req_zone "{name}" is already bound to key "{zone[2]}"')
    loader.shm_zones[name].append(words[0])


@handler("limit_conn_zone")
def limit_conn_zone(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    _compile(loader, words[0])
    name, size = "", 0
    for word in words[1:]:
        if word.startswith("zone="):
            name, size = _zone_param(loader, word)
            continue
        raise loader.error(f'invalid parameter "{word}"')
    if not name:
        raise loader.error('"limit_conn_zone" must have "zone" parameter')
    zone = loader.shm_zones.get(name)
    loader.add_shm(name, size, "limit_conn")
    if zone is not None and len(zone) > 2:
        raise loader.error(f'limit_conn_zone "{name}" is already bound to key "{zone[2]}"')
    loader.shm_zones[name].append(words[0])


@handler("limit_req")
def limit_req(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    zone = ""
    for word in directive.values:
        if word.startswith("zone="):
            zone = word[5:]
            loader.add_shm(zone, 0, "limit_req")
        elif word.startswith(("burst=", "delay=")):
            if conf_values.parse_int(word[6:]) is None:
                raise loader.error(f'invalid {word[:5]} value "{word}"')
        elif word == "nodelay":
            pass
        else:
            raise loader.error(f'invalid parameter "{word}"')
    if not zone:
        raise loader.error('"limit_req" must have "zone" parameter')
    scope.values.setdefault("limit_req", []).append(directive.values)
    scope.set_directive("limit_req", directive)


@handler("limit_conn")
def limit_conn(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    name, number = directive.values
    loader.add_shm(name, 0, "limit_conn")
    count = conf_values.parse_int(number)
    if not count or count > 65535:
        raise loader.error(f'invalid number of connections "{number}"')
    scope.values.setdefault("limit_conn", []).append((name, count))
    scope.set_directive("limit_conn", directive)


CACHE_PATH_KEYS = (
    "levels=",
    "use_temp_path=",
    "inactive=",
    "max_size=",
    "min_free=",
    "loader_files=",
    "loader_sleep=",
    "loader_threshold=",
    "manager_files=",
    "manager_sleep=",
    "manager_threshold=",
    "purger=",
    "purger_files=",
    "purger_sleep=",
    "purger_threshold=",
)


@handler("proxy_cache_path", "fastcgi_cache_path", "uwsgi_cache_path", "scgi_cache_path")
def cache_path(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    """ngx_http_file_cache_set_slot: a path, keys_zone=name:size and tuning parameters."""
    words = directive.values
    name = ""
    for word in words[1:]:
        if word.startswith("keys_zone="):
            zone_name, colon, size_text = word[10:].partition(":")
            size = conf_values.parse_size(size_text) if colon else None
            if not zone_name or size is None:
                raise loader.error(f'invalid keys zone size "{word}"')
            if size < 8 * 4096:
                raise loader.error(f'"{word}" is too small')
            name = zone_name
            loader.add_shm(name, size, "cache")
        elif not word.startswith(CACHE_PATH_KEYS):
            raise loader.error(f'invalid parameter "{word}"')
    if not name:
        raise loader.error(f'"{directive.name}" must have "keys_zone" parameter')
    path = loader.paths.full_name(words[0])
    if path not in loader.paths_to_create:
        loader.paths_to_create.append(path)
    scope.values.setdefault(directive.name, []).append(words)
    scope.set_directive(directive.name, directive)


@handler("proxy_cache", "fastcgi_cache", "uwsgi_cache", "scgi_cache")
def cache_zone(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if directive.name in scope.values:
        raise loader.directive_error("is duplicate")
    word = directive.args[0].value
    if word != "off" and "$" not in word:
        loader.add_shm(word, 0, "cache")
    elif "$" in word:
        _compile(loader, word)
    loader.store(scope, directive, word)


@handler("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path")
def temp_path(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    from nginxpy.conf.check import set_path

    set_path(loader, directive, scope, spec)
    path = loader.paths.full_name(directive.args[0].value)
    if path not in loader.paths_to_create:
        loader.paths_to_create.append(path)


# -- addresses ---------------------------------------------------------------------------------


def _cidr(text: str) -> bool:
    """ngx_ptocidr: an address or a network."""
    import ipaddress

    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
            address, _, bits = text.partition("/")
            ipaddress.ip_address(address)
            return bits.isdigit()
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@handler("set_real_ip_from")
def realip_from(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    word = directive.args[0].value
    if word != "unix:" and not _cidr(word) and resolve(word, 0) is None:
        raise loader.error(f'host not found in set_real_ip_from "{word}"')
    scope.values.setdefault("set_real_ip_from", []).append(word)
    scope.set_directive("set_real_ip_from", directive)


@handler("resolver")
def core_resolver(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    """ngx_resolver_create's parameters: addresses, valid=, ipv4=, ipv6=."""
    if "resolver" in scope.values:
        raise loader.directive_error("is duplicate")
    for word in directive.values:
        if word.startswith("valid="):
            if conf_values.parse_time(word[6:], is_sec=True) is None:
                raise loader.error(f"invalid parameter: {word}")
            continue
        if word.startswith(("ipv4=", "ipv6=")):
            if word[5:] not in ("on", "off"):
                raise loader.error(f"invalid parameter: {word}")
            continue
        parsed = parse_url(word, default_port=53)
        if parsed.err:
            raise loader.error(f'{parsed.err} in resolver "{word}"')
    loader.store(scope, directive, directive.values)


@handler("ssl_session_cache")
def ssl_session_cache(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    """ngx_http_ssl_session_cache: off, none, builtin[:size], shared:name:size."""
    for word in directive.values:
        if word in ("off", "none", "builtin"):
            continue
        if word.startswith("builtin:"):
            if conf_values.parse_int(word[8:]) is None:
                raise loader.error(f'invalid session cache "{word}"')
            continue
        if word.startswith("shared:"):
            name, colon, size_text = word[7:].partition(":")
            size = conf_values.parse_size(size_text) if colon else None
            if not name or size is None:
                raise loader.error(f'invalid session cache "{word}"')
            if size < 8 * 4096:
                raise loader.error(f'session cache "{word}" is too small')
            loader.add_shm(name, size, "ssl_session_cache")
            continue
        raise loader.error(f'invalid session cache "{word}"')
    loader.store(scope, directive, directive.values, duplicate_check=False)


# -- geo, split_clients ----------------------------------------------------------------------------


@handler("geo")
def geo_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    name = words[-1]
    if not name.startswith("$"):
        raise loader.error(f'invalid variable name "{name}"')
    if len(words) == 2:
        _compile(loader, words[0])
    _http(loader).user_variables.add(name[1:].lower())
    ranges = False
    defaults = 0
    for entry in _geo_entries(loader, directive):
        loader.current = entry
        key, values = entry.name, entry.values
        if entry.block is not None:
            raise loader.error('unexpected "{"')
        if key == "ranges" and not values:
            ranges = True
            continue
        if len(values) != 1:
            raise loader.error("invalid number of the geo parameters")
        if key in ("proxy",):
            if not _cidr(values[0]):
                raise loader.error(f'invalid parameter "{values[0]}"')
            continue
        if key == "delete":
            continue
        if key == "default":
            defaults += 1
            continue
        if ranges:
            low, dash, high = key.partition("-")
            if not dash or not _cidr(low) or not _cidr(high):
                raise loader.error(f'invalid range "{key}"')
            continue
        if not _cidr(key):
            raise loader.error(f'invalid network "{key}"')
    loader.current = directive


def _geo_entries(loader: Loader, block: Directive) -> list[Directive]:
    entries: list[Directive] = []
    for entry in block.directives():
        if entry.name == "include" and len(entry.args) == 1:
            loader.current = entry
            path = loader.paths.full_name(entry.args[0].value, conf=True)
            included = loader.read(path, entry)
            entries.extend(included.directives())
            if included.error is not None:
                raise ConfError(included.error.message, included.error.file, included.error.line)
            continue
        entries.append(entry)
    return entries


@handler("split_clients")
def split_clients_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    source, name = directive.values
    if not name.startswith("$"):
        raise loader.error(f'invalid variable name "{name}"')
    _compile(loader, source)
    _http(loader).user_variables.add(name[1:].lower())
    total = 0
    for entry in directive.directives():
        loader.current = entry
        if entry.block is not None:
            raise loader.error('unexpected "{"')
        if len(entry.args) != 1:
            raise loader.error("invalid number of the split_clients parameters")
        key = entry.name
        if key == "*":
            continue
        percent = _percent(key)
        if percent is None:
            raise loader.error(f'invalid percent value "{key}"')
        total += percent
    loader.current = directive
    if total > 10000:
        raise ConfError("percent total is greater than 100%", directive.file, loader.close_line(directive))


def _percent(text: str) -> int | None:
    """Percent with up to two decimals, in hundredths ("0.5%" -> 50)."""
    if not text.endswith("%"):
        return None
    whole, dot, fraction = text[:-1].partition(".")
    if not whole.isdigit() or (dot and (not fraction.isdigit() or len(fraction) > 2)):
        return None
    value = int(whole) * 100 + (int(fraction.ljust(2, "0")) if dot else 0)
    return value or None


# -- load_module and the dynamic stream module -------------------------------------------------


@handler("hash")
def upstream_hash(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    _compile(loader, words[0])
    if len(words) == 2 and words[1] != "consistent":
        raise loader.error(f'invalid parameter "{words[1]}"')
    upstream_balancer(loader, directive, scope, spec)


@handler("stream:stream")
def stream_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "stream" in scope.values:
        raise loader.directive_error("is duplicate")
    loader.modules_used = True
    body = Scope(Ctx.STREAM, parent=None, directive=directive)
    scope.values["stream"] = body
    loader.walk_block(directive, body)


@handler("stream:server")
def stream_server(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if scope.ctx is Ctx.STREAM_UPSTREAM:
        words = directive.values
        parsed = parse_url(words[0], default_port=0)
        if parsed.err:
            raise loader.error(f'{parsed.err} in upstream "{words[0]}"')
        return
    body = Scope(Ctx.STREAM_SERVER, parent=scope, directive=directive)
    loader.walk_block(directive, body)
    if directive.closed and "listen" not in body.values:
        raise ConfError(f'no "listen" is defined for server in {directive.file}:{directive.end_line}')


@handler("stream:upstream")
def stream_upstream(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    body = Scope(Ctx.STREAM_UPSTREAM, parent=scope, directive=directive)
    loader.walk_block(directive, body)


@handler("stream:listen")
def stream_listen(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    parsed = parse_url(words[0], default_port=0, listen=True)
    if parsed.err:
        raise loader.error(f'{parsed.err} in "{words[0]}" of the "listen" directive')
    scope.values.setdefault("listen", []).append(words)
    scope.set_directive("listen", directive)


@handler("mail:mail")
def mail_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    loader.modules_used = True
    body = Scope(Ctx.MAIL, parent=None, directive=directive)
    loader.walk_block(directive, body)


@handler("mail:server")
def mail_server(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    body = Scope(Ctx.MAIL_SERVER, parent=scope, directive=directive)
    loader.walk_block(directive, body)


# -- the end of the main context ------------------------------------------------------


def finish_main(loader: Loader, create_files: bool = True) -> None:
    """Checks nginx makes once the whole file is read (ngx_init_cycle after parsing)."""
    events = loader.main.events
    if events is None:
        raise ConfError('no "events" section in configuration')
    if not create_files:
        return
    pid = loader.main.values.get("pid")
    if isinstance(pid, str):
        _open_for_append(loader.paths.full_name(pid))
    for path in loader.paths_to_create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as error:
            raise ConfError(
                f'mkdir() "{path}" failed ({error.errno}: {os.strerror(error.errno or 0)})'
            ) from None
    default = loader.default_error_log
    if default is not None and default != "stderr" and not loader.main.values.get("error_log"):
        loader.add_open_file(default)  # ngx_log_open_default
    for path in loader.open_files:
        _open_for_append(path)
    for name, zone in loader.shm_zones.items():
        if not zone[0]:
            raise ConfError(f'zero size shared memory zone "{name}"')


def _open_for_append(path: str) -> None:
    """ngx_open_file as nginx opens logs and the pid file: create if missing, never truncate."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as error:
        raise ConfError(f'open() "{path}" failed ({error.errno}: {os.strerror(error.errno or 0)})') from None


# Setters added for the HTTP runtime live in their own module.
from nginxpy.conf import http_setters as _http_setters  # noqa: E402

del _http_setters
