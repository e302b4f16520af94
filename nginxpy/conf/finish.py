"""What nginx checks when the http block closes: merge, post-configuration, variables,
location trees and the server names of each listening address (ngx_http_block)."""

from __future__ import annotations

from nginxpy import versions
from nginxpy.conf import variables as known_variables
from nginxpy.conf.ast import Directive
from nginxpy.conf.check import Loader
from nginxpy.conf.model import ConfError, HttpScope, LocationScope, Scope, ServerScope
from nginxpy.conf.script import ScriptError, compile_value
from nginxpy.conf.url import resolve


def finish_http(loader: Loader, http: HttpScope, handled: list[Directive]) -> None:
    """ngx_http_block after the body: init and merge per module, locations, variables, servers."""
    assert http.directive is not None
    close_line = loader.close_line(http.directive)
    resolve_upstream_hosts(loader, http)
    merge_ssl(loader, http)
    check_upstream_ssl(loader)
    check_cache_zones(loader, http, close_line, handled)
    check_locations(http)
    check_ssl_listen(http)
    check_variables(loader, http, handled)
    check_servers(loader, http)


def resolve_upstream_hosts(loader: Loader, http: HttpScope) -> None:
    """ngx_http_upstream_init_round_robin for the upstreams a URL made: the host must resolve."""
    for host, _no_port, port, directive in loader.deferred_hosts:
        if host.lower() in {name.lower() for name in http.upstreams}:
            continue
        if resolve(host, port) is None:
            raise ConfError(
                f'host not found in upstream "{host}" in {directive.file}:{directive.end_line}'
                if directive is not None
                else f'host not found in upstream "{host}"'
            )


def check_cache_zones(loader: Loader, http: HttpScope, close_line: int, handled: list[Directive]) -> None:
    """The *_cache directives name a zone some *_cache_path defines (checked at merge)."""
    assert http.directive is not None
    for directive in handled:
        if directive.name not in CACHE_DIRECTIVES or not directive.args:
            continue
        name = directive.args[0].value
        if name == "off" or "$" in name:
            continue
        zone = loader.shm_zones.get(name)
        if zone is None or not zone[0]:
            raise ConfError(f'"{directive.name}" zone "{name}" is unknown', http.directive.file, close_line)


CACHE_DIRECTIVES = {"proxy_cache", "fastcgi_cache", "uwsgi_cache", "scgi_cache"}


def _certificates(server: ServerScope) -> list[str] | None:
    value = server.get("ssl_certificate")
    return list(value) if value else None


def _set_where(scope: Scope, name: str) -> Directive | None:
    level: Scope | None = scope
    while level is not None:
        directive = level.set_by.get(name)
        if directive is not None:
            return directive
        level = level.parent
    return None


def merge_ssl(loader: Loader, http: HttpScope) -> None:
    """ngx_http_ssl_merge_srv_conf: every server with certificates loads them."""
    for server in http.servers:
        certificates = _certificates(server)
        keys = list(server.get("ssl_certificate_key") or [])
        reject_handshake = bool(server.get("ssl_reject_handshake"))
        if server.get("ssl") and (certificates or not reject_handshake):
            ssl = _set_where(server, "ssl")
            where = f" in {ssl.file}:{ssl.end_line}" if ssl is not None else ""
            if not certificates:
                raise ConfError(f'no "ssl_certificate" is defined for the "ssl" directive{where}')
            if not keys:
                raise ConfError(f'no "ssl_certificate_key" is defined for the "ssl" directive{where}')
            if len(keys) < len(certificates):
                raise ConfError(
                    f'no "ssl_certificate_key" is defined for certificate "{certificates[-1]}" '
                    f'and the "ssl" directive{where}'
                )
        elif certificates:
            if len(keys) < len(certificates):
                raise ConfError(f'no "ssl_certificate_key" is defined for certificate "{certificates[-1]}"')
        elif not reject_handshake:
            continue
        check_server_context(loader, server, certificates or [], keys)


def check_server_context(
    loader: Loader, server: ServerScope, certificates: list[str], keys: list[str]
) -> None:
    """The rest of ngx_http_ssl_merge_srv_conf, in its order, for a server with an SSL context."""
    from nginxpy.conf import ssl_check

    def full(name: str) -> str | None:
        value = server.get(name)
        return loader.paths.full_name(value, conf=True) if value else None

    ssl_check.check_ciphers(server.get("ssl_ciphers") or versions.DEFAULT_SSL_CIPHERS)
    if not any("$" in path for path in [*certificates, *keys]):
        for cert, key in zip(certificates, keys, strict=False):
            load_certificate(loader, cert, key, read_passwords(loader, server))
    verify = server.get("ssl_verify_client") or "off"
    client_certificate = full("ssl_client_certificate")
    if verify != "off":
        if client_certificate is None and verify != "optional_no_ca":
            raise ConfError("no ssl_client_certificate for ssl_verify_client")
        if client_certificate is not None:
            ssl_check.check_verify_locations(client_certificate)
    trusted_certificate = full("ssl_trusted_certificate")
    if trusted_certificate is not None:
        ssl_check.check_verify_locations(trusted_certificate)
    crl = full("ssl_crl")
    if crl is not None:
        ssl_check.check_verify_locations(crl, "X509_LOOKUP_load_file")
    dhparam = full("ssl_dhparam")
    if dhparam is not None:
        ssl_check.check_dhparam(dhparam)
    ssl_check.check_ecdh_curve(server.get("ssl_ecdh_curve") or "auto")
    http = loader.main.http
    assert http is not None and http.directive is not None
    for name in server.get("ssl_session_ticket_key") or []:
        # ngx_ssl_session_ticket_keys runs at merge time: nginx is at the end of the http block.
        full_name = loader.paths.full_name(name, conf=True)
        error = ssl_check.ticket_key_error(full_name)
        if error is not None:
            raise ConfError(error, http.directive.file, loader.close_line(http.directive))
    if server.get("ssl_stapling") and server.get("ssl_stapling_file"):
        ssl_check.check_stapling_file(full("ssl_stapling_file") or "")


def check_upstream_ssl(loader: Loader) -> None:
    """ngx_http_proxy_set_ssl (and grpc's, uwsgi's): a location passing over TLS makes an SSL context."""
    if not loader.upstream_ssl_scopes:
        return
    from nginxpy.conf import ssl_check

    for module, scope in loader.upstream_ssl_scopes:
        ciphers = scope.get(f"{module}_ssl_ciphers")
        if ciphers is not None:  # the default, DEFAULT, always passes: no ssl import for it
            ssl_check.check_ciphers(ciphers)
        certificate = _last_word(scope.get(f"{module}_ssl_certificate"))
        if certificate:
            key = _last_word(scope.get(f"{module}_ssl_certificate_key"))
            if not key:
                raise ConfError(
                    f'no "{module}_ssl_certificate_key" is defined for certificate "{certificate}"'
                )
            if "$" not in certificate and "$" not in key:
                passwords = read_passwords(loader, scope, f"{module}_ssl_password_file")
                load_certificate(loader, certificate, key, passwords)
        if scope.get(f"{module}_ssl_verify"):
            trusted = scope.get(f"{module}_ssl_trusted_certificate")
            if not trusted:
                raise ConfError(f"no {module}_ssl_trusted_certificate for {module}_ssl_verify")
            ssl_check.check_verify_locations(loader.paths.full_name(trusted, conf=True))
            crl = scope.get(f"{module}_ssl_crl")
            if crl:
                ssl_check.check_verify_locations(
                    loader.paths.full_name(crl, conf=True), "X509_LOOKUP_load_file"
                )


def _bio_error(kind: str, full: str, error: OSError) -> ConfError:
    from nginxpy.conf.ssl_check import fopen_error

    return ConfError(f'cannot load {kind} "{full}": BIO_new_file() failed {fopen_error(full, error)}')


def load_certificate(loader: Loader, cert: str, key: str, passwords: list[bytes] | None = None) -> None:
    """ngx_ssl_certificate: the certificate, then its key, read as PEM, and a matching pair."""
    import ssl

    cert_full = loader.paths.full_name(cert, conf=True)
    key_full = loader.paths.full_name(key, conf=True)
    try:
        with open(cert_full, "rb") as handle:
            cert_data = handle.read()
    except OSError as error:
        raise _bio_error("certificate", cert_full, error) from None
    if (
        b"-----BEGIN CERTIFICATE-----" not in cert_data
        and b"-----BEGIN TRUSTED CERTIFICATE-----" not in cert_data
    ):
        raise ConfError(
            f'cannot load certificate "{cert_full}": PEM_read_bio_X509_AUX() failed '
            "(SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)"
        )
    if key.startswith(("engine:", "data:")) or cert.startswith("data:"):
        return
    try:
        with open(key_full, "rb") as handle:
            key_data = handle.read()
    except OSError as error:
        raise _bio_error("certificate key", key_full, error) from None
    if b"PRIVATE KEY-----" not in key_data:
        raise ConfError(
            f'cannot load certificate key "{key_full}": PEM_read_bio_PrivateKey() failed '
            "(SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. "
            "Input type: PEM)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # An encrypted key takes the ssl_password_file lines in turn; never a prompt on the terminal.
    for password in passwords or [b""]:
        try:
            context.load_cert_chain(cert_full, key_full, password=password)
            return
        except ssl.SSLError as error:
            if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error):
                raise ConfError(
                    f'SSL_CTX_use_PrivateKey("{key_full}") failed '
                    "(SSL: error:05800074:x509 certificate routines::key values mismatch)"
                ) from None
            if b"ENCRYPTED" not in key_data:
                return
    raise ConfError(
        f'cannot load certificate key "{key_full}": PEM_read_bio_PrivateKey() failed '
        + (_BAD_DECRYPT if passwords else _NO_PASSWORD)
    )


# OpenSSL's queue for an encrypted key: a wrong password, or none (no terminal to ask on).
_BAD_DECRYPT = (
    "(SSL: error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 "
    "cipherfinal error:maybe wrong password error:1C800064:Provider routines::bad decrypt "
    "error:11800074:PKCS12 routines::pkcs12 cipherfinal error:maybe wrong password)"
)
_NO_PASSWORD = (
    "(SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM "
    "routines::problems getting password error:07880109:common libcrypto routines::interrupted or "
    "cancelled error:07880109:common libcrypto routines::interrupted or cancelled "
    "error:1C80009F:Provider routines::unable to get passphrase error:1400006B:UI routines::"
    "processing error:while reading strings error:0480006D:PEM routines::problems getting password "
    "error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM "
    "routines::bad password read)"
)


def _last_word(value: object) -> str | None:
    """The first word of the last occurrence of a directive kept as word lists."""
    if not value or not isinstance(value, list):
        return None
    last = value[-1]
    return str(last[0]) if isinstance(last, list) else str(last)


def read_passwords(loader: Loader, scope: Scope, directive: str = "ssl_password_file") -> list[bytes] | None:
    """ngx_ssl_read_password_file: one password a line, CR LF or LF, empty lines skipped."""
    word = _last_word(scope.get(directive))
    if not word:
        return None
    name = loader.paths.full_name(word, conf=True)
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError:
        return None  # the directive read it already
    lines = [line.removesuffix(b"\r") for line in data.split(b"\n")]
    return [line for line in lines if line]


def check_ssl_listen(http: HttpScope) -> None:
    """ngx_http_ssl_init: a "listen ... ssl" server needs a certificate."""
    for server in http.servers:
        if (
            any(listen.ssl for listen in server.listens)
            and not _certificates(server)
            and not server.get("ssl_reject_handshake")
        ):
            raise ConfError(
                'no "ssl_certificate" is defined for the "listen ... ssl" directive', server.file, server.line
            )


def _all_locations(locations: list[LocationScope]) -> list[LocationScope]:
    found: list[LocationScope] = []
    for location in locations:
        found.append(location)
        found.extend(_all_locations(location.nested()))
    return found


def check_locations(http: HttpScope) -> None:
    """ngx_http_init_locations: two locations with the same name and kind are an error."""
    for server in http.servers:
        for level in [server.locations, *[loc.nested() for loc in _all_locations(server.locations)]]:
            seen: set[tuple[bool, bool, str]] = set()
            for location in level:
                if location.regex is not None or location.named:
                    continue
                key = (location.exact, location.named, location.name)
                if key in seen:
                    directive = location.directive
                    assert directive is not None
                    raise ConfError(
                        f'duplicate location "{location.name}"', directive.file, directive.end_line
                    )
                seen.add(key)


def _scopes(http: HttpScope) -> list[Scope]:
    found: list[Scope] = [http]
    for server in http.servers:
        found.append(server)
        for location in _all_locations(server.locations):
            found.append(location)
    return found


def _captures(http: HttpScope) -> set[str]:
    names: set[str] = set()
    for server in http.servers:
        for server_name in server.names:
            if server_name.regex is not None:
                names.update(name.lower() for name in server_name.regex.groupindex)
        for location in _all_locations(server.locations):
            if location.regex is not None:
                names.update(name.lower() for name in location.regex.groupindex)
    for conf in http.maps.values():
        for entry in conf.regexes:
            if entry.regex is not None:
                names.update(name.lower() for name in entry.regex.groupindex)
    return names


def _referenced(directive: Directive) -> list[str]:
    """Variables a directive's words use, for the directives that compile their words."""
    names: list[str] = []
    skip_first = directive.name in ("rewrite", "map", "set")
    for index, arg in enumerate(directive.args):
        if "$" not in arg.value or (skip_first and index == 0):
            continue
        names.extend(_variables(arg.value.strip("()") if directive.name == "if" else arg.value))
    return names


_VARIABLES: dict[str, tuple[str, ...]] = {}


def _variables(source: str) -> tuple[str, ...]:
    """The variables a value uses (none if it does not compile); words repeat, so cached."""
    names = _VARIABLES.get(source)
    if names is None:
        try:
            names = tuple(compile_value(source).variables)
        except ScriptError:
            names = ()
        if len(_VARIABLES) < 100_000:
            _VARIABLES[source] = names
    return names


# Directives whose arguments nginx compiles as complex values (so variables are checked).
COMPILED = {
    "return",
    "rewrite",
    "set",
    "if",
    "proxy_pass",
    "proxy_set_header",
    "add_header",
    "add_trailer",
    "root",
    "alias",
    "try_files",
    "index",
    "error_page",
    "access_log",
    "log_format",
    "proxy_redirect",
    "proxy_cookie_domain",
    "proxy_cookie_path",
    "proxy_method",
    "proxy_set_body",
    "fastcgi_param",
    "uwsgi_param",
    "scgi_param",
    "grpc_set_header",
    "default_type",
    "limit_rate",
    "auth_basic",
    "auth_basic_user_file",
    "ssl_certificate",
    "ssl_certificate_key",
    "proxy_bind",
    "proxy_ssl_name",
    "fastcgi_pass",
    "uwsgi_pass",
    "scgi_pass",
    "grpc_pass",
    "memcached_pass",
    "charset",
    "limit_req_zone",
    "limit_conn_zone",
    "map",
    "sub_filter",
    "secure_link",
    "secure_link_md5",
    "expires",
    "proxy_cache_key",
    "fastcgi_cache_key",
    "valid_referers",
    "hash",
}


def check_variables(loader: Loader, http: HttpScope, handled: list[Directive]) -> None:
    """ngx_http_variables_init_vars: every variable used must be defined somewhere.

    `handled` is every directive read inside http { }, includes expanded (the bodies of
    map, types, geo and split_clients are not directives and are not in it)."""
    known = http.user_variables | _captures(http)
    for directive in handled:
        if directive.name not in COMPILED:
            continue
        for name in _referenced(directive):
            if name in known or known_variables.is_builtin(name):
                continue
            raise ConfError(f'unknown "{name}" variable')
    for conf in http.maps.values():
        for name in conf.source.variables:
            if name not in known and not known_variables.is_builtin(name):
                raise ConfError(f'unknown "{name}" variable')


def check_servers(loader: Loader, http: HttpScope) -> None:
    """ngx_http_optimize_servers: default servers and server names per address."""
    by_address: dict[tuple[str, int], list[ServerScope]] = {}
    defaults: dict[tuple[str, int], ServerScope] = {}
    for server in http.servers:
        for listen in server.listens:
            key = listen.key
            servers = by_address.setdefault(key, [])
            if server in servers:
                directive = listen.directive
                raise ConfError(
                    f"duplicate listen {_address(listen.address, listen.port)}",
                    directive.file if directive else None,
                    directive.end_line if directive else None,
                )
            servers.append(server)
            if listen.default_server:
                if key in defaults:
                    directive = listen.directive
                    raise ConfError(
                        f"a duplicate default server for {_address(listen.address, listen.port)}",
                        directive.file if directive else None,
                        directive.end_line if directive else None,
                    )
                defaults[key] = server
    for key, servers in by_address.items():
        seen: dict[str, ServerScope] = {}
        for server in servers:
            for name in server.names:
                if name.regex is not None or name.name == "":
                    continue
                if name.name in seen and seen[name.name] is not server:
                    loader.warn(
                        f'conflicting server name "{name.name}" on {_address(*key)}, ignored',
                        server.directive,
                    )
                    loader.main.messages[-1].file = None
                    loader.main.messages[-1].line = None
                seen.setdefault(name.name, server)


def _address(address: str, port: int) -> str:
    if address.startswith("unix:"):
        return address
    if address == "*":
        address = "0.0.0.0"
    return f"{address}:{port}"
