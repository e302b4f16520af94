"""Setters of the directives that have their own handler in nginx.

Each function is named after the nginx handler it follows (``ngx_http_core_listen``
-> ``core_listen``) and raises nginx's message for the same mistakes.  Block
directives open their level here and walk their body.
"""

from __future__ import annotations

import os
import re
import socket

from nginxpy.conf import values as conf_values
from nginxpy.conf import variables as known_variables
from nginxpy.conf.ast import Directive
from nginxpy.conf.check import Loader, globbed, handler
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
    path = loader.paths.full_name(directive.args[0].value)
    if not os.path.exists(path):
        raise loader.error(
            f'dlopen() "{path}" failed ({path}: cannot open shared object file: No such file or directory)'
        )
    base = os.path.basename(path)
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
    scope.values.setdefault("error_log", []).append((path, level))
    scope.set_by["error_log"] = directive


# -- blocks ---------------------------------------------------------------------------


@handler("events")
def events_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    main = loader.main
    if main.events is not None:
        raise loader.error('"events" directive is duplicate')
    main.events = Scope(Ctx.EVENTS, parent=None, directive=directive)
    loader.walk_block(directive, main.events)


@handler("http")
def http_block(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    main = loader.main
    if main.http is not None:
        raise loader.error('"http" directive is duplicate')
    http = main.http = HttpScope(Ctx.HTTP, parent=None, directive=directive)
    loader.walk_block(directive, http)
    if directive.closed:
        from nginxpy.conf.finish import finish_http

        finish_http(loader, http)


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
        location.regex = _regex(loader, name, caseless=modifier == "~*")
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
    """ngx_http_rewrite_if_condition: "(" cond ")" with the parentheses in the words."""
    if not words or not words[0].startswith("(") or not words[-1].endswith(")"):
        raise loader.error(f'invalid condition "{words[0] if words else ""}"')
    words = list(words)
    words[0] = words[0][1:]
    words[-1] = words[-1][:-1]
    words = [word for word in words if word != ""] if (words[0] == "" or words[-1] == "") else words
    if len(words) == 0:
        raise loader.error('invalid condition "("')
    first = words[0]
    if first.startswith("$"):
        _compile(loader, first)
        if len(words) == 1:
            return words
        operator = words[1]
        if len(words) != 3:
            raise loader.error(f'invalid condition "{first}"')
        if operator in ("=", "!="):
            _compile(loader, words[2])
            return words
        if operator in ("~", "~*", "!~", "!~*"):
            _regex(loader, words[2], caseless=operator.endswith("*"))
            return words
        raise loader.error(f'unexpected "{operator}" in condition')
    if first in ("-f", "!-f", "-d", "!-d", "-e", "!-e", "-x", "!-x"):
        if len(words) != 2:
            raise loader.error(f'invalid condition "{first}"')
        _compile(loader, words[1])
        return words
    raise loader.error(f'invalid condition "{first}"')


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
        raise ConfError("no servers are inside upstream", directive.file, directive.end_line)


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
    err = _url_error(words[0], default_port=80, listen=False)
    if err:
        raise loader.error(f'{err} in upstream "{words[0]}"')
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
    url = words[0]
    err = _url_error(url, 80, listen=True)
    if err:
        raise loader.error(f'{err} in "{url}" of the "listen" directive')
    if url.startswith("unix:"):
        listen = Listen(url, 0, directive=directive)
    else:
        host, port = _split_host_port(url)
        assert host is not None
        if host in ("", "*"):
            address = "*"
        elif host.startswith("["):
            address = host
        else:
            try:
                socket.inet_aton(host)
                address = host
            except OSError:
                try:
                    address = socket.gethostbyname(host)
                except OSError:
                    raise loader.error(f'host not found in "{url}" of the "listen" directive') from None
        listen = Listen(address, int(port) if port else 80, directive=directive)
    for word in words[1:]:
        key, _, value = word.partition("=")
        if word in ("default_server", "default"):
            listen.default_server = True
        elif word == "bind":
            listen.bind = True
        elif word == "ssl":
            listen.ssl = True
        elif word == "http2":
            listen.http2 = True
        elif word == "proxy_protocol":
            listen.proxy_protocol = True
        elif word == "reuseport":
            listen.reuseport = listen.bind = True
        elif word == "deferred":
            listen.deferred = listen.bind = True
        elif key == "backlog" and _:
            number = _signed_int(value)
            if number is None or number == 0:
                raise loader.error(f'invalid backlog "{value}"')
            listen.backlog, listen.bind = number, True
        elif key in ("rcvbuf", "sndbuf") and _:
            size = conf_values.parse_size(value)
            if size is None:
                raise loader.error(f'invalid {key} "{value}"')
            setattr(listen, key, size)
            listen.bind = True
        elif key == "fastopen" and _:
            number = _signed_int(value)
            if number is None:
                raise loader.error(f'invalid fastopen "{value}"')
            listen.fastopen, listen.bind = number, True
        elif key == "ipv6only" and _:
            if value not in ("on", "off"):
                raise loader.error(f'invalid ipv6only flags "{value}"')
            listen.ipv6only, listen.bind = value == "on", True
        elif key == "so_keepalive" and _:
            listen.so_keepalive, listen.bind = value, True
        elif key == "accept_filter" and _:
            loader.warn(f'accept filters "{value}" are not supported on this platform, ignored')
        else:
            raise loader.error(f'invalid parameter "{word}"')
    scope.listens.append(listen)


def _signed_int(text: str) -> int | None:
    if text.startswith("-"):
        number = conf_values.parse_int(text[1:])
        return None if number is None else -number
    return conf_values.parse_int(text)


@handler("server_name")
def core_server_name(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    assert isinstance(scope, ServerScope)
    for word in directive.values:
        if word.startswith("$"):
            raise loader.error(f'server name "{word}" has suspicious symbols')
        if "/" in word and not word.startswith("~"):
            loader.warn(f'server name "{word}" has suspicious symbols')
        if word.startswith("~"):
            if len(word) == 1:
                raise loader.error('empty regex in server name "~"')
            regex = _regex(loader, word[1:], caseless=True)
            scope.names.append(ServerName(word, regex))
            continue
        if word.startswith("*") and (len(word) == 1 or word[1] != "."):
            raise loader.error(f'invalid server name or wildcard "{word}" on 0.0.0.0:80')
        scope.names.append(ServerName(word.lower()))


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
    _regex(loader, words[0])
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
                fake = Directive("map", [], found, 0, 0, block=list(included.directives()))
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
            conf.regexes.append(MapEntry(key, value, _regex(loader, pattern, caseless)))
            continue
        if key.startswith("\\"):
            key = key[1:]
        lowered = key.lower()
        if conf.hostnames and (lowered.startswith(("*.", ".")) or lowered.endswith(".*")):
            conf.wildcards.append(MapEntry(lowered, value))
            continue
        if lowered in conf.exact:
            loader.warn(f'conflicting parameter "{key}"')
            continue
        conf.exact[lowered] = value
    loader.current = block


@handler("types")
def core_types(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    types: dict[str, str] = dict(scope.values.get("types") or {}) if "types" in scope.values else {}
    _types_body(loader, directive, types)
    scope.values["types"] = types
    scope.set_by["types"] = directive


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
                    loader, Directive("types", [], found, 0, 0, block=list(included.directives())), types
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
    scope.set_by["access_log"] = directive
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
        if eq and key in ("buffer", "flush", "gzip", "if"):
            if key == "buffer" and conf_values.parse_size(value) is None:
                raise loader.error(f'invalid buffer size "{value}"')
            if key == "flush" and conf_values.parse_time(value, is_sec=False) is None:
                raise loader.error(f'invalid flush time "{value}"')
            options[key] = value
            continue
        if word is words[1] and not eq:
            fmt = word
            continue
        raise loader.error(f'invalid parameter "{word}"')
    http = _http(loader)
    if fmt != "combined" and fmt not in http.log_formats:
        raise loader.error(f'unknown log format "{fmt}"')
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
    scope.set_by["error_page"] = directive


@handler("root", "alias")
def core_root(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    name = directive.name
    if "root" in scope.values or "alias" in scope.values:
        other = "root" if "root" in scope.values else "alias"
        if other == name:
            raise loader.error(f'"{name}" directive is duplicate')
        raise loader.error(f'"{name}" directive is duplicate, "{other}" directive was specified earlier')
    if isinstance(scope, LocationScope) and name == "alias" and scope.named:
        raise loader.error('"alias" directive cannot be used inside the named location')
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
            rest = url[7:]
        elif lowered.startswith("https://"):
            rest = url[8:]
        else:
            raise loader.error(f'invalid URL prefix in "{url}"')
        if isinstance(scope, (LocationScope, IfScope)):
            location = scope if isinstance(scope, LocationScope) else None
            has_uri = "/" in rest.partition("?")[0].lstrip("[").partition("]")[
                2 if rest.startswith("[") else 0
            ] or ("/" in rest and not rest.startswith("["))
            if (
                location is not None
                and (location.regex is not None or location.named)
                and has_uri
                and "/" in rest
            ):
                where = "regular expression" if location.regex is not None else "named location"
                raise loader.error(
                    f'"proxy_pass" cannot have URI part in location given by {where}, '
                    'or inside named location, or inside "if" statement, or inside "limit_except" block'
                )
        host = rest.split("/", 1)[0]
        if host.startswith("unix:"):
            pass
        else:
            err = _url_error(host, 80, listen=False)
            if err:
                raise loader.error(f'{err} in upstream "{rest}"')
    loader.store(scope, directive, value)


@handler("proxy_set_header", "add_header", "add_trailer", "proxy_hide_header", "proxy_pass_header")
def header_array(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    words = directive.values
    entries = scope.values.setdefault(directive.name, [])
    scope.set_by[directive.name] = directive
    if directive.name in ("add_header", "add_trailer") and len(words) == 3 and words[2] != "always":
        raise loader.error(f'invalid parameter "{words[2]}"')
    for word in words[1:2]:
        _compile(loader, word)
    entries.append(tuple(words))


@handler("index")
def index_directive(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    entries = scope.values.setdefault("index", [])
    scope.set_by["index"] = directive
    for word in directive.values:
        if word == "":
            raise loader.error('index "" in "index" directive is invalid')
        if word.startswith("/") and word is not directive.values[-1]:
            raise loader.error('only the last index in "index" directive should be absolute')
        _compile(loader, word)
        entries.append(word)


@handler("keepalive_timeout")
def keepalive_timeout(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    if "keepalive_timeout" in scope.values:
        raise loader.error('"keepalive_timeout" directive is duplicate')
    words = directive.values
    timeout = conf_values.parse_time(words[0], is_sec=False)
    if timeout is None:
        raise loader.error("invalid value")
    header = None
    if len(words) == 2:
        header = conf_values.parse_time(words[1], is_sec=True)
        if header is None:
            raise loader.error("invalid value")
    loader.store(scope, directive, (timeout, header))


@handler("ssl")
def ssl_flag(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    from nginxpy.conf.check import set_flag

    loader.warn('the "ssl" directive is deprecated, use the "listen ... ssl" directive instead')
    set_flag(loader, directive, scope, spec)


@handler("ssl_certificate", "ssl_certificate_key")
def ssl_certificate(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    entries = scope.values.setdefault(directive.name, [])
    scope.set_by[directive.name] = directive
    _compile(loader, directive.args[0].value)
    entries.append(directive.args[0].value)


# -- the end of the main context ------------------------------------------------------


def finish_main(loader: Loader) -> None:
    """Checks nginx makes once the whole file is read (ngx_init_cycle after parsing)."""
    events = loader.main.events
    if events is None:
        raise ConfError('no "events" section in configuration')
